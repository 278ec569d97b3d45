package web

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/pathlens/pathlens/internal/stats"
	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/store"
)

// Target states shown in the UI and the API.
const (
	StateOK       = "ok"       // last run succeeded, no warning or critical finding
	StateWarning  = "warning"  // last run succeeded with a warning finding
	StateCritical = "critical" // last run succeeded with a critical finding
	StateFailing  = "failing"  // last run failed
	StatePending  = "pending"  // no run yet
)

// stateWindow is how far back State keeps samples for the overview's
// percentiles; maxSamples caps the samples per target whatever the interval.
const (
	stateWindow = time.Hour
	maxSamples  = 4096
	sparkPoints = 60
)

// State is the in-memory view of the latest run per target, so that the
// overview and /api/v1/targets never query SQLite per target. It also keeps
// the totals of the last hour of runs per target (for the overview's
// p50/p99 and sparkline). It is safe for concurrent use; Results handed to
// Record must not be modified afterwards.
type State struct {
	mu      sync.RWMutex
	targets map[string]*targetState
}

type targetState struct {
	module  string
	last    *probe.Result
	lastID  int64
	samples []sample // oldest first
}

type sample struct {
	at      time.Time
	totalMS float64
	ok      bool
}

// NewState returns an empty State.
func NewState() *State { return &State{targets: map[string]*targetState{}} }

// Record notes one run of target. id is the store row id if known (0
// otherwise). A result older than the one already held (runs recorded out
// of order) only adds a sample.
func (s *State) Record(target, module string, r *probe.Result, id int64) {
	if r == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.targets[target]
	if ts == nil {
		ts = &targetState{}
		s.targets[target] = ts
	}
	if ts.last == nil || !r.StartedAt.Before(ts.last.StartedAt) {
		ts.module, ts.last, ts.lastID = module, r, id
	}
	smp := sample{at: r.StartedAt, totalMS: r.TotalMS, ok: r.Success}
	// Keep samples sorted by start time; runs nearly always arrive in order.
	i := len(ts.samples)
	for i > 0 && ts.samples[i-1].at.After(smp.at) {
		i--
	}
	ts.samples = slices.Insert(ts.samples, i, smp)
	// Drop what fell out of the window (relative to the newest sample) and
	// anything beyond the cap.
	newest := ts.samples[len(ts.samples)-1].at
	cut := 0
	for cut < len(ts.samples) && newest.Sub(ts.samples[cut].at) > stateWindow {
		cut++
	}
	if n := len(ts.samples) - cut; n > maxSamples {
		cut += n - maxSamples
	}
	if cut > 0 {
		ts.samples = slices.Delete(ts.samples, 0, cut)
	}
}

// Forget drops everything known about target (it left the config).
func (s *State) Forget(target string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.targets, target)
}

// Restore fills the State from the store: for each named target, the runs
// of the hour before now, oldest first. serve calls it at start-up so the
// overview is not empty until every target has run again.
func (s *State) Restore(ctx context.Context, st *store.Store, targets []string, now time.Time) error {
	for _, name := range targets {
		rs, err := st.Results(ctx, name, now.Add(-stateWindow), 1000)
		if err != nil {
			return err
		}
		for i := len(rs) - 1; i >= 0; i-- { // newest first → oldest first
			s.Record(name, rs[i].Module, rs[i].Result, rs[i].ID)
		}
	}
	return nil
}

// snapshot is a copy of one target's state at one moment.
type snapshot struct {
	Module   string
	Last     *probe.Result // nil when pending
	LastID   int64
	P50, P99 float64 // total ms over the hour before now; valid when Count > 0
	Count    int
	Spark    []sample // the last sparkPoints runs, oldest first
}

// get returns the snapshot of target at now.
func (s *State) get(target string, now time.Time) snapshot {
	s.mu.RLock()
	ts := s.targets[target]
	if ts == nil {
		s.mu.RUnlock()
		return snapshot{}
	}
	snap := snapshot{Module: ts.module, Last: ts.last, LastID: ts.lastID}
	var totals []float64
	for _, smp := range ts.samples {
		if !smp.at.Before(now.Add(-stateWindow)) && smp.ok {
			totals = append(totals, smp.totalMS)
		}
	}
	from := max(0, len(ts.samples)-sparkPoints)
	snap.Spark = slices.Clone(ts.samples[from:])
	s.mu.RUnlock()

	if len(totals) > 0 {
		slices.Sort(totals)
		snap.Count = len(totals)
		snap.P50 = stats.Percentile(totals, 50)
		snap.P99 = stats.Percentile(totals, 99)
	}
	return snap
}

// resultState classifies a run: failing, critical, warning or ok; pending
// for no run.
func resultState(r *probe.Result) string {
	switch {
	case r == nil:
		return StatePending
	case !r.Success:
		return StateFailing
	}
	switch r.WorstSeverity() {
	case probe.SeverityCritical:
		return StateCritical
	case probe.SeverityWarning:
		return StateWarning
	}
	return StateOK
}
