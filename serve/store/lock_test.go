package store

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestOpenTwiceInUse(t *testing.T) {
	if !locking {
		t.Skip("no flock(2) on " + runtime.GOOS)
	}
	s, path := openTemp(t)
	s2, err := Open(path)
	if err == nil {
		s2.Close()
		t.Fatal("a second Open of the same database succeeded")
	}
	var iu *InUseError
	if !errors.As(err, &iu) {
		t.Fatalf("second Open = %T %v, want an *InUseError", err, err)
	}
	want := fmt.Sprintf("store: %s is in use by another pathlens (pid %d, lock file %s.lock); stop it first, or give this one its own --db",
		path, os.Getpid(), path)
	if err.Error() != want {
		t.Errorf("error\n got %q\nwant %q", err, want)
	}
	if iu.PID != os.Getpid() || iu.Path != path || iu.LockPath != path+".lock" {
		t.Errorf("InUseError = %+v", iu)
	}
	// The refused Open changed nothing: the first Store still writes.
	write(t, s, rec(1))

	// Close releases the lock.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s3, err := Open(path)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	if n := count(t, s3, "SELECT count(*) FROM runs"); n != 1 {
		t.Errorf("%d results, want 1", n)
	}
	s3.Close()
}

func TestOpenMemoryNoLock(t *testing.T) {
	a, err := Open(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(":memory:")
	if err != nil {
		t.Fatalf("second :memory: store: %v", err)
	}
	b.Close()
	if _, err := os.Stat(":memory:" + lockSuffix); err == nil {
		t.Error("a lock file was created for :memory:")
	}
}

// lockChildEnv names the database the lock-test child holds open.
const lockChildEnv = "PATHLENS_STORE_LOCK_CHILD_DB"

// TestLockChild is the child process of TestOpenLockedByOtherProcess: it
// opens the store, says so on stdout and waits to be killed.
func TestLockChild(t *testing.T) {
	path := os.Getenv(lockChildEnv)
	if path == "" {
		t.Skip("helper process for TestOpenLockedByOtherProcess")
	}
	if _, err := Open(path); err != nil {
		fmt.Println("child:", err)
		os.Exit(2)
	}
	fmt.Println("open")
	time.Sleep(60 * time.Second) // an orphan guard: the parent kills us long before
	os.Exit(3)
}

// Another process holding the database makes Open fail with its pid; when
// that process is killed (no Close), the kernel drops the lock and the
// database opens again.
func TestOpenLockedByOtherProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	if !locking {
		t.Skip("no flock(2) on " + runtime.GOOS)
	}
	path := filepath.Join(t.TempDir(), "pathlens.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), lockChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	kill := func() {
		if !killed {
			killed = true
			cmd.Process.Kill()
			cmd.Wait()
		}
	}
	defer kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "open" {
		t.Fatalf("child: %q, %v", line, err)
	}

	_, err = Open(path)
	var iu *InUseError
	if !errors.As(err, &iu) {
		t.Fatalf("Open while the child holds it = %v, want an *InUseError", err)
	}
	if iu.PID != cmd.Process.Pid {
		t.Errorf("InUseError names pid %d, the child is %d", iu.PID, cmd.Process.Pid)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("(pid %d, lock file %s.lock)", cmd.Process.Pid, path)) {
		t.Errorf("error %q does not name the child and the lock file", err)
	}

	kill() // SIGKILL: the child never closes the store
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open after the holder was killed: %v", err)
	}
	s.Close()
}
