package lab

import (
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// The gRPC scenarios' service: one server-streaming method, served with a
// raw-bytes codec (no generated code). The request is ignored.
const (
	grpcStreamService = "pathlens.lab.Stream"
	grpcStreamMethod  = "/" + grpcStreamService + "/Messages"
)

// What the gRPC scenarios send.
const (
	grpcStreamCount    = 100      // grpc-stream-ok: messages
	grpcStreamBigIndex = 50       // grpc-stream-ok: the one large message (0-based)
	grpcStreamBig      = 64 << 10 // grpc-stream-ok: its size
	grpcStreamSmall    = 100      // size of every other message
	grpcTruncateAfter  = 46       // grpc-stream-truncated: messages before the reset
	grpcNoTrailers     = 10       // grpc-stream-no-trailers: messages before END_STREAM
	grpcSlowCount      = 10       // grpc-slow-stream: messages
	grpcSlowGap        = 200 * time.Millisecond
)

// grpcStreamPlan is what one streaming scenario server sends.
type grpcStreamPlan struct {
	count int
	gap   time.Duration // pause before every message but the first
	big   int           // index of the large message, -1 for none
}

func (p grpcStreamPlan) size(i int) int {
	if i == p.big {
		return grpcStreamBig
	}
	return grpcStreamSmall
}

// rawCodec passes []byte messages through; named "proto" so that it
// answers the content-type every gRPC client sends.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	if b, ok := v.([]byte); ok {
		return b, nil
	}
	return nil, fmt.Errorf("lab raw codec: cannot marshal %T", v)
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("lab raw codec: cannot unmarshal into %T", v)
	}
	*p = append((*p)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

// serveGRPC runs srv on a new port until Close, which stops it (closing
// every connection and waiting for every handler).
func (l *Lab) serveGRPC(srv *grpc.Server) (string, error) {
	ln, err := l.listen()
	if err != nil {
		return "", err
	}
	l.onClose(srv.Stop)
	l.spawn(func() { _ = srv.Serve(ln) })
	return ln.Addr().String(), nil
}

// startGRPCHealth serves grpc.health.v1 with the whole server ("") in
// status st. With tlsName set it serves TLS with that scenario's
// certificate and returns grpcs://<name>.lab.test:port, otherwise
// grpc://127.0.0.1:port.
func (l *Lab) startGRPCHealth(tlsName string, st healthpb.HealthCheckResponse_ServingStatus) (string, error) {
	opts := []grpc.ServerOption{grpc.WaitForHandlers(true)}
	if tlsName != "" {
		cert, err := l.pki.serverCert(chainNormal, labLeaf(tlsName))
		if err != nil {
			return "", err
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{
			Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
		})))
	}
	srv := grpc.NewServer(opts...)
	hs := health.NewServer()
	hs.SetServingStatus("", st)
	healthpb.RegisterHealthServer(srv, hs)
	addr, err := l.serveGRPC(srv)
	if err != nil {
		return "", err
	}
	if tlsName != "" {
		_, port, _ := net.SplitHostPort(addr)
		return "grpcs://" + tlsName + ".lab.test:" + port, nil
	}
	return "grpc://" + addr, nil
}

// startGRPCStream serves grpcStreamMethod with a real gRPC server that
// sends plan's messages, then status OK.
func (l *Lab) startGRPCStream(plan grpcStreamPlan) (string, error) {
	srv := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}), grpc.WaitForHandlers(true))
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: grpcStreamService,
		HandlerType: (*any)(nil),
		Streams: []grpc.StreamDesc{{
			StreamName:    "Messages",
			ServerStreams: true,
			Handler: func(_ any, ss grpc.ServerStream) error {
				var req []byte
				if err := ss.RecvMsg(&req); err != nil {
					return err
				}
				for i := 0; i < plan.count; i++ {
					if i > 0 && plan.gap > 0 && !l.sleepCtx(ss.Context().Done(), plan.gap) {
						return ss.Context().Err()
					}
					if err := ss.SendMsg(make([]byte, plan.size(i))); err != nil {
						return err
					}
				}
				return nil
			},
		}},
	}, nil)
	addr, err := l.serveGRPC(srv)
	if err != nil {
		return "", err
	}
	return "grpc://" + addr, nil
}

// startGRPCBroken serves grpcStreamMethod over cleartext HTTP/2 (prior
// knowledge) with a plain net/http handler, which can do what a gRPC
// server never does: send count messages and then either reset the stream
// (RST_STREAM INTERNAL_ERROR) or end it without trailers (END_STREAM on
// the last DATA frame, no grpc-status).
func (l *Lab) startGRPCBroken(count int, reset bool) (string, error) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 || r.URL.Path != grpcStreamMethod {
			http.Error(w, "lab: gRPC over HTTP/2 only, method "+grpcStreamMethod, http.StatusNotFound)
			return
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, requestReadLimit))
		w.Header().Set("Content-Type", "application/grpc")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		frame := make([]byte, 5+grpcStreamSmall)
		binary.BigEndian.PutUint32(frame[1:5], grpcStreamSmall)
		for i := 0; i < count; i++ {
			if _, err := w.Write(frame); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
		}
		if reset {
			// net/http resets the stream (RST_STREAM INTERNAL_ERROR)
			// when a handler panics with ErrAbortHandler.
			panic(http.ErrAbortHandler)
		}
		// Returning ends the stream with END_STREAM and no trailers.
	})
	ln, err := l.listen()
	if err != nil {
		return "", err
	}
	l.serveHTTP(ln, h, httpOpts{h2: true})
	return "grpc://" + ln.Addr().String(), nil
}

// sleepCtx waits for d, or until done is closed or the lab closes; it
// reports whether the full duration elapsed.
func (l *Lab) sleepCtx(done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	case <-l.done:
		return false
	}
}
