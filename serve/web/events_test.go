package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/alert"
	"github.com/pathlens/pathlens/serve/config"
)

// sse is one server-sent event.
type sse struct{ event, data string }

// sseClient reads a GET /api/v1/events stream.
type sseClient struct {
	t    *testing.T
	res  *http.Response
	evs  chan sse
	done chan struct{}
}

func openEvents(t *testing.T, base, query string, hdr ...string) *sseClient {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/api/v1/events"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	c := &sseClient{t: t, res: res, evs: make(chan sse, 1000), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer close(c.evs)
		rd := bufio.NewReader(res.Body)
		var ev sse
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "":
				if ev != (sse{}) {
					c.evs <- ev
				}
				ev = sse{}
			case strings.HasPrefix(line, ":"):
				ev.event = "comment" + line
			case strings.HasPrefix(line, "event: "):
				ev.event = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[len("data: "):]
			case strings.HasPrefix(line, "retry: "):
				ev.event = "retry"
			}
		}
	}()
	t.Cleanup(c.close)
	return c
}

func (c *sseClient) close() {
	c.res.Body.Close()
	<-c.done
}

// next is the next event other than comments, or fails after 10 s.
func (c *sseClient) next() sse {
	c.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-c.evs:
			if !ok {
				c.t.Fatal("the stream ended")
			}
			if strings.HasPrefix(ev.event, "comment") || ev.event == "retry" {
				continue
			}
			return ev
		case <-timeout:
			c.t.Fatal("no event within 10 s")
		}
	}
}

// target is the next event, which must be an "event: target".
func (c *sseClient) target() TargetEvent {
	c.t.Helper()
	ev := c.next()
	if ev.event != "target" {
		c.t.Fatalf("event %q, want target (data %s)", ev.event, ev.data)
	}
	var te TargetEvent
	if err := json.Unmarshal([]byte(ev.data), &te); err != nil {
		c.t.Fatalf("%s: %v", ev.data, err)
	}
	return te
}

// quiet checks that nothing but comments comes for a while.
func (c *sseClient) quiet(d time.Duration) {
	c.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev := <-c.evs:
			if !strings.HasPrefix(ev.event, "comment") && ev.event != "retry" {
				c.t.Errorf("unexpected event %q %s", ev.event, ev.data)
			}
		case <-timeout:
			return
		}
	}
}

func waitStreams(t *testing.T, e *Events, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.Streams() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams open, want %d", e.Streams(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func runResult(at time.Time, ok bool, findings ...probe.Finding) *probe.Result {
	r := &probe.Result{StartedAt: at, Success: ok, TotalMS: 12.5, Findings: findings}
	if !ok {
		r.Error = &probe.ErrorInfo{Class: "connect", Phase: "connect", Message: "connection refused"}
	}
	return r
}

// record is what serve's runTarget does with a run.
func record(e *Events, st *State, alerts *alert.Manager, target string, r *probe.Result) {
	p := e.Before(target)
	st.Record(target, "default", r, 0)
	if alerts != nil {
		alerts.Observe(target, "default", nil, r)
	}
	e.After(p, target, r)
}

var eventsConfig = func() *config.Config {
	cfg, err := config.Parse("c.yaml", []byte("targets: [{name: api, url: \"http://127.0.0.1:9/\"}, {name: web, url: \"http://127.0.0.1:9/web\"}]\n"))
	if err != nil {
		panic(err)
	}
	return cfg
}()

func eventsServer(t *testing.T, e *Events, st *State) *httptest.Server {
	t.Helper()
	return newStatusServer(t, Deps{Config: func() *config.Config { return eventsConfig }, State: st, Events: e})
}

