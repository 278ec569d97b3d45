// Package grpcx probes grpc:// and grpcs:// targets. It dials itself
// (probe.Dialer: dns, connect, tls with ALPN h2) and hands the connection
// to grpc-go once, then makes one call: by default a grpc.health.v1 Check,
// or any unary or server-streaming method through a raw-bytes codec. It
// counts the response messages and bytes, times the gap between messages,
// and records the status, where the status came from (the server's
// trailers, a non-gRPC HTTP answer, or grpc-go itself when the stream
// ended without trailers) and the header and trailer keys.
//
// The connection is wrapped in the HTTP/2 frame tap (probe/h2tap) before
// grpc-go gets it, so the call's frames land in Result.H2 as for https.
// grpc-go only ever gets that one connection: a reconnect is refused.
//
// Phases: dns, connect, tls (probe.Dialer), request (HTTP/2 connection
// preface, stream opened, request message sent and half-closed), wait
// (until the first response headers or message), stream (from then to the
// status).
package grpcx

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/probe/h2tap"
)

// HealthMethod is the method the default probe calls.
const HealthMethod = "/grpc.health.v1.Health/Check"

// MinWindow is the smallest initial window grpc-go accepts; it silently
// ignores smaller values, so pathlens refuses them instead.
const MinWindow = probe.MinGRPCWindow

func init() {
	probe.RegisterKind(probe.Kind{Name: "grpc", Schemes: []string{"grpc", "grpcs"}, Sections: []string{"dns", "grpc", "h2", "tls"}, Prober: probe.ProberFunc(Probe), Validate: probe.ValidateGRPC,
		Phases: []string{probe.PhaseDNS, probe.PhaseConnect, probe.PhaseTLS, probe.PhaseRequest, probe.PhaseWait, probe.PhaseStream}})
}

// errOneConn is what the dialer answers when grpc-go tries to reconnect:
// a probe measures one connection.
var errOneConn = errors.New("pathlens: one connection per probe (no reconnect)")

// Probe runs one gRPC call against t.
func Probe(ctx context.Context, t probe.Target, o *probe.Options, rec *probe.Recorder, r *probe.Result) error {
	info := &probe.GRPCInfo{GapsMS: []float64{}, MaxRecvBytes: probe.DefaultGRPCMaxRecv,
		Window: o.H2Window, ConnWindow: o.H2ConnWindow, ExpectMessages: o.ExpectMessages}
	r.GRPC = info
	req, err := request(t, o, info)
	if err != nil {
		return err
	}
	info.Authority = t.URL.Host
	if info.Authority == "" {
		info.Authority = t.HostPort()
	}

	d := &probe.Dialer{Opts: o, Rec: rec, Res: r}
	c, err := d.DialTCP(ctx, t.Host, t.Port)
	if err != nil {
		return err
	}
	var conn net.Conn = c
	var creds credentials.TransportCredentials = insecure.NewCredentials()
	var tlsCfg *tls.Config
	if t.Kind == "grpcs" {
		name := t.Host
		if o.ServerName != "" {
			name = o.ServerName
		}
		tlsCfg = d.TLSConfig(name, []string{"h2"})
		tc, err := d.Handshake(ctx, c, tlsCfg)
		if err != nil {
			c.Close()
			return err
		}
		cs := tc.ConnectionState()
		if cs.NegotiatedProtocol != "" && cs.NegotiatedProtocol != "h2" {
			tc.Close()
			return probe.Errorf(probe.PhaseTLS, probe.ClassProtocol, probe.CauseNoH2,
				"the server selected %q in ALPN, not h2: gRPC needs HTTP/2", cs.NegotiatedProtocol)
		}
		conn = d.AppConn(tc)
		creds = tlsDone{state: cs}
	}
	// The frame tap sits beneath grpc-go's HTTP/2, after TLS.
	tap := h2tap.Wrap(conn, rec.Start(), h2tap.Options{})

	callErr := call(ctx, tap, creds, req, o, rec, info)
	r.H2 = tap.Info()
	rec.MarkDone()
	if callErr != nil && tlsCfg != nil {
		// grpc-go reports a TLS 1.3 server's rejection of the client
		// (an alert as its first record) as a transport failure.
		if pe := d.LateAlert(callErr); pe != nil {
			r.H2 = nil // the server never spoke HTTP/2
			return pe
		}
	}
	if tlsCfg != nil && !o.SkipResumptionCheck && ctx.Err() == nil {
		d.CheckResumption(ctx, c.RemoteAddr().String(), tlsCfg)
	}
	return callErr
}

