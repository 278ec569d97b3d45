package output

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/probe"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// t0 is the fixed start of every hand-built Result.
var t0 = time.Date(2026, 11, 21, 10, 0, 0, 123456789, time.UTC)

func day(n int) time.Time { return t0.Add(time.Duration(n) * 24 * time.Hour) }

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./output -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden (go test ./output -update to accept)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

func phases(ps ...any) []probe.Phase {
	var out []probe.Phase
	for i := 0; i+2 < len(ps); i += 3 {
		out = append(out, probe.Phase{Name: ps[i].(string), StartMS: ps[i+1].(float64), DurationMS: ps[i+2].(float64)})
	}
	return out
}

func healthyHTTPS() *probe.Result {
	return &probe.Result{
		Schema: probe.Schema, Target: "https://ok-h2.lab.test:41233/", Kind: "https", StartedAt: t0,
		Success: true, TotalMS: 12.4,
		Phases: phases(
			"dns", 0.0, 0.42,
			"connect", 0.42, 0.11,
			"tls", 0.53, 3.9,
			"request", 4.43, 0.05,
			"wait", 4.48, 6.8,
			"transfer", 11.28, 0.7,
		),
		DNS:  &probe.DNSInfo{Name: "ok-h2.lab.test", Server: "127.0.0.1:5353", Rcode: "NOERROR", Addrs: []string{"127.0.0.1"}, Source: "dns"},
		Conn: &probe.ConnInfo{RemoteAddr: "127.0.0.1:41233", LocalAddr: "127.0.0.1:50122", IPVersion: 4},
		TLS: &probe.TLSInfo{
			Version: "TLS 1.3", Cipher: "TLS_AES_128_GCM_SHA256", ALPN: "h2", SNI: "ok-h2.lab.test",
			Verified: true, TrustStore: "lab-ca.pem", OfferedALPN: []string{"h2", "http/1.1"},
			Chain: []probe.Cert{
				{Subject: "CN=ok-h2.lab.test", Issuer: "CN=pathlens lab intermediate", NotBefore: day(-1), NotAfter: day(90), SHA256: "aa11", DNSNames: []string{"ok-h2.lab.test"}},
				{Subject: "CN=pathlens lab intermediate", Issuer: "CN=pathlens lab root", NotBefore: day(-10), NotAfter: day(3650), SHA256: "bb22", IsCA: true},
			},
			Resumption: &probe.ResumptionCheck{Tested: true, Resumed: true, HandshakeMS: 0.9},
		},
		HTTP:     &probe.HTTPInfo{Status: 200, Proto: "HTTP/2.0", HeadersBytes: 120, BodyBytes: 3, ContentLength: 3, Redirects: []probe.Redirect{}, KeepAlive: true},
		Findings: []probe.Finding{},
	}
}

func failedTimeout() *probe.Result {
	r := &probe.Result{
		Schema: probe.Schema, Target: "https://blackhole.lab.test:8443/", Kind: "https", StartedAt: t0,
		Success: false,
		Error:   &probe.ErrorInfo{Class: probe.ClassTimeout, Phase: "tls", Message: "context deadline exceeded", Cause: "deadline"},
		TotalMS: 2000.3,
		Phases: []probe.Phase{
			{Name: "dns", StartMS: 0, DurationMS: 1.25},
			{Name: "connect", StartMS: 1.25, DurationMS: 48.7},
			{Name: "tls", StartMS: 49.95, DurationMS: 1950.35, Incomplete: true},
		},
		DNS: &probe.DNSInfo{Name: "blackhole.lab.test", Source: "system", Addrs: []string{"::1", "127.0.0.1"}},
		Conn: &probe.ConnInfo{RemoteAddr: "127.0.0.1:8443", LocalAddr: "127.0.0.1:40000", IPVersion: 4,
			Attempts: []probe.ConnectAttempt{
				{Addr: "[::1]:8443", StartMS: 1.25, DurationMS: 0.2, Error: "connect: connection refused"},
				{Addr: "127.0.0.1:8443", StartMS: 1.5, DurationMS: 48.45},
			}},
		TLS: &probe.TLSInfo{SNI: "blackhole.lab.test", Chain: []probe.Cert{}},
		Findings: []probe.Finding{{
			ID: "PROBE_TIMEOUT", Severity: probe.SeverityCritical, Phase: "tls",
			Summary:  "the 2s budget ran out during the TLS handshake",
			Evidence: map[string]any{"phase": "tls", "budget_ms": 2000.0, "tls_ms": 1950.35},
			Advice:   "check that the server speaks TLS on this port",
		}},
	}
	return r
}

