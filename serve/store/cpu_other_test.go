//go:build !unix

package store

import "time"

// cpuNow is 0 where getrusage(2) is missing: the CPU metrics read 0.
func cpuNow() time.Duration { return 0 }
