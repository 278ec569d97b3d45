package alert

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
)

// run codes of the state-machine table.
const (
	rOK   = "ok"   // success, no finding
	rInfo = "info" // success with an info finding
	rWarn = "warn" // success with a warning finding
	rCrit = "crit" // success with a critical finding
	rFail = "fail" // failure
)

func resultOf(code string, at time.Time) *probe.Result {
	switch code {
	case rOK:
		return okRun(at)
	case rInfo:
		return okRun(at, finding("http-no-hsts", probe.SeverityInfo))
	case rWarn:
		return okRun(at, finding("tls-cert-expiring", probe.SeverityWarning))
	case rCrit:
		return okRun(at, finding("tls-weak-cipher", probe.SeverityCritical))
	case rFail:
		return failRun(at)
	}
	panic("unknown run code " + code)
}

func TestTrackerStateMachine(t *testing.T) {
	type step struct {
		run  string
		want State
	}
	tests := []struct {
		name  string
		rules Rules
		steps []step
	}{
		{"first failing run leaves pending", Rules{}, []step{{rFail, StatePending}}},
		{"two failures make down", Rules{}, []step{{rFail, StatePending}, {rFail, StateDown}, {rFail, StateDown}}},
		{"first success is up", Rules{}, []step{{rOK, StateUp}}},
		{"one failure does not make an up target down", Rules{},
			[]step{{rOK, StateUp}, {rFail, StateUp}, {rOK, StateUp}, {rFail, StateUp}, {rOK, StateUp}}},
		{"non-consecutive failures do not add up", Rules{},
			[]step{{rFail, StatePending}, {rOK, StateUp}, {rFail, StateUp}, {rWarn, StateUp}, {rFail, StateUp}}},
		{"one success brings a down target up", Rules{},
			[]step{{rOK, StateUp}, {rFail, StateUp}, {rFail, StateDown}, {rOK, StateUp}}},
		{"one warning does not degrade", Rules{},
			[]step{{rOK, StateUp}, {rWarn, StateUp}, {rOK, StateUp}, {rWarn, StateUp}, {rOK, StateUp}}},
		{"two warnings degrade, one clean run brings up", Rules{},
			[]step{{rOK, StateUp}, {rWarn, StateUp}, {rWarn, StateDegraded}, {rWarn, StateDegraded}, {rOK, StateUp}}},
		{"a critical finding counts like a warning", Rules{},
			[]step{{rCrit, StateUp}, {rCrit, StateDegraded}}},
		{"warning then critical are consecutive", Rules{},
			[]step{{rOK, StateUp}, {rWarn, StateUp}, {rCrit, StateDegraded}}},
		{"info findings never degrade", Rules{},
			[]step{{rInfo, StateUp}, {rInfo, StateUp}, {rInfo, StateUp}}},
		{"a failure breaks a run of warnings", Rules{},
			[]step{{rOK, StateUp}, {rWarn, StateUp}, {rFail, StateUp}, {rWarn, StateUp}, {rWarn, StateDegraded}}},
		{"a failure does not end degraded", Rules{},
			[]step{{rWarn, StateUp}, {rWarn, StateDegraded}, {rFail, StateDegraded}, {rFail, StateDown}}},
		{"recovering with a warning goes to degraded", Rules{},
			[]step{{rFail, StatePending}, {rFail, StateDown}, {rWarn, StateDegraded}, {rOK, StateUp}}},
		{"custom failures_before_down 3", Rules{FailuresBeforeDown: 3},
			[]step{{rOK, StateUp}, {rFail, StateUp}, {rFail, StateUp}, {rFail, StateDown}}},
		{"custom failures_before_down 1", Rules{FailuresBeforeDown: 1},
			[]step{{rFail, StateDown}, {rOK, StateUp}, {rFail, StateDown}}},
		{"custom successes_before_up 2", Rules{SuccessesBeforeUp: 2},
			[]step{{rFail, StatePending}, {rFail, StateDown}, {rOK, StateDown}, {rFail, StateDown}, {rOK, StateDown}, {rOK, StateUp}}},
		{"successes_before_up 2 from pending", Rules{SuccessesBeforeUp: 2},
			[]step{{rOK, StatePending}, {rOK, StateUp}}},
		{"successes_before_up 2 to leave degraded", Rules{SuccessesBeforeUp: 2},
			[]step{{rOK, StatePending}, {rWarn, StateUp}, {rWarn, StateDegraded}, {rOK, StateDegraded}, {rOK, StateUp}}},
		{"custom warnings_before_degraded 1", Rules{WarningsBeforeDegraded: 1},
			[]step{{rWarn, StateDegraded}, {rOK, StateUp}, {rWarn, StateDegraded}}},
		{"custom warnings_before_degraded 3", Rules{WarningsBeforeDegraded: 3},
			[]step{{rOK, StateUp}, {rWarn, StateUp}, {rWarn, StateUp}, {rWarn, StateDegraded}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker(tc.rules)
			if got := tr.State(); got != StatePending {
				t.Fatalf("new tracker is %s, want pending", got)
			}
			prev := StatePending
			for i, s := range tc.steps {
				at := t0.Add(time.Duration(i) * time.Minute)
				u := tr.Observe(resultOf(s.run, at))
				if got := tr.State(); got != s.want {
					t.Fatalf("after run %d (%s): %s, want %s", i, s.run, got, s.want)
				}
				switch {
				case s.want == prev && u.Transition != nil:
					t.Errorf("run %d (%s): transition %+v while the state stayed %s", i, s.run, *u.Transition, prev)
				case s.want != prev && u.Transition == nil:
					t.Errorf("run %d (%s): no transition for %s → %s", i, s.run, prev, s.want)
				case s.want != prev:
					tr := u.Transition
					if tr.From != prev || tr.To != s.want || !tr.At.Equal(at) || tr.Reason == "" {
						t.Errorf("run %d (%s): transition %+v, want %s → %s at %s with a reason", i, s.run, *tr, prev, s.want, at)
					}
				}
				st := tr.Status()
				if st.State != s.want || !st.LastRun.Equal(at) {
					t.Errorf("run %d: Status %+v", i, st)
				}
				if s.want != prev && !st.Since.Equal(at) {
					t.Errorf("run %d: Since %s, want %s", i, st.Since, at)
				}
				if st.Down != (s.want == StateDown) {
					t.Errorf("run %d: Down %v in state %s", i, st.Down, s.want)
				}
				prev = s.want
			}
		})
	}
}