// request builds the request message (probe.Run has checked the method
// and the windows with probe.ValidateGRPC).
func request(t probe.Target, o *probe.Options, info *probe.GRPCInfo) ([]byte, error) {
	info.Method = o.GRPCMethod
	if o.GRPCMethod == "" {
		info.Method, info.Health, info.Service = HealthMethod, true, o.GRPCService
	}
	if p := t.URL.Path; p != "" && p != "/" {
		return nil, probe.Errorf("", probe.ClassConfig, probe.CauseTarget,
			"grpc targets take no path (%q); the method (/pkg.Service/Method) is a setting of its own", p)
	}
	if o.GRPCMethod == "" {
		if info.ExpectMessages == 0 {
			info.ExpectMessages = 1 // a Check answers with one message
		}
		req, err := proto.Marshal(&healthpb.HealthCheckRequest{Service: o.GRPCService})
		if err != nil {
			return nil, probe.Errorf("", probe.ClassConfig, probe.CauseRequest, "health request: %v", err)
		}
		info.RequestBytes = len(req)
		return req, nil
	}
	req := o.GRPCRequest
	if req == nil {
		req = []byte{}
	}
	info.RequestBytes = len(req)
	return req, nil
}

// call runs the request, wait and stream phases on conn.
func call(ctx context.Context, conn net.Conn, creds credentials.TransportCredentials, req []byte,
	o *probe.Options, rec *probe.Recorder, info *probe.GRPCInfo) error {
	tr := &tracer{rec: rec, budget: o.EffectiveTimeout(), ms: probe.Milestones{Rec: rec, Response: probe.PhaseStream}}
	cc, err := newClient(conn, creds, o, info.Authority, tr)
	if err != nil {
		conn.Close()
		return probe.Errorf("", probe.ClassConfig, probe.CauseClient, "grpc client: %v", err)
	}
	// Close the client (and so the transport, its goroutines and conn)
	// before returning; conn too in case grpc-go never took it.
	defer func() {
		cc.Close()
		conn.Close()
	}()

	callCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	rec.Begin(probe.PhaseRequest)
	cs, err := cc.NewStream(callCtx, &grpc.StreamDesc{ServerStreams: true}, info.Method,
		grpc.ForceCodec(rawCodec{}), grpc.MaxCallRecvMsgSize(info.MaxRecvBytes))
	if err != nil {
		return tr.finish(ctx, info, err, nil, false)
	}
	// SendMsg and CloseSend report io.EOF when the stream already ended;
	// RecvMsg then returns the status.
	if err := cs.SendMsg(req); err != nil && !errors.Is(err, io.EOF) {
		return tr.finish(ctx, info, err, nil, true)
	}
	if err := cs.CloseSend(); err != nil && !errors.Is(err, io.EOF) {
		return tr.finish(ctx, info, err, nil, true)
	}
	tr.sent()

	health, err := receive(cs, rec, tr, info)
	if tk := keys(cs.Trailer()); len(tk) > 0 {
		info.TrailerKeys = tk
	}
	return tr.finish(ctx, info, err, health, true)
}

