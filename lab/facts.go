package lab

import (
	"errors"
	"fmt"
	"strings"

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

// clientCertRefused checks a probe without a client certificate against a
// server that requires one: the tls phase failed with the server's alert
// (its text holding alert), after the server asked for a certificate and
// none was sent, late (after the client's side of a TLS 1.3 handshake) or
// not, and TLS_HANDSHAKE_FAILED tells the user to pass --cert and --key.
// version is the negotiated version recorded ("" when the handshake
// failed before it was).
func clientCertRefused(version, alert string, late bool) func(*probe.Result) error {
	return func(r *probe.Result) error {
		var f facts
		if e := r.Error; e == nil || e.Class != probe.ClassTLS || e.Phase != probe.PhaseTLS || e.Cause != probe.CauseAlert {
			f.errorf("error = %+v, want class tls, cause alert in phase tls", e)
		}
		t := r.TLS
		if t.Version != version || !strings.Contains(t.Alert, alert) || t.AlertAfterHandshake != late ||
			!t.ClientCertRequested || t.ClientCertSent || !t.Verified {
			f.errorf("tls version %q alert %q after handshake %v, client cert requested %v sent %v, verified %v; "+
				"want %q, %q, %v, requested, not sent, the server verified",
				t.Version, t.Alert, t.AlertAfterHandshake, t.ClientCertRequested, t.ClientCertSent, t.Verified, version, alert, late)
		}
		for _, fd := range r.Findings {
			if fd.ID == "TLS_HANDSHAKE_FAILED" && (fd.Phase != probe.PhaseTLS || !strings.Contains(fd.Advice, "--cert FILE --key FILE") ||
				!strings.Contains(fd.Summary, "client certificate")) {
				f.errorf("TLS_HANDSHAKE_FAILED %+v, want phase tls naming the client certificate and --cert/--key", fd)
			}
		}
		return f.err()
	}
}
