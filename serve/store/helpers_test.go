package store

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pathlens/pathlens/probe"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" || os.Getenv(lockChildEnv) != "" {
		// The crash-test child writes until it is killed, the lock-test
		// child holds the store until it is killed; they must never reach
		// goleak (nor return).
		os.Exit(m.Run())
	}
	goleak.VerifyTestMain(m)
}

var ctx = context.Background()

func openTemp(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "history.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func phases(names []string, durs ...float64) []probe.Phase {
	var out []probe.Phase
	start := 0.0
	for i, n := range names {
		out = append(out, probe.Phase{Name: n, StartMS: start, DurationMS: durs[i]})
		start += durs[i]
	}
	return out
}

var httpPhases = []string{probe.PhaseDNS, probe.PhaseConnect, probe.PhaseTLS, probe.PhaseRequest, probe.PhaseWait, probe.PhaseTransfer}

// httpsResult is a successful https probe with a two-certificate chain.
func httpsResult(at time.Time, dns, connect, tls, wait float64) *probe.Result {
	ph := phases(httpPhases, dns, connect, tls, 0.1, wait, 0.8)
	total := ph[len(ph)-1].StartMS + ph[len(ph)-1].DurationMS
	leaf := probe.Cert{
		Subject: "CN=api.example.test", Issuer: "CN=Example Intermediate CA",
		NotBefore: time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", DNSNames: []string{"api.example.test"},
	}
	inter := probe.Cert{
		Subject: "CN=Example Intermediate CA", Issuer: "CN=Example Root CA",
		NotBefore: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		SHA256: "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752", IsCA: true,
	}
	return &probe.Result{
		Schema: probe.Schema, Target: "https://api.example.test/health", Kind: "http",
		StartedAt: at, Success: true, TotalMS: total, TimeoutMS: 10000, Phases: ph,
		DNS: &probe.DNSInfo{Name: "api.example.test", Server: "system", Addrs: []string{"192.0.2.10", "2001:db8::10"}, Source: "system"},
		Conn: &probe.ConnInfo{RemoteAddr: "192.0.2.10:443", LocalAddr: "192.0.2.99:51234", IPVersion: 4,
			Attempts: []probe.ConnectAttempt{{Addr: "192.0.2.10:443", StartMS: dns, DurationMS: connect}}},
		TLS: &probe.TLSInfo{Version: "TLS 1.3", Cipher: "TLS_AES_128_GCM_SHA256", ALPN: "h2", SNI: "api.example.test",
			Verified: true, OfferedALPN: []string{"h2", "http/1.1"}, Chain: []probe.Cert{leaf, inter},
			VerifiedChain: []probe.Cert{leaf, inter, {Subject: "CN=Example Root CA", Issuer: "CN=Example Root CA", IsCA: true, SelfSigned: true,
				NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC), SHA256: "aa"}},
			TrustStore: "system", Analysis: &probe.ChainAnalysis{OrderOK: true, PathLen: 2, EndsAt: "CN=Example Intermediate CA", IssuerInStore: true}},
		HTTP: &probe.HTTPInfo{Status: 200, Proto: "HTTP/2.0", HeadersBytes: 312, BodyBytes: 1024, ContentLength: 1024,
			Redirects: []probe.Redirect{}, KeepAlive: true, ValidStatus: "200-399"},
		Findings: []probe.Finding{},
	}
}

// failedResult is an https probe that timed out in the TLS handshake.
func failedResult(at time.Time) *probe.Result {
	ph := phases(httpPhases[:3], 1.2, 20.5, 9978.3)
	ph[2].Incomplete = true
	return &probe.Result{
		Schema: probe.Schema, Target: "https://api.example.test/health", Kind: "http",
		StartedAt: at, Success: false, TotalMS: 10000, TimeoutMS: 10000, Phases: ph,
		Error: &probe.ErrorInfo{Class: "timeout", Phase: probe.PhaseTLS, Message: "probe budget of 10s ran out during tls", Cause: "deadline"},
		DNS:   &probe.DNSInfo{Name: "api.example.test", Server: "system", Addrs: []string{"192.0.2.10"}, Source: "system"},
		Conn:  &probe.ConnInfo{RemoteAddr: "192.0.2.10:443", IPVersion: 4},
		TLS:   &probe.TLSInfo{SNI: "api.example.test", OfferedALPN: []string{"h2", "http/1.1"}, Chain: []probe.Cert{}, Alert: "timeout"},
		Findings: []probe.Finding{
			{ID: "PROBE_TIMEOUT", Severity: probe.SeverityCritical, Phase: probe.PhaseTLS,
				Summary:  "the 10s budget ran out during the TLS handshake",
				Evidence: map[string]any{"phase": "tls", "phases_ms": map[string]any{"dns": 1.2, "connect": 20.5, "tls": 9978.3}, "budget_ms": 10000.0},
				Advice:   "check that the server answers the ClientHello"},
			{ID: "TLS_HANDSHAKE_FAILED", Severity: probe.SeverityCritical, Phase: probe.PhaseTLS,
				Summary: "handshake did not complete", Evidence: map[string]any{"cause": "timeout"}, Advice: "look at the server's TLS logs"},
		},
	}
}

// dnsResult is a dns probe whose query took ms.
func dnsResult(at time.Time, ms float64) *probe.Result {
	return &probe.Result{
		Schema: probe.Schema, Target: "dns://127.0.0.1:5353/www.example.test?type=AAAA", Kind: "dns",
		StartedAt: at, Success: true, TotalMS: ms + 0.05, TimeoutMS: 10000,
		Phases: []probe.Phase{{Name: probe.PhaseQuery, DurationMS: ms}},
		DNS: &probe.DNSInfo{Name: "www.example.test", Server: "127.0.0.1:5353", Type: "AAAA", Rcode: "NOERROR",
			Addrs: []string{"2001:db8::1"}, Answers: []string{"www.example.test.\t300\tIN\tAAAA\t2001:db8::1"}, Source: "dns"},
		Findings: []probe.Finding{},
	}
}

func withFindings(r *probe.Result, fs ...probe.Finding) *probe.Result {
	r.Findings = fs
	return r
}

func finding(id string, sev probe.Severity) probe.Finding {
	return probe.Finding{ID: id, Severity: sev, Summary: id + " summary", Advice: "fix " + id,
		Evidence: map[string]any{"n": 1.0}}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sameJSON(t testing.TB, got, want any) {
	t.Helper()
	if g, w := mustJSON(t, got), mustJSON(t, want); !bytes.Equal(g, w) {
		t.Errorf("JSON differs:\n got %s\nwant %s", g, w)
	}
}

func count(t testing.TB, s *Store, q string, args ...any) int {
	t.Helper()
	var n int
	if err := s.db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func write(t testing.TB, s *Store, recs ...Record) {
	t.Helper()
	if err := s.Write(ctx, recs); err != nil {
		t.Fatal(err)
	}
}