// newClient is a grpc-go client that dials conn once (a reconnect gets
// errOneConn), reports to tr, and uses the windows of o.
func newClient(conn net.Conn, creds credentials.TransportCredentials, o *probe.Options, authority string, tr *tracer) (*grpc.ClientConn, error) {
	var used atomic.Bool
	dial := func(context.Context, string) (net.Conn, error) {
		if used.Swap(true) {
			return nil, errOneConn
		}
		return conn, nil
	}
	opts := []grpc.DialOption{
		grpc.WithContextDialer(dial),
		grpc.WithTransportCredentials(creds),
		grpc.WithAuthority(authority),
		grpc.WithStatsHandler(tr),
		grpc.WithUserAgent(probe.UserAgent()), // grpc-go appends its own
		grpc.WithDisableRetry(),
		grpc.WithDisableServiceConfig(),
	}
	if o.H2Window > 0 {
		opts = append(opts, grpc.WithInitialWindowSize(o.H2Window))
	}
	if o.H2ConnWindow > 0 {
		opts = append(opts, grpc.WithInitialConnWindowSize(o.H2ConnWindow))
	}
	return grpc.NewClient("passthrough:///"+authority, opts...)
}

// receive reads the response messages until the stream ends, counting
// them and timing the gaps between them. It returns the first message of
// a health check, and how the stream ended: nil for a status OK.
func receive(cs grpc.ClientStream, rec *probe.Recorder, tr *tracer, info *probe.GRPCInfo) ([]byte, error) {
	var last time.Time
	var health, msg []byte // msg is reused: the codec copies into it
	for {
		err := cs.RecvMsg(&msg)
		now := rec.Now()
		if errors.Is(err, io.EOF) {
			return health, nil
		}
		if err != nil {
			return health, err
		}
		tr.respond(now)
		info.Messages++
		info.Bytes += int64(len(msg))
		info.LargestMessage = max(info.LargestMessage, len(msg))
		if info.Messages == 1 {
			info.FirstMessageMS = rec.Since(now)
			if info.Health {
				health = bytes.Clone(msg)
			}
		} else {
			gap := probe.MS(now.Sub(last))
			info.MaxGapMS = max(info.MaxGapMS, gap)
			if len(info.GapsMS) < probe.MaxGRPCGaps {
				info.GapsMS = append(info.GapsMS, gap)
			} else {
				info.GapsDropped++
			}
		}
		info.LastMessageMS = rec.Since(now)
		last = now
	}
}

// tracer orders the phases from the caller's goroutine and grpc-go's
// transport reader (stats handler), and remembers what the stats showed.
type tracer struct {
	rec    *probe.Recorder
	budget time.Duration // the probe's whole budget

	// ms keeps request, wait, stream in order (the first response event
	// can be reported before the request is reported sent).
	ms probe.Milestones

	mu       sync.Mutex
	trailers bool // the server sent trailers (grpc-status)
	header   metadata.MD
}

// sent ends the request phase: the request is written and half-closed.
func (t *tracer) sent() { t.ms.Wrote(t.rec.Now()) }

// respond marks the first response event: wait ends and stream begins.
func (t *tracer) respond(at time.Time) { t.ms.Answered(at) }

func (t *tracer) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (t *tracer) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (t *tracer) HandleConn(context.Context, stats.ConnStats) {}

// HandleRPC runs on grpc-go's transport reader as headers and trailers
// arrive, so their timestamps are the arrival times.
func (t *tracer) HandleRPC(_ context.Context, s stats.RPCStats) {
	switch ev := s.(type) {
	case *stats.InHeader:
		now := t.rec.Now()
		t.mu.Lock()
		t.header = ev.Header
		t.mu.Unlock()
		t.respond(now)
	case *stats.InTrailer:
		now := t.rec.Now()
		t.mu.Lock()
		t.trailers = true
		t.mu.Unlock()
		t.respond(now)
	}
}

var rstRE = regexp.MustCompile(`RST_STREAM with error code: ([A-Z_0-9]+)`)

