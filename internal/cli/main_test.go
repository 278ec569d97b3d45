package cli

import (
	"encoding/json"
	"os"
	"testing"
)

// childArgsEnv makes the test binary act as the pathlens command, so tests
// can measure a real process (exit status, peak RSS) without building one.
const childArgsEnv = "PATHLENS_TEST_CHILD_ARGS"

func TestMain(m *testing.M) {
	if raw := os.Getenv(childArgsEnv); raw != "" {
		var args []string
		if err := json.Unmarshal([]byte(raw), &args); err != nil {
			os.Stderr.WriteString("bad child args: " + err.Error() + "\n")
			os.Exit(99)
		}
		os.Exit(Run(args, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
