package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"3", 3 * time.Second, true},
		{" 120 ", 120 * time.Second, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"99999999999", 365 * 24 * time.Hour, true},
		{"Sat, 21 Nov 2026 10:00:30 GMT", 30 * time.Second, true}, // IMF-fixdate
		{"Saturday, 21-Nov-26 10:01:00 GMT", time.Minute, true},   // RFC 850
		{"Sat Nov 21 10:00:05 2026", 5 * time.Second, true},       // asctime
		{"Sat, 21 Nov 2026 09:00:00 GMT", 0, true},                // in the past: now
		{"soon", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := parseRetryAfter(tc.in, now)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestBackoff: full jitter, uniform in [0, min(MaxDelay, BaseDelay·2^(n-1))).
func TestBackoff(t *testing.T) {
	cases := []struct {
		n    int
		rand float64
		want time.Duration
	}{
		{1, 0, 0},
		{1, 0.5, 50 * time.Millisecond},
		{1, 0.999, 99900 * time.Microsecond},
		{2, 0.5, 100 * time.Millisecond},
		{3, 0.5, 200 * time.Millisecond},
		{5, 0.5, 800 * time.Millisecond},
		{6, 0.5, time.Second},  // capped at MaxDelay 2 s
		{60, 0.5, time.Second}, // no overflow
		{200, 0.25, 500 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("n=%d,rand=%v", tc.n, tc.rand), func(t *testing.T) {
			r := Retry{BaseDelay: 100 * time.Millisecond, MaxDelay: 2 * time.Second, Rand: func() float64 { return tc.rand }}
			r.fill()
			if got := backoff(&r, tc.n); got != tc.want {
				t.Fatalf("backoff = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRetryFill(t *testing.T) {
	var r Retry
	r.fill()
	if r.MaxAttempts != DefaultRetryAttempts || r.BaseDelay != DefaultRetryBaseDelay || r.MaxDelay != DefaultRetryMaxDelay ||
		r.MaxRetryAfter != DefaultRetryMaxRetryAfter || len(r.Statuses) != 4 || r.Now == nil || r.Sleep == nil || r.Rand == nil || r.AllowNonIdempotent {
		t.Fatalf("defaults: %+v", r)
	}
	r = Retry{BaseDelay: time.Second, MaxDelay: time.Millisecond}
	r.fill()
	if r.MaxDelay != time.Second {
		t.Fatalf("MaxDelay below BaseDelay not raised: %v", r.MaxDelay)
	}
}

func TestIsIdempotent(t *testing.T) {
	cases := []struct {
		method string
		header string
		want   bool
	}{
		{"GET", "", true}, {"", "", true}, {"HEAD", "", true}, {"OPTIONS", "", true}, {"TRACE", "", true},
		{"PUT", "", true}, {"DELETE", "", true},
		{"POST", "", false}, {"PATCH", "", false}, {"CONNECT", "", false},
		{"POST", "Idempotency-Key", true}, {"PATCH", "X-Idempotency-Key", true},
	}
	for _, tc := range cases {
		t.Run(tc.method+"/"+tc.header, func(t *testing.T) {
			req := &http.Request{Method: tc.method, Header: http.Header{}}
			if tc.header != "" {
				req.Header[tc.header] = []string{"k1"}
			}
			if got := isIdempotent(req); got != tc.want {
				t.Fatalf("isIdempotent = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRetryableError(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{"reset", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, true},
		{"EOF", io.EOF, true},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), false},
		{"deadline", context.DeadlineExceeded, false},
		{"cert verification", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, false},
		{"hostname", x509.HostnameError{}, false},
		{"not TLS", tls.RecordHeaderError{Msg: "x"}, false},
		{"nxdomain", &net.DNSError{Err: "no such host", IsNotFound: true}, false},
		{"dns timeout", &net.DNSError{Err: "timeout", IsTimeout: true}, true},
		{"bad scheme", errors.New(`unsupported protocol scheme "ftp"`), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := retryableError(tc.err); got != tc.want {
				t.Fatalf("retryableError(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestSleepCtx: the default sleep returns at once when the context ends.
func TestSleepCtx(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	start := time.Now()
	if err := sleepCtx(ctx, time.Hour); !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Fatalf("sleepCtx = %v after %v", err, time.Since(start))
	}
	if err := sleepCtx(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
}