// finish closes the phases, fills the status facts and returns the
// probe's error: nil for an OK status (and a SERVING health answer with
// the messages expected), else a PhaseError. opened is false when the
// stream never opened (the transport could not be set up).
func (t *tracer) finish(ctx context.Context, info *probe.GRPCInfo, err error, health []byte, opened bool) error {
	phase := t.rec.InFlight()
	t.rec.End(phase)
	t.rec.MarkDone() // closing the client is not part of the call
	trailers := t.received(info)

	st := status.Convert(err)
	info.StatusCode = int(st.Code())
	info.StatusName = CodeName(st.Code())
	info.StatusMessage = clipString(st.Message(), maxStatusMessage)
	if phase == "" {
		phase = probe.PhaseStream
	}

	// Our budget ran out, or the caller canceled: the status is ours.
	if ctx.Err() != nil {
		info.StatusOrigin = probe.GRPCStatusClient
		return probe.Classify(ctx, phase, probe.ClassTimeout, err)
	}
	// The server enforces the deadline pathlens sends (grpc-timeout, the
	// rest of the budget) and may answer DEADLINE_EXCEEDED a moment before
	// the budget runs out here: that is the budget too.
	if st.Code() == codes.DeadlineExceeded && budgetSpent(ctx, t.budget) {
		info.StatusOrigin = probe.GRPCStatusServer
		if !trailers {
			info.StatusOrigin = probe.GRPCStatusClient
		}
		return &probe.PhaseError{Phase: phase, Class: probe.ClassTimeout, Cause: probe.CauseDeadline, Err: err}
	}
	switch {
	case trailers:
		info.StatusOrigin = probe.GRPCStatusServer
	case err != nil && isHTTPAnswer(st.Message()):
		info.StatusOrigin = probe.GRPCStatusHTTP
	default:
		info.StatusOrigin = probe.GRPCStatusClient
	}
	if m := rstRE.FindStringSubmatch(st.Message()); m != nil {
		info.ResetCode = m[1]
	}
	if err != nil {
		return statusError(info, st, phase, opened)
	}
	return answerError(info, health, phase)
}

// received fills what the stats handler saw of the response headers and
// trailers into info, and reports whether trailers came.
func (t *tracer) received(info *probe.GRPCInfo) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	info.TrailersReceived = t.trailers
	if t.header != nil {
		info.HeadersReceived = true
		info.HeaderKeys = keys(t.header, "content-type")
		if ct := t.header.Get("content-type"); len(ct) > 0 {
			info.ContentType = ct[0]
		}
	}
	return t.trailers
}

// statusError is the probe's error for a call that ended with a status
// other than OK: a stream that ended without grpc-status, or the status.
func statusError(info *probe.GRPCInfo, st *status.Status, phase string, opened bool) error {
	if opened && info.StatusOrigin == probe.GRPCStatusClient && !localLimit(st) {
		// The stream was open and ended without grpc-status: reset,
		// END_STREAM without trailers, or the connection went away.
		info.NoTrailers = true
		cause := probe.CauseNoTrailers
		if info.ResetCode != "" {
			cause = probe.CauseRSTStream
		}
		return probe.Errorf(phase, probe.ClassProtocol, cause,
			"stream ended without a grpc-status trailer after %d message%s: %s", info.Messages, plural(info.Messages), st.Message())
	}
	cause := probe.CauseGRPCStatus
	switch {
	case readCap(st):
		cause = probe.CauseReadCap
	case !opened:
		cause = probe.CauseTransport
	}
	return probe.Errorf(phase, probe.ClassProtocol, cause, "%s: %s", info.StatusName, st.Message())
}

