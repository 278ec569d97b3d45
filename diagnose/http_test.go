package diagnose

import (
	"strings"
	"testing"

	"github.com/pathlens/pathlens/probe"
)

func TestHTTPStatus(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		errCause string // "status" when the probe failed on valid_status
		valid    string
		wantSev  probe.Severity // "" = no finding
		wantSumm string
		wantAdv  string
	}{
		{"200", 200, "", "200-399", "", "", ""},
		{"399", 399, "", "200-399", "", "", ""},
		{"404", 404, "status", "200-399", probe.SeverityWarning, "the server answered 404 Not Found (valid: 200-399)", "path"},
		{"499", 499, "status", "200-399", probe.SeverityWarning, "the server answered 499 (valid: 200-399)", "client error"},
		{"500", 500, "status", "200-399", probe.SeverityCritical, "the server answered 500 Internal Server Error", "error log"},
		{"502", 502, "status", "", probe.SeverityCritical, "the server answered 502 Bad Gateway", "upstream"},
		{"503", 503, "status", "200-399", probe.SeverityCritical, "503 Service Unavailable", "healthy upstream"},
		{"504", 504, "status", "200-399", probe.SeverityCritical, "504 Gateway Timeout", "proxy_read_timeout"},
		{"302 outside valid_status fails the probe", 302, "status", "200-299", probe.SeverityWarning, "302 Found (valid: 200-299)", "valid_status"},
		{"404 without a status error (valid_status unknown)", 404, "", "", probe.SeverityWarning, "answered 404 Not Found", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := healthy()
			r.HTTP.Status = tc.status
			r.HTTP.ValidStatus = tc.valid
			if tc.errCause != "" {
				r.Success = false
				r.Error = &probe.ErrorInfo{Class: probe.ClassHTTP, Phase: "wait", Cause: tc.errCause, Message: "unexpected status"}
			}
			fs := diag(t, r)
			if tc.wantSev == "" {
				wantIDs(t, fs)
				return
			}
			wantIDs(t, fs, IDHTTPStatus)
			f := &fs[0]
			if f.Severity != tc.wantSev {
				t.Errorf("severity: got %s, want %s", f.Severity, tc.wantSev)
			}
			if f.Phase != "wait" {
				t.Errorf("phase: got %q, want wait", f.Phase)
			}
			if !strings.Contains(f.Summary, tc.wantSumm) {
				t.Errorf("summary: got %q, want it to contain %q", f.Summary, tc.wantSumm)
			}
			if !strings.Contains(f.Advice, tc.wantAdv) {
				t.Errorf("advice lacks %q: %s", tc.wantAdv, f.Advice)
			}
			want := map[string]any{"status": tc.status}
			if tc.valid != "" {
				want["valid_status"] = tc.valid
			}
			wantEvidence(t, f, want)
		})
	}
}

func TestHTTPServerSlow(t *testing.T) {
	tests := []struct {
		name          string
		wait, total   float64
		incomplete    bool
		want          bool
		wantShare     float64
		wantSummShare string
	}{
		{"199 of 300 ms: under the 200 ms floor", 199, 300, false, false, 0, ""},
		{"250 of 400 ms", 250, 400, false, true, 0.63, "63 %"},
		{"250 of 600 ms: under half", 250, 600, false, false, 0, ""},
		{"200 of 300 ms: at the floor", 200, 300, false, false, 0, ""},
		{"200.1 of 300 ms", 200.1, 300, false, true, 0.67, "67 %"},
		{"300 of 600 ms: exactly half", 300, 600, false, false, 0, ""},
		{"wait cut off by the budget is PROBE_TIMEOUT's", 9000, 10000, true, false, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := healthy()
			setPhase(r, "wait", tc.wait)
			r.TotalMS = tc.total
			if tc.incomplete {
				r = failed(r, probe.ClassTimeout, "wait", "deadline", "deadline")
			}
			fs := diag(t, r)
			f := find(fs, IDHTTPServerSlow)
			if (f != nil) != tc.want {
				t.Fatalf("HTTP_SERVER_SLOW: got %v, want %v (findings %v)", f != nil, tc.want, ids(fs))
			}
			if f == nil {
				return
			}
			wantIDs(t, fs, IDHTTPServerSlow)
			wantEvidence(t, f, map[string]any{"wait_ms": tc.wait, "total_ms": tc.total, "share": tc.wantShare})
			if !strings.Contains(f.Summary, tc.wantSummShare) || !strings.Contains(f.Summary, fmtMS(tc.wait)) {
				t.Errorf("summary %q lacks %q or %s", f.Summary, tc.wantSummShare, fmtMS(tc.wait))
			}
		})
	}
}