func TestTrackerReasons(t *testing.T) {
	tr := NewTracker(Rules{})
	tr.Observe(failRun(t0))
	u := tr.Observe(failRun(t0.Add(time.Minute)))
	if u.Transition == nil || u.Transition.Reason != "2 consecutive failed runs (connect: connection refused)" {
		t.Errorf("down transition %+v", u.Transition)
	}
	st := tr.Status()
	if st.ConsecutiveFailures != 2 || st.ConsecutiveSuccesses != 0 {
		t.Errorf("counters %+v", st)
	}
	u = tr.Observe(okRun(t0.Add(2 * time.Minute)))
	if u.Transition == nil || u.Transition.Reason != "1 successful run" {
		t.Errorf("up transition %+v", u.Transition)
	}
	tr.Observe(resultOf(rWarn, t0.Add(3*time.Minute)))
	u = tr.Observe(resultOf(rWarn, t0.Add(4*time.Minute)))
	if u.Transition == nil || !strings.Contains(u.Transition.Reason, "tls-cert-expiring") {
		t.Errorf("degraded transition %+v", u.Transition)
	}
}

func TestTrackerOutOfOrder(t *testing.T) {
	tr := NewTracker(Rules{})
	tr.Observe(okRun(t0.Add(5 * time.Minute)))
	for _, at := range []time.Duration{3 * time.Minute, 4 * time.Minute, 0} {
		if u := tr.Observe(failRun(t0.Add(at))); u.Changed() {
			t.Errorf("older run at +%s changed %+v", at, u)
		}
	}
	st := tr.Status()
	if st.State != StateUp || st.ConsecutiveFailures != 0 || !st.LastRun.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("older runs were counted: %+v", st)
	}
	if u := tr.Observe(nil); u.Changed() {
		t.Errorf("nil run changed %+v", u)
	}
	// Newer runs still count.
	tr.Observe(failRun(t0.Add(6 * time.Minute)))
	tr.Observe(failRun(t0.Add(7 * time.Minute)))
	if got := tr.State(); got != StateDown {
		t.Errorf("after two newer failures: %s, want down", got)
	}
}