// answerError checks the answer of a call that ended with status OK: a
// health check's status must be SERVING, and at least the expected
// messages must have come.
func answerError(info *probe.GRPCInfo, health []byte, phase string) error {
	if info.Health && len(health) > 0 {
		var hr healthpb.HealthCheckResponse
		if uerr := proto.Unmarshal(health, &hr); uerr != nil {
			return probe.Errorf(phase, probe.ClassProtocol, probe.CauseBadHealth, "health response does not decode: %v", uerr)
		}
		info.HealthStatus = hr.GetStatus().String()
		if hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			return probe.Errorf(phase, probe.ClassProtocol, probe.CauseNotServing, "health status %s", info.HealthStatus)
		}
	}
	if info.ExpectMessages > 0 && info.Messages < info.ExpectMessages {
		return probe.Errorf(phase, probe.ClassProtocol, probe.CauseTooFewMessages,
			"stream ended with status OK after %d of %d expected messages", info.Messages, info.ExpectMessages)
	}
	return nil
}

// budgetSpent reports whether ctx's deadline is at most a moment away:
// under a twentieth of the budget or 250 ms, whichever is more.
func budgetSpent(ctx context.Context, budget time.Duration) bool {
	return probe.BudgetSpent(ctx, max(250*time.Millisecond, budget/20))
}

// localLimit reports a status grpc-go raises for a limit pathlens set
// (the receive size cap, the read cap on the connection), which is not a
// truncation by the server.
func localLimit(st *status.Status) bool {
	return (st.Code() == codes.ResourceExhausted && strings.Contains(st.Message(), "larger than max")) || readCap(st)
}

// readCap reports a connection stopped by probe.Conn's read cap.
func readCap(st *status.Status) bool {
	return strings.Contains(st.Message(), probe.ErrReadCap.Error())
}

// isHTTPAnswer recognises grpc-go's statuses for a response that is not
// gRPC (wrong :status or content-type).
func isHTTPAnswer(msg string) bool {
	return strings.Contains(msg, "unexpected HTTP status code received from server") ||
		strings.Contains(msg, "malformed header: missing HTTP content-type") ||
		strings.Contains(msg, "received unexpected content-type")
}

// Bounds on what a server's headers and status can put in the Result.
const (
	maxStatusMessage = 1024
	maxKeys          = 64
)

// keys returns md's keys, sorted, without the ones named in skip, at most
// maxKeys of them.
func keys(md metadata.MD, skip ...string) []string {
	out := make([]string, 0, min(len(md), maxKeys+1))
	for k := range md {
		if !slices.Contains(skip, k) {
			out = append(out, clipString(k, 128))
		}
	}
	slices.Sort(out)
	if len(out) > maxKeys {
		out = out[:maxKeys]
	}
	return out
}

// clipString cuts s to at most n bytes of valid UTF-8.
func clipString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// codeNames are the canonical names of the gRPC status codes.
var codeNames = [...]string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
	"UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}

// CodeName is the canonical name of a gRPC status code (CANCELLED,
// UNAVAILABLE, …), or CODE_n for one outside the standard set.
func CodeName(c codes.Code) string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("CODE_%d", uint32(c))
}

// rawCodec passes message bytes through unchanged: the request is sent as
// given and responses are counted, never decoded. Its name is "proto" so
// the content-type is application/grpc+proto, which every server accepts.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	switch m := v.(type) {
	case []byte:
		return m, nil
	case *[]byte:
		return *m, nil
	}
	return nil, fmt.Errorf("raw codec: cannot marshal %T", v)
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("raw codec: cannot unmarshal into %T", v)
	}
	*p = append((*p)[:0], data...) // data's buffer is reused after return
	return nil
}

func (rawCodec) Name() string { return "proto" }

// tlsDone is the transport credentials of a connection whose TLS
// handshake pathlens already ran (probe.Dialer): the handshake returns the
// connection as it is, and grpc-go treats it as TLS (:scheme https).
type tlsDone struct{ state tls.ConnectionState }

func (c tlsDone) ClientHandshake(_ context.Context, _ string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return conn, credentials.TLSInfo{State: c.state,
		CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}, nil
}

func (tlsDone) ServerHandshake(net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("pathlens: client-only credentials")
}

func (c tlsDone) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls"}
}

func (c tlsDone) Clone() credentials.TransportCredentials { return c }

func (tlsDone) OverrideServerName(string) error { return nil }
