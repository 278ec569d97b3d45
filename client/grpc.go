package client

import (
	"context"
	"errors"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/pathlens/pathlens/probe"
)

// gRPC keepalive defaults (GRPCDialOptions).
const (
	// DefaultGRPCKeepaliveTime is how long a connection with active RPCs
	// may be silent before the client pings: just over the 5 min minimum
	// that grpc-go servers enforce by default (EnforcementPolicy.MinTime),
	// since pinging more often makes such a server close the connection
	// with GOAWAY "too_many_pings". Lower it only together with the
	// server's policy.
	DefaultGRPCKeepaliveTime = 5*time.Minute + 15*time.Second
	// DefaultGRPCKeepaliveTimeout closes a connection whose ping is not
	// acknowledged in time.
	DefaultGRPCKeepaliveTimeout = 20 * time.Second
)

// WithGRPCKeepalive replaces GRPCDialOptions' keepalive parameters.
func WithGRPCKeepalive(p keepalive.ClientParameters) Option {
	return func(c *config) { c.grpcKeepalive = &p }
}

// WithGRPCWindow sets static flow-control windows (bytes) for each
// stream and for the connection. This turns off gRPC's BDP estimation,
// which otherwise grows windows to the path's bandwidth-delay product:
// use it only to cap memory.
func WithGRPCWindow(stream, conn int32) Option {
	return func(c *config) { c.grpcWindow = &[2]int32{stream, conn} }
}

// GRPCDialOptions returns dial options for grpc.NewClient: keepalive
// parameters default servers accept (WithGRPCKeepalive to change them),
// flow-control windows only when WithGRPCWindow asks (BDP estimation
// stays on otherwise), and, with WithObserver or WithMetrics, a stats
// handler that hands each RPC attempt's probe.Result (kind "grpc", phases
// request, wait, transfer) to the same observer and metrics as the HTTP
// client. Other options are ignored; for tracing add otelgrpc's handler.
func GRPCDialOptions(opts ...Option) []grpc.DialOption {
	cfg := defaults()
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	kp := keepalive.ClientParameters{Time: DefaultGRPCKeepaliveTime, Timeout: DefaultGRPCKeepaliveTimeout}
	if cfg.grpcKeepalive != nil {
		kp = *cfg.grpcKeepalive
	}
	out := []grpc.DialOption{grpc.WithKeepaliveParams(kp)}
	if w := cfg.grpcWindow; w != nil {
		out = append(out, grpc.WithInitialWindowSize(w[0]), grpc.WithInitialConnWindowSize(w[1]))
	}
	if h := newGRPCHandler(cfg); h != nil {
		out = append(out, grpc.WithStatsHandler(h))
	}
	return out
}

// grpcHandler turns gRPC client stats into one Result per RPC attempt.
type grpcHandler struct {
	observer func(probe.Result)
	met      *metrics
}

func newGRPCHandler(cfg config) *grpcHandler {
	if cfg.observer == nil && cfg.registry == nil {
		return nil
	}
	h := &grpcHandler{observer: cfg.observer}
	if cfg.registry != nil {
		h.met = newMetrics(cfg.registry)
	}
	return h
}

type rpcKey struct{}

// rpcState is one RPC attempt being recorded.
type rpcState struct {
	mu       sync.Mutex
	method   string
	rec      *probe.Recorder
	res      probe.Result
	lastSent time.Time
	answered bool
}

func (h *grpcHandler) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, rpcKey{}, &rpcState{method: info.FullMethodName})
}