// TestEvents: a stream gets an event for each run, with the state before
// and after; target= and changed=1 keep only some.
func TestEvents(t *testing.T) {
	st := NewState()
	e := NewEvents(st, nil)
	srv := eventsServer(t, e, st)
	all := openEvents(t, srv.URL, "")
	if ct := all.res.Header.Get("Content-Type"); all.res.StatusCode != 200 || ct != "text/event-stream; charset=utf-8" || all.res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %q %q", all.res.StatusCode, ct, all.res.Header.Get("Cache-Control"))
	}
	changes := openEvents(t, srv.URL, "?changed=1")
	web := openEvents(t, srv.URL, "?target=web&target=nobody")
	waitStreams(t, e, 3)

	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	record(e, st, nil, "api", runResult(at, false))
	record(e, st, nil, "api", runResult(at.Add(time.Second), false))
	record(e, st, nil, "api", runResult(at.Add(2*time.Second), true, probe.Finding{ID: "TLS_CERT_EXPIRING", Severity: probe.SeverityWarning}))
	record(e, st, nil, "web", runResult(at.Add(3*time.Second), true))

	want := []TargetEvent{
		{Name: "api", State: "down", From: "pending", Changed: true, Run: "failing", LastRun: EventRun{StartedAt: at, TotalMS: 12.5}},
		{Name: "api", State: "down", From: "down", Run: "failing", LastRun: EventRun{StartedAt: at.Add(time.Second), TotalMS: 12.5}},
		{Name: "api", State: "degraded", From: "down", Changed: true, Run: "warning", LastRun: EventRun{StartedAt: at.Add(2 * time.Second), Success: true, TotalMS: 12.5}},
		{Name: "web", State: "up", From: "pending", Changed: true, Run: "ok", LastRun: EventRun{StartedAt: at.Add(3 * time.Second), Success: true, TotalMS: 12.5}},
	}
	check := func(c *sseClient, want ...TargetEvent) {
		t.Helper()
		for _, w := range want {
			got := c.target()
			if got.At.IsZero() || time.Since(got.At) > time.Minute {
				t.Errorf("event at %v", got.At)
			}
			got.At = time.Time{}
			if got != w {
				t.Errorf("event\n got %+v\nwant %+v", got, w)
			}
		}
	}
	check(all, want...)
	check(changes, want[0], want[2], want[3])
	check(web, want[3])
	for _, c := range []*sseClient{all, changes, web} {
		c.quiet(100 * time.Millisecond)
	}
	// The data is one line of JSON with the documented keys.
	record(e, st, nil, "web", runResult(at.Add(4*time.Second), true))
	raw := web.next().data
	for _, k := range []string{`"name":"web"`, `"state":"up"`, `"from":"up"`, `"changed":false`, `"run":"ok"`, `"last_run":{"started_at":"2026-03-01T12:00:04Z","success":true,"total_ms":12.5}`, `"at":"`} {
		if !strings.Contains(raw, k) {
			t.Errorf("data %s lacks %s", raw, k)
		}
	}
}

// TestEventsAlertState: with an alert manager the state is the state with
// memory: one failed run leaves the target pending, two make it down.
func TestEventsAlertState(t *testing.T) {
	m, err := alert.New(alert.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	st := NewState()
	e := NewEvents(st, m)
	srv := eventsServer(t, e, st)
	c := openEvents(t, srv.URL, "?target=api")
	waitStreams(t, e, 1)
	at := time.Now()
	record(e, st, m, "api", runResult(at, true))
	record(e, st, m, "api", runResult(at.Add(time.Second), false))
	record(e, st, m, "api", runResult(at.Add(2*time.Second), false))
	for i, want := range [][2]string{{"pending", "up"}, {"up", "up"}, {"up", "down"}} {
		if ev := c.target(); ev.From != want[0] || ev.State != want[1] || ev.Changed != (want[0] != want[1]) {
			t.Errorf("event %d: %s → %s (changed %v), want %s → %s", i, ev.From, ev.State, ev.Changed, want[0], want[1])
		}
	}
}

// TestEventsLimits: the streams are capped (503 past the cap), bad
// parameters are refused, heartbeats keep an idle stream alive, and Close
// ends every stream and refuses new ones.
func TestEventsLimits(t *testing.T) {
	st := NewState()
	e := NewEvents(st, nil)
	e.maxStreams, e.heartbeat = 2, 20*time.Millisecond
	srv := eventsServer(t, e, st)
	cl := newClient(t, srv)
	for _, q := range []string{"?x=1", "?changed=maybe", "?target=" + strings.Repeat("&target=a", 1001)} {
		if r := cl.get("/api/v1/events" + q); r.status != 400 || !strings.Contains(r.header.Get("Content-Type"), "json") {
			t.Errorf("%.40s: %d %s", q, r.status, r.body)
		}
	}
	a, b := openEvents(t, srv.URL, ""), openEvents(t, srv.URL, "?target=api")
	waitStreams(t, e, 2)
	r := cl.get("/api/v1/events")
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || !strings.Contains(r.body, "too many event streams") {
		t.Errorf("a third stream: %d %v %s", r.status, r.header, r.body)
	}
	// Heartbeats: comments, about every 20 ms here.
	beats := 0
	for timeout := time.After(5 * time.Second); beats < 3; {
		select {
		case ev := <-a.evs:
			if ev.event == "comment: heartbeat" {
				beats++
			}
		case <-timeout:
			t.Fatalf("%d heartbeats in 5 s", beats)
		}
	}
	// A stream that closes frees its place.
	b.close()
	waitStreams(t, e, 1)
	c := openEvents(t, srv.URL, "")
	waitStreams(t, e, 2)

	e.Close()
	for _, s := range []*sseClient{a, c} {
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			t.Fatal("a stream outlived Close")
		}
	}
	waitStreams(t, e, 0)
	if r := cl.get("/api/v1/events"); r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "shutting down") {
		t.Errorf("after Close: %d %s", r.status, r.body)
	}
	e.Close() // twice is fine
	var nilEvents *Events
	nilEvents.Close()
	nilEvents.After(nilEvents.Before("api"), "api", runResult(time.Now(), true))

	// Without Events (a UI without serve's wiring) there is no stream.
	if r := newClient(t, newStatusServer(t, Deps{Config: func() *config.Config { return eventsConfig }})).get("/api/v1/events"); r.status != 404 {
		t.Errorf("without Events: %d", r.status)
	}
}