func tlsFailure() *probe.Result {
	return &probe.Result{
		Schema: probe.Schema, Target: "tls://expired.lab.test:8444", Kind: "tls", StartedAt: t0,
		Success: true, TotalMS: 6.0,
		Phases: phases("dns", 0.0, 0.5, "connect", 0.5, 0.3, "tls", 0.8, 5.2),
		DNS:    &probe.DNSInfo{Name: "expired.lab.test", Source: "resolve", Addrs: []string{"127.0.0.1"}},
		Conn:   &probe.ConnInfo{RemoteAddr: "127.0.0.1:8444", IPVersion: 4},
		TLS: &probe.TLSInfo{
			Version: "TLS 1.2", Cipher: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", SNI: "expired.lab.test",
			OCSPStapled: true, VerifyError: "x509: certificate has expired or is not yet valid", VerifyReason: "expired",
			HostnameError: "x509: certificate is valid for other.lab.test, not expired.lab.test",
			Chain: []probe.Cert{
				{Subject: "CN=other.lab.test", Issuer: "CN=pathlens lab intermediate", NotBefore: day(-100), NotAfter: day(-3), SHA256: "cc"},
				{Subject: "CN=pathlens lab root", Issuer: "CN=pathlens lab root", NotBefore: day(-1000), NotAfter: day(10), IsCA: true, SelfSigned: true, SHA256: "dd"},
			},
			Analysis:   &probe.ChainAnalysis{OrderOK: false, MisorderedAt: 0, PathLen: 1, EndsAt: "CN=other.lab.test", MissingIssuer: "CN=pathlens lab intermediate", AIA: []string{"http://lab.test/int.crt"}},
			Resumption: &probe.ResumptionCheck{Tested: true, Resumed: false, HandshakeMS: 5.1},
		},
		// Deliberately out of severity order.
		Findings: []probe.Finding{
			{ID: "TLS_NO_RESUMPTION", Severity: probe.SeverityWarning, Phase: "tls", Summary: "a second connection did a full handshake",
				Evidence: map[string]any{"handshake_ms": 5.1}, Advice: "enable session tickets"},
			{ID: "HTTP_NO_H2", Severity: probe.SeverityInfo, Phase: "tls", Summary: "no h2 offered in ALPN",
				Advice: "enable HTTP/2"},
			{ID: "TLS_CERT_EXPIRED", Severity: probe.SeverityCritical, Phase: "tls", Summary: "the leaf certificate expired 3 days ago",
				Evidence: map[string]any{"subject": "CN=other.lab.test", "not_after": "2026-11-18T10:00:00Z", "days": -3.0, "chain": []any{"CN=a", "CN=b"}},
				Advice:   "renew the certificate"},
			{ID: "TLS_CERT_EXPIRING", Severity: probe.SeverityWarning, Phase: "tls", Summary: "the root expires in 10 days",
				Evidence: map[string]any{"days": 10.0}, Advice: "replace the root"},
			{ID: "TLS_HOSTNAME_MISMATCH", Severity: probe.SeverityCritical, Phase: "tls", Summary: "certificate does not cover expired.lab.test",
				Evidence: map[string]any{"asked": "expired.lab.test", "names": []any{"other.lab.test"}}, Advice: "add the name to the certificate"},
		},
	}
}

