package store

import (
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
)

// An hour whose runs all failed with nothing completed (a connect that
// times out on every run) rolls up like any other: its batch is written,
// the hour counts its runs and no success.
func TestRollupHourWithoutSketches(t *testing.T) {
	s, _ := openTemp(t)
	start := now.Add(-3 * time.Hour).Truncate(time.Hour)
	var recs []Record
	for at := start; at.Before(start.Add(time.Hour)); at = at.Add(10 * time.Minute) {
		recs = append(recs, Record{Target: "dead", Module: "tcp", Result: &probe.Result{
			Kind: "tcp", StartedAt: at, TotalMS: 1000,
			Phases: []probe.Phase{{Name: probe.PhaseConnect, DurationMS: 1000, Incomplete: true}},
			Error:  &probe.ErrorInfo{Class: probe.ClassTimeout, Phase: probe.PhaseConnect, Message: "timed out"},
		}})
	}
	write(t, s, recs...)
	// A later run seals the hour.
	write(t, s, failRun("dead", start.Add(2*time.Hour)))
	if n := count(t, s, "SELECT count(*) FROM hours"); n != 1 {
		t.Fatalf("%d hour roll-ups, want 1", n)
	}
	a := availability(t, s, "dead", []time.Duration{day}, 0)[0]
	if a.Runs != 7 || a.Successes != 0 {
		t.Errorf("%+v: want 7 runs, none successful", a)
	}
}
