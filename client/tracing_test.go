package client_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/pathlens/pathlens/client"
)

func attr(s sdktrace.ReadOnlySpan, key string) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// TestTracing: a client span per attempt, a child span per phase at the
// recorded times, and the traceparent the server receives names the span.
func TestTracing(t *testing.T) {
	var mu sync.Mutex
	var seen []trace.SpanContext
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), propagation.HeaderCarrier(r.Header)))
		mu.Lock()
		seen = append(seen, sc)
		hits++
		n := hits
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(503)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()

	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	defer tp.Shutdown(context.Background())
	clock := newFakeClock()
	c := client.New(client.WithTracing(tp), client.WithRetry(client.Retry{Now: clock.Now, Sleep: clock.Sleep}))
	defer c.CloseIdleConnections()

	// The caller's own span is the parent of the attempts.
	ctx, parent := tp.Tracer("test").Start(context.Background(), "caller")
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/x", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	parent.End()
	if req.Header.Get("traceparent") != "" {
		t.Error("the caller's request was modified")
	}

	ended := sr.Ended()
	var attempts []sdktrace.ReadOnlySpan
	children := map[trace.SpanID][]string{}
	for _, s := range ended {
		if s.SpanKind() == trace.SpanKindClient {
			attempts = append(attempts, s)
		}
	}
	for _, s := range ended {
		if s.SpanKind() == trace.SpanKindInternal && s.Name() != "caller" {
			children[s.Parent().SpanID()] = append(children[s.Parent().SpanID()], s.Name())
		}
	}
	if len(attempts) != 2 || len(seen) != 2 {
		t.Fatalf("%d attempt spans, %d requests", len(attempts), len(seen))
	}
	for i, s := range attempts {
		if s.Name() != "GET" || s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("attempt %d: name %q parent %v", i, s.Name(), s.Parent().SpanID())
		}
		// The server saw this attempt's span as its parent.
		if !seen[i].IsValid() || seen[i].TraceID() != s.SpanContext().TraceID() || seen[i].SpanID() != s.SpanContext().SpanID() {
			t.Errorf("attempt %d: traceparent %v, span %v", i, seen[i], s.SpanContext())
		}
		want := []string{"request", "wait", "transfer"}
		if i == 0 {
			want = []string{"connect", "request", "wait", "transfer"}
		}
		if got := children[s.SpanContext().SpanID()]; !slices.Equal(got, want) {
			t.Errorf("attempt %d phase spans %v, want %v", i, got, want)
		}
		for _, ch := range ended {
			if ch.Parent().SpanID() == s.SpanContext().SpanID() && (ch.StartTime().Before(s.StartTime()) || ch.EndTime().After(s.EndTime())) {
				t.Errorf("phase span %s outside its attempt", ch.Name())
			}
		}
	}
	if v, _ := attr(attempts[0], "http.response.status_code"); v.AsInt64() != 503 || attempts[0].Status().Code != codes.Error {
		t.Errorf("first attempt status %v %v", v, attempts[0].Status())
	}
	if v, ok := attr(attempts[1], "http.request.resend_count"); !ok || v.AsInt64() != 1 || attempts[1].Status().Code == codes.Error {
		t.Errorf("second attempt resend_count %v status %v", v, attempts[1].Status())
	}
	if v, _ := attr(attempts[1], "url.full"); v.AsString() != srv.URL+"/x" {
		t.Errorf("url.full %v", v)
	}
	if evs := attempts[1].Events(); len(evs) != 1 || evs[0].Name != client.IDRetry {
		t.Errorf("events %+v, want the CLIENT_RETRY finding", evs)
	}
}

// TestTracingNotSampled: an unsampled provider still propagates the
// trace (sampled flag off) and records no span.
func TestTracingNotSampled(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Get("traceparent") }))
	defer srv.Close()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr), sdktrace.WithSampler(sdktrace.NeverSample()))
	defer tp.Shutdown(context.Background())
	c := client.New(client.WithTracing(tp))
	defer c.CloseIdleConnections()
	get(t, c, srv.URL)
	if len(got) != 55 || got[53:] != "00" || len(sr.Ended()) != 0 {
		t.Fatalf("traceparent %q, %d spans", got, len(sr.Ended()))
	}
}