func (h *grpcHandler) HandleRPC(ctx context.Context, s stats.RPCStats) {
	st, _ := ctx.Value(rpcKey{}).(*rpcState)
	if st == nil || !s.IsClient() {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	switch ev := s.(type) {
	case *stats.Begin:
		st.rec = probe.NewRecorderAt(ev.BeginTime, time.Now)
		st.res = probe.Result{
			Schema: probe.Schema, Target: st.method, Kind: "grpc",
			StartedAt: ev.BeginTime.UTC(), Phases: []probe.Phase{}, Findings: []probe.Finding{},
			HTTP: &probe.HTTPInfo{Proto: "HTTP/2.0", ContentLength: -1},
		}
		if dl, ok := ctx.Deadline(); ok {
			st.res.TimeoutMS = probe.MS(dl.Sub(ev.BeginTime))
		}
		st.rec.BeginAt(probe.PhaseRequest, ev.BeginTime)
	case *stats.OutHeader:
		if st.rec == nil {
			return
		}
		if ev.Authority != "" {
			st.res.Target = "grpc://" + ev.Authority + ev.FullMethod
		}
		st.conn(ev.RemoteAddr, ev.LocalAddr)
	case *stats.OutPayload:
		if st.rec != nil && !st.answered {
			st.lastSent = ev.SentTime
		}
	case *stats.InHeader:
		if st.rec == nil {
			return
		}
		st.answer()
		st.res.HTTP.HeadersBytes += ev.WireLength
		st.conn(ev.RemoteAddr, ev.LocalAddr)
	case *stats.InTrailer:
		// A trailers-only response (an error status) has no InHeader.
		if st.rec == nil {
			return
		}
		st.answer()
		st.res.HTTP.HeadersBytes += ev.WireLength
	case *stats.InPayload:
		if st.rec != nil {
			st.res.HTTP.BodyBytes += int64(ev.WireLength)
		}
	case *stats.End:
		if st.rec == nil {
			return
		}
		end := ev.EndTime
		if end.IsZero() {
			end = time.Now()
		}
		if st.answered {
			st.rec.EndAt(probe.PhaseTransfer, end)
		}
		probe.Finish(ctx, st.rec, &st.res, grpcError(ev.Error), end)
		res := st.res
		st.rec = nil
		if h.met != nil {
			h.met.observe(&res)
		}
		if h.observer != nil {
			h.observer(res)
		}
	}
}

// answer marks the first response bytes: the request was sent at the
// last message sent (or now), the wait ends now (mu held).
func (st *rpcState) answer() {
	if st.answered {
		return
	}
	st.answered = true
	now := time.Now()
	sent := st.lastSent
	if sent.IsZero() || sent.After(now) {
		sent = now
	}
	st.rec.BeginAt(probe.PhaseWait, sent)
	st.rec.BeginAt(probe.PhaseTransfer, now)
	st.res.HTTP.Status = 200
	st.res.HTTP.ValidStatus = "200-399"
}

// conn records the transport addresses (mu held).
func (st *rpcState) conn(remote, local interface{ String() string }) {
	if remote == nil || st.res.Conn != nil {
		return
	}
	c := &probe.ConnInfo{RemoteAddr: remote.String(), Reused: true}
	c.IPVersion = ipVersion(c.RemoteAddr)
	if local != nil {
		c.LocalAddr = local.String()
	}
	st.res.Conn = c
}

func (h *grpcHandler) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (h *grpcHandler) HandleConn(context.Context, stats.ConnStats)                       {}

// grpcError classifies an RPC's final status.
func grpcError(err error) error {
	if err == nil {
		return nil
	}
	s, _ := status.FromError(err)
	code := s.Code()
	cause := probe.GRPCCodeCause(uint32(code))
	var class probe.ErrorClass
	switch code {
	case codes.OK:
		return nil
	case codes.DeadlineExceeded:
		class = probe.ClassTimeout
	case codes.Canceled:
		class = probe.ClassCanceled
	case codes.Unavailable:
		class = probe.ClassConnect
	case codes.Internal, codes.Unknown, codes.DataLoss:
		class = probe.ClassProtocol
	default:
		class = probe.ClassHTTP
	}
	return &probe.PhaseError{Class: class, Cause: cause, Err: errors.New(code.String() + ": " + s.Message())}
}
