package diagnose

import (
	"strings"
	"testing"

	"github.com/pathlens/pathlens/probe"
)

// grpcCall is a grpc:// streaming call to /pkg.Svc/Stream that ended with
// status OK after n messages, as the prober fills it.
func grpcCall(n int) *probe.Result {
	r := &probe.Result{
		Schema: probe.Schema, Target: "grpc://127.0.0.1:50051", Kind: "grpc", StartedAt: t0,
		Success: true, TotalMS: 12.5, TimeoutMS: 10000,
		Phases: []probe.Phase{
			{Name: probe.PhaseConnect, StartMS: 0, DurationMS: 0.2},
			{Name: probe.PhaseRequest, StartMS: 0.2, DurationMS: 0.5},
			{Name: probe.PhaseWait, StartMS: 0.7, DurationMS: 1.3},
			{Name: probe.PhaseStream, StartMS: 2, DurationMS: 10.5},
		},
		Conn: &probe.ConnInfo{RemoteAddr: "127.0.0.1:50051", LocalAddr: "127.0.0.1:40000", IPVersion: 4},
		GRPC: &probe.GRPCInfo{StatusName: "OK", StatusOrigin: probe.GRPCStatusServer, Messages: n,
			Bytes: int64(n) * 100, GapsMS: []float64{}, Method: "/pkg.Svc/Stream", Authority: "127.0.0.1:50051",
			HeadersReceived: true, TrailersReceived: true, ContentType: "application/grpc", MaxRecvBytes: probe.DefaultGRPCMaxRecv},
		Findings: []Finding{},
	}
	if n > 0 {
		r.GRPC.FirstMessageMS, r.GRPC.LastMessageMS = 2.1, 12.4
	}
	return r
}

// grpcFailed marks r failed the way the prober fails it.
func grpcFailed(r *probe.Result, phase, cause, msg string) *probe.Result {
	r.Success = false
	r.Error = &probe.ErrorInfo{Class: probe.ClassProtocol, Phase: phase, Cause: cause, Message: msg}
	return r
}

// withStatus sets the call's final status.
func withStatus(r *probe.Result, code int, name, origin, msg string) *probe.Result {
	g := r.GRPC
	g.StatusCode, g.StatusName, g.StatusOrigin, g.StatusMessage = code, name, origin, msg
	g.TrailersReceived = origin == probe.GRPCStatusServer
	return r
}

// grpcHealth is a health Check of service that answered health status hs.
func grpcHealth(service, hs string) *probe.Result {
	r := grpcCall(1)
	g := r.GRPC
	g.Method, g.Health, g.Service, g.HealthStatus, g.ExpectMessages = "/grpc.health.v1.Health/Check", true, service, hs, 1
	if hs != "SERVING" {
		grpcFailed(r, probe.PhaseStream, "not_serving", "stream (protocol): health status "+hs)
	}
	return r
}

func TestGRPCHealthy(t *testing.T) {
	for name, r := range map[string]*probe.Result{
		"stream ok":                  grpcCall(100),
		"stream ok, expectation met": func() *probe.Result { r := grpcCall(100); r.GRPC.ExpectMessages = 100; return r }(),
		"more than expected":         func() *probe.Result { r := grpcCall(101); r.GRPC.ExpectMessages = 100; return r }(),
		"unary, no messages":         grpcCall(0),
		"health serving":             grpcHealth("", "SERVING"),
	} {
		t.Run(name, func(t *testing.T) { wantIDs(t, diag(t, r)) })
	}
}

