package diagnose

import (
	"strings"
	"testing"

	"github.com/pathlens/pathlens/probe"
)

func TestProbeTimeout(t *testing.T) {
	tests := []struct {
		name      string
		phase     string
		budget    float64
		phases    []probe.Phase
		want      []string
		wantSumm  string
		wantPhase map[string]any
	}{
		{"stalled TLS handshake", "tls", 10000,
			[]probe.Phase{{Name: "dns", DurationMS: 1.2}, {Name: "connect", StartMS: 1.2, DurationMS: 0.4},
				{Name: "tls", StartMS: 1.6, DurationMS: 2000.3, Incomplete: true}},
			[]string{IDProbeTimeout},
			"the 10 s budget ran out inside the TLS handshake (tls phase, 2000 ms in)",
			map[string]any{"dns": 1.2, "connect": 0.4, "tls": 2000.3}},
		{"2.5 s budget, in wait", "wait", 2500,
			[]probe.Phase{{Name: "connect", DurationMS: 0.3}, {Name: "tls", DurationMS: 2.0}, {Name: "request", DurationMS: 0.1},
				{Name: "wait", DurationMS: 2497.6, Incomplete: true}},
			[]string{IDProbeTimeout},
			"the 2.5 s budget ran out inside the wait for the first response byte (wait phase, 2498 ms in)",
			map[string]any{"wait": 2497.6}},
		{"in connect: with TCP_TIMEOUT", "connect", 500,
			[]probe.Phase{{Name: "dns", DurationMS: 1}, {Name: "connect", DurationMS: 499, Incomplete: true}},
			[]string{IDTCPTimeout, IDProbeTimeout},
			"the 500 ms budget ran out inside the TCP connect (connect phase, 499 ms in)", nil},
		{"in dns: with DNS_FAILED", "dns", 10000,
			[]probe.Phase{{Name: "dns", DurationMS: 10000, Incomplete: true}},
			[]string{IDDNSFailed, IDProbeTimeout},
			"the 10 s budget ran out inside the DNS lookup", nil},
		{"budget unknown", "transfer", 0,
			[]probe.Phase{{Name: "wait", DurationMS: 3}, {Name: "transfer", DurationMS: 50.25, Incomplete: true}},
			[]string{IDProbeTimeout},
			"the probe's budget ran out inside reading the response body (transfer phase, 50.2 ms in)", nil},
		{"no phase in flight", "", 1000, nil,
			[]string{IDProbeTimeout}, "the 1 s budget ran out with no phase in flight (after 1000 ms)", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			total := 0.0
			for _, p := range tc.phases {
				total += p.DurationMS
			}
			if total == 0 {
				total = 1000
			}
			r := &probe.Result{
				Schema: probe.Schema, Target: "https://stall.lab.test:8443/", Kind: "https", StartedAt: t0,
				TotalMS: total, TimeoutMS: tc.budget, Phases: tc.phases,
				DNS:   &probe.DNSInfo{Name: "stall.lab.test", Server: "127.0.0.1:5353"},
				Error: &probe.ErrorInfo{Class: probe.ClassTimeout, Phase: tc.phase, Cause: "deadline", Message: "context deadline exceeded"},
			}
			fs := diag(t, r)
			wantIDs(t, fs, tc.want...)
			f := find(fs, IDProbeTimeout)
			if f == nil {
				t.Fatalf("no PROBE_TIMEOUT")
			}
			if !strings.Contains(f.Summary, tc.wantSumm) {
				t.Errorf("summary:\ngot  %s\nwant %s", f.Summary, tc.wantSumm)
			}
			if f.Phase != tc.phase {
				t.Errorf("phase: got %q, want %q", f.Phase, tc.phase)
			}
			if tc.budget > 0 {
				wantEvidence(t, f, map[string]any{"budget_ms": tc.budget})
			} else if _, ok := f.Evidence["budget_ms"]; ok {
				t.Errorf("budget_ms present with an unknown budget: %v", f.Evidence)
			}
			if tc.phase != "" {
				wantEvidence(t, f, map[string]any{"phase": tc.phase})
			}
			ph, ok := f.Evidence["phases"].(map[string]any)
			if !ok || len(ph) != len(tc.phases) {
				t.Fatalf("phases evidence: got %#v, want %d phases", f.Evidence["phases"], len(tc.phases))
			}
			for k, v := range tc.wantPhase {
				if ph[k] != v {
					t.Errorf("phases[%s]: got %v, want %v", k, ph[k], v)
				}
			}
		})
	}
}

func TestProbeTimeoutNotOnOtherErrors(t *testing.T) {
	for _, class := range []probe.ErrorClass{probe.ClassCanceled, probe.ClassConfig} {
		t.Run(string(class), func(t *testing.T) {
			r := failed(healthy(), class, "wait", "", "stopped")
			r.HTTP.Status = 0
			wantIDs(t, diag(t, r))
		})
	}
}

func TestFormatting(t *testing.T) {
	for _, tc := range []struct {
		ms   float64
		want string
	}{{10000, "10 s"}, {2500, "2.5 s"}, {1000, "1 s"}, {500, "500 ms"}, {60000, "60 s"}} {
		if got := fmtBudget(tc.ms); got != tc.want {
			t.Errorf("fmtBudget(%v): got %q, want %q", tc.ms, got, tc.want)
		}
	}
	for _, tc := range []struct {
		ms   float64
		want string
	}{{0.123, "0.12 ms"}, {2000.3, "2000 ms"}, {1, "1.00 ms"}, {45.67, "45.7 ms"}} {
		if got := fmtMS(tc.ms); got != tc.want {
			t.Errorf("fmtMS(%v): got %q, want %q", tc.ms, got, tc.want)
		}
	}
}
