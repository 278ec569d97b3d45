//go:build !linux

package cli

import "errors"

// raiseNoFile does nothing outside Linux and returns errors.ErrUnsupported.
// On other Unix systems the Go runtime's own raise of the soft limit at
// start (with the platform's caps, such as macOS's kern.maxfilesperproc)
// stands.
func raiseNoFile() (soft, hard uint64, err error) { return 0, 0, errors.ErrUnsupported }
