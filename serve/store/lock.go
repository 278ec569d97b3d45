package store

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// lockSuffix names the lock file kept next to a database: PATH + ".lock".
const lockSuffix = ".lock"

// InUseError is returned by Open when another Store holds the database
// open, in this process or another one. SQLite would let both write, and
// every run of every target would then be stored twice; the lock makes the
// second pathlens fail at start instead.
type InUseError struct {
	Path     string // the database
	LockPath string // the lock file, Path + ".lock"
	// PID is the process holding the lock as it wrote into the lock file;
	// 0 when the file does not say (the holder was just starting).
	PID int
}

func (e *InUseError) Error() string {
	holder := "lock file " + e.LockPath
	if e.PID > 0 {
		holder = "pid " + strconv.Itoa(e.PID) + ", " + holder
	}
	return fmt.Sprintf("store: %s is in use by another pathlens (%s); stop it first, or give this one its own --db", e.Path, holder)
}

// fileLock is an exclusive lock on a database's lock file, held from Open
// to Close. The lock itself is the kernel's (released when the process
// dies, however it dies); the pid written into the file only names the
// holder in the error a second Open gets, so a stale pid left by a killed
// process is harmless.
type fileLock struct{ f *os.File }

// lock takes the lock of the database at path, or returns an *InUseError
// when another Store holds it.
func lock(path string) (*fileLock, error) {
	lp := path + lockSuffix
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("store: lock %s: %w", lp, err)
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("store: lock %s: %w", lp, err)
	}
	if !held {
		pid := readPID(f)
		f.Close()
		return nil, &InUseError{Path: path, LockPath: lp, PID: pid}
	}
	// Informational only: a failure to record the pid does not matter.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &fileLock{f: f}, nil
}

// unlock releases the lock. The file stays: removing it would let a
// process that opened it just before the removal lock a file no one else
// sees.
func (l *fileLock) unlock() error {
	if l == nil {
		return nil
	}
	l.f.Truncate(0)    // the pid no longer holds it
	return l.f.Close() // closing the descriptor releases the lock
}

// readPID reads the holder's pid from a lock file, 0 when there is none.
func readPID(f *os.File) int {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
