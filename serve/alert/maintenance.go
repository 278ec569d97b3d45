package alert

import (
	"fmt"
	"path"
	"time"

	"github.com/robfig/cron/v3"
)

// MaxWindowDuration caps a recurring window's duration.
const MaxWindowDuration = 7 * 24 * time.Hour

// Window is one maintenance window: while it is open for a target,
// probing goes on and state changes are tracked, but notifications about
// the target are held until it closes. Either Start and End (a one-off
// window) or Cron and Duration (a recurring one) are set.
type Window struct {
	// Targets are target names or path.Match glob patterns ("api-*",
	// "db-[0-9]"); target names hold no '/', so '*' matches any run of
	// characters.
	Targets []string
	// Start and End bound a one-off window: open from Start, closed
	// from End.
	Start, End time.Time
	// Cron is a standard 5-field cron expression ("m h dom mon dow", or
	// a descriptor such as "@daily"; "CRON_TZ=Europe/Berlin 0 2 * * 0"
	// sets its time zone, else Maintenance's location is used): each
	// activation opens the window for Duration.
	Cron     string
	Duration time.Duration
}

// Maintenance answers whether a target is in a maintenance window. It
// is immutable and safe for concurrent use.
type Maintenance struct {
	windows []window
	loc     *time.Location
}

// window is a checked Window.
type window struct {
	targets    []string
	start, end time.Time
	sched      cron.Schedule // nil for a one-off window
	dur        time.Duration
}

// NewMaintenance checks windows and returns their Maintenance. Cron
// expressions without CRON_TZ are read in loc (time.Local when nil).
// Errors are *FieldError naming "maintenance[i].FIELD".
func NewMaintenance(windows []Window, loc *time.Location) (*Maintenance, error) {
	if loc == nil {
		loc = time.Local
	}
	m := &Maintenance{loc: loc}
	var errs []error
	for i, w := range windows {
		cw, err := checkWindow(w)
		if err != nil {
			errs = append(errs, prefixed(fmt.Sprintf("maintenance[%d]", i), err))
			continue
		}
		m.windows = append(m.windows, cw)
	}
	if err := joinErrors(errs); err != nil {
		return nil, err
	}
	return m, nil
}

// checkWindow checks one window.
func checkWindow(w Window) (window, error) {
	var errs []error
	cw := window{targets: w.Targets, start: w.Start, end: w.End, dur: w.Duration}
	if len(w.Targets) == 0 {
		errs = append(errs, fieldErrorf("targets", "name at least one target or pattern"))
	}
	for i, p := range w.Targets {
		if _, err := path.Match(p, ""); err != nil || p == "" {
			errs = append(errs, fieldErrorf(fmt.Sprintf("targets[%d]", i), "%q is not a valid pattern (names, or globs with *, ? and [...])", p))
		}
	}
	oneOff := !w.Start.IsZero() || !w.End.IsZero()
	switch {
	case w.Cron != "" && oneOff:
		errs = append(errs, fieldErrorf("cron", "set either cron and duration, or start and end, not both"))
	case w.Cron != "":
		s, err := cron.ParseStandard(w.Cron)
		if err != nil {
			errs = append(errs, fieldErrorf("cron", "%q: %v", w.Cron, err))
		}
		cw.sched = s
		if w.Duration <= 0 || w.Duration > MaxWindowDuration {
			errs = append(errs, fieldErrorf("duration", "%s: want more than 0 and at most %s", w.Duration, MaxWindowDuration))
		}
	case oneOff:
		switch {
		case w.Start.IsZero():
			errs = append(errs, fieldErrorf("start", "start is required with end (RFC 3339, e.g. 2026-03-01T22:00:00Z)"))
		case w.End.IsZero():
			errs = append(errs, fieldErrorf("end", "end is required with start (RFC 3339)"))
		case !w.End.After(w.Start):
			errs = append(errs, fieldErrorf("end", "%s is not after start %s", w.End.Format(time.RFC3339), w.Start.Format(time.RFC3339)))
		}
		if w.Duration != 0 {
			errs = append(errs, fieldErrorf("duration", "duration goes with cron; a window with start and end ends at end"))
		}
	default:
		errs = append(errs, fieldErrorf("", "set cron and duration, or start and end"))
	}
	return cw, joinErrors(errs)
}

// matches reports whether the window covers target.
func (w *window) matches(target string) bool {
	for _, p := range w.targets {
		if ok, _ := path.Match(p, target); ok {
			return true
		}
	}
	return false
}

// openUntil returns the end of the window's opening that holds now, and
// false when none does.
func (w *window) openUntil(now time.Time, loc *time.Location) (time.Time, bool) {
	if w.sched == nil {
		return w.end, !now.Before(w.start) && now.Before(w.end)
	}
	// An activation a opens [a, a+dur): those in (now-dur, now] hold
	// now (cron works in whole seconds: start a second early and skip
	// what ends too soon); later ones that start before the opening ends
	// extend it. Bounded: a week-long window opened every minute is
	// 10,080 activations before now, and openings that keep chaining
	// (a duration longer than the period) are followed no further than
	// MaxWindowDuration past now.
	var until time.Time
	horizon := now.Add(MaxWindowDuration)
	a := w.sched.Next(now.In(loc).Add(-w.dur - time.Second))
	for i := 0; i < 20000 && !a.IsZero(); i, a = i+1, w.sched.Next(a) {
		if a.After(now) && (until.IsZero() || a.After(until) || a.After(horizon)) {
			break
		}
		if e := a.Add(w.dur); e.After(now) && e.After(until) {
			until = e
		}
	}
	if until.IsZero() {
		return time.Time{}, false
	}
	return until.In(now.Location()), true
}

// Active reports whether target is in a maintenance window at now, and
// until when (the latest end among the windows open for it).
func (m *Maintenance) Active(target string, now time.Time) (until time.Time, ok bool) {
	if m == nil {
		return time.Time{}, false
	}
	for i := range m.windows {
		w := &m.windows[i]
		if !w.matches(target) {
			continue
		}
		if u, open := w.openUntil(now, m.loc); open {
			ok = true
			if u.After(until) {
				until = u
			}
		}
	}
	return until, ok
}

// Empty reports whether m has no window.
func (m *Maintenance) Empty() bool { return m == nil || len(m.windows) == 0 }
