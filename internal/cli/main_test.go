package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childArgsEnv makes the test binary act as the pathlens command, so tests
// can measure a real process (exit status, peak RSS) without building one.
const childArgsEnv = "PATHLENS_TEST_CHILD_ARGS"

// childHWMEnv names the file the child writes its /proc/self/status to
// as it exits: VmHWM there is the peak of the child's own memory. The
// rusage Maxrss of a child is not: Go starts children with vfork, and
// Linux carries the parent's peak RSS over into the child at exec, so a
// test binary grown large by earlier tests would be measured instead.
const childHWMEnv = "PATHLENS_TEST_CHILD_HWM"

func TestMain(m *testing.M) {
	if raw := os.Getenv(childArgsEnv); raw != "" {
		var args []string
		if err := json.Unmarshal([]byte(raw), &args); err != nil {
			os.Stderr.WriteString("bad child args: " + err.Error() + "\n")
			os.Exit(99)
		}
		code := Run(args, os.Stdout, os.Stderr)
		if f := os.Getenv(childHWMEnv); f != "" {
			if b, err := os.ReadFile("/proc/self/status"); err == nil {
				_ = os.WriteFile(f, b, 0o600)
			}
		}
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// childRun is a finished pathlens child process.
type childRun struct {
	stdout, stderr bytes.Buffer
	code           int
	wall           time.Duration
	rss            int64 // peak resident set, bytes
}

// runChild runs `pathlens args…` as a real process (this test binary in
// child mode) and measures it.
func runChild(t *testing.T, args []string) *childRun {
	t.Helper()
	raw, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	hwm := filepath.Join(t.TempDir(), "status")
	cmd.Env = append(os.Environ(), childArgsEnv+"="+string(raw), childHWMEnv+"="+hwm)
	c := &childRun{}
	cmd.Stdout, cmd.Stderr = &c.stdout, &c.stderr
	start := time.Now()
	err := cmd.Run()
	c.wall = time.Since(start)
	if ee, ok := err.(*exec.ExitError); ok {
		c.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	c.rss = int64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) * 1024
	if kb, ok := vmHWM(hwm); ok {
		c.rss = kb * 1024
	}
	return c
}

// vmHWM reads the VmHWM line (kB) of a /proc/PID/status copy.
func vmHWM(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb, err == nil
		}
	}
	return 0, false
}
