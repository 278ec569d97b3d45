package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pathlens/pathlens/client"
	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/probe"
)

// fakeClock is the injected clock: Sleep only moves it forward, and the
// server can charge each request some time too.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []sleepCall
}

type sleepCall struct {
	at time.Time
	d  time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func (f *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	f.sleeps = append(f.sleeps, sleepCall{f.now, d})
	f.now = f.now.Add(d)
	f.mu.Unlock()
	return ctx.Err()
}

func (f *fakeClock) calls() []sleepCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sleepCall(nil), f.sleeps...)
}

// script answers with the statuses in order (the last one repeats),
// setting Retry-After when given, and counts requests and bodies.
type script struct {
	mu         sync.Mutex
	statuses   []int
	retryAfter func() string
	hits       int
	bodies     []string
	clock      *fakeClock
	cost       time.Duration // fake time each request takes
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	i := min(s.hits, len(s.statuses)-1)
	s.hits++
	s.bodies = append(s.bodies, string(b))
	code := s.statuses[i]
	s.mu.Unlock()
	if s.clock != nil {
		s.clock.advance(s.cost)
	}
	if s.retryAfter != nil && code != 200 {
		w.Header().Set("Retry-After", s.retryAfter())
	}
	w.WriteHeader(code)
	io.WriteString(w, "body")
}

func (s *script) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}

// TestRetryNeverPastDeadline: with an injected clock, no sleep ever ends
// at or after the context's deadline, whatever the backoff, Retry-After
// and server time; the caller gets the last answer instead.
func TestRetryNeverPastDeadline(t *testing.T) {
	cases := []struct {
		name       string
		budget     time.Duration
		cost       time.Duration
		retry      client.Retry
		retryAfter func(now time.Time) string
		wantSleeps int // -1: do not check
	}{
		{"exponential backoff fills the budget", time.Second, 50 * time.Millisecond,
			client.Retry{MaxAttempts: 50, BaseDelay: 100 * time.Millisecond, MaxDelay: 10 * time.Second}, nil, -1},
		{"slow server eats the budget", time.Second, 400 * time.Millisecond,
			client.Retry{MaxAttempts: 50, BaseDelay: 10 * time.Millisecond}, nil, -1},
		{"Retry-After seconds longer than the budget: no retry", time.Second, 0,
			client.Retry{MaxAttempts: 5}, func(time.Time) string { return "2" }, 0},
		{"Retry-After date longer than the budget: no retry", 2 * time.Second, 0,
			client.Retry{MaxAttempts: 5}, func(now time.Time) string { return now.Add(10 * time.Second).UTC().Format(http.TimeFormat) }, 0},
		{"Retry-After fits once", 2500 * time.Millisecond, 0,
			client.Retry{MaxAttempts: 5}, func(time.Time) string { return "1" }, 2},
		{"capped Retry-After still respects the deadline", 1500 * time.Millisecond, 0,
			client.Retry{MaxAttempts: 5, MaxRetryAfter: time.Second}, func(time.Time) string { return "60" }, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			s := &script{statuses: []int{503}, clock: clock, cost: tc.cost}
			if tc.retryAfter != nil {
				s.retryAfter = func() string { return tc.retryAfter(clock.Now()) }
			}
			srv := httptest.NewServer(s)
			defer srv.Close()
			r := tc.retry
			r.Now, r.Sleep, r.Rand = clock.Now, clock.Sleep, func() float64 { return 0.999 }
			var col collector
			c := client.New(client.WithRetry(r), client.WithObserver(col.observe))
			defer c.CloseIdleConnections()

			// The context's deadline is on the fake clock's timeline (which
			// starts at the real now and never runs ahead of it by more than
			// the budget, so the real context does not expire first).
			deadline := clock.Now().Add(tc.budget)
			ctx, cancel := context.WithDeadline(context.Background(), deadline.Add(10*time.Second))
			defer cancel()
			ctx = withFakeDeadline(ctx, deadline)
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 503 {
				t.Fatalf("status %d, want the last 503", resp.StatusCode)
			}
			calls := clock.calls()
			for _, sc := range calls {
				if !sc.at.Add(sc.d).Before(deadline) {
					t.Errorf("slept %v at %v: ends %v after the deadline", sc.d, sc.at.Sub(deadline.Add(-tc.budget)), sc.at.Add(sc.d).Sub(deadline))
				}
			}
			if tc.wantSleeps >= 0 && len(calls) != tc.wantSleeps {
				t.Errorf("%d sleeps, want %d", len(calls), tc.wantSleeps)
			}
			if s.count() != len(calls)+1 {
				t.Errorf("%d requests for %d sleeps", s.count(), len(calls))
			}
			rs := col.all()
			if len(rs) != s.count() {
				t.Fatalf("%d Results for %d attempts", len(rs), s.count())
			}
			last := rs[len(rs)-1]
			f := probetest.Finding(&last, client.IDRetryStopped)
			if f == nil || f.Evidence["why"] != "deadline" {
				t.Errorf("last attempt findings %v, want CLIENT_RETRY_STOPPED why=deadline", last.Findings)
			}
		})
	}
}

