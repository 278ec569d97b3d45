package web

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/pathlens/pathlens/internal/stats"
	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/config"
	"github.com/pathlens/pathlens/serve/store"
)

// What a single run was: the classes of lastRun.state.
const (
	StateOK       = "ok"       // the run succeeded, no warning or critical finding
	StateWarning  = "warning"  // the run succeeded with a warning finding
	StateCritical = "critical" // the run succeeded with a critical finding
	StateFailing  = "failing"  // the run failed
	StatePending  = "pending"  // no run yet
)

// Target states shown in the UI and the API: the states with memory of
// the alert manager (docs/alerting.md), or, without one, the latest
// run's class in the same words.
const (
	TargetUp       = "up"
	TargetDegraded = "degraded"
	TargetDown     = "down"
	TargetFlapping = "flapping"
	TargetPending  = StatePending
)

// targetStates are the target states in the order the UI counts them.
var targetStates = []string{TargetUp, TargetDegraded, TargetDown, TargetFlapping, TargetPending}

// stateAliases are the run classes a state filter took before target
// states had memory; shared links keep working.
var stateAliases = map[string]string{StateOK: TargetUp, StateWarning: TargetDegraded, StateCritical: TargetDegraded, StateFailing: TargetDown}

// runTargetState is the target state the latest run l implies on its
// own (no alert manager to remember more).
func runTargetState(l *lastRun) string {
	switch stateOf(l) {
	case StateOK:
		return TargetUp
	case StateWarning, StateCritical:
		return TargetDegraded
	case StateFailing:
		return TargetDown
	}
	return TargetPending
}

// What State keeps. stateWindow is how far back samples count for the
// overview's percentiles; ringSize caps the samples per target whatever
// the interval (so p50/p99 cover the runs of the last hour, at most the
// last ringSize of them, and the sparkline draws the same runs).
// maxFull is how many whole Results the State holds in all: those of the
// newest runs, so that a run still in the writer's queue can be shown
// whole. maxResolved caps the recently resolved findings kept for
// /findings. errMessageMax and summaryMax cut the texts a summary keeps.
const (
	stateWindow   = time.Hour
	ringSize      = 60
	sparkPoints   = ringSize
	maxFull       = 64
	maxResolved   = 1000
	errMessageMax = 256
	summaryMax    = 160
)

// State is the in-memory view of the latest run per target, so that the
// overview, /findings and /api/v1/targets never query SQLite per target.
// Per target it keeps a compact summary of the latest run (lastRun) and
// the totals of the last runs of the hour (for the overview's p50/p99 and
// sparkline), about 1 KiB; the whole Result only of the newest maxFull
// runs of all targets. It also remembers the findings resolved lately
// (at most maxResolved). It is safe for concurrent use; Results handed to
// Record must not be modified afterwards.
type State struct {
	mu       sync.RWMutex
	targets  map[string]*targetState
	full     fullRing
	resolved map[findingKey]resolvedFinding
}

type targetState struct {
	module  string
	last    *lastRun // nil until a run is recorded
	samples [ringSize]sample
	n       int           // samples held, oldest first in samples[:n]
	full    *probe.Result // the latest run whole, while the full ring holds it
	fullSeq uint64        // the ring entry holding full
}

// lastRun is what State keeps of a target's latest run: what the overview,
// /findings and /api/v1/targets show of it. It is never modified once
// built (Record replaces it), so a copy may be read without the lock.
type lastRun struct {
	at       int64 // start, unix nanoseconds
	id       int64 // store row id, 0 when not known
	totalMS  float64
	success  bool
	state    string           // StateOK … StateFailing
	err      *probe.ErrorInfo // nil on success; Message cut to errMessageMax bytes
	findings []findingRef     // in the run's order
	summary  string           // the worst finding's Summary, cut to summaryMax bytes
}

// findingRef names one finding of a run.
type findingRef struct {
	id       string
	severity probe.Severity
}

// sample is one run's total time for the percentiles and the sparkline.
type sample struct {
	atMS    int64 // start, unix milliseconds
	totalMS float32
	ok      bool
}

// NewState returns an empty State.
func NewState() *State {
	return &State{targets: map[string]*targetState{}, resolved: map[findingKey]resolvedFinding{}}
}

// Record notes one run of target. id is the store row id if known (0
// otherwise); a run without one is not stored yet, so State holds it whole
// (among the newest maxFull) for the target page. A result older than the
// one already held (runs recorded out of order) only adds a sample.
func (s *State) Record(target, module string, r *probe.Result, id int64) {
	if r == nil {
		return
	}
	l := newLastRun(r, id)
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.targets[target]
	if ts == nil {
		ts = &targetState{module: module}
		s.targets[target] = ts
	}
	if ts.last == nil || l.at >= ts.last.at {
		if ts.module != module {
			ts.module = module
		}
		s.noteResolved(target, ts.last, l)
		ts.last = l
		ts.full = nil
		if id == 0 {
			s.full.hold(ts, r)
		}
	}
	ts.addSample(sample{atMS: r.StartedAt.UnixMilli(), totalMS: float32(r.TotalMS), ok: r.Success})
}

