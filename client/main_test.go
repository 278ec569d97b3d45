package client

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any goroutine (a pooled connection's reader,
// a retry timer, a gRPC transport) outlives the tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