func TestTrackerFlapping(t *testing.T) {
	rules := Rules{FlapChanges: 3, FlapWindow: 10 * time.Minute}
	tr := NewTracker(rules)
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	type step struct {
		min  int
		run  string
		want State
	}
	steps := []step{
		{0, rOK, StateUp},         // pending → up: not a change for flapping
		{1, rFail, StateUp},       //
		{2, rFail, StateDown},     // change 1
		{3, rOK, StateUp},         // change 2
		{4, rFail, StateUp},       //
		{5, rFail, StateFlapping}, // change 3: 3 within 10 min
		{6, rOK, StateFlapping},   // change 4 (down → up), still flapping
		{7, rOK, StateFlapping},
		{12, rOK, StateFlapping}, // change 1 (at 2) left the window: 3 remain
		{13, rOK, StateUp},       // change 2 (at 3) left too: 2 < 3
		{14, rOK, StateUp},
	}
	var trans []Transition
	for _, s := range steps {
		u := tr.Observe(resultOf(s.run, at(s.min)))
		if u.Transition != nil {
			trans = append(trans, *u.Transition)
		}
		st := tr.Status()
		if st.State != s.want {
			t.Fatalf("at +%dm (%s): %s, want %s (status %+v)", s.min, s.run, st.State, s.want, st)
		}
		if st.Stable == StateFlapping {
			t.Errorf("Stable is flapping")
		}
		if s.want == StateFlapping && !st.Down {
			t.Errorf("at +%dm: flapping with down among the changes, but Down false", s.min)
		}
		if s.want == StateUp && st.Down {
			t.Errorf("at +%dm: up but Down", s.min)
		}
	}
	if len(trans) != 5 {
		t.Fatalf("transitions %+v, want pending→up, up→down, down→up, up→flapping, flapping→up", trans)
	}
	in, out := trans[3], trans[4]
	if in.From != StateUp || in.To != StateFlapping || !in.At.Equal(at(5)) ||
		!strings.HasPrefix(in.Reason, "3 state changes within 10m0s") {
		t.Errorf("into flapping %+v", in)
	}
	if out.From != StateFlapping || out.To != StateUp || !out.At.Equal(at(13)) ||
		!strings.Contains(out.Reason, "fewer than 3") {
		t.Errorf("out of flapping %+v", out)
	}
}

func TestTrackerFlappingOff(t *testing.T) {
	tr := NewTracker(Rules{FlapChanges: -1, FailuresBeforeDown: 1})
	for i := range 1000 {
		r := okRun(t0.Add(time.Duration(i) * time.Second))
		if i%2 == 1 {
			r = failRun(r.StartedAt)
		}
		tr.Observe(r)
		if s := tr.State(); s == StateFlapping {
			t.Fatalf("flapping with flap_changes -1 at run %d", i)
		}
	}
	tr.mu.Lock()
	n := len(tr.changes)
	tr.mu.Unlock()
	if n > MaxRunsThreshold {
		t.Errorf("flapping off keeps %d changes: memory grows with every change", n)
	}
}

func TestTrackerSetRulesKeepsMemory(t *testing.T) {
	tr := NewTracker(Rules{})
	tr.Observe(okRun(t0))
	tr.Observe(failRun(t0.Add(time.Minute)))
	tr.SetRules(Rules{FailuresBeforeDown: 3})
	tr.Observe(failRun(t0.Add(2 * time.Minute)))
	if got := tr.State(); got != StateUp {
		t.Fatalf("2 failures with failures_before_down 3: %s", got)
	}
	tr.Observe(failRun(t0.Add(3 * time.Minute)))
	if got := tr.State(); got != StateDown {
		t.Fatalf("3 failures with failures_before_down 3: %s", got)
	}
}