func TestGRPCStatus(t *testing.T) {
	tests := []struct {
		name     string
		r        *probe.Result
		summary  string // substring
		advice   string // substring
		evidence map[string]any
	}{
		{
			name: "server UNAVAILABLE",
			r: grpcFailed(withStatus(grpcCall(0), 14, "UNAVAILABLE", probe.GRPCStatusServer, "draining"),
				probe.PhaseStream, "grpc_status", "UNAVAILABLE: draining"),
			summary:  "/pkg.Svc/Stream ended with status UNAVAILABLE: draining",
			advice:   "overloaded, shutting down",
			evidence: map[string]any{"code": 14, "code_name": "UNAVAILABLE", "message": "draining", "origin": "server", "messages": 0},
		},
		{
			name: "server INTERNAL after some messages, fewer than expected: GRPC_STATUS alone",
			r: func() *probe.Result {
				r := withStatus(grpcCall(10), 13, "INTERNAL", probe.GRPCStatusServer, "boom")
				r.GRPC.ExpectMessages = 100
				return grpcFailed(r, probe.PhaseStream, "grpc_status", "INTERNAL: boom")
			}(),
			summary:  "(after 10 of 100 expected messages)",
			advice:   "handler failed",
			evidence: map[string]any{"expect_messages": 100, "messages": 10},
		},
		{
			name: "unimplemented health",
			r: func() *probe.Result {
				r := grpcHealth("", "SERVING")
				r.GRPC.HealthStatus, r.GRPC.Messages = "", 0
				withStatus(r, 12, "UNIMPLEMENTED", probe.GRPCStatusServer, "unknown service grpc.health.v1.Health")
				return grpcFailed(r, probe.PhaseWait, "grpc_status", "UNIMPLEMENTED: unknown service")
			}(),
			summary:  "ended with status UNIMPLEMENTED",
			advice:   "RegisterHealthServer",
			evidence: map[string]any{"service": ""},
		},
		{
			name: "unknown method",
			r: grpcFailed(withStatus(grpcCall(0), 12, "UNIMPLEMENTED", probe.GRPCStatusServer, "unknown method Stream"),
				probe.PhaseWait, "grpc_status", "UNIMPLEMENTED"),
			advice: "grpcurl",
		},
		{
			name:     "health NOT_SERVING",
			r:        grpcHealth("", "NOT_SERVING"),
			summary:  "the health Check of the whole server (service \"\") answered NOT_SERVING (call status OK)",
			advice:   "SetServingStatus",
			evidence: map[string]any{"health_status": "NOT_SERVING", "code": 0, "service": ""},
		},
		{
			name:     "health NOT_SERVING of a named service",
			r:        grpcHealth("pkg.Svc", "NOT_SERVING"),
			summary:  `service "pkg.Svc" answered NOT_SERVING`,
			evidence: map[string]any{"service": "pkg.Svc"},
		},
		{
			name: "non-gRPC HTTP answer",
			r: grpcFailed(withStatus(grpcCall(0), 12, "UNIMPLEMENTED", probe.GRPCStatusHTTP,
				"unexpected HTTP status code received from server: 404 (Not Found); malformed header: missing HTTP content-type"),
				probe.PhaseWait, "grpc_status", "UNIMPLEMENTED"),
			summary:  "answered with a non-gRPC HTTP response, which a gRPC client sees as UNIMPLEMENTED",
			advice:   "grpc_pass",
			evidence: map[string]any{"origin": "http"},
		},
		{
			name: "transport could not be set up",
			r: grpcFailed(withStatus(grpcCall(0), 14, "UNAVAILABLE", probe.GRPCStatusClient,
				"connection error: desc = \"error reading server preface: EOF\""),
				probe.PhaseRequest, "transport", "UNAVAILABLE"),
			summary:  "failed on the client side with UNAVAILABLE",
			advice:   "grpcs:// for TLS",
			evidence: map[string]any{"origin": "client"},
		},
		{
			name: "message larger than the receive limit",
			r: grpcFailed(withStatus(grpcCall(3), 8, "RESOURCE_EXHAUSTED", probe.GRPCStatusClient,
				"grpc: received message larger than max (5000000 vs. 4194304)"),
				probe.PhaseStream, "grpc_status", "RESOURCE_EXHAUSTED"),
			advice: "4194304-byte limit",
		},
		{
			name: "read cap",
			r: grpcFailed(withStatus(grpcCall(64), 14, "UNAVAILABLE", probe.GRPCStatusClient,
				"error reading from server: "+probe.ErrReadCap.Error()),
				probe.PhaseStream, "read_cap", "UNAVAILABLE"),
			summary: "(after 64 messages)",
			advice:  "raise --max-body only if that much is expected",
		},
		{
			name: "long server message is clipped in the summary",
			r: grpcFailed(withStatus(grpcCall(0), 2, "UNKNOWN", probe.GRPCStatusServer, strings.Repeat("x", 5000)),
				probe.PhaseStream, "grpc_status", "UNKNOWN"),
			summary: strings.Repeat("x", 200) + "…",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := diag(t, tc.r)
			wantIDs(t, fs, IDGRPCStatus)
			f := find(fs, IDGRPCStatus)
			if f == nil {
				return
			}
			if !strings.Contains(f.Summary, tc.summary) {
				t.Errorf("summary %q lacks %q", f.Summary, tc.summary)
			}
			if !strings.Contains(f.Advice, tc.advice) {
				t.Errorf("advice %q lacks %q", f.Advice, tc.advice)
			}
			if f.Severity != probe.SeverityCritical || f.Phase != tc.r.Error.Phase {
				t.Errorf("severity %s phase %s, want critical in %s", f.Severity, f.Phase, tc.r.Error.Phase)
			}
			wantEvidence(t, f, tc.evidence)
		})
	}
}

