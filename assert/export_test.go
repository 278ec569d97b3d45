package assert

import "time"

// Test hooks for the external tests.
var ResultView = resultView

// SetTimeout sets the evaluation timeout and returns a function that
// restores it.
func SetTimeout(d time.Duration) (restore func()) {
	old := evalTimeout
	evalTimeout = d
	return func() { evalTimeout = old }
}
