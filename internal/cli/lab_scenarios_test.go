package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pathlens/pathlens/lab"
	"github.com/pathlens/pathlens/probe"
	"go.uber.org/goleak"
)

// Every lab scenario, probed by the real check code path (flags → options
// → engine → diagnose), yields exactly its expected findings; the ok-*
// ones yield nothing above info.
func TestLabScenarios(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx := context.Background()
	l, err := lab.Start(ctx, lab.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := l.Manifest()
	if len(m.Scenarios) < 20 {
		t.Fatalf("lab has %d scenarios, want at least 20", len(m.Scenarios))
	}
	for _, s := range m.Scenarios {
		t.Run(s.Name, func(t *testing.T) {
			run, err := ProbeScenario(ctx, m, s)
			if err != nil {
				t.Fatal(err)
			}
			r := run.Result
			if !run.OK {
				b, _ := json.MarshalIndent(r, "", "  ")
				t.Fatalf("findings = %v, want exactly %v\n%s", run.Got, s.Expect, b)
			}
			if strings.HasPrefix(s.Name, "ok-") {
				if w := r.WorstSeverity(); w.Rank() > probe.SeverityInfo.Rank() {
					t.Errorf("healthy scenario has a %s finding: %v", w, run.Got)
				}
				if !r.Success {
					t.Errorf("healthy scenario failed: %+v", r.Error)
				}
			}
			for _, f := range r.Findings {
				if f.Summary == "" || f.Advice == "" || f.Phase == "" {
					t.Errorf("finding %s lacks summary, advice or phase: %+v", f.ID, f)
				}
			}
			checkScenarioFacts(t, s, r)
		})
	}
}

// checkScenarioFacts asserts the measured facts behind each scenario, not
// only the finding IDs.
func checkScenarioFacts(t *testing.T, s lab.Scenario, r *probe.Result) {
	t.Helper()
	phase := func(name string) float64 {
		d, ok := r.PhaseDuration(name)
		if !ok {
			t.Fatalf("no %s phase in %+v", name, r.Phases)
		}
		return d
	}
	switch s.Name {
	case "ok-h2":
		if r.HTTP.Proto != "HTTP/2.0" || r.TLS.ALPN != "h2" {
			t.Errorf("proto %s alpn %q, want HTTP/2.0 over h2", r.HTTP.Proto, r.TLS.ALPN)
		}
		if r.TLS.Resumption == nil || !r.TLS.Resumption.Resumed {
			t.Errorf("resumption = %+v, want resumed", r.TLS.Resumption)
		}
		if len(r.TLS.Chain) != 2 || len(r.TLS.VerifiedChain) != 3 {
			t.Errorf("chain sent %d, verified %d; want 2 and 3", len(r.TLS.Chain), len(r.TLS.VerifiedChain))
		}
	case "ok-h2c":
		if r.HTTP.Proto != "HTTP/2.0" || r.TLS != nil {
			t.Errorf("proto %s, tls %v; want HTTP/2.0 in cleartext", r.HTTP.Proto, r.TLS)
		}
	case "ok-https":
		if r.HTTP.Proto != "HTTP/1.1" {
			t.Errorf("proto = %s, want HTTP/1.1", r.HTTP.Proto)
		}
	case "dns-slow":
		if d := phase("dns"); d < 290 {
			t.Errorf("dns = %.1f ms, want ≥ 300", d)
		}
	case "tls-slow":
		if d := phase("tls"); d < 490 {
			t.Errorf("tls = %.1f ms, want ≥ 500", d)
		}
	case "http-slow":
		if d := phase("wait"); d < 390 {
			t.Errorf("wait = %.1f ms, want ≥ 400", d)
		}
	case "http-redirects":
		if n := len(r.HTTP.Redirects); n != 3 {
			t.Errorf("redirects = %d, want 3", n)
		}
		if r.Phases[0].Name != probe.PhaseRedirect || r.HTTP.Status != 200 {
			t.Errorf("first phase %s, status %d; want redirect then 200", r.Phases[0].Name, r.HTTP.Status)
		}
	case "tls-stall":
		if r.Error == nil || r.Error.Class != probe.ClassTimeout || r.Error.Phase != "tls" {
			t.Errorf("error = %+v, want timeout in tls", r.Error)
		}
	case "http-truncated":
		if !r.HTTP.Truncated || r.HTTP.BodyBytes != 100 || r.HTTP.ContentLength != 1000 {
			t.Errorf("http = %+v, want 100 of 1000 bytes, truncated", r.HTTP)
		}
	case "tls-old-version":
		if r.TLS.Version != "TLS 1.1" {
			t.Errorf("version = %s, want TLS 1.1", r.TLS.Version)
		}
	case "tcp-refused", "dns-nxdomain":
		if r.Success {
			t.Errorf("want failure")
		}
	case "hostile-gzip-bomb", "hostile-endless-body":
		if !r.HTTP.BodyLimited || r.HTTP.BodyBytes != probe.DefaultMaxBody {
			t.Errorf("body %d limited=%v, want stopped at %d", r.HTTP.BodyBytes, r.HTTP.BodyLimited, probe.DefaultMaxBody)
		}
	}
	if strings.HasPrefix(s.Name, "hostile-") {
		if r.TotalMS > r.TimeoutMS+500 {
			t.Errorf("hostile probe took %.0f ms with a %.0f ms budget", r.TotalMS, r.TimeoutMS)
		}
		if !r.Success && (r.Error == nil || r.Error.Class == "") {
			t.Errorf("hostile failure not classified: %+v", r.Error)
		}
	}
}