func TestHTTPBody(t *testing.T) {
	t.Run("truncated before Content-Length", func(t *testing.T) {
		r := healthy()
		r.HTTP.Proto = "HTTP/1.1"
		r.HTTP.KeepAlive = true
		r.TLS.ALPN = "h2"
		r.HTTP.Truncated, r.HTTP.BodyBytes, r.HTTP.ContentLength = true, 512, 1024
		r.Success = false
		r.Error = &probe.ErrorInfo{Class: probe.ClassHTTP, Phase: "transfer", Cause: "truncated", Message: "unexpected EOF"}
		fs := diag(t, r)
		wantIDs(t, fs, IDHTTPBodyTruncated) // not also HTTP_PROTOCOL_ERROR
		want := "the body ended after 512 of the 1024 bytes announced by Content-Length"
		if fs[0].Summary != want {
			t.Errorf("summary:\ngot  %s\nwant %s", fs[0].Summary, want)
		}
		wantEvidence(t, &fs[0], map[string]any{"body_bytes": 512, "content_length": 1024, "missing_bytes": 512})
	})
	t.Run("closed mid chunked body", func(t *testing.T) {
		r := healthy()
		r.HTTP.Truncated, r.HTTP.BodyBytes, r.HTTP.ContentLength = true, 4096, -1
		fs := diag(t, r)
		wantIDs(t, fs, IDHTTPBodyTruncated)
		if !strings.Contains(fs[0].Summary, "closed mid-body after 4096 bytes") {
			t.Errorf("summary: got %q", fs[0].Summary)
		}
		wantEvidence(t, &fs[0], map[string]any{"body_bytes": 4096, "content_length": -1})
	})
	t.Run("too large: endless body", func(t *testing.T) {
		r := healthy()
		r.HTTP.BodyLimited, r.HTTP.MaxBody, r.HTTP.BodyBytes, r.HTTP.ContentLength = true, 10<<20, 10<<20, -1
		fs := diag(t, r)
		wantIDs(t, fs, IDHTTPBodyTooLarge)
		want := "the body exceeded the 10485760-byte limit (--max-body); reading stopped after 10485760 bytes"
		if fs[0].Summary != want {
			t.Errorf("summary:\ngot  %s\nwant %s", fs[0].Summary, want)
		}
		wantEvidence(t, &fs[0], map[string]any{"max_body": 10 << 20, "body_bytes": 10 << 20})
	})
	t.Run("too large: gzip bomb, probe failed on it", func(t *testing.T) {
		r := healthy()
		r.HTTP.BodyLimited, r.HTTP.MaxBody, r.HTTP.BodyBytes, r.HTTP.ContentLength = true, 1<<20, 1<<20, 4000
		r.HTTP.ContentEncoding = "gzip"
		r.Success = false
		r.Error = &probe.ErrorInfo{Class: probe.ClassHTTP, Phase: "transfer", Cause: "body_limit", Message: "body exceeds 1048576 bytes"}
		fs := diag(t, r)
		wantIDs(t, fs, IDHTTPBodyTooLarge)
		if !strings.Contains(fs[0].Summary, "gzip-decoded") {
			t.Errorf("summary: got %q", fs[0].Summary)
		}
		wantEvidence(t, &fs[0], map[string]any{"content_encoding": "gzip", "max_body": 1 << 20})
	})
}

func TestHTTPNoKeepAlive(t *testing.T) {
	tests := []struct {
		name      string
		proto     string
		status    int
		keepAlive bool
		want      bool
	}{
		{"HTTP/1.1 closes", "HTTP/1.1", 200, false, true},
		{"HTTP/1.0 closes", "HTTP/1.0", 200, false, true},
		{"HTTP/1.1 keeps alive", "HTTP/1.1", 200, true, false},
		{"HTTP/2 has no keep-alive flag", "HTTP/2.0", 200, false, false},
		{"no response", "", 0, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := healthy()
			r.HTTP.Proto, r.HTTP.Status, r.HTTP.KeepAlive = tc.proto, tc.status, tc.keepAlive
			fs := diag(t, r)
			if tc.want {
				wantIDs(t, fs, IDHTTPNoKeepAlive)
				if fs[0].Severity != probe.SeverityInfo || fs[0].Phase != "transfer" {
					t.Errorf("got %s/%s, want info/transfer", fs[0].Severity, fs[0].Phase)
				}
				wantEvidence(t, &fs[0], map[string]any{"proto": tc.proto})
			} else if find(fs, IDHTTPNoKeepAlive) != nil {
				t.Errorf("HTTP_NO_KEEPALIVE fired: %v", ids(fs))
			}
		})
	}
}