func redirectChain() *probe.Result {
	return &probe.Result{
		Schema: probe.Schema, Target: "http://www.lab.test:8080/old", Kind: "http", StartedAt: t0,
		Success: true, TotalMS: 350,
		Phases: phases(
			"redirect", 0.0, 30.5,
			"request", 30.5, 0.1,
			"wait", 30.6, 300.0,
			"transfer", 330.6, 19.4,
		),
		Conn: &probe.ConnInfo{RemoteAddr: "[::1]:8080", LocalAddr: "[::1]:51000", IPVersion: 6, Reused: true, IdleMS: 0.35},
		HTTP: &probe.HTTPInfo{Status: 404, Proto: "HTTP/1.1", HeadersBytes: 150, BodyBytes: 1000, ContentLength: -1,
			ContentEncoding: "gzip", KeepAlive: false,
			Redirects: []probe.Redirect{
				{URL: "http://www.lab.test:8080/old", Status: 301, Location: "/newer", StartMS: 0, TotalMS: 20.25},
				{URL: "http://www.lab.test:8080/newer", Status: 302, Location: "http://www.lab.test:8080/new?a=1&b=2", StartMS: 20.25, TotalMS: 10.25, Reused: true,
					Phases: phases("request", 20.25, 0.1, "wait", 20.35, 10.15)},
			}},
		Findings: []probe.Finding{
			{ID: "HTTP_NO_KEEPALIVE", Severity: probe.SeverityInfo, Phase: "transfer", Summary: "server closes the connection after each response", Advice: "enable keep-alive"},
			{ID: "HTTP_STATUS", Severity: probe.SeverityWarning, Phase: "wait", Summary: "status 404", Evidence: map[string]any{"status": 404.0, "valid": "200-399"}, Advice: "check the URL"},
			{ID: "HTTP_SERVER_SLOW", Severity: probe.SeverityWarning, Phase: "wait", Summary: "time to first byte was 300 ms of 350 ms",
				Evidence: map[string]any{"wait_ms": 300.0, "total_ms": 350.0}, Advice: "profile the handler"},
		},
	}
}

func dnsKind() *probe.Result {
	return &probe.Result{
		Schema: probe.Schema, Target: "dns://127.0.0.1:5353/www.example.test?type=AAAA", Kind: "dns", StartedAt: t0,
		Success: true, TotalMS: 0.873,
		Phases: phases("query", 0.0, 0.873),
		DNS: &probe.DNSInfo{Name: "www.example.test", Server: "127.0.0.1:5353", Type: "AAAA", Rcode: "NOERROR", Source: "dns",
			Addrs:   []string{"2001:db8::1", "2001:db8::2"},
			Answers: []string{"www.example.test.\t300\tIN\tAAAA\t2001:db8::1", "www.example.test.\t300\tIN\tAAAA\t2001:db8::2"}},
		Findings: []probe.Finding{},
	}
}

func fixtures() map[string]*probe.Result {
	return map[string]*probe.Result{
		"healthy_https":  healthyHTTPS(),
		"failed_timeout": failedTimeout(),
		"tls_failure":    tlsFailure(),
		"redirect_chain": redirectChain(),
		"dns_kind":       dnsKind(),
	}
}

func render(t *testing.T, r *probe.Result, s Style) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Human(&b, r, s); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestHumanGolden(t *testing.T) {
	for name, r := range fixtures() {
		t.Run(name, func(t *testing.T) {
			golden(t, name, render(t, r, Style{Width: 80}))
		})
	}
	t.Run("healthy_https_color", func(t *testing.T) {
		got := render(t, healthyHTTPS(), Style{Color: true, Width: 80})
		if !bytes.Contains(got, []byte("\x1b[")) {
			t.Error("Color true produced no escape sequence")
		}
		golden(t, "healthy_https_color", got)
	})
	t.Run("tls_failure_wide", func(t *testing.T) {
		golden(t, "tls_failure_wide", render(t, tlsFailure(), Style{Width: 120}))
	})
}

