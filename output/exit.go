package output

import "github.com/pathlens/pathlens/probe"

// Exit statuses of the check command (docs/cli.md#exit-status). ExitUsage is the CLI's
// own, for usage and config errors; ExitCode never returns it.
const (
	ExitOK      = 0
	ExitFinding = 1
	ExitFailed  = 2
	ExitUsage   = 3
)

// ExitCode is the check command's exit status over one or more results
// (docs/cli.md#exit-status): 2 if any probe failed (Success false), else 1 if any
// finding is a warning or critical, else 0. Nil results are ignored; no
// results gives 0.
func ExitCode(rs ...*probe.Result) int {
	code := ExitOK
	for _, r := range rs {
		if r == nil {
			continue
		}
		if !r.Success {
			return ExitFailed
		}
		if r.WorstSeverity().Rank() >= probe.SeverityWarning.Rank() {
			code = ExitFinding
		}
	}
	return code
}
