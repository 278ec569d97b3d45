package alert

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pathlens/pathlens/probe"
)

// State is a target's health as the Tracker judges it from its runs,
// with memory: one failed run does not make a target down.
type State string

// The states of a target (docs/alerting.md).
const (
	// StatePending: no verdict yet (no run, or fewer runs than a rule
	// needs: a first run that fails leaves the target pending).
	StatePending State = "pending"
	// StateUp: the runs succeed without a warning or critical finding.
	StateUp State = "up"
	// StateDegraded: the runs succeed, but with a warning or critical
	// finding, on WarningsBeforeDegraded consecutive runs.
	StateDegraded State = "degraded"
	// StateDown: FailuresBeforeDown consecutive runs failed.
	StateDown State = "down"
	// StateFlapping: the target changed state FlapChanges times within
	// FlapWindow; it stays flapping until the changes in the window fall
	// under FlapChanges.
	StateFlapping State = "flapping"
)

// Defaults of Rules, used for a field left zero.
const (
	DefaultFailuresBeforeDown     = 2
	DefaultSuccessesBeforeUp      = 1
	DefaultWarningsBeforeDegraded = 2
	DefaultFlapChanges            = 5
	DefaultFlapWindow             = 30 * time.Minute
)

// Limits of Rules: thresholds beyond MaxRunsThreshold would take hours
// to trip at the usual intervals and are surely a typo.
const (
	MaxRunsThreshold = 100
	MinFlapWindow    = time.Minute
	MaxFlapWindow    = 24 * time.Hour
)

// Rules are the thresholds of a Tracker. A zero field takes its default
// (DefaultFailuresBeforeDown, …), so the zero Rules are the defaults.
type Rules struct {
	// FailuresBeforeDown is how many consecutive failed runs make a
	// target down (config key failures_before_down; default 2).
	FailuresBeforeDown int
	// SuccessesBeforeUp is how many consecutive successful runs bring a
	// down target back, how many clean runs bring a degraded one back to
	// up, and how many successful runs without a finding clear it
	// (successes_before_up; default 1).
	SuccessesBeforeUp int
	// WarningsBeforeDegraded is how many consecutive successful runs
	// with a warning or critical finding make a target degraded, and how
	// many consecutive runs with a finding make it alerting
	// (warnings_before_degraded; default 2).
	WarningsBeforeDegraded int
	// FlapChanges is how many state changes within FlapWindow make a
	// target flapping (flap_changes; default 5); negative turns flapping
	// detection off.
	FlapChanges int
	// FlapWindow is the window FlapChanges are counted in (flap_window;
	// default 30 min).
	FlapWindow time.Duration
}

// WithDefaults returns r with every zero field set to its default.
func (r Rules) WithDefaults() Rules {
	if r.FailuresBeforeDown == 0 {
		r.FailuresBeforeDown = DefaultFailuresBeforeDown
	}
	if r.SuccessesBeforeUp == 0 {
		r.SuccessesBeforeUp = DefaultSuccessesBeforeUp
	}
	if r.WarningsBeforeDegraded == 0 {
		r.WarningsBeforeDegraded = DefaultWarningsBeforeDegraded
	}
	if r.FlapChanges == 0 {
		r.FlapChanges = DefaultFlapChanges
	}
	if r.FlapWindow == 0 {
		r.FlapWindow = DefaultFlapWindow
	}
	return r
}

// Validate checks r (zero fields are fine: they take defaults). Each
// error is a *FieldError naming the config key (failures_before_down,
// …), for the caller to put the target's, module's or defaults' path in
// front.
func (r Rules) Validate() error {
	var errs []error
	runs := func(field string, v int) {
		if v < 0 || v > MaxRunsThreshold {
			errs = append(errs, fieldErrorf(field, "%d: want 1 to %d runs", v, MaxRunsThreshold))
		}
	}
	runs("failures_before_down", r.FailuresBeforeDown)
	runs("successes_before_up", r.SuccessesBeforeUp)
	runs("warnings_before_degraded", r.WarningsBeforeDegraded)
	if r.FlapChanges > MaxRunsThreshold {
		errs = append(errs, fieldErrorf("flap_changes", "%d: want at most %d (or a negative number to turn flapping detection off)", r.FlapChanges, MaxRunsThreshold))
	} else if r.FlapChanges == 1 {
		errs = append(errs, fieldErrorf("flap_changes", "1: every change would be flapping; want at least 2"))
	}
	if r.FlapWindow != 0 && (r.FlapWindow < MinFlapWindow || r.FlapWindow > MaxFlapWindow) {
		errs = append(errs, fieldErrorf("flap_window", "%s: want %s to %s", r.FlapWindow, MinFlapWindow, MaxFlapWindow))
	}
	return joinErrors(errs)
}

