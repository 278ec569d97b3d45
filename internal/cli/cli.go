// Package cli implements the pathlens command line (docs/cli.md): it turns
// arguments into probe options, runs commands and maps outcomes to exit
// codes. main only calls Run.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pathlens/pathlens/output"
	"github.com/pathlens/pathlens/probe"
	"golang.org/x/term"
)

// Exit codes: output's, the one set (docs/cli.md).
const (
	ExitOK      = output.ExitOK
	ExitFinding = output.ExitFinding
	ExitFailed  = output.ExitFailed
	ExitUsage   = output.ExitUsage
	usageHeader = `pathlens probes a network path and explains what is wrong.

Usage:
  pathlens check [flags] TARGET   probe once (or -n times) and explain
  pathlens check --lab            start the lab and probe every scenario
  pathlens serve [--config FILE] [--listen ADDR] [--db FILE] [--demo] [--check-config]
                                  scheduled probes, history, web UI, /metrics, /probe
  pathlens lab [--json]           run local fault-injection servers
  pathlens version

Run 'pathlens check --help' for the check flags.
`
)

// usageError is a bad flag, target or config: one line on stderr, exit 3.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// Run executes the command line args and returns the exit status.
func Run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageHeader)
		return ExitUsage
	}
	var code int
	var err error
	switch args[0] {
	case "check":
		code, err = runCheck(args[1:], stdout, stderr)
	case "lab":
		code, err = runLab(args[1:], stdout, stderr)
	case "serve":
		code, err = runServe(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "pathlens %s\n", probe.Version)
		return ExitOK
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usageHeader)
		return ExitOK
	default:
		err = usagef("unknown command %q (want check, serve, lab or version)", args[0])
	}
	if err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "pathlens: %s\n", ue.msg)
			return ExitUsage
		}
		fmt.Fprintf(stderr, "pathlens: %v\n", err)
		if code == 0 {
			code = ExitFailed
		}
	}
	return code
}

// isTerminal reports whether w is a terminal (colour and progress bars
// only then).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// colorOn is --color's decision for w: always colours, never does not,
// auto colours a terminal unless NO_COLOR is set and not empty
// (https://no-color.org).
func colorOn(mode string, w io.Writer) bool {
	switch mode {
	case "always":
		return true
	case "auto":
		return os.Getenv("NO_COLOR") == "" && isTerminal(w)
	}
	return false
}

func termWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 20 {
			return cols
		}
	}
	return 80
}

func joinQuoted(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
