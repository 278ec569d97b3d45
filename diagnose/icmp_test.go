package diagnose

import (
	"strings"
	"testing"

	"github.com/pathlens/pathlens/probe"
)

// pinged is an icmp probe of 10.0.0.1 that sent `sent` requests and got
// `received` replies (1 ms apart from 0.5 ms to …), failed as the prober
// fails it when nothing came back.
func pinged(sent, received int) *probe.Result {
	r := &probe.Result{
		Schema: probe.Schema, Target: "icmp://10.0.0.1", Kind: "icmp", StartedAt: t0,
		Success: true, TotalMS: 620.5, TimeoutMS: 10000,
		Phases:   []probe.Phase{{Name: probe.PhaseEcho, StartMS: 0.1, DurationMS: 620.4}},
		ICMP:     &probe.ICMPInfo{Sent: sent, Received: received, RTTsMS: []float64{}, Privileged: true, Addr: "10.0.0.1"},
		Findings: []Finding{},
	}
	if sent > 0 {
		r.ICMP.LossPct = float64(sent-received) / float64(sent) * 100
	}
	for i := 0; i < received; i++ {
		r.ICMP.RTTsMS = append(r.ICMP.RTTsMS, 0.5+float64(i%3))
	}
	if received > 0 {
		r.ICMP.MinMS, r.ICMP.AvgMS, r.ICMP.MaxMS, r.ICMP.StdDevMS = 0.5, 1.5, 2.5, 0.8
	}
	if received == 0 && sent > 0 {
		r.Success = false
		r.TotalMS, r.Phases[0].DurationMS = 1600.2, 1600.1
		r.Error = &probe.ErrorInfo{Class: probe.ClassConnect, Phase: probe.PhaseEcho, Cause: "no_reply",
			Message: "echo (connect): no reply from 10.0.0.1 to 3 echo request(s) within 1.6s"}
	}
	return r
}

func TestICMPLoss(t *testing.T) {
	tests := []struct {
		name           string
		sent, received int
		wantSev        probe.Severity // "" = no finding
		wantSummary    string
	}{
		{"0 % loss", 3, 3, "", ""},
		{"0 % loss, many", 1000, 1000, "", ""},
		{"1 % loss", 100, 99, probe.SeverityWarning, "1 of 100 ICMP echo requests to 10.0.0.1 got no reply (1 % loss)"},
		{"one of three", 3, 2, probe.SeverityWarning, "(33.3 % loss)"},
		{"99.9 % loss", 1000, 1, probe.SeverityWarning, "999 of 1000 ICMP echo requests to 10.0.0.1 got no reply (99.9 % loss)"},
		{"99.95 % loss is not rounded to 100", 2000, 1, probe.SeverityWarning, "(99.9 % loss)"},
		{"0.05 % loss is not rounded to 0", 2000, 1999, probe.SeverityWarning, "(0.1 % loss)"},
		{"100 % loss", 3, 0, probe.SeverityCritical, "no reply from 10.0.0.1 to any of 3 ICMP echo requests (100 % loss)"},
		{"100 % loss of one", 1, 0, probe.SeverityCritical, "to any of 1 ICMP echo request (100 % loss)"},
		{"nothing sent", 0, 0, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := pinged(tc.sent, tc.received)
			fs := diag(t, r)
			f := find(fs, IDICMPLoss)
			if tc.wantSev == "" {
				if f != nil {
					t.Fatalf("got %s %q, want no ICMP_LOSS", f.Severity, f.Summary)
				}
				if tc.received == tc.sent {
					wantIDs(t, fs)
				}
				return
			}
			if f == nil {
				t.Fatalf("no ICMP_LOSS among %v", ids(fs))
			}
			// Nothing else: in particular no TCP finding for the connect
			// class of a ping that got no reply.
			wantIDs(t, fs, IDICMPLoss)
			if f.Severity != tc.wantSev || f.Phase != probe.PhaseEcho {
				t.Errorf("severity %s phase %s, want %s echo", f.Severity, f.Phase, tc.wantSev)
			}
			if !strings.Contains(f.Summary, tc.wantSummary) {
				t.Errorf("summary %q, want it to contain %q", f.Summary, tc.wantSummary)
			}
			want := map[string]any{"sent": tc.sent, "received": tc.received, "lost": tc.sent - tc.received,
				"loss_pct": round(r.ICMP.LossPct, 3), "addr": "10.0.0.1", "echo_ms": r.Phases[0].DurationMS}
			if tc.received > 0 {
				want["min_ms"], want["avg_ms"], want["max_ms"], want["stddev_ms"] = 0.5, 1.5, 2.5, 0.8
			} else {
				for _, k := range []string{"min_ms", "avg_ms", "max_ms", "stddev_ms"} {
					if _, ok := f.Evidence[k]; ok {
						t.Errorf("evidence %s present with no reply", k)
					}
				}
			}
			wantEvidence(t, f, want)
			for _, word := range []string{"firewall", "rate", "tcp://"} {
				if !strings.Contains(strings.ToLower(f.Advice), word) {
					t.Errorf("advice lacks %q: %s", word, f.Advice)
				}
			}
		})
	}
}

// Requests cut off by the budget or a cancel are not loss: PROBE_TIMEOUT
// (or nothing, on a cancel) explains the result.
func TestICMPLossQuietWhenCutOff(t *testing.T) {
	for _, class := range []probe.ErrorClass{probe.ClassTimeout, probe.ClassCanceled} {
		t.Run(string(class), func(t *testing.T) {
			r := pinged(10, 4)
			r.Success = false
			r.Error = &probe.ErrorInfo{Class: class, Phase: probe.PhaseEcho, Cause: "deadline", Message: "context deadline exceeded"}
			r.Phases[0].Incomplete = true
			fs := diag(t, r)
			if f := find(fs, IDICMPLoss); f != nil {
				t.Errorf("ICMP_LOSS %q on a probe cut off by %s", f.Summary, class)
			}
			if class == probe.ClassTimeout {
				wantIDs(t, fs, IDProbeTimeout)
				if !strings.Contains(fs[0].Summary, "ICMP echo") {
					t.Errorf("PROBE_TIMEOUT summary %q, want it to name the ICMP echo", fs[0].Summary)
				}
			}
		})
	}
}

func TestICMPLossNeedsTheICMPBlock(t *testing.T) {
	r := pinged(3, 0)
	r.ICMP = nil // e.g. the dns phase failed before any request
	if f := find(diag(t, r), IDICMPLoss); f != nil {
		t.Errorf("ICMP_LOSS without an icmp block: %q", f.Summary)
	}
	// Without an address in the block, the summary names the target host.
	r = pinged(4, 3)
	r.ICMP.Addr = ""
	f := find(diag(t, r), IDICMPLoss)
	if f == nil || !strings.Contains(f.Summary, "to 10.0.0.1") {
		t.Errorf("want the target's host in the summary, got %+v", f)
	}
}
