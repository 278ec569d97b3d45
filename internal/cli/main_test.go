package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// childArgsEnv makes the test binary act as the pathlens command, so tests
// can measure a real process (exit status, peak RSS) without building one.
const childArgsEnv = "PATHLENS_TEST_CHILD_ARGS"

func TestMain(m *testing.M) {
	if raw := os.Getenv(childArgsEnv); raw != "" {
		var args []string
		if err := json.Unmarshal([]byte(raw), &args); err != nil {
			os.Stderr.WriteString("bad child args: " + err.Error() + "\n")
			os.Exit(99)
		}
		os.Exit(Run(args, os.Stdout, os.Stderr))
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
	cmd.Env = append(os.Environ(), childArgsEnv+"="+string(raw))
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
	return c
}
