package diagnose

import (
	"strings"
	"testing"

	"github.com/pathlens/pathlens/probe"
)

func TestTCP(t *testing.T) {
	oneAttempt := []probe.ConnectAttempt{{Addr: "127.0.0.1:1", StartMS: 0.3, DurationMS: 0.2, Error: "connect: connection refused"}}
	dualStack := []probe.ConnectAttempt{
		{Addr: "[::1]:1", StartMS: 0.3, DurationMS: 0.1, Error: "connect: connection refused"},
		{Addr: "127.0.0.1:1", StartMS: 0.4, DurationMS: 0.1, Error: "connect: connection refused"},
	}
	tests := []struct {
		name        string
		class       probe.ErrorClass
		cause       string
		attempts    []probe.ConnectAttempt
		connectMS   float64
		wantIDs     []string
		wantSummary string
	}{
		{"refused", probe.ClassConnect, "refused", oneAttempt, 0.2,
			[]string{IDTCPRefused}, "connection refused (RST) by 127.0.0.1:1"},
		{"refused on every address", probe.ClassConnect, "refused", dualStack, 0.2,
			[]string{IDTCPRefused}, "every address tried ([::1]:1, 127.0.0.1:1)"},
		{"budget ran out in connect", probe.ClassTimeout, "deadline",
			[]probe.ConnectAttempt{{Addr: "10.255.255.1:443", DurationMS: 9999.5, Error: "i/o timeout"}}, 9999.5,
			[]string{IDTCPTimeout, IDProbeTimeout}, "no answer to SYN from 10.255.255.1:443 after 10000 ms"},
		{"unreachable", probe.ClassConnect, "unreachable",
			[]probe.ConnectAttempt{{Addr: "[2001:db8::1]:443", DurationMS: 0.1, Error: "connect: network is unreachable"}}, 0.1,
			[]string{IDTCPConnectFailed}, "no route to the host or network"},
		{"reset", probe.ClassConnect, "reset", oneAttempt, 0.2,
			[]string{IDTCPConnectFailed}, "was reset while connecting"},
		{"other connect error", probe.ClassConnect, "", oneAttempt, 0.2,
			[]string{IDTCPConnectFailed}, "TCP connect to 127.0.0.1:1 failed"},
		{"canceled is no finding", probe.ClassCanceled, "canceled", oneAttempt, 0.2,
			nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := failed(healthy(), tc.class, "connect", tc.cause, "dial tcp: "+tc.cause)
			r.Conn = &probe.ConnInfo{Attempts: tc.attempts}
			setPhase(r, "connect", tc.connectMS)
			r.TotalMS = tc.connectMS + 1.1
			fs := diag(t, r)
			wantIDs(t, fs, tc.wantIDs...)
			if len(tc.wantIDs) == 0 {
				return
			}
			f := &fs[0]
			if !strings.Contains(f.Summary, tc.wantSummary) {
				t.Errorf("summary: got %q, want it to contain %q", f.Summary, tc.wantSummary)
			}
			if f.Phase != "connect" {
				t.Errorf("phase: got %q, want connect", f.Phase)
			}
			var addrs []string
			for _, a := range tc.attempts {
				addrs = append(addrs, a.Addr)
			}
			wantEvidence(t, f, map[string]any{"addrs": addrs, "connect_ms": tc.connectMS})
			att, ok := f.Evidence["attempts"].([]map[string]any)
			if !ok || len(att) != len(tc.attempts) {
				t.Fatalf("attempts evidence: got %#v, want %d attempts", f.Evidence["attempts"], len(tc.attempts))
			}
			if att[0]["addr"] != tc.attempts[0].Addr || att[0]["error"] != tc.attempts[0].Error {
				t.Errorf("attempt 0: got %v, want addr %s error %q", att[0], tc.attempts[0].Addr, tc.attempts[0].Error)
			}
		})
	}
}

func TestTCPRefusedWithoutConnBlock(t *testing.T) {
	r := failed(healthy(), probe.ClassConnect, "connect", "refused", "connection refused")
	r.Conn = nil
	fs := diag(t, r)
	wantIDs(t, fs, IDTCPRefused)
	if !strings.Contains(fs[0].Summary, "app.lab.test") {
		t.Errorf("summary %q: want the target host when no attempts are known", fs[0].Summary)
	}
}
