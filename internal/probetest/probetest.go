// Package probetest holds the helpers the prober packages' tests share:
// run one probe with a default budget, and describe a Result compactly in
// failure messages.
package probetest

import (
	"context"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
)

// Run parses target and runs one probe; a zero Options.Timeout becomes 5 s
// so a broken test fails instead of hanging on the 10 s default.
func Run(t testing.TB, target string, o *probe.Options) *probe.Result {
	t.Helper()
	tg, err := probe.ParseTarget(target)
	if err != nil {
		t.Fatalf("ParseTarget(%q): %v", target, err)
	}
	if o == nil {
		o = &probe.Options{}
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	return probe.Run(context.Background(), tg, o)
}

// PhaseNames lists the phases of r in order.
func PhaseNames(r *probe.Result) []string {
	out := make([]string, len(r.Phases))
	for i, p := range r.Phases {
		out[i] = p.Name
	}
	return out
}

// ErrString describes r's error as class/cause in phase: message.
func ErrString(r *probe.Result) string {
	if r.Error == nil {
		return "<nil>"
	}
	return string(r.Error.Class) + "/" + r.Error.Cause + " in " + r.Error.Phase + ": " + r.Error.Message
}
