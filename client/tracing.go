package client

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/pathlens/pathlens/probe"
)

// traceContext writes the W3C traceparent (and tracestate) header.
var traceContext = propagation.TraceContext{}

// startSpan opens the client span of one attempt (OpenTelemetry HTTP
// semantic conventions: one span per attempt, named after the method).
func (t *Transport) startSpan(ctx context.Context, req *http.Request, start time.Time, n int) (context.Context, trace.Span) {
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", req.Method),
		attribute.String("url.full", req.URL.Redacted()),
		attribute.String("server.address", req.URL.Hostname()),
	}
	if p := req.URL.Port(); p != "" {
		if pn, err := strconv.Atoi(p); err == nil {
			attrs = append(attrs, attribute.Int("server.port", pn))
		}
	}
	if n > 1 {
		attrs = append(attrs, attribute.Int("http.request.resend_count", n-1))
	}
	name := req.Method
	if name == "" {
		name = http.MethodGet
	}
	return t.tracer.Start(ctx, name,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithTimestamp(start),
		trace.WithAttributes(attrs...))
}

// inject writes traceparent for this attempt's span into h.
func (x *exchange) inject(h http.Header) {
	traceContext.Inject(x.ctx, propagation.HeaderCarrier(h))
}

// endSpan adds a child span per phase, at the recorded times, and ends
// the attempt's span with its outcome.
func (t *Transport) endSpan(x *exchange, r *probe.Result, end time.Time) {
	span := x.span
	if !span.IsRecording() {
		span.End(trace.WithTimestamp(end))
		return
	}
	start := x.rec.Start()
	for _, p := range r.Phases {
		b := start.Add(time.Duration(p.StartMS * float64(time.Millisecond)))
		e := b.Add(time.Duration(p.DurationMS * float64(time.Millisecond)))
		if e.After(end) { // µs rounding in the Result
			e = end
		}
		if b.After(e) {
			b = e
		}
		_, ps := t.tracer.Start(x.ctx, p.Name, trace.WithSpanKind(trace.SpanKindInternal), trace.WithTimestamp(b))
		if p.Incomplete {
			ps.SetAttributes(attribute.Bool("pathlens.incomplete", true))
			ps.SetStatus(codes.Error, "phase did not complete")
		}
		ps.End(trace.WithTimestamp(e))
	}
	if h := r.HTTP; h != nil {
		span.SetAttributes(
			attribute.Int("http.response.status_code", h.Status),
			attribute.String("network.protocol.version", protoVersion(h.Proto)),
			attribute.Int64("http.response.body.size", h.BodyBytes),
		)
	}
	if c := r.Conn; c != nil {
		span.SetAttributes(attribute.Bool("pathlens.conn.reused", c.Reused))
		if c.RemoteAddr != "" {
			if host, _, err := net.SplitHostPort(c.RemoteAddr); err == nil {
				span.SetAttributes(attribute.String("network.peer.address", host))
			}
		}
	}
	if e := r.Error; e != nil {
		typ := string(e.Class)
		if e.Cause == probe.CauseStatus && r.HTTP != nil {
			typ = strconv.Itoa(r.HTTP.Status)
		} else if e.Cause != "" {
			typ += "/" + e.Cause
		}
		span.SetAttributes(attribute.String("error.type", typ))
		span.SetStatus(codes.Error, e.Summary())
	}
	for _, f := range r.Findings {
		span.AddEvent(f.ID, trace.WithAttributes(attribute.String("summary", f.Summary)), trace.WithTimestamp(end))
	}
	span.End(trace.WithTimestamp(end))
}

func protoVersion(proto string) string {
	switch proto {
	case "HTTP/1.0":
		return "1.0"
	case "HTTP/1.1":
		return "1.1"
	case "HTTP/2.0":
		return "2"
	}
	return proto
}
