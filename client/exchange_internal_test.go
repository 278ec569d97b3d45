package client

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/pathlens/pathlens/probe"
)

// milestones are the times (ns since the start; 0: not seen) an attempt
// on a reused connection reports, and when its body ended.
type milestones struct{ conn, wrote, first, end int64 }

// testExchange is an exchange as an attempt with milestones m leaves it
// for finish: a 200 response, no dial.
func testExchange(start time.Time, m milestones) *exchange {
	x := newExchangeState()
	x.t = &Transport{}
	x.att = &attempt{}
	x.rec.Init(start, time.Now)
	x.res = probe.Result{Phases: []probe.Phase{}, Findings: []probe.Finding{}}
	x.res.HTTP = &x.att.http
	x.att.http.Status = 200
	enc := func(ns int64) int64 {
		if ns == 0 {
			return 0
		}
		return ns + 1
	}
	x.atConn.Store(enc(m.conn))
	x.atWrote.Store(enc(m.wrote))
	x.atFirst.Store(enc(m.first))
	return x
}

// TestSpansMatchRecorder: the phases, total and metrics of an attempt on
// a reused connection, made from its milestones (spans), are those the
// recorder path makes of the same milestones (requestPhases, the
// recorder, probe.Finish, metrics.observe) — the path every attempt took
// before spans, and still takes when it dialed or failed.
func TestSpansMatchRecorder(t *testing.T) {
	start := time.Now()
	cases := []struct {
		name string
		m    milestones
	}{
		{"in order", milestones{conn: 1_000, wrote: 5_000, first: 20_000, end: 30_000}},
		{"written after the first byte", milestones{conn: 1_000, wrote: 25_000, first: 20_000, end: 30_000}},
		{"write not reported", milestones{conn: 1_000, first: 20_000, end: 30_000}},
		{"written before the connection", milestones{conn: 5_000, wrote: 3_000, first: 20_000, end: 30_000}},
		{"first byte before the connection", milestones{conn: 5_000, first: 3_000, end: 30_000}},
		{"sub-microsecond rounding", milestones{conn: 1_499, wrote: 2_501, first: 3_500, end: 10_499}},
		{"slow", milestones{conn: 12_345, wrote: 67_890, first: 2_500_123_456, end: 2_600_000_001}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			end := start.Add(time.Duration(tc.m.end))

			// The recorder path.
			old := testExchange(start, tc.m)
			old.requestPhases()
			old.rec.EndAt(probe.PhaseTransfer, end)
			want := old.res
			probe.Finish(context.Background(), old.rec, &want, nil, end)

			x := testExchange(start, tc.m)
			var sp spans
			if !sp.measure(x, end) {
				t.Fatal("spans do not take a 200 on a reused connection")
			}
			got := sp.phases(nil)
			if !slices.Equal(got, want.Phases) {
				t.Errorf("phases\n got %+v\nwant %+v", got, want.Phases)
			}
			if total := probe.MS(time.Duration(sp.end)); total != want.TotalMS || !want.Success {
				t.Errorf("total %v, want %v (success %v)", total, want.TotalMS, want.Success)
			}

			fast, slow := prometheus.NewRegistry(), prometheus.NewRegistry()
			newMetrics(fast).observeSpans(&sp, 200)
			newMetrics(slow).observe(&want)
			g, w := metricValues(t, fast), metricValues(t, slow)
			if len(g) != len(w) {
				t.Fatalf("%d series, want %d", len(g), len(w))
			}
			for i := range g {
				if g[i] != w[i] {
					t.Errorf("metric\n got %s\nwant %s", g[i], w[i])
				}
			}
		})
	}
}

// TestSpansDecline: what spans do not describe goes the recorder path.
func TestSpansDecline(t *testing.T) {
	start := time.Now()
	m := milestones{conn: 1_000, wrote: 5_000, first: 20_000, end: 30_000}
	end := start.Add(time.Duration(m.end))
	for name, spoil := range map[string]func(x *exchange){
		"no connection": func(x *exchange) { x.atConn.Store(0) },
		"no first byte": func(x *exchange) { x.atFirst.Store(0) },
		"no response":   func(x *exchange) { x.res.HTTP = nil },
		"status 404":    func(x *exchange) { x.res.HTTP.Status = 404 },
		"dialed":        func(x *exchange) { x.rec.BeginAt(probe.PhaseConnect, start) },
	} {
		x := testExchange(start, m)
		spoil(x)
		var sp spans
		if sp.measure(x, end) {
			t.Errorf("%s: spans took the attempt", name)
		}
	}
}

// metricValues flattens what reg gathered: per series, the counter value
// or the histogram's count, sum and bucket counts.
func metricValues(t *testing.T, reg *prometheus.Registry) []string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			s := mf.GetName()
			for _, l := range m.GetLabel() {
				s += "," + l.GetValue()
			}
			out = append(out, s+" "+seriesValue(m))
		}
	}
	return out
}