func TestHumanNoEscapesWithoutColor(t *testing.T) {
	hostile := healthyHTTPS()
	hostile.Target = "https://evil.test/\x1b[2J\x1b]0;pwned\x07"
	hostile.TLS.Chain[0].Subject = "CN=\x1b[31mred\u202eevil"
	hostile.HTTP.Proto = "HTTP/1.1\r\nX: y"
	hostile.Findings = []probe.Finding{{ID: "X", Severity: probe.SeverityInfo, Summary: "s\x1b[0m",
		Evidence: map[string]any{"k\x1b": "v\x1b[1m", "list": []any{"\x1b[2J"}}, Advice: "a\x9b1m"}}
	rs := fixtures()
	rs["hostile"] = hostile
	for name, r := range rs {
		for _, width := range []int{0, 40, 80, 200} {
			got := render(t, r, Style{Width: width})
			if bytes.IndexByte(got, 0x1b) >= 0 || bytes.Contains(got, []byte("\u009b")) {
				t.Errorf("%s width %d: escape byte in output:\n%q", name, width, got)
			}
			if bytes.Contains(got, []byte("\r")) || bytes.Contains(got, []byte("\u202e")) {
				t.Errorf("%s width %d: control or bidi character in output:\n%q", name, width, got)
			}
		}
	}
	// With colour on, only our own SGR sequences appear: the hostile ones are escaped.
	got := string(render(t, hostile, Style{Color: true}))
	for _, bad := range []string{"\x1b[2J", "\x1b]0", "\x1b[31mred", "v\x1b"} {
		if strings.Contains(got, bad) {
			t.Errorf("colour output passes through hostile %q", bad)
		}
	}
	if !strings.Contains(got, `\x1b[2J`) {
		t.Errorf("hostile escape not shown escaped:\n%s", got)
	}
	var b bytes.Buffer
	s := Summarize(summaryRuns())
	s.Findings = append(s.Findings, FindingCount{ID: "EVIL\x1b[2J", Severity: probe.SeverityInfo, Runs: 1})
	if err := HumanSummary(&b, s, Style{}); err != nil {
		t.Fatal(err)
	}
	if bytes.IndexByte(b.Bytes(), 0x1b) >= 0 {
		t.Errorf("summary: escape byte in output:\n%q", b.Bytes())
	}
}

func TestHumanDetails(t *testing.T) {
	t.Run("healthy", func(t *testing.T) {
		got := string(render(t, healthyHTTPS(), Style{}))
		for _, want := range []string{
			"https://ok-h2.lab.test:41233/  https  ok  12.4 ms",
			"0.42 ms", "3.90 ms", "6.80 ms", // <10 ms: 2 decimals
			"expires 2027-02-19 (90 days)", // relative to StartedAt
			"resumption: yes (0.90 ms)",
			"http  200 HTTP/2.0  body 3 B (content-length 3)",
			"No findings.",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("missing %q in\n%s", want, got)
			}
		}
		for _, line := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
			if n := len([]rune(line)); n > 80 {
				t.Errorf("line wider than 80 columns (%d): %q", n, line)
			}
		}
	})
	t.Run("timeout", func(t *testing.T) {
		got := string(render(t, failedTimeout(), Style{}))
		for _, want := range []string{
			"https://blackhole.lab.test:8443/  https  FAILED  2000 ms\n  timed out in tls: context deadline exceeded [deadline]\n",
			"…│    1950 ms (in flight)",
			"48.7 ms", "2000 ms",
			"attempt 1  [::1]:8443      start 1.25 ms  took 0.20 ms  connect: connection refused",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("missing %q in\n%s", want, got)
			}
		}
	})
	t.Run("timeout wide", func(t *testing.T) {
		got := string(render(t, failedTimeout(), Style{Width: 160}))
		want := "https://blackhole.lab.test:8443/  https  FAILED timed out in tls: context deadline exceeded [deadline]  2000 ms\n"
		if !strings.HasPrefix(got, want) {
			t.Errorf("want one-line header %q in\n%s", want, got)
		}
	})
	t.Run("severity order", func(t *testing.T) {
		got := string(render(t, tlsFailure(), Style{}))
		order := []string{"TLS_CERT_EXPIRED", "TLS_HOSTNAME_MISMATCH", "TLS_NO_RESUMPTION", "TLS_CERT_EXPIRING", "HTTP_NO_H2"}
		last := -1
		for _, id := range order {
			i := strings.Index(got, id)
			if i < 0 || i < last {
				t.Fatalf("finding %s out of order (at %d, previous at %d):\n%s", id, i, last, got)
			}
			last = i
		}
		for _, want := range []string{
			"critical TLS_CERT_EXPIRED  the leaf certificate expired 3 days ago\n" +
				"    chain: [\"CN=a\",\"CN=b\"]\n    days: -3\n    not_after: 2026-11-18T10:00:00Z\n    subject: CN=other.lab.test\n" +
				"    → renew the certificate\n",
			"EXPIRED 2026-11-18 (3 days ago)",
			"expires 2026-12-01 (10 days)",
			"NOT verified: x509: certificate has expired",
			"hostname: x509: certificate is valid for other.lab.test",
			"out of order at 0; missing issuer CN=pathlens lab intermediate",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("missing %q in\n%s", want, got)
			}
		}
	})
}

