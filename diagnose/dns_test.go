package diagnose

import (
	"strings"
	"testing"

	"github.com/pathlens/pathlens/probe"
)

func TestDNSFailed(t *testing.T) {
	tests := []struct {
		name        string
		class       probe.ErrorClass
		phase       string
		cause       string
		rcode       string
		msg         string
		wantIDs     []string
		wantSummary string
		wantCause   string
	}{
		{"nxdomain", probe.ClassDNS, "dns", "nxdomain", "NXDOMAIN", "lookup nope.lab.test: no such host",
			[]string{IDDNSFailed}, `"app.lab.test" does not exist: resolver 127.0.0.1:5353 answered NXDOMAIN`, "nxdomain"},
		{"servfail", probe.ClassDNS, "dns", "servfail", "SERVFAIL", "app.lab.test: SERVFAIL from 127.0.0.1:5353",
			[]string{IDDNSFailed}, "SERVFAIL", "servfail"},
		{"refused", probe.ClassDNS, "dns", "refused", "REFUSED", "app.lab.test: REFUSED from 127.0.0.1:5353",
			[]string{IDDNSFailed}, "REFUSED", "refused"},
		{"resolver timeout", probe.ClassDNS, "dns", "timeout", "", "no answer from 127.0.0.1:5353",
			[]string{IDDNSFailed}, ": timeout", "timeout"},
		{"no address", probe.ClassDNS, "dns", "no_address", "NOERROR", "app.lab.test has no IPv6 address",
			[]string{IDDNSFailed}, "exists but has no address: app.lab.test has no IPv6 address", "no_address"},
		{"other", probe.ClassDNS, "dns", "", "", "dial udp: network is down",
			[]string{IDDNSFailed}, "failed: dial udp: network is down", ""},
		{"budget ran out in dns", probe.ClassTimeout, "dns", "deadline", "", "context deadline exceeded",
			[]string{IDDNSFailed, IDProbeTimeout}, ": timeout", "timeout"},
		{"timeout in connect is not dns", probe.ClassTimeout, "connect", "deadline", "NOERROR", "i/o timeout",
			[]string{IDTCPTimeout, IDProbeTimeout}, "", ""},
		{"connect refused is not dns", probe.ClassConnect, "connect", "refused", "NOERROR", "connection refused",
			[]string{IDTCPRefused}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := failed(healthy(), tc.class, tc.phase, tc.cause, tc.msg)
			r.DNS.Rcode = tc.rcode
			fs := diag(t, r)
			wantIDs(t, fs, tc.wantIDs...)
			f := find(fs, IDDNSFailed)
			if tc.wantSummary == "" {
				return
			}
			if f == nil {
				t.Fatalf("no DNS_FAILED")
			}
			if !strings.Contains(f.Summary, tc.wantSummary) {
				t.Errorf("summary: got %q, want it to contain %q", f.Summary, tc.wantSummary)
			}
			if f.Phase != "dns" {
				t.Errorf("phase: got %q, want dns", f.Phase)
			}
			want := map[string]any{"name": "app.lab.test", "server": "127.0.0.1:5353"}
			if tc.rcode != "" {
				want["rcode"] = tc.rcode
			}
			if tc.wantCause != "" {
				want["cause"] = tc.wantCause
			}
			wantEvidence(t, f, want)
		})
	}
}

