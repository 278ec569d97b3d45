package probetest

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pathlens/pathlens/lab"
	"github.com/pathlens/pathlens/probe"
)

// MustSucceed fails the test now unless r is a success with no error,
// naming the error's class, cause, phase and message and r's phases.
func MustSucceed(t testing.TB, r *probe.Result) {
	t.Helper()
	if !r.Success || r.Error != nil {
		t.Fatalf("success = %v, error = %s; want success (phases %v)", r.Success, ErrString(r), PhaseNames(r))
	}
}

// WantError fails the test now unless r failed with an error of class and
// cause (exactly: "" wants no cause) in phase; phase "" accepts any phase.
func WantError(t testing.TB, r *probe.Result, class probe.ErrorClass, cause probe.Cause, phase string) {
	t.Helper()
	if r.Success || r.Error == nil {
		t.Fatalf("success = %v, error = %s; want failure %s/%s in %s", r.Success, ErrString(r), class, cause, orAny(phase))
	}
	if r.Error.Class != class || r.Error.Cause != cause || (phase != "" && r.Error.Phase != phase) {
		t.Fatalf("error = %s; want %s/%s in %s", ErrString(r), class, cause, orAny(phase))
	}
}

func orAny(phase string) string {
	if phase == "" {
		return "any phase"
	}
	return phase
}

// FindingIDs returns the IDs of r.Findings, sorted. Results that did not
// go through diagnose have none: set r.Findings = diagnose.Diagnose(r)
// first for those.
func FindingIDs(r *probe.Result) []string {
	ids := make([]string, 0, len(r.Findings))
	for _, f := range r.Findings {
		ids = append(ids, f.ID)
	}
	slices.Sort(ids)
	return ids
}

// StartLab starts the lab with the named scenarios (none: all of them),
// writing its files in t.TempDir(), and closes it in t's Cleanup.
func StartLab(t testing.TB, only ...string) *lab.Lab {
	t.Helper()
	return StartLabWith(t, lab.Options{Only: only})
}

// StartLabWith is StartLab with all the options; an empty Dir becomes
// t.TempDir(). Close errors fail the test.
func StartLabWith(t testing.TB, opts lab.Options) *lab.Lab {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := lab.Start(ctx, opts)
	if err != nil {
		t.Fatalf("lab.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("lab.Close: %v", err)
		}
	})
	return l
}

// LabScenario returns l's scenario name, failing the test now if l has
// none of that name.
func LabScenario(t testing.TB, l *lab.Lab, name string) lab.Scenario {
	t.Helper()
	s, ok := l.Scenario(name)
	if !ok {
		t.Fatalf("lab has no %s scenario", name)
	}
	return s
}

// BlackHoleDNS returns the address of a UDP socket on 127.0.0.1 that
// reads every query and never answers; Cleanup closes it and waits for
// its reader.
func BlackHoleDNS(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	return pc.LocalAddr().String()
}

// Finding returns r's finding id, or nil when r has none.
func Finding(r *probe.Result, id string) *probe.Finding {
	for i := range r.Findings {
		if r.Findings[i].ID == id {
			return &r.Findings[i]
		}
	}
	return nil
}

// NoResumptionTLSServer starts a TLS server that never resumes a session
// (no session tickets) and counts the connections it accepts, for tests
// of how often a probe opens the resumption check's second connection.
func NoResumptionTLSServer(t testing.TB) (srv *httptest.Server, conns *atomic.Int64) {
	t.Helper()
	conns = new(atomic.Int64)
	srv = httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{SessionTicketsDisabled: true}
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, conns
}