// Transition is a change of a target's state: what a caller notifies and
// records.
type Transition struct {
	From, To State
	// At is the start of the run that made the change (Result.StartedAt).
	At time.Time
	// Reason says why, in words: "2 consecutive failed runs (connect:
	// connection refused)", "5 state changes within 30m0s", …
	Reason string
}

// FindingTransition is a finding starting or stopping alerting.
type FindingTransition struct {
	ID       string
	Severity probe.Severity
	// Alerting is true when the finding started alerting, false when it
	// cleared.
	Alerting bool
	At       time.Time
	Reason   string
}

// Update is what one run changed: the target's transition (nil when its
// state stayed) and the findings that started or stopped alerting.
type Update struct {
	Transition *Transition
	Findings   []FindingTransition
}

// Changed reports whether the run changed anything.
func (u Update) Changed() bool { return u.Transition != nil || len(u.Findings) > 0 }

// FindingStatus is one finding the Tracker remembers as alerting.
type FindingStatus struct {
	ID       string
	Severity probe.Severity // of its latest occurrence
	Summary  string         // of its latest occurrence
	Advice   string
	// Since is the start of the run that made it alerting.
	Since time.Time
}

// Status is a snapshot of a Tracker.
type Status struct {
	State State
	// Since is when State began (the start of the run that made it);
	// zero while pending.
	Since time.Time
	// Stable is the state without flapping: what the target would be if
	// flapping were off (never StateFlapping).
	Stable State
	// Down is true while the target is down, or flapping with down among
	// its changes in the flap window: then the down alert stays firing
	// through the flapping instead of firing and resolving with every
	// change.
	Down bool
	// Changes is how many state changes the flap window holds.
	Changes int
	// LastRun is the start of the latest run observed.
	LastRun time.Time
	// ConsecutiveFailures and ConsecutiveSuccesses count the latest runs.
	ConsecutiveFailures, ConsecutiveSuccesses int
	// Findings are the alerting findings, worst first, then by ID.
	Findings []FindingStatus
}

// Tracker keeps one target's state across runs. It is safe for
// concurrent use; runs are expected in start order (a run older than the
// latest one observed is ignored).
type Tracker struct {
	mu    sync.Mutex
	rules Rules

	state  State
	since  time.Time
	stable State
	last   time.Time

	fails, succs, oks, warns int // consecutive runs: failed, successful, clean, successful with a warning

	changes  []change // the latest stable-state changes, oldest first, at most FlapChanges
	findings map[string]*findingMem
}

// change is one change of the stable state.
type change struct {
	at       time.Time
	from, to State
}

// findingMem is what the Tracker remembers of one finding.
type findingMem struct {
	present, absent int // consecutive runs with it and successful runs without it
	alerting        bool
	since           time.Time
	severity        probe.Severity
	summary, advice string
}

// NewTracker returns a pending Tracker with rules (zero fields take
// their defaults).
func NewTracker(rules Rules) *Tracker {
	return &Tracker{rules: rules.WithDefaults(), state: StatePending, stable: StatePending}
}

// SetRules replaces the rules (on a config reload); the memory of past
// runs is kept and judged by the new rules from the next run on.
func (t *Tracker) SetRules(rules Rules) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rules = rules.WithDefaults()
	t.pruneChanges(t.last)
}

// pruneChanges drops the changes that left the flap window before at
// and keeps at most FlapChanges (MaxRunsThreshold with flapping
// detection off, which still counts them for Status.Changes), so the
// memory stays bounded whatever the rules.
func (t *Tracker) pruneChanges(at time.Time) {
	i := 0
	for i < len(t.changes) && at.Sub(t.changes[i].at) >= t.rules.FlapWindow {
		i++
	}
	keep := t.rules.FlapChanges
	if keep <= 0 {
		keep = MaxRunsThreshold
	}
	i = max(i, len(t.changes)-keep)
	if i > 0 {
		t.changes = slices.Delete(t.changes, 0, i)
	}
}