func TestHTTPNoH2(t *testing.T) {
	tests := []struct {
		name    string
		kind    string
		version string
		offered []string
		alpn    string
		want    bool
		summ    string
	}{
		{"http/1.1 chosen over h2", "https", "TLS 1.3", []string{"h2", "http/1.1"}, "http/1.1", true, `the server chose "http/1.1" although h2 was offered`},
		{"no ALPN at all", "https", "TLS 1.2", []string{"h2", "http/1.1"}, "", true, "the server chose no ALPN protocol"},
		{"h2 negotiated", "https", "TLS 1.3", []string{"h2", "http/1.1"}, "h2", false, ""},
		{"--http1.1: h2 not offered", "https", "TLS 1.3", []string{"http/1.1"}, "http/1.1", false, ""},
		{"tls:// probe", "tls", "TLS 1.3", []string{"h2"}, "", false, ""},
		{"handshake failed", "https", "", []string{"h2", "http/1.1"}, "", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := healthy()
			r.Kind = tc.kind
			r.TLS.Version, r.TLS.OfferedALPN, r.TLS.ALPN = tc.version, tc.offered, tc.alpn
			r.HTTP.Proto = "HTTP/1.1"
			fs := diag(t, r)
			f := find(fs, IDHTTPNoH2)
			if (f != nil) != tc.want {
				t.Fatalf("HTTP_NO_H2: got %v, want %v (findings %v)", f != nil, tc.want, ids(fs))
			}
			if f == nil {
				return
			}
			wantIDs(t, fs, IDHTTPNoH2)
			if !strings.Contains(f.Summary, tc.summ) {
				t.Errorf("summary: got %q, want %q", f.Summary, tc.summ)
			}
			wantEvidence(t, f, map[string]any{"offered_alpn": tc.offered})
		})
	}
}

func TestHTTPProtocolError(t *testing.T) {
	tests := []struct {
		name      string
		class     probe.ErrorClass
		phase     string
		cause     string
		truncated bool
		want      []string
		wantSumm  string
	}{
		{"endless headers", probe.ClassHTTP, "wait", "headers_too_large", false,
			[]string{IDHTTPProtocolError}, "the response header block exceeded the limit"},
		{"giant status line", probe.ClassProtocol, "wait", "malformed", false,
			[]string{IDHTTPProtocolError}, "malformed HTTP response"},
		{"read cap", probe.ClassProtocol, "transfer", "read_cap", false,
			[]string{IDHTTPProtocolError}, "read cap reached"},
		{"other, in request", probe.ClassHTTP, "request", "", false,
			[]string{IDHTTPProtocolError}, "failed during sending the request"},
		{"prober panic", probe.ClassProtocol, "wait", "panic", false,
			[]string{IDHTTPProtocolError}, "internal error"},
		{"bad status is HTTP_STATUS", probe.ClassHTTP, "wait", "status", false,
			[]string{IDHTTPStatus}, ""},
		{"truncated body is HTTP_BODY_TRUNCATED", probe.ClassHTTP, "transfer", "", true,
			[]string{IDHTTPBodyTruncated}, ""},
		{"protocol error in tls is the handshake's", probe.ClassProtocol, "tls", "", false,
			[]string{IDTLSHandshakeFailed}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := healthy()
			r.Success = false
			r.Error = &probe.ErrorInfo{Class: tc.class, Phase: tc.phase, Cause: tc.cause, Message: "net/http: something broke"}
			r.HTTP.Truncated = tc.truncated
			if tc.cause == "status" {
				r.HTTP.Status = 500
			} else if tc.phase == "wait" || tc.phase == "request" {
				r.HTTP.Status = 0
			}
			if tc.phase == "tls" {
				r.HTTP = nil
			}
			fs := diag(t, r)
			wantIDs(t, fs, tc.want...)
			f := find(fs, IDHTTPProtocolError)
			if f == nil {
				return
			}
			if f.Phase != tc.phase {
				t.Errorf("phase: got %q, want %q", f.Phase, tc.phase)
			}
			if !strings.Contains(f.Summary, tc.wantSumm) {
				t.Errorf("summary: got %q, want it to contain %q", f.Summary, tc.wantSumm)
			}
			want := map[string]any{"message": "net/http: something broke"}
			if tc.cause != "" {
				want["cause"] = tc.cause
			}
			wantEvidence(t, f, want)
		})
	}
}

func TestHTTPStatusDeclaredValid(t *testing.T) {
	for _, c := range []struct {
		status int
		valid  string
		want   bool
	}{
		{404, "404", false},
		{404, "200-399", true},
		{500, "200-299,500", false},
		{503, "200-299,500", true},
		{404, "", true},
	} {
		r := &probe.Result{HTTP: &probe.HTTPInfo{Status: c.status, ValidStatus: c.valid}}
		got := httpStatus(r) != nil
		if got != c.want {
			t.Errorf("status %d valid %q: finding=%v, want %v", c.status, c.valid, got, c.want)
		}
	}
}
