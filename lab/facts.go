package lab

import (
	"errors"
	"fmt"

	"github.com/pathlens/pathlens/probe"
)

// Check asserts the measured facts behind s in r, the Result of probing s
// with its Args: phase durations, protocol details, counts, beyond the
// finding IDs Expect lists. It returns every fact that does not hold,
// joined, or nil. A hostile scenario must also fail classified (if it
// fails) within its timeout and 500 ms. A check that reads a block r
// lacks reports that as an error.
func (s Scenario) Check(r *probe.Result) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("scenario %s: the result lacks what its check reads: %v", s.Name, p)
		}
	}()
	var f facts
	if d := scenarioByName(s.Name); d != nil && d.check != nil {
		f.add(d.check(r))
	}
	if s.Hostile {
		if r.TotalMS > r.TimeoutMS+500 {
			f.errorf("hostile probe took %.0f ms with a %.0f ms budget", r.TotalMS, r.TimeoutMS)
		}
		if !r.Success && (r.Error == nil || r.Error.Class == "") {
			f.errorf("hostile failure not classified: %+v", r.Error)
		}
	}
	return f.err()
}

// scenarioByName is the definition of the named scenario, nil if none.
func scenarioByName(name string) *scenarioDef {
	for _, d := range scenarioTable {
		if d.name == name {
			return d
		}
	}
	return nil
}

// facts collects the facts a check found not to hold.
type facts struct{ errs []error }

// errorf records a fact that does not hold.
func (f *facts) errorf(format string, args ...any) {
	f.errs = append(f.errs, fmt.Errorf(format, args...))
}

// add records err unless it is nil.
func (f *facts) add(err error) {
	if err != nil {
		f.errs = append(f.errs, err)
	}
}

// err joins what was recorded; nil when every fact held.
func (f *facts) err() error { return errors.Join(f.errs...) }

// phaseMS is the duration of the named phase of r; an error when r has
// no such phase.
func phaseMS(r *probe.Result, name string) (float64, error) {
	d, ok := r.PhaseDuration(name)
	if !ok {
		return 0, fmt.Errorf("no %s phase in %+v", name, r.Phases)
	}
	return d, nil
}

// phaseAtLeast checks that the named phase took at least minMS; want is
// how the error states the expectation ("≥ 300").
func phaseAtLeast(name string, minMS float64, want string) func(*probe.Result) error {
	return func(r *probe.Result) error {
		d, err := phaseMS(r, name)
		if err != nil {
			return err
		}
		if d < minMS {
			return fmt.Errorf("%s = %.1f ms, want %s", name, d, want)
		}
		return nil
	}
}

// mustFail checks that the probe failed.
func mustFail(r *probe.Result) error {
	if r.Success {
		return errors.New("want failure")
	}
	return nil
}

// bodyStoppedAtLimit checks that the body read stopped at the default cap.
func bodyStoppedAtLimit(r *probe.Result) error {
	if !r.HTTP.BodyLimited || r.HTTP.BodyBytes != probe.DefaultMaxBody {
		return fmt.Errorf("body %d limited=%v, want stopped at %d", r.HTTP.BodyBytes, r.HTTP.BodyLimited, probe.DefaultMaxBody)
	}
	return nil
}

// findingIDs lists the finding IDs of r.
func findingIDs(r *probe.Result) []string {
	var ids []string
	for _, f := range r.Findings {
		ids = append(ids, f.ID)
	}
	return ids
}