// runClass sorts a run for the rules.
type runClass int

const (
	runOK   runClass = iota // succeeded, no warning or critical finding
	runWarn                 // succeeded with a warning or critical finding
	runFail                 // failed
)

// alerts reports whether a finding of severity s counts for degraded and
// alerting (warning and critical do; info does not).
func alerts(s probe.Severity) bool { return s.Rank() >= probe.SeverityWarning.Rank() }

// classify returns r's class.
func classify(r *probe.Result) runClass {
	if !r.Success {
		return runFail
	}
	if alerts(r.WorstSeverity()) {
		return runWarn
	}
	return runOK
}

// Observe judges one run and returns what it changed. A nil Result, or
// one older than the latest observed, changes nothing.
func (t *Tracker) Observe(r *probe.Result) Update {
	if r == nil {
		return Update{}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	at := r.StartedAt
	if at.Before(t.last) {
		return Update{}
	}
	t.last = at
	class := classify(r)
	switch class {
	case runFail:
		t.fails++
		t.succs, t.oks, t.warns = 0, 0, 0
	case runWarn:
		t.fails, t.oks = 0, 0
		t.succs++
		t.warns++
	case runOK:
		t.fails, t.warns = 0, 0
		t.succs++
		t.oks++
	}

	var u Update
	next, why := t.nextStable(r, class)
	if next != t.stable {
		if t.stable != StatePending {
			t.changes = append(t.changes, change{at: at, from: t.stable, to: next})
			t.pruneChanges(at)
		}
		t.stable = next
	}
	n := t.inWindow(at)
	reported := t.stable
	if k := t.rules.FlapChanges; k > 0 && n >= k {
		reported = StateFlapping
	}
	if reported != t.state {
		switch {
		case reported == StateFlapping:
			last := t.changes[len(t.changes)-1]
			why = fmt.Sprintf("%d state changes within %s (latest: %s → %s)", n, t.rules.FlapWindow, last.from, last.to)
		case t.state == StateFlapping:
			why = fmt.Sprintf("%d state changes within %s, fewer than %d: the target is %s", n, t.rules.FlapWindow, t.rules.FlapChanges, reported)
		}
		u.Transition = &Transition{From: t.state, To: reported, At: at, Reason: why}
		t.state, t.since = reported, at
	}
	u.Findings = t.observeFindings(r, at)
	return u
}

// nextStable applies the rules to the counters after run r of class c:
// the stable state that follows and why it changed (when it did).
func (t *Tracker) nextStable(r *probe.Result, c runClass) (State, string) {
	ru := t.rules
	switch {
	case t.fails >= ru.FailuresBeforeDown:
		if t.stable == StateDown {
			return StateDown, ""
		}
		return StateDown, fmt.Sprintf("%s (%s)", runs(t.fails, "consecutive failed run"), describeError(r.Error))
	case c == runFail:
		return t.stable, "" // a blip: not enough failures yet
	}
	switch t.stable {
	case StateDown, StatePending:
		if t.succs < ru.SuccessesBeforeUp {
			return t.stable, ""
		}
		// A target that recovers with a warning has not been healthy
		// since it was down: it goes straight to degraded. From pending,
		// degraded needs its own count of runs.
		if c == runWarn && (t.stable == StateDown || t.warns >= ru.WarningsBeforeDegraded) {
			return StateDegraded, fmt.Sprintf("%s, the latest with %s", runs(t.succs, "successful run"), findingIDs(r))
		}
		return StateUp, runs(t.succs, "successful run")
	case StateUp:
		if t.warns >= ru.WarningsBeforeDegraded {
			return StateDegraded, fmt.Sprintf("%s with a warning or critical finding (%s)", runs(t.warns, "consecutive successful run"), findingIDs(r))
		}
	case StateDegraded:
		if t.oks >= ru.SuccessesBeforeUp {
			return StateUp, runs(t.oks, "consecutive run") + " without a warning or critical finding"
		}
	}
	return t.stable, ""
}

// inWindow counts the stable-state changes within the flap window
// before at.
func (t *Tracker) inWindow(at time.Time) int {
	n := 0
	for _, c := range t.changes {
		if at.Sub(c.at) < t.rules.FlapWindow {
			n++
		}
	}
	return n
}

// observeFindings updates the memory of findings after run r. A failed
// run can raise a finding but never clears one: a probe that stopped
// early did not check what it skipped.
func (t *Tracker) observeFindings(r *probe.Result, at time.Time) []FindingTransition {
	if t.findings == nil {
		t.findings = map[string]*findingMem{}
	}
	var out []FindingTransition
	seen := make(map[string]bool, len(r.Findings))
	for i := range r.Findings {
		f := &r.Findings[i]
		if !alerts(f.Severity) || f.ID == "" {
			continue
		}
		m := t.findings[f.ID]
		if m == nil {
			m = &findingMem{}
			t.findings[f.ID] = m
		}
		if seen[f.ID] { // the same id twice in one run: keep the worse
			if f.Severity.Rank() > m.severity.Rank() {
				m.severity, m.summary, m.advice = f.Severity, f.Summary, f.Advice
			}
			continue
		}
		seen[f.ID] = true
		m.present++
		m.absent = 0
		m.severity, m.summary, m.advice = f.Severity, f.Summary, f.Advice
		if !m.alerting && m.present >= t.rules.WarningsBeforeDegraded {
			m.alerting, m.since = true, at
			out = append(out, FindingTransition{ID: f.ID, Alerting: true, At: at,
				Reason: runs(m.present, "consecutive run") + " with it"})
		}
	}
	if !r.Success {
		return sortTransitions(out, t.findings)
	}
	for id, m := range t.findings {
		if seen[id] {
			continue
		}
		m.present = 0
		m.absent++
		switch {
		case !m.alerting:
			delete(t.findings, id)
		case m.absent >= t.rules.SuccessesBeforeUp:
			out = append(out, FindingTransition{ID: id, Severity: m.severity, Alerting: false, At: at,
				Reason: runs(m.absent, "successful run") + " without it"})
			delete(t.findings, id)
		}
	}
	return sortTransitions(out, t.findings)
}

// sortTransitions fills in the severity of the findings that started
// alerting and orders the transitions by id.
func sortTransitions(out []FindingTransition, mem map[string]*findingMem) []FindingTransition {
	for i := range out {
		if m := mem[out[i].ID]; m != nil && out[i].Alerting {
			out[i].Severity = m.severity
		}
	}
	slices.SortFunc(out, func(a, b FindingTransition) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// State returns the current state.
func (t *Tracker) State() State {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state
}

// Status returns a snapshot of the Tracker.
func (t *Tracker) Status() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := Status{
		State: t.state, Since: t.since, Stable: t.stable, LastRun: t.last,
		ConsecutiveFailures: t.fails, ConsecutiveSuccesses: t.succs,
	}
	s.Changes = t.inWindow(t.last)
	s.Down = t.stable == StateDown
	if t.state == StateFlapping {
		for _, c := range t.changes {
			if t.last.Sub(c.at) < t.rules.FlapWindow && (c.from == StateDown || c.to == StateDown) {
				s.Down = true
			}
		}
	}
	for id, m := range t.findings {
		if m.alerting {
			s.Findings = append(s.Findings, FindingStatus{ID: id, Severity: m.severity, Summary: m.summary, Advice: m.advice, Since: m.since})
		}
	}
	slices.SortFunc(s.Findings, func(a, b FindingStatus) int {
		if d := b.Severity.Rank() - a.Severity.Rank(); d != 0 {
			return d
		}
		return strings.Compare(a.ID, b.ID)
	})
	return s
}

// runs is "1 NOUN" or "N NOUNs".
func runs(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// describeError is a short text of a failed run's error.
func describeError(e *probe.ErrorInfo) string {
	if e == nil {
		return "no error recorded"
	}
	msg := cut(e.Message, 200)
	if e.Class == "" {
		return msg
	}
	return string(e.Class) + ": " + msg
}

// findingIDs lists the warning and critical findings of r.
func findingIDs(r *probe.Result) string {
	var ids []string
	for _, f := range r.Findings {
		if alerts(f.Severity) && !slices.Contains(ids, f.ID) {
			ids = append(ids, f.ID)
		}
	}
	if len(ids) == 0 {
		return "no finding"
	}
	return strings.Join(ids, ", ")
}

// cut shortens s to at most n bytes, on a rune boundary, marking the cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n - len("…")
	for i > 0 && !utf8RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// utf8RuneStart reports whether b starts a UTF-8 sequence.
func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