func TestGRPCStreamTruncated(t *testing.T) {
	noTrailers := func(n int, msg, reset string) *probe.Result {
		r := withStatus(grpcCall(n), 13, "INTERNAL", probe.GRPCStatusClient, msg)
		r.GRPC.NoTrailers, r.GRPC.ResetCode = true, reset
		cause := "no_trailers"
		if reset != "" {
			cause = "rst_stream"
		}
		return grpcFailed(r, probe.PhaseStream, cause, "stream ended without a grpc-status trailer")
	}
	tests := []struct {
		name     string
		r        *probe.Result
		summary  string
		advice   string
		evidence map[string]any
	}{
		{
			name: "reset after 46 of 100",
			r: func() *probe.Result {
				r := noTrailers(46, "stream terminated by RST_STREAM with error code: INTERNAL_ERROR", "INTERNAL_ERROR")
				r.GRPC.ExpectMessages = 100
				return r
			}(),
			summary: "the stream of /pkg.Svc/Stream was reset (RST_STREAM INTERNAL_ERROR) after 46 of 100 expected messages, without a grpc-status trailer",
			advice:  "stream_idle_timeout",
			evidence: map[string]any{"messages": 46, "expect_messages": 100, "reset_code": "INTERNAL_ERROR",
				"no_trailers": true, "client_status": "INTERNAL", "last_message_ms": 12.4},
		},
		{
			name:     "END_STREAM without trailers",
			r:        noTrailers(10, "server closed the stream without sending trailers", ""),
			summary:  "the server ended the stream of /pkg.Svc/Stream after 10 messages without a grpc-status trailer (END_STREAM on data)",
			advice:   "grpc_pass, not proxy_pass",
			evidence: map[string]any{"messages": 10, "no_trailers": true, "trailers_received": false},
		},
		{
			name: "connection lost",
			r: func() *probe.Result {
				r := noTrailers(1, "error reading from server: EOF", "")
				r.GRPC.StatusCode, r.GRPC.StatusName = 14, "UNAVAILABLE"
				return r
			}(),
			summary:  "ended after 1 message without a grpc-status trailer: error reading from server: EOF",
			advice:   "MaxConnectionAgeGrace",
			evidence: map[string]any{"client_status": "UNAVAILABLE"},
		},
		{
			name: "OK with fewer than expected",
			r: func() *probe.Result {
				r := grpcCall(46)
				r.GRPC.ExpectMessages = 100
				return grpcFailed(r, probe.PhaseStream, "too_few_messages", "stream ended with status OK after 46 of 100 expected messages")
			}(),
			summary:  "the stream of /pkg.Svc/Stream ended with status OK after 46 of 100 expected messages",
			advice:   "stopped early",
			evidence: map[string]any{"messages": 46, "expect_messages": 100, "no_trailers": false},
		},
		{
			name: "OK with none of one expected",
			r: func() *probe.Result {
				r := grpcCall(0)
				r.GRPC.ExpectMessages = 1
				return grpcFailed(r, probe.PhaseStream, "too_few_messages", "stream ended with status OK after 0 of 1 expected messages")
			}(),
			summary: "after 0 of 1 expected messages",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := diag(t, tc.r)
			wantIDs(t, fs, IDGRPCStreamTruncated)
			f := find(fs, IDGRPCStreamTruncated)
			if f == nil {
				return
			}
			if !strings.Contains(f.Summary, tc.summary) {
				t.Errorf("summary %q lacks %q", f.Summary, tc.summary)
			}
			if !strings.Contains(f.Advice, tc.advice) {
				t.Errorf("advice %q lacks %q", f.Advice, tc.advice)
			}
			if f.Phase != probe.PhaseStream {
				t.Errorf("phase %s, want stream", f.Phase)
			}
			wantEvidence(t, f, tc.evidence)
		})
	}
}

// The budget running out mid-stream is PROBE_TIMEOUT only: the stream did
// not end, pathlens stopped waiting.
func TestGRPCTimeoutIsNotTruncation(t *testing.T) {
	r := withStatus(grpcCall(5), 4, "DEADLINE_EXCEEDED", probe.GRPCStatusClient, "context deadline exceeded")
	r.GRPC.ExpectMessages = 100
	r.Success = false
	r.Error = &probe.ErrorInfo{Class: probe.ClassTimeout, Phase: probe.PhaseStream, Cause: "deadline", Message: "context deadline exceeded"}
	r.Phases[3].Incomplete = true
	wantIDs(t, diag(t, r), IDProbeTimeout)

	r.Error.Class = probe.ClassCanceled
	wantIDs(t, diag(t, r))
}

// A gRPC failure is never also HTTP_PROTOCOL_ERROR.
func TestGRPCNotHTTPProtocolError(t *testing.T) {
	r := withStatus(grpcCall(10), 13, "INTERNAL", probe.GRPCStatusClient, "server closed the stream without sending trailers")
	r.GRPC.NoTrailers = true
	grpcFailed(r, probe.PhaseStream, "no_trailers", "stream ended")
	wantIDs(t, diag(t, r), IDGRPCStreamTruncated)

	// A gRPC probe that failed for another protocol reason still gets one.
	r = grpcCall(0)
	r.GRPC.StatusOrigin = ""
	grpcFailed(r, probe.PhaseRequest, "read_cap", "read cap reached")
	wantIDs(t, diag(t, r), IDHTTPProtocolError)
}