// addSample inserts smp in start order, then drops what fell out of the
// window (relative to the newest sample) and the oldest beyond ringSize.
func (ts *targetState) addSample(smp sample) {
	i := ts.n
	for i > 0 && ts.samples[i-1].atMS > smp.atMS {
		i--
	}
	if ts.n == ringSize {
		if i == 0 {
			return // older than every sample of a full ring
		}
		copy(ts.samples[:i-1], ts.samples[1:i]) // drop the oldest
		ts.samples[i-1] = smp
	} else {
		copy(ts.samples[i+1:ts.n+1], ts.samples[i:ts.n])
		ts.samples[i] = smp
		ts.n++
	}
	newest := ts.samples[ts.n-1].atMS
	cut := 0
	for cut < ts.n && newest-ts.samples[cut].atMS > stateWindow.Milliseconds() {
		cut++
	}
	if cut > 0 {
		copy(ts.samples[:], ts.samples[cut:ts.n])
		ts.n -= cut
	}
}

// newLastRun is the summary of r.
func newLastRun(r *probe.Result, id int64) *lastRun {
	l := &lastRun{at: r.StartedAt.UnixNano(), id: id, totalMS: r.TotalMS, success: r.Success, state: resultState(r)}
	if e := r.Error; e != nil {
		l.err = &probe.ErrorInfo{Class: e.Class, Phase: e.Phase, Message: cut(e.Message, errMessageMax), Cause: e.Cause}
	}
	if len(r.Findings) > 0 {
		l.findings = make([]findingRef, len(r.Findings))
		for i, f := range r.Findings {
			l.findings[i] = findingRef{id: internID(f.ID), severity: internSeverity(f.Severity)}
		}
		l.summary = cut(worstFinding(r.Findings).Summary, summaryMax)
	}
	return l
}

// startedAt is the run's start time.
func (l *lastRun) startedAt() time.Time { return time.Unix(0, l.at).UTC() }

// worst is the most serious finding (first among equals); ok is false
// when the run had none.
func (l *lastRun) worst() (ref findingRef, ok bool) {
	for i, f := range l.findings {
		if i == 0 || f.severity.Rank() > ref.severity.Rank() {
			ref = f
		}
	}
	return ref, len(l.findings) > 0
}

// has reports whether the run had finding id.
func (l *lastRun) has(id string) bool {
	return l != nil && slices.ContainsFunc(l.findings, func(f findingRef) bool { return f.id == id })
}

// hasSeverity reports whether the run had a finding of severity sev.
func (l *lastRun) hasSeverity(sev probe.Severity) bool {
	return l != nil && slices.ContainsFunc(l.findings, func(f findingRef) bool { return f.severity == sev })
}

// Forget drops everything known about target (it left the config).
func (s *State) Forget(target string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ts := s.targets[target]; ts != nil {
		ts.full = nil
	}
	delete(s.targets, target)
	for k := range s.resolved {
		if k.target == target {
			delete(s.resolved, k)
		}
	}
}

// Restore fills the State from the store: for each named target, the runs
// of the hour before now (at most ringSize, oldest first) and the findings
// resolved in the week before now. serve calls it at start-up so the
// overview is not empty until every target has run again.
func (s *State) Restore(ctx context.Context, st *store.Store, targets []string, now time.Time) error {
	for _, name := range targets {
		rs, err := st.Results(ctx, name, now.Add(-stateWindow), ringSize)
		if err != nil {
			return err
		}
		for i := len(rs) - 1; i >= 0; i-- { // newest first → oldest first
			s.Record(name, rs[i].Module, rs[i].Result, rs[i].ID)
		}
		spans, err := st.Findings(ctx, name)
		if err != nil {
			return err
		}
		s.restoreResolved(spans, now.Add(-recentInactive))
	}
	return nil
}

// snapshot is a copy of one target's state at one moment.
type snapshot struct {
	Module   string
	Last     *lastRun      // nil when pending
	Full     *probe.Result // the latest run whole, when State still holds it
	P50, P99 float64       // total ms over the runs of the hour before now; valid when Count > 0
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
	snap := snapshot{Module: ts.module, Last: ts.last, Full: ts.full}
	snap.Spark = slices.Clone(ts.samples[:ts.n])
	s.mu.RUnlock()

	from := now.Add(-stateWindow).UnixMilli()
	totals := make([]float64, 0, len(snap.Spark))
	for _, smp := range snap.Spark {
		if smp.atMS >= from && smp.ok {
			totals = append(totals, float64(smp.totalMS))
		}
	}
	if len(totals) > 0 {
		slices.Sort(totals)
		snap.Count = len(totals)
		snap.P50 = stats.Percentile(totals, 50)
		snap.P99 = stats.Percentile(totals, 99)
	}
	return snap
}

// eachChunk is how many targets each looks at under one read lock, so
// that a scan of 100,000 targets does not hold Record off for its whole
// length.
const eachChunk = 4096

// each calls fn for every target in order with the summary of its latest
// run (nil while pending), under the read lock: fn must be quick, must not
// call into s and may keep l (it is never modified).
func (s *State) each(targets []*config.Target, fn func(t *config.Target, l *lastRun)) {
	for len(targets) > 0 {
		chunk := targets[:min(eachChunk, len(targets))]
		targets = targets[len(chunk):]
		s.mu.RLock()
		for _, t := range chunk {
			var l *lastRun
			if ts := s.targets[t.Name]; ts != nil {
				l = ts.last
			}
			fn(t, l)
		}
		s.mu.RUnlock()
	}
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

// stateOf is the state of the run l summarises; pending for nil.
func stateOf(l *lastRun) string {
	if l == nil {
		return StatePending
	}
	return l.state
}
