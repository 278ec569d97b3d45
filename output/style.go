// Package output renders probe Results for the check command: a human
// waterfall with findings, the JSON of docs/result.md, a summary of repeated
// runs, the exit code of docs/cli.md and a progress line for terminals. It
// does no I/O except through the io.Writer it is given.
package output

import (
	"strings"
	"unicode/utf8"

	"github.com/pathlens/pathlens/internal/h2text"
	"github.com/pathlens/pathlens/probe"
)

// Style controls human rendering.
type Style struct {
	// Color enables ANSI colour. When false the output holds no escape bytes.
	Color bool
	// Width is the terminal width in columns; 0 means 80.
	Width int
	// Frames adds the HTTP/2 frame timeline (check --frames).
	Frames bool
}

func (s Style) width() int {
	if s.Width <= 0 {
		return 80
	}
	return s.Width
}

// ANSI SGR codes.
const (
	ansiReset   = "\x1b[0m"
	ansiBold    = "1"
	ansiDim     = "2"
	ansiRed     = "31"
	ansiGreen   = "32"
	ansiYellow  = "33"
	ansiBlue    = "34"
	ansiMagenta = "35"
	ansiCyan    = "36"
	ansiGray    = "90"
	ansiBrCyan  = "96"
	ansiBrBlue  = "94"
)

// paint wraps s in the SGR code when colour is on.
func (s Style) paint(code, text string) string {
	if !s.Color || code == "" || text == "" {
		return text
	}
	return "\x1b[" + code + "m" + text + ansiReset
}

// phaseColor is the bar colour of each phase.
func phaseColor(name string) string {
	switch name {
	case probe.PhaseDNS, probe.PhaseQuery:
		return ansiCyan
	case probe.PhaseConnect, probe.PhaseEcho:
		return ansiYellow
	case probe.PhaseTLS:
		return ansiMagenta
	case probe.PhaseRequest, probe.PhaseUpgrade:
		return ansiBlue
	case probe.PhaseWait:
		return ansiGreen
	case probe.PhaseTransfer, probe.PhaseStream, probe.PhaseHold:
		return ansiBrCyan
	case probe.PhaseRedirect:
		return ansiGray
	}
	return ansiBrBlue
}

// severityColor is the colour of a severity tag.
func severityColor(s probe.Severity) string {
	switch s {
	case probe.SeverityCritical:
		return ansiBold + ";" + ansiRed
	case probe.SeverityWarning:
		return ansiYellow
	case probe.SeverityInfo:
		return ansiCyan
	}
	return ""
}

// clean makes a string that came from the network (or anywhere else)
// safe to print on a terminal (see h2text.Clean, the one implementation).
func clean(s string) string { return h2text.Clean(s) }

// pad right-pads s with spaces to n display columns.
func pad(s string, n int) string {
	w := utf8.RuneCountInString(s)
	if w >= n {
		return s
	}
	return s + strings.Repeat(" ", n-w)
}

// lpad left-pads s with spaces to n display columns.
func lpad(s string, n int) string {
	w := utf8.RuneCountInString(s)
	if w >= n {
		return s
	}
	return strings.Repeat(" ", n-w) + s
}
