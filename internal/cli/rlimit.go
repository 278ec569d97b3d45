//go:build linux

package cli

import "syscall"

// raiseNoFile raises the soft limit on open files (RLIMIT_NOFILE) to the
// hard limit and returns both as they stand afterwards. serve runs many
// probes at once and /probe requests add their own; each connection takes
// a descriptor, and running out would show up as probe failures (EMFILE)
// that belong to pathlens, not to the targets.
//
// The Go runtime already raises the soft limit when the process starts
// (the syscall package's init, since Go 1.19), but only to one below the
// hard limit, so that it can tell whether something changed the limit
// later; this call takes it the rest of the way, makes the intent explicit
// and reports the value. After it, processes started by pathlens inherit
// the raised limit rather than the one pathlens was started with; serve
// starts none.
func raiseNoFile() (soft, hard uint64, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, err
	}
	if lim.Cur < lim.Max {
		want := syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			return lim.Cur, lim.Max, err
		}
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, 0, err
		}
	}
	return lim.Cur, lim.Max, nil
}