// gatedWriter is a ResponseWriter whose writes after the first wait for
// its gate to open: a client that stopped reading.
type gatedWriter struct {
	hdr    http.Header
	gate   chan struct{}
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (w *gatedWriter) Header() http.Header { return w.hdr }
func (w *gatedWriter) WriteHeader(int)     {}
func (w *gatedWriter) Flush()              {}
func (w *gatedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	n := w.writes
	w.writes++
	w.mu.Unlock()
	if n > 0 {
		<-w.gate
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(b)
}

func (w *gatedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestEventsSlowClient: a client that reads nothing never holds up a
// run: its buffer fills, what waits is dropped and, once it reads again,
// it is told to resync instead.
func TestEventsSlowClient(t *testing.T) {
	st := NewState()
	e := NewEvents(st, nil)
	s := New(Deps{Config: func() *config.Config { return eventsConfig }, State: st, Events: e}).(*server)
	w := &gatedWriter{hdr: http.Header{}, gate: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest(http.MethodGet, "/api/v1/events", nil).WithContext(ctx)
	done := make(chan struct{})
	go func() { defer close(done); s.apiEvents(w, req) }()
	waitStreams(t, e, 1)

	at := time.Now()
	t0 := time.Now()
	for i := range 3 * streamBuffer {
		record(e, st, nil, "api", runResult(at.Add(time.Duration(i)*time.Millisecond), i%2 == 0))
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("%d runs took %v with a stuck client", 3*streamBuffer, d)
	}
	close(w.gate)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(w.String(), "event: resync\ndata: {}\n\n") {
		if time.Now().After(deadline) {
			t.Fatalf("no resync:\n%.2000s", w.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Runs after the resync come through again.
	record(e, st, nil, "api", runResult(at.Add(time.Hour), true))
	for !strings.Contains(w.String(), at.Add(time.Hour).UTC().Format(time.RFC3339Nano)) {
		if time.Now().After(deadline) {
			t.Fatalf("no event after the resync:\n%.2000s", w.String()[max(0, len(w.String())-2000):])
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := strings.Count(w.String(), "event: target"); n >= 3*streamBuffer {
		t.Errorf("%d events written: none was dropped", n)
	}
	cancel()
	<-done
	waitStreams(t, e, 0)
}

// TestEventsCost: with nobody listening, a run costs no allocation.
func TestEventsCost(t *testing.T) {
	st := NewState()
	e := NewEvents(st, nil)
	r := runResult(time.Now(), true)
	if n := testing.AllocsPerRun(1000, func() { e.After(e.Before("api"), "api", r) }); n != 0 {
		t.Errorf("%v allocations a run with no stream open", n)
	}
	var nilEvents *Events
	if n := testing.AllocsPerRun(1000, func() { nilEvents.After(nilEvents.Before("api"), "api", r) }); n != 0 {
		t.Errorf("%v allocations a run without Events", n)
	}
}

// BenchmarkEventsRun is the fan-out's cost per run: no stream open, one,
// and the most (64), each drained as a client would.
func BenchmarkEventsRun(b *testing.B) {
	for _, n := range []int{0, 1, DefaultMaxStreams} {
		b.Run(map[int]string{0: "none", 1: "one", DefaultMaxStreams: "max"}[n], func(b *testing.B) {
			st := NewState()
			e := NewEvents(st, nil)
			var wg sync.WaitGroup
			var streams []*stream
			for range n {
				s := &stream{ch: make(chan []byte, streamBuffer), kick: make(chan struct{}, 1), done: make(chan struct{})}
				if err := e.subscribe(s); err != nil {
					b.Fatal(err)
				}
				streams = append(streams, s)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-s.ch:
						case <-s.kick:
						case <-s.done:
							return
						}
					}
				}()
			}
			r := runResult(time.Now(), true)
			b.ReportAllocs()
			for b.Loop() {
				e.After(e.Before("api"), "api", r)
			}
			b.StopTimer()
			for _, s := range streams {
				e.unsubscribe(s)
				close(s.done)
			}
			wg.Wait()
		})
	}
}
