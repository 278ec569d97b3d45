//go:build linux

package cli

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// rlimitChildEnv makes the test binary run TestRaiseNoFile's child side:
// "lower" lowers the soft limit first, "as-started" keeps what the process
// started with.
const rlimitChildEnv = "PATHLENS_TEST_RLIMIT_CHILD"

// lowSoftLimit is the soft limit the children are given (a common default
// on systems that still keep select's 1024 in mind is lower still: 256).
const lowSoftLimit = 256

// raiseNoFile lifts a low soft limit to the hard limit. The limit belongs
// to the process, so each case runs in a child (this test binary again):
// one lowers its own soft limit before the call, the other is started with
// a low one (through the shell's ulimit) and also shows that the Go
// runtime raised it on its own, to one below the hard limit.
func TestRaiseNoFile(t *testing.T) {
	if mode := os.Getenv(rlimitChildEnv); mode != "" {
		rlimitChild(mode)
		return
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Max <= lowSoftLimit+1 {
		t.Skipf("hard limit %d: nothing to raise from %d", lim.Max, lowSoftLimit)
	}
	self := []string{os.Args[0], "-test.run=^TestRaiseNoFile$", "-test.count=1"}
	t.Run("lowered in the process", func(t *testing.T) {
		got := runRlimitChild(t, "lower", exec.Command(self[0], self[1:]...))
		if got.start != lowSoftLimit {
			t.Errorf("soft limit before the call %d, want %d", got.start, lowSoftLimit)
		}
		checkRaised(t, got, lim.Max)
	})
	t.Run("started low", func(t *testing.T) {
		sh, err := exec.LookPath("sh")
		if err != nil {
			t.Skip("no sh to start the child with a low limit")
		}
		cmd := exec.Command(sh, append([]string{"-c", fmt.Sprintf(`ulimit -S -n %d && exec "$@"`, lowSoftLimit), "sh"}, self...)...)
		got := runRlimitChild(t, "as-started", cmd)
		// The runtime's own raise (Go 1.19 on): close to the hard limit
		// before pathlens does anything, but short of it.
		if got.start < lim.Max-1 {
			t.Errorf("soft limit at start %d: the Go runtime did not raise it from %d (hard %d)", got.start, lowSoftLimit, lim.Max)
		}
		t.Logf("soft limit after the runtime's raise: %d, hard %d", got.start, lim.Max)
		checkRaised(t, got, lim.Max)
	})
}

// rlimitResult is what a child reports: the soft limit before the call,
// what raiseNoFile returned, and the limit Getrlimit reads afterwards.
type rlimitResult struct {
	start, soft, hard, nowSoft, nowHard uint64
	err                                 string
}

func runRlimitChild(t *testing.T, mode string, cmd *exec.Cmd) rlimitResult {
	t.Helper()
	cmd.Env = append(os.Environ(), rlimitChildEnv+"="+mode)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	_, line, ok := strings.Cut(string(out), "rlimit: ")
	if !ok {
		t.Fatalf("child printed no result:\n%s", out)
	}
	var r rlimitResult
	if _, err := fmt.Sscanf(line, "start=%d soft=%d hard=%d now=%d/%d err=%q",
		&r.start, &r.soft, &r.hard, &r.nowSoft, &r.nowHard, &r.err); err != nil {
		t.Fatalf("child output %q: %v", line, err)
	}
	return r
}

func checkRaised(t *testing.T, r rlimitResult, hard uint64) {
	t.Helper()
	if r.err != "" {
		t.Fatalf("raiseNoFile: %s", r.err)
	}
	if r.soft != hard || r.hard != hard {
		t.Errorf("raiseNoFile returned soft %d, hard %d; want both %d", r.soft, r.hard, hard)
	}
	if r.nowSoft != hard || r.nowHard != hard {
		t.Errorf("limit after the call %d/%d, want %d/%d", r.nowSoft, r.nowHard, hard, hard)
	}
}

// rlimitChild is the child side of TestRaiseNoFile; it prints one result
// line.
func rlimitChild(mode string) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Printf("getrlimit: %v\n", err)
		return
	}
	if mode == "lower" {
		low := syscall.Rlimit{Cur: lowSoftLimit, Max: lim.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
			fmt.Printf("setrlimit: %v\n", err)
			return
		}
		lim = low
	}
	soft, hard, err := raiseNoFile()
	var now syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &now)
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	fmt.Printf("rlimit: start=%d soft=%d hard=%d now=%d/%d err=%q\n", lim.Cur, soft, hard, now.Cur, now.Max, msg)
}