func TestJSONRoundTrip(t *testing.T) {
	for name, r := range fixtures() {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := JSON(&b, r); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			if !strings.HasSuffix(out, "}\n") || strings.HasSuffix(out, "\n\n") {
				t.Errorf("want exactly one trailing newline, got %q", out[max(0, len(out)-5):])
			}
			if !strings.HasPrefix(out, "{\n  \"schema\": \"pathlens/v1\",\n") {
				t.Errorf("not indented by 2 spaces / schema first:\n%s", out[:min(80, len(out))])
			}
			var got probe.Result
			dec := json.NewDecoder(strings.NewReader(out))
			if err := dec.Decode(&got); err != nil {
				t.Fatal(err)
			}
			if dec.More() {
				t.Error("more than one JSON value written")
			}
			if !reflect.DeepEqual(&got, r) {
				t.Errorf("round trip differs:\n got %+v\nwant %+v", got, *r)
			}
			if r.Success && !strings.Contains(out, `"error": null`) {
				t.Error(`success without "error": null`)
			}
			if !r.Success && strings.Contains(out, `"error": null`) {
				t.Error(`failure with "error": null`)
			}
		})
	}
	t.Run("html not escaped", func(t *testing.T) {
		var b bytes.Buffer
		if err := JSON(&b, redirectChain()); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), "new?a=1&b=2") {
			t.Error("& was escaped in JSON output")
		}
	})
	t.Run("nil lists become arrays", func(t *testing.T) {
		r := &probe.Result{Target: "tcp://x:1", Kind: "tcp", StartedAt: t0, Success: true,
			TLS: &probe.TLSInfo{}, HTTP: &probe.HTTPInfo{}}
		var b bytes.Buffer
		if err := JSON(&b, r); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`"phases": []`, `"findings": []`, `"chain": []`, `"redirects": []`, `"error": null`, `"schema": "pathlens/v1"`} {
			if !strings.Contains(b.String(), want) {
				t.Errorf("missing %s in\n%s", want, b.String())
			}
		}
		if r.Phases != nil || r.Findings != nil || r.TLS.Chain != nil || r.HTTP.Redirects != nil || r.Schema != "" {
			t.Error("JSON modified its argument")
		}
	})
	if err := JSON(&bytes.Buffer{}, nil); err == nil {
		t.Error("JSON(nil) did not fail")
	}
}

// summaryRuns are five runs with hand-picked durations; the expected
// statistics in TestSummarize are worked out by hand from them.
func summaryRuns() []*probe.Result {
	f := func(id string, sev probe.Severity) probe.Finding {
		return probe.Finding{ID: id, Severity: sev, Summary: id, Advice: "-"}
	}
	return []*probe.Result{
		{Target: "https://x/", Kind: "https", StartedAt: t0, Success: true, TotalMS: 131.5,
			Phases:   phases("dns", 0.0, 1.5, "connect", 1.5, 10.0, "tls", 11.5, 20.0, "wait", 31.5, 100.0),
			Findings: []probe.Finding{f("TLS_NO_RESUMPTION", probe.SeverityWarning)}},
		{Target: "https://x/", Kind: "https", StartedAt: t0.Add(time.Second), Success: true, TotalMS: 375.5,
			Phases:   phases("dns", 0.0, 0.5, "connect", 0.5, 50.0, "tls", 50.5, 25.0, "wait", 75.5, 300.0),
			Findings: []probe.Finding{f("TLS_NO_RESUMPTION", probe.SeverityWarning), f("HTTP_SERVER_SLOW", probe.SeverityWarning)}},
		{Target: "https://x/", Kind: "https", StartedAt: t0.Add(2 * time.Second), Success: true, TotalMS: 80.2,
			Phases: phases("request", 0.0, 0.2, "wait", 0.2, 80.0)},
		{Target: "https://x/", Kind: "https", StartedAt: t0.Add(3 * time.Second), Success: true, TotalMS: 147.5,
			Phases: phases("dns", 0.0, 2.5, "connect", 2.5, 20.0, "tls", 22.5, 5.0, "wait", 27.5, 120.0),
			// Two certificates expiring: still one run.
			Findings: []probe.Finding{f("TLS_CERT_EXPIRING", probe.SeverityWarning), f("TLS_CERT_EXPIRING", probe.SeverityWarning), f("HTTP_NO_H2", probe.SeverityInfo)}},
		{Target: "https://x/", Kind: "https", StartedAt: t0.Add(4 * time.Second), Success: false, TotalMS: 43.5,
			Error: &probe.ErrorInfo{Class: probe.ClassTimeout, Phase: "connect", Message: "deadline"},
			Phases: []probe.Phase{{Name: "dns", StartMS: 0, DurationMS: 3.5},
				{Name: "connect", StartMS: 3.5, DurationMS: 40, Incomplete: true}},
			Findings: []probe.Finding{f("PROBE_TIMEOUT", probe.SeverityCritical)}},
	}
}