func seriesValue(m *dto.Metric) string {
	var v []float64
	switch {
	case m.Histogram != nil:
		v = append(v, float64(m.Histogram.GetSampleCount()), m.Histogram.GetSampleSum())
		for _, b := range m.Histogram.GetBucket() {
			v = append(v, float64(b.GetCumulativeCount()))
		}
	case m.Counter != nil:
		v = append(v, m.Counter.GetValue())
	case m.Gauge != nil:
		v = append(v, m.Gauge.GetValue())
	}
	return fmt.Sprint(v)
}

// TestRecyclable: an exchange goes back to the pool only when no hook of
// another dial or trace can still reach it.
func TestRecyclable(t *testing.T) {
	idle := httptrace.GotConnInfo{Conn: newTrackedConn(fakeConn{}, nil), Reused: true, WasIdle: true}
	h2 := newTrackedConn(fakeConn{}, nil)
	h2.h2.Store(true)
	resp := &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, Header: http.Header{}}
	cases := []struct {
		name string
		run  func(x *exchange, ac *attemptCtx)
		want bool
	}{
		{"idle connection, written, answered", func(x *exchange, _ *attemptCtx) {
			x.gotConn(idle)
			x.wroteRequest(httptrace.WroteRequestInfo{})
			x.roundTripped(resp, nil)
		}, true},
		{"HTTP/2 stream on a busy connection", func(x *exchange, _ *attemptCtx) {
			x.gotConn(httptrace.GotConnInfo{Conn: h2, Reused: true})
			x.wroteRequest(httptrace.WroteRequestInfo{})
			x.roundTripped(resp, nil)
		}, true},
		{"HTTP/1 connection handed over while a dial was queued", func(x *exchange, _ *attemptCtx) {
			x.gotConn(httptrace.GotConnInfo{Conn: idle.Conn, Reused: true})
			x.wroteRequest(httptrace.WroteRequestInfo{})
			x.roundTripped(resp, nil)
		}, false},
		{"fresh connection", func(x *exchange, _ *attemptCtx) {
			x.gotConn(httptrace.GotConnInfo{Conn: newTrackedConn(fakeConn{}, nil)})
			x.wroteRequest(httptrace.WroteRequestInfo{})
			x.roundTripped(resp, nil)
		}, false},
		{"dial claimed", func(x *exchange, ac *attemptCtx) {
			ac.claim()
			x.gotConn(idle)
			x.wroteRequest(httptrace.WroteRequestInfo{})
			x.roundTripped(resp, nil)
		}, false},
		{"pinned by a composed trace", func(x *exchange, ac *attemptCtx) {
			ac.pin()
			x.gotConn(idle)
			x.wroteRequest(httptrace.WroteRequestInfo{})
			x.roundTripped(resp, nil)
		}, false},
		{"write not reported yet", func(x *exchange, _ *attemptCtx) {
			x.gotConn(idle)
			x.roundTripped(resp, nil)
		}, false},
		{"no response", func(x *exchange, _ *attemptCtx) {
			x.gotConn(idle)
			x.wroteRequest(httptrace.WroteRequestInfo{})
		}, false},
	}
	tr := New(WithObserver(func(probe.Result) {})).Transport.(*Transport)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://example.com/", nil)
			x := tr.newExchange(context.Background(), req, 1, nil, 0, time.Time{})
			ac := &x.att.ctx
			tc.run(x, ac)
			x.mu.Lock()
			got := x.recyclable()
			x.mu.Unlock()
			if got != tc.want {
				t.Errorf("recyclable = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestAttemptContext: a pooled attempt's context carries its trace with
// no context of its own, and lets go of the exchange once it is
// recycled; a claim or pin then does nothing.
func TestAttemptContext(t *testing.T) {
	if traceKey == nil {
		t.Fatal("the httptrace context key was not found: every exchange falls back on WithClientTrace")
	}
	tr := New(WithObserver(func(probe.Result) {})).Transport.(*Transport)
	req, _ := http.NewRequest("GET", "http://example.com/", nil)
	x := tr.newExchange(context.Background(), req, 1, nil, 0, time.Time{})
	ac, ok := x.ctx.(*attemptCtx)
	if !ok {
		t.Fatalf("attempt context is %T, want *attemptCtx", x.ctx)
	}
	if got := httptrace.ContextClientTrace(ac); got != &x.trace {
		t.Fatalf("ContextClientTrace = %p, want the exchange's %p", got, &x.trace)
	}
	if got, _ := context.WithoutCancel(ac).Value(exchangeKey{}).(*attemptCtx); got != ac {
		t.Fatal("the dial context does not find the attempt")
	}
	x.gen.Add(1) // as finish does when it recycles x
	if got := httptrace.ContextClientTrace(ac); got != nil {
		t.Error("a recycled exchange's trace is still reachable")
	}
	if ac.claim() != nil {
		t.Error("a recycled exchange was claimed")
	}
	ac.pin()
	if x.keep {
		t.Error("a recycled exchange was pinned")
	}

	// A trace already in the context: the exchange is not pooled.
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{})
	y := tr.newExchange(ctx, req, 1, nil, 0, time.Time{})
	if !y.keep || y.att.ctx.trace {
		t.Error("an exchange composed with a caller's trace is pooled")
	}
}
