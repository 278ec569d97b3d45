//go:build unix

package store

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// locking is whether Open can detect a second Store on its file.
const locking = true

// tryLock takes an exclusive flock(2) on f without waiting; held is false
// when another open file description holds it. flock locks belong to the
// open file, not the process, so a second Open in the same process is
// refused too.
func tryLock(f *os.File) (held bool, err error) {
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EWOULDBLOCK):
			return false, nil
		case errors.Is(err, unix.EINTR):
			continue
		}
		return false, err
	}
}