func TestSummarize(t *testing.T) {
	s := Summarize(summaryRuns())
	if s.Runs != 5 || s.Succeeded != 4 || s.Failed != 1 {
		t.Errorf("runs/succeeded/failed = %d/%d/%d, want 5/4/1", s.Runs, s.Succeeded, s.Failed)
	}
	// Nearest rank: rank = ceil(p/100 × n), 1-based, over sorted values.
	want := []PhaseStats{
		// dns 1.5 0.5 2.5 3.5 → 0.5 1.5 2.5 3.5; n=4: p50 rank 2, p90 rank 4, p99 rank 4.
		{Name: "dns", Count: 4, P50: 1.5, P90: 3.5, P99: 3.5, Max: 3.5, Min: 0.5, Mean: 2.0},
		// connect 10 50 20 40 → 10 20 40 50 (the in-flight 40 counts).
		{Name: "connect", Count: 4, P50: 20, P90: 50, P99: 50, Max: 50, Min: 10, Mean: 30},
		// tls 20 25 5 → 5 20 25; n=3: p50 rank 2, p90 rank 3.
		{Name: "tls", Count: 3, P50: 20, P90: 25, P99: 25, Max: 25, Min: 5, Mean: 16.667},
		// wait 100 300 80 120 → 80 100 120 300.
		{Name: "wait", Count: 4, P50: 100, P90: 300, P99: 300, Max: 300, Min: 80, Mean: 150},
		// request appears first in run 3, so it comes after wait.
		{Name: "request", Count: 1, P50: 0.2, P90: 0.2, P99: 0.2, Max: 0.2, Min: 0.2, Mean: 0.2},
	}
	if !reflect.DeepEqual(s.Phases, want) {
		t.Errorf("phases\n got %+v\nwant %+v", s.Phases, want)
	}
	// total 131.5 375.5 80.2 147.5 43.5 → 43.5 80.2 131.5 147.5 375.5; n=5: p50 rank 3, p90 rank 5.
	wantTotal := PhaseStats{Name: "total", Count: 5, P50: 131.5, P90: 375.5, P99: 375.5, Max: 375.5, Min: 43.5, Mean: 155.64}
	if !reflect.DeepEqual(s.Total, wantTotal) {
		t.Errorf("total\n got %+v\nwant %+v", s.Total, wantTotal)
	}
	wantF := []FindingCount{
		{ID: "PROBE_TIMEOUT", Severity: probe.SeverityCritical, Runs: 1},
		{ID: "TLS_NO_RESUMPTION", Severity: probe.SeverityWarning, Runs: 2},
		{ID: "HTTP_SERVER_SLOW", Severity: probe.SeverityWarning, Runs: 1},
		{ID: "TLS_CERT_EXPIRING", Severity: probe.SeverityWarning, Runs: 1},
		{ID: "HTTP_NO_H2", Severity: probe.SeverityInfo, Runs: 1},
	}
	if !reflect.DeepEqual(s.Findings, wantF) {
		t.Errorf("findings\n got %+v\nwant %+v", s.Findings, wantF)
	}

	var b bytes.Buffer
	if err := HumanSummary(&b, s, Style{Width: 80}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"5 runs: 4 ok, 1 failed",
		"  dns         4     1.50     3.50     3.50     3.50",
		"  total       5      132      376      376      376",
		"  critical PROBE_TIMEOUT      ×1 of 5",
		"  warning  TLS_NO_RESUMPTION  ×2 of 5",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in\n%s", want, b.String())
		}
	}
	golden(t, "summary", b.Bytes())

	b.Reset()
	if err := JSONRuns(&b, summaryRuns(), s); err != nil {
		t.Fatal(err)
	}
	golden(t, "summary_runs_json", b.Bytes())
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b.Bytes(), &top); err != nil {
		t.Fatal(err)
	}
	if len(top) != 2 || top["runs"] == nil || top["summary"] == nil {
		keys := make([]string, 0, len(top))
		for k := range top {
			keys = append(keys, k)
		}
		t.Fatalf("JSONRuns keys = %v, want exactly runs and summary", keys)
	}
	var runs []probe.Result
	if err := json.Unmarshal(top["runs"], &runs); err != nil || len(runs) != 5 {
		t.Fatalf("runs: %d, %v", len(runs), err)
	}
	var back Summary
	if err := json.Unmarshal(top["summary"], &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, s) {
		t.Errorf("summary round trip\n got %+v\nwant %+v", back, s)
	}
	var sm map[string]any
	if err := json.Unmarshal(top["summary"], &sm); err != nil {
		t.Fatal(err)
	}
	tot := sm["total"].(map[string]any)
	for _, k := range []string{"name", "count", "p50_ms", "p90_ms", "p99_ms", "max_ms", "min_ms", "mean_ms"} {
		if _, ok := tot[k]; !ok {
			t.Errorf("summary.total lacks %q: %v", k, tot)
		}
	}
	f0 := sm["findings"].([]any)[0].(map[string]any)
	if f0["id"] != "PROBE_TIMEOUT" || f0["severity"] != "critical" || f0["runs"] != 1.0 {
		t.Errorf("summary.findings[0] = %v", f0)
	}
}

