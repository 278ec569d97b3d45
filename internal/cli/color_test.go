//go:build linux

package cli

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal: what pathlens writes to tty, the test
// reads from the returned function once tty is closed.
func openPTY(t *testing.T) (tty *os.File, output func() string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Skipf("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open pts: %v", err)
	}
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() { _, _ = io.Copy(&buf, m); close(done) }() // ends with EIO once s is closed
	return s, func() string { s.Close(); <-done; return buf.String() }
}

// --color auto colours a terminal unless NO_COLOR is set and not empty
// (https://no-color.org); --color always colours regardless.
func TestNoColor(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	// The pseudo-terminal must count as one, or the cases below test
	// nothing but the missing terminal.
	tty, output := openPTY(t)
	isTTY := isTerminal(tty)
	output()
	if !isTTY {
		t.Fatal("isTerminal: a pseudo-terminal is not a terminal")
	}
	for _, tc := range []struct {
		noColor, mode string
		want          bool
	}{
		{"", "auto", true},
		{"1", "auto", false},
		{"0", "auto", false}, // any non-empty value
		{"1", "always", true},
		{"", "never", false},
	} {
		t.Run("NO_COLOR="+tc.noColor+"/"+tc.mode, func(t *testing.T) {
			t.Setenv("NO_COLOR", tc.noColor)
			tty, output := openPTY(t)
			var errb bytes.Buffer
			code := Run([]string{"check", "--color", tc.mode, srv.URL + "/"}, tty, &errb)
			out := output()
			if code != ExitOK {
				t.Fatalf("exit %d, stderr %q, stdout %q", code, errb.String(), out)
			}
			if got := strings.Contains(out, "\x1b["); got != tc.want {
				t.Errorf("colour %v, want %v:\n%q", got, tc.want, out)
			}
		})
	}
}