func TestTrackerFindings(t *testing.T) {
	tr := NewTracker(Rules{})
	w := finding("tls-cert-expiring", probe.SeverityWarning)
	info := finding("http-no-hsts", probe.SeverityInfo)
	if u := tr.Observe(okRun(t0, w, info)); len(u.Findings) != 0 {
		t.Fatalf("one run alerts: %+v", u.Findings)
	}
	u := tr.Observe(okRun(t0.Add(time.Minute), w, info))
	if len(u.Findings) != 1 || u.Findings[0].ID != w.ID || !u.Findings[0].Alerting ||
		u.Findings[0].Severity != probe.SeverityWarning || !u.Findings[0].At.Equal(t0.Add(time.Minute)) {
		t.Fatalf("second run: %+v, want %s alerting", u.Findings, w.ID)
	}
	st := tr.Status()
	if len(st.Findings) != 1 || st.Findings[0].Summary != w.Summary || st.Findings[0].Advice != w.Advice ||
		!st.Findings[0].Since.Equal(t0.Add(time.Minute)) {
		t.Fatalf("Status findings %+v", st.Findings)
	}
	// A failed run without it does not clear it.
	if u := tr.Observe(failRun(t0.Add(2 * time.Minute))); len(u.Findings) != 0 {
		t.Errorf("a failed run changed findings: %+v", u.Findings)
	}
	if len(tr.Status().Findings) != 1 {
		t.Errorf("a failed run cleared the finding")
	}
	// A successful run without it clears it.
	u = tr.Observe(okRun(t0.Add(3 * time.Minute)))
	if len(u.Findings) != 1 || u.Findings[0].Alerting || u.Findings[0].ID != w.ID {
		t.Errorf("clean run: %+v, want %s cleared", u.Findings, w.ID)
	}
	if len(tr.Status().Findings) != 0 {
		t.Errorf("cleared finding still in Status")
	}
	// Not consecutive: no alert.
	tr.Observe(okRun(t0.Add(4*time.Minute), w))
	tr.Observe(okRun(t0.Add(5 * time.Minute)))
	if u := tr.Observe(okRun(t0.Add(6*time.Minute), w)); len(u.Findings) != 0 {
		t.Errorf("non-consecutive runs alert: %+v", u.Findings)
	}
	// Worst first in Status.
	c := finding("a-critical", probe.SeverityCritical)
	tr.Observe(okRun(t0.Add(7*time.Minute), w, c))
	tr.Observe(okRun(t0.Add(8*time.Minute), c, w))
	st = tr.Status()
	if len(st.Findings) != 2 || st.Findings[0].ID != c.ID || st.Findings[1].ID != w.ID {
		t.Errorf("Status findings %+v, want critical first", st.Findings)
	}
}

func TestRulesValidate(t *testing.T) {
	if err := (Rules{}).Validate(); err != nil {
		t.Errorf("zero Rules: %v", err)
	}
	if err := (Rules{FailuresBeforeDown: 5, SuccessesBeforeUp: 2, WarningsBeforeDegraded: 3, FlapChanges: -1, FlapWindow: time.Hour}).Validate(); err != nil {
		t.Errorf("good Rules: %v", err)
	}
	tests := []struct {
		rules Rules
		want  []string
	}{
		{Rules{FailuresBeforeDown: -1}, []string{"failures_before_down: -1: want 1 to 100 runs"}},
		{Rules{SuccessesBeforeUp: 101}, []string{"successes_before_up: 101: want 1 to 100 runs"}},
		{Rules{WarningsBeforeDegraded: -3}, []string{"warnings_before_degraded: -3: want 1 to 100 runs"}},
		{Rules{FlapChanges: 1}, []string{"flap_changes: 1: every change would be flapping; want at least 2"}},
		{Rules{FlapChanges: 101}, []string{"flap_changes: 101: want at most 100"}},
		{Rules{FlapWindow: 30 * time.Second}, []string{"flap_window: 30s: want 1m0s to 24h0m0s"}},
		{Rules{FlapWindow: -time.Minute}, []string{"flap_window: -1m0s"}},
		{Rules{FailuresBeforeDown: 1000, FlapWindow: 48 * time.Hour}, []string{"failures_before_down: 1000", "flap_window: 48h0m0s"}},
	}
	for _, tc := range tests {
		err := tc.rules.Validate()
		if err == nil {
			t.Errorf("%+v: no error", tc.rules)
			continue
		}
		errs := unjoin(err)
		if len(errs) != len(tc.want) {
			t.Errorf("%+v: %d errors (%v), want %d", tc.rules, len(errs), err, len(tc.want))
			continue
		}
		for i, e := range errs {
			var fe *FieldError
			if !errors.As(e, &fe) {
				t.Errorf("%+v: %T is not a *FieldError", tc.rules, e)
			}
			if !strings.HasPrefix(e.Error(), tc.want[i]) {
				t.Errorf("%+v: %q, want it to start with %q", tc.rules, e, tc.want[i])
			}
		}
	}
	// In a Config, the path to the rules goes in front.
	err := Config{Rules: Rules{FailuresBeforeDown: -1}, TargetRules: map[string]Rules{"api": {FlapChanges: 1}}}.Validate()
	for _, want := range []string{"defaults.failures_before_down: -1", `targets["api"].flap_changes: 1`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Config.Validate: %v, want %q", err, want)
		}
	}
}

func TestCut(t *testing.T) {
	if got := cut("short", 10); got != "short" {
		t.Errorf("cut short: %q", got)
	}
	got := cut(strings.Repeat("é", 10), 9) // 2 bytes a rune
	if len(got) > 9 || !strings.HasSuffix(got, "…") || !strings.HasPrefix(got, "éé") {
		t.Errorf("cut: %q (%d bytes)", got, len(got))
	}
	for _, r := range got {
		if r == '\uFFFD' {
			t.Errorf("cut split a rune: %q", got)
		}
	}
}