// withFakeDeadline makes ctx report deadline (on the fake clock's
// timeline) without expiring at it in real time.
func withFakeDeadline(ctx context.Context, d time.Time) context.Context {
	return fakeDeadlineCtx{ctx, d}
}

type fakeDeadlineCtx struct {
	context.Context
	d time.Time
}

func (f fakeDeadlineCtx) Deadline() (time.Time, bool) { return f.d, true }

// TestRetryAfter: both forms are honoured, a long one is capped, and the
// cap is reported on the next attempt's Result.
func TestRetryAfter(t *testing.T) {
	cases := []struct {
		name      string
		header    func(now time.Time) string
		max       time.Duration
		wantSleep time.Duration
		capped    bool
	}{
		{"seconds", func(time.Time) string { return "3" }, 0, 3 * time.Second, false},
		{"HTTP-date", func(now time.Time) string { return now.Add(5 * time.Second).UTC().Format(http.TimeFormat) }, 0, 5 * time.Second, false},
		{"seconds over the cap", func(time.Time) string { return "120" }, 2 * time.Second, 2 * time.Second, true},
		{"date over the default cap", func(now time.Time) string { return now.Add(time.Hour).UTC().Format(http.TimeFormat) }, 0, client.DefaultRetryMaxRetryAfter, true},
		{"unparseable: backoff", func(time.Time) string { return "later" }, 0, -1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			s := &script{statuses: []int{429, 200}, retryAfter: func() string { return tc.header(clock.Now()) }}
			srv := httptest.NewServer(s)
			defer srv.Close()
			var col collector
			c := client.New(client.WithRetry(client.Retry{MaxRetryAfter: tc.max, Now: clock.Now, Sleep: clock.Sleep, Rand: func() float64 { return 0.5 }}),
				client.WithObserver(col.observe))
			defer c.CloseIdleConnections()
			ctx := withFakeDeadline(context.Background(), clock.Now().Add(time.Hour))
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			calls := clock.calls()
			if resp.StatusCode != 200 || len(calls) != 1 {
				t.Fatalf("status %d after %d sleeps", resp.StatusCode, len(calls))
			}
			got := calls[0].d
			if tc.wantSleep >= 0 && (got > tc.wantSleep || got < tc.wantSleep-time.Second) { // HTTP-date has 1 s resolution
				t.Errorf("slept %v, want %v", got, tc.wantSleep)
			}
			if tc.wantSleep < 0 && got != client.DefaultRetryBaseDelay/2 {
				t.Errorf("slept %v, want the backoff %v", got, client.DefaultRetryBaseDelay/2)
			}
			rs := col.all()
			if len(rs) != 2 {
				t.Fatalf("%d Results", len(rs))
			}
			if f := probetest.Finding(&rs[1], client.IDRetry); f == nil || f.Evidence["attempt"] != 2 || f.Evidence["reason"] != "status 429" {
				t.Errorf("retry finding %+v", f)
			}
			if got := probetest.Finding(&rs[1], client.IDRetryAfterCapped) != nil; got != tc.capped {
				t.Errorf("capped finding %v, want %v (%v)", got, tc.capped, probetest.FindingIDs(&rs[1]))
			}
			if len(rs[0].Findings) != 0 {
				t.Errorf("first attempt findings %v", probetest.FindingIDs(&rs[0]))
			}
		})
	}
}