func TestSummarizeEmpty(t *testing.T) {
	s := Summarize(nil)
	var b bytes.Buffer
	if err := JSONRuns(&b, nil, s); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"runs": []`, `"phases": []`, `"findings": []`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %s in\n%s", want, b.String())
		}
	}
	b.Reset()
	if err := HumanSummary(&b, s, Style{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "findings: none") {
		t.Errorf("got\n%s", b.String())
	}
}

func TestExitCode(t *testing.T) {
	res := func(ok bool, sevs ...probe.Severity) *probe.Result {
		r := &probe.Result{Success: ok}
		for _, s := range sevs {
			r.Findings = append(r.Findings, probe.Finding{ID: "X", Severity: s})
		}
		return r
	}
	for _, c := range []struct {
		name string
		rs   []*probe.Result
		want int
	}{
		{"none", nil, 0},
		{"ok", []*probe.Result{res(true)}, 0},
		{"info only", []*probe.Result{res(true, probe.SeverityInfo)}, 0},
		{"warning", []*probe.Result{res(true, probe.SeverityInfo, probe.SeverityWarning)}, 1},
		{"critical", []*probe.Result{res(true, probe.SeverityCritical)}, 1},
		{"failed", []*probe.Result{res(false)}, 2},
		{"failed with findings", []*probe.Result{res(false, probe.SeverityCritical)}, 2},
		{"ok then warning", []*probe.Result{res(true), res(true, probe.SeverityWarning)}, 1},
		{"warning then failed", []*probe.Result{res(true, probe.SeverityWarning), res(false)}, 2},
		{"unknown severity", []*probe.Result{res(true, "bogus")}, 0},
		{"nil skipped", []*probe.Result{nil, res(true)}, 0},
	} {
		if got := ExitCode(c.rs...); got != c.want {
			t.Errorf("%s: ExitCode = %d, want %d", c.name, got, c.want)
		}
	}
}

func TestProgress(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b, 4, 30)
	if got := b.String(); got != "\r[                       ] 0/4" {
		t.Errorf("initial draw %q", got)
	}
	p.Step()
	if got := b.String(); !strings.HasSuffix(got, "\r[====>                  ] 1/4") {
		t.Errorf("after one step %q", got)
	}
	p.Step()
	p.Step()
	p.Step()
	p.Step() // past n: stays at n
	if got := b.String(); !strings.HasSuffix(got, "\r[=======================] 4/4") {
		t.Errorf("complete %q", got)
	}
	b.Reset()
	p.Done()
	if got := b.String(); got != "\r"+strings.Repeat(" ", 29)+"\r" {
		t.Errorf("Done wrote %q", got)
	}

	// Concurrent steps (run with -race).
	var sb probetest.SyncBuffer
	p = NewProgress(&sb, 50, 0)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(p.Step)
	}
	wg.Wait()
	p.Done()
	if !strings.Contains(sb.String(), "] 50/50") {
		t.Errorf("concurrent: %q", sb.String())
	}
}