func TestDNSFailedSystemResolverAndDNSProbe(t *testing.T) {
	r := failed(healthy(), probe.ClassDNS, "dns", "nxdomain", "no such host")
	r.DNS.Server = "system"
	f := find(diag(t, r), IDDNSFailed)
	if f == nil || !strings.Contains(f.Summary, "the system resolver answered NXDOMAIN") {
		t.Errorf("got %+v, want a summary naming the system resolver", f)
	}

	// A name pinned with --resolve that has no address of the family asked for.
	p := failed(healthy(), probe.ClassDNS, "dns", "no_address", "no IPv6 address among [127.0.0.1]")
	p.DNS = &probe.DNSInfo{Name: "app.lab.test", Source: "resolve", Addrs: []string{"127.0.0.1"}}
	p.Phases = nil
	f = find(diag(t, p), IDDNSFailed)
	if f == nil || !strings.Contains(f.Summary, "no IPv6 address among [127.0.0.1]") {
		t.Errorf("got %+v, want the no-address message", f)
	}
	p.Error.Cause = "other"
	f = find(diag(t, p), IDDNSFailed)
	if f == nil || !strings.Contains(f.Summary, "with the --resolve entry failed") {
		t.Errorf("got %+v, want a summary naming the --resolve entry", f)
	}

	// A dns:// probe fails in its query phase.
	q := &probe.Result{Target: "dns://127.0.0.1:5353/nope.lab.test", Kind: "dns", StartedAt: t0, TotalMS: 2,
		Phases: []probe.Phase{{Name: "query", DurationMS: 2}},
		DNS:    &probe.DNSInfo{Name: "nope.lab.test.", Server: "127.0.0.1:5353", Type: "A", Rcode: "NXDOMAIN"},
		Error:  &probe.ErrorInfo{Class: probe.ClassDNS, Phase: "query", Cause: "nxdomain", Message: "NXDOMAIN"}}
	fs := diag(t, q)
	wantIDs(t, fs, IDDNSFailed)
	if fs[0].Phase != "query" {
		t.Errorf("phase: got %q, want query", fs[0].Phase)
	}
}

func TestDNSSlow(t *testing.T) {
	tests := []struct {
		name    string
		dnsMS   float64
		totalMS float64
		want    bool
	}{
		{"100 ms is not over 100", 100, 1000, false},
		{"100.1 ms is over 100", 100.1, 1000, true},
		{"15 of 20 ms: over half but under the 20 ms floor", 15, 20, false},
		{"20 of 30 ms: at the floor", 20, 30, false},
		{"25 of 40 ms: over half and over the floor", 25, 40, true},
		{"30 of 60 ms: exactly half", 30, 60, false},
		{"1 of 2 ms on loopback", 1, 2, false},
		{"99 of 150 ms", 99, 150, true},
		{"150 of 150 ms, total only", 150, 150, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := healthy()
			r.TotalMS = tc.totalMS
			setPhase(r, "dns", tc.dnsMS)
			// keep the other phases out of the way
			setPhase(r, "wait", 0.5)
			setPhase(r, "tls", 0.5)
			fs := diag(t, r)
			f := find(fs, IDDNSSlow)
			if (f != nil) != tc.want {
				t.Fatalf("DNS_SLOW: got %v, want %v (findings %v)", f != nil, tc.want, ids(fs))
			}
			if f == nil {
				return
			}
			wantIDs(t, fs, IDDNSSlow)
			wantEvidence(t, f, map[string]any{"dns_ms": tc.dnsMS, "total_ms": tc.totalMS, "server": "127.0.0.1:5353"})
			if !strings.Contains(f.Summary, fmtMS(tc.dnsMS)) {
				t.Errorf("summary %q lacks the measured %s", f.Summary, fmtMS(tc.dnsMS))
			}
		})
	}
}

func TestDNSSlowNotWhenFailedOrAbsent(t *testing.T) {
	t.Run("no dns phase (IP literal)", func(t *testing.T) {
		r := healthy()
		r.Phases = r.Phases[1:]
		r.DNS = nil
		r.TotalMS = 500
		wantIDs(t, diag(t, r))
	})
	t.Run("lookup failed slowly", func(t *testing.T) {
		r := failed(healthy(), probe.ClassDNS, "dns", "servfail", "SERVFAIL")
		setPhase(r, "dns", 900)
		r.TotalMS = 900
		wantIDs(t, diag(t, r), IDDNSFailed)
	})
	t.Run("budget ran out in dns", func(t *testing.T) {
		r := failed(healthy(), probe.ClassTimeout, "dns", "deadline", "deadline")
		setPhase(r, "dns", 10000)
		r.TotalMS = 10000
		wantIDs(t, diag(t, r), IDDNSFailed, IDProbeTimeout)
	})
}