// TestRetryMethods: non-idempotent requests are never retried unless the
// caller allows it (or sends an Idempotency-Key), and then only with a
// replayable body — which is sent whole every time.
func TestRetryMethods(t *testing.T) {
	const payload = "payload"
	cases := []struct {
		name     string
		method   string
		allow    bool
		key      bool
		noGet    bool // body without GetBody
		attempts int
		why      string
	}{
		{"GET", "GET", false, false, false, 3, "max_attempts"},
		{"HEAD", "HEAD", false, false, false, 3, "max_attempts"},
		{"PUT", "PUT", false, false, false, 3, "max_attempts"},
		{"DELETE", "DELETE", false, false, false, 3, "max_attempts"},
		{"OPTIONS", "OPTIONS", false, false, false, 3, "max_attempts"},
		{"POST", "POST", false, false, false, 1, "not_idempotent"},
		{"PATCH", "PATCH", false, false, false, 1, "not_idempotent"},
		{"POST with Idempotency-Key", "POST", false, true, false, 3, "max_attempts"},
		{"POST allowed", "POST", true, false, false, 3, "max_attempts"},
		{"PATCH allowed", "PATCH", true, false, false, 3, "max_attempts"},
		{"POST allowed, body not replayable", "POST", true, false, true, 1, "body_not_replayable"},
		{"PUT, body not replayable", "PUT", false, false, true, 1, "body_not_replayable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &script{statuses: []int{503}}
			srv := httptest.NewServer(s)
			defer srv.Close()
			clock := newFakeClock()
			reg := newRegistry()
			var col collector
			c := client.New(client.WithRetry(client.Retry{AllowNonIdempotent: tc.allow, Now: clock.Now, Sleep: clock.Sleep}),
				client.WithObserver(col.observe), client.WithMetrics(reg))
			defer c.CloseIdleConnections()
			var body io.Reader
			if tc.method != "GET" && tc.method != "HEAD" && tc.method != "OPTIONS" && tc.method != "DELETE" {
				body = strings.NewReader(payload)
				if tc.noGet {
					body = io.NopCloser(bytes.NewBufferString(payload)) // http.NewRequest cannot replay this
				}
			}
			req, _ := http.NewRequest(tc.method, srv.URL, body)
			if tc.key {
				req.Header.Set("Idempotency-Key", "k-1")
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if s.count() != tc.attempts || resp.StatusCode != 503 {
				t.Fatalf("%d attempts (status %d), want %d", s.count(), resp.StatusCode, tc.attempts)
			}
			if body != nil {
				for i, b := range s.bodies {
					if b != payload {
						t.Errorf("attempt %d sent body %q", i+1, b)
					}
				}
			}
			last := col.last(t)
			if f := probetest.Finding(&last, client.IDRetryStopped); f == nil || f.Evidence["why"] != tc.why {
				t.Errorf("findings %+v, want CLIENT_RETRY_STOPPED why=%s", last.Findings, tc.why)
			}
			if got := counterValue(t, reg, client.MetricRetries, "reason", "status"); got != float64(tc.attempts-1) {
				t.Errorf("retries metric %v, want %d", got, tc.attempts-1)
			}
			if got := counterValue(t, reg, client.MetricRetriesStopped, "why", tc.why); got != 1 {
				t.Errorf("stopped metric %v", got)
			}
			if got := counterValue(t, reg, client.MetricRequests, "outcome", "5xx"); got != float64(tc.attempts) {
				t.Errorf("requests{5xx} %v, want %d", got, tc.attempts)
			}
		})
	}
}

// TestRetryTransportError: a connection dropped before any response is
// retried for GET; a certificate problem is not.
func TestRetryTransportError(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.Close()
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	clock := newFakeClock()
	var col collector
	c := client.New(client.WithRetry(client.Retry{Now: clock.Now, Sleep: clock.Sleep}), client.WithObserver(col.observe))
	defer c.CloseIdleConnections()
	if code := get(t, c, srv.URL); code != 200 || hits.Load() != 2 {
		t.Fatalf("status %d after %d hits", code, hits.Load())
	}
	rs := col.all()
	if len(rs) != 2 || rs[0].Success || rs[0].Error == nil || !rs[1].Success {
		t.Fatalf("results %+v", rs)
	}
	if f := probetest.Finding(&rs[1], client.IDRetry); f == nil || !strings.Contains(f.Evidence["reason"].(string), "EOF") {
		t.Errorf("retry finding %+v", f)
	}

	// An untrusted certificate: one handshake, no retry.
	var conns atomic.Int32
	tsrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tsrv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	tsrv.Config.ErrorLog = quietLog()
	tsrv.StartTLS()
	defer tsrv.Close()
	var col2 collector
	c2 := client.New(client.WithRetry(client.Retry{Now: clock.Now, Sleep: clock.Sleep}), client.WithObserver(col2.observe))
	defer c2.CloseIdleConnections()
	if _, err := c2.Get(tsrv.URL); err == nil {
		t.Fatal("untrusted certificate accepted")
	}
	if conns.Load() != 1 || len(col2.all()) != 1 {
		t.Fatalf("%d connections, %d results: a certificate error was retried", conns.Load(), len(col2.all()))
	}
	r := col2.last(t)
	if r.Error == nil || r.Error.Class != probe.ClassTLS || r.Error.Phase != probe.PhaseTLS || r.Error.Cause != "verify_unknown_authority" {
		t.Errorf("error %+v", r.Error)
	}
}

// TestRetryCanceledWhileWaiting: the real sleep ends with the context.
func TestRetryCanceledWhileWaiting(t *testing.T) {
	s := &script{statuses: []int{503}, retryAfter: func() string { return "5" }}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := client.New(client.WithRetry(client.Retry{}))
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	start := time.Now()
	_, err := c.Do(req)
	if !errors.Is(err, context.Canceled) || time.Since(start) > 3*time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
	if s.count() != 1 {
		t.Fatalf("%d attempts", s.count())
	}
}

// TestRetryOffByDefault: without WithRetry a 503 is returned as is.
func TestRetryOffByDefault(t *testing.T) {
	s := &script{statuses: []int{503}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := client.New()
	defer c.CloseIdleConnections()
	if code := get(t, c, srv.URL); code != 503 || s.count() != 1 {
		t.Fatalf("status %d after %d attempts", code, s.count())
	}
}
