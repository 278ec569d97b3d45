package grpcx

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/probe"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testCodec serves raw []byte messages and proto messages (the health
// service) on one server.
type testCodec struct{}

func (testCodec) Marshal(v any) ([]byte, error) {
	if b, ok := v.([]byte); ok {
		return b, nil
	}
	return proto.Marshal(v.(proto.Message))
}

func (testCodec) Unmarshal(d []byte, v any) error {
	if p, ok := v.(*[]byte); ok {
		*p = append([]byte(nil), d...)
		return nil
	}
	return proto.Unmarshal(d, v.(proto.Message))
}

func (testCodec) Name() string { return "proto" }

// plan is the JSON request of the test Stream method.
type plan struct {
	N      int    `json:"n"`
	Size   int    `json:"size"`
	GapMS  int    `json:"gap_ms"`
	Code   int    `json:"code"`   // status to end with (0 OK)
	Msg    string `json:"msg"`    // its message
	Header bool   `json:"header"` // send headers (with x-test) before the first message
}

// server is a gRPC test server: health ("" SERVING, "sick" NOT_SERVING),
// /t.T/Echo (unary, answers the request bytes) and /t.T/Stream (server
// streaming, driven by a JSON plan in the request).
type server struct {
	addr string
	mu   sync.Mutex
	md   metadata.MD // request metadata of the last call
	req  []byte      // request bytes of the last call
}

func (s *server) record(ctx context.Context, req []byte) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	s.md, s.req = md, req
	s.mu.Unlock()
}

func newServer(t *testing.T, cert *tls.Certificate) *server {
	t.Helper()
	s := &server{}
	opts := []grpc.ServerOption{grpc.ForceServerCodec(testCodec{}), grpc.WaitForHandlers(true)}
	if cert != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{*cert}})))
	}
	srv := grpc.NewServer(opts...)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("sick", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "t.T",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Echo",
			Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				var req []byte
				if err := dec(&req); err != nil {
					return nil, err
				}
				s.record(ctx, req)
				return req, nil
			},
		}},
		Streams: []grpc.StreamDesc{{
			StreamName: "Stream", ServerStreams: true,
			Handler: func(_ any, ss grpc.ServerStream) error {
				var req []byte
				if err := ss.RecvMsg(&req); err != nil {
					return err
				}
				s.record(ss.Context(), req)
				var p plan
				if err := json.Unmarshal(req, &p); err != nil {
					return status.Error(codes.InvalidArgument, err.Error())
				}
				if p.Header {
					if err := ss.SendHeader(metadata.Pairs("x-test", "1")); err != nil {
						return err
					}
				}
				for i := 0; i < p.N; i++ {
					if i > 0 && p.GapMS > 0 {
						select {
						case <-time.After(time.Duration(p.GapMS) * time.Millisecond):
						case <-ss.Context().Done():
							return ss.Context().Err()
						}
					}
					if err := ss.SendMsg(make([]byte, p.Size)); err != nil {
						return err
					}
				}
				ss.SetTrailer(metadata.Pairs("x-done", "yes"))
				if p.Code != 0 {
					return status.Error(codes.Code(p.Code), p.Msg)
				}
				return nil
			},
		}},
	}, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return s
}

// selfSigned makes a certificate for 127.0.0.1 and localhost.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "grpcx test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}, pool
}

func planReq(p plan) []byte {
	b, _ := json.Marshal(p)
	return b
}

func TestHealth(t *testing.T) {
	s := newServer(t, nil)
	r := probetest.Run(t, "grpc://"+s.addr, nil)
	probetest.MustSucceed(t, r)
	g := r.GRPC
	if !g.Health || g.Method != HealthMethod || g.HealthStatus != "SERVING" || g.StatusName != "OK" ||
		g.StatusOrigin != probe.GRPCStatusServer || g.Messages != 1 || !g.TrailersReceived || !g.HeadersReceived {
		t.Errorf("grpc = %+v", g)
	}
	if want := []string{"connect", "request", "wait", "stream"}; !slices.Equal(probetest.PhaseNames(r), want) {
		t.Errorf("phases %v, want %v", probetest.PhaseNames(r), want)
	}
	if r.TLS != nil || r.DNS != nil {
		t.Errorf("tls %v dns %v, want none for a cleartext IP target", r.TLS, r.DNS)
	}
	if !strings.HasPrefix(g.ContentType, "application/grpc") || g.Authority != s.addr {
		t.Errorf("content-type %q authority %q", g.ContentType, g.Authority)
	}

	// The service asked about travels in the request (only "sick" is
	// NOT_SERVING).
	r = probetest.Run(t, "grpc://"+s.addr, &probe.Options{GRPCService: "sick"})
	probetest.WantError(t, r, probe.ClassProtocol, "not_serving", probe.PhaseStream)
	if r.GRPC.HealthStatus != "NOT_SERVING" || r.GRPC.StatusCode != 0 || r.GRPC.Service != "sick" {
		t.Errorf("grpc = %+v", r.GRPC)
	}

	// An unknown service is NOT_FOUND from the server.
	r = probetest.Run(t, "grpc://"+s.addr, &probe.Options{GRPCService: "nope"})
	probetest.WantError(t, r, probe.ClassProtocol, "grpc_status", "")
	if r.GRPC.StatusName != "NOT_FOUND" || r.GRPC.StatusOrigin != probe.GRPCStatusServer || r.GRPC.NoTrailers {
		t.Errorf("grpc = %+v", r.GRPC)
	}
}

func TestHealthTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	s := newServer(t, &cert)
	r := probetest.Run(t, "grpcs://"+s.addr, &probe.Options{RootCAs: pool})
	probetest.MustSucceed(t, r)
	if r.TLS == nil || r.TLS.ALPN != "h2" || !r.TLS.Verified || !slices.Equal(r.TLS.OfferedALPN, []string{"h2"}) {
		t.Fatalf("tls = %+v", r.TLS)
	}
	if want := []string{"connect", "tls", "request", "wait", "stream"}; !slices.Equal(probetest.PhaseNames(r), want) {
		t.Errorf("phases %v, want %v", probetest.PhaseNames(r), want)
	}
	if rc := r.TLS.Resumption; rc == nil || !rc.Tested || !rc.Resumed {
		t.Errorf("resumption = %+v, want tested and resumed", rc)
	}
	if r.GRPC.HealthStatus != "SERVING" {
		t.Errorf("grpc = %+v", r.GRPC)
	}

	// Untrusted: the TLS phase fails like any other TLS probe.
	r = probetest.Run(t, "grpcs://"+s.addr, nil)
	probetest.WantError(t, r, probe.ClassTLS, "verify_unknown_authority", probe.PhaseTLS)

	// TLS on a grpc:// target: the server sees a cleartext preface.
	r = probetest.Run(t, "grpc://"+s.addr, nil)
	probetest.WantError(t, r, probe.ClassProtocol, "transport", probe.PhaseRequest)
	if r.GRPC.StatusName != "UNAVAILABLE" || r.GRPC.StatusOrigin != probe.GRPCStatusClient || r.GRPC.NoTrailers {
		t.Errorf("grpc = %+v", r.GRPC)
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// The :scheme grpc-go sends follows the TLS pathlens did itself.
func TestSchemeAndAuthority(t *testing.T) {
	cert, pool := selfSigned(t)
	var got struct {
		sync.Mutex
		scheme, authority, ua, te string
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		ErrorLog: log.New(io.Discard, "", 0),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got.Lock()
			got.scheme, got.authority, got.ua, got.te = r.URL.Scheme, r.Host, r.UserAgent(), r.Header.Get("Te")
			if r.TLS != nil {
				got.scheme = "https"
			}
			got.Unlock()
			w.Header().Set("Content-Type", "application/grpc")
			w.Header().Set("Trailer", "Grpc-Status")
			w.WriteHeader(200)
			w.Header().Set("Grpc-Status", "0")
		}),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}},
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ServeTLS(ln, "", "") }()
	defer func() { srv.Close(); <-done }()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	r := probetest.Run(t, "grpcs://localhost:"+port, &probe.Options{RootCAs: pool, SkipResumptionCheck: true,
		Resolve:    []probe.ResolveEntry{{Host: "localhost", Port: atoi(port), Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}},
		GRPCMethod: "/t.T/Echo"})
	probetest.MustSucceed(t, r)
	got.Lock()
	defer got.Unlock()
	if got.scheme != "https" || got.authority != "localhost:"+port || got.te != "trailers" || !strings.HasPrefix(got.ua, "pathlens/") {
		t.Errorf("server saw scheme %q authority %q te %q ua %q", got.scheme, got.authority, got.te, got.ua)
	}
	if r.TLS.SNI != "localhost" || r.GRPC.Messages != 0 || r.GRPC.StatusName != "OK" {
		t.Errorf("sni %q grpc %+v", r.TLS.SNI, r.GRPC)
	}
}

func TestUnaryRawCodec(t *testing.T) {
	s := newServer(t, nil)
	req := []byte{0x0a, 0x03, 'a', 'b', 'c', 0x00, 0xff}
	r := probetest.Run(t, "grpc://"+s.addr, &probe.Options{GRPCMethod: "/t.T/Echo", GRPCRequest: req, ExpectMessages: 1})
	probetest.MustSucceed(t, r)
	g := r.GRPC
	if g.Messages != 1 || g.Bytes != int64(len(req)) || g.RequestBytes != len(req) || g.Health || len(g.GapsMS) != 0 {
		t.Errorf("grpc = %+v", g)
	}
	if !bytes.Equal(s.req, req) {
		t.Errorf("server got %x, want %x", s.req, req)
	}
	if ct := s.md.Get("content-type"); len(ct) != 1 || ct[0] != "application/grpc+proto" {
		t.Errorf("content-type %v", ct)
	}
	// The default request is the empty message.
	r = probetest.Run(t, "grpc://"+s.addr, &probe.Options{GRPCMethod: "/t.T/Echo"})
	probetest.MustSucceed(t, r)
	if r.GRPC.Messages != 1 || r.GRPC.Bytes != 0 || len(s.req) != 0 {
		t.Errorf("grpc = %+v, server got %x", r.GRPC, s.req)
	}
}

func TestStreaming(t *testing.T) {
	s := newServer(t, nil)
	r := probetest.Run(t, "grpc://"+s.addr, &probe.Options{GRPCMethod: "/t.T/Stream",
		GRPCRequest: planReq(plan{N: 100, Size: 1000, Header: true}), ExpectMessages: 100})
	probetest.MustSucceed(t, r)
	g := r.GRPC
	if g.Messages != 100 || g.Bytes != 100000 || len(g.GapsMS) != 99 || g.LargestMessage != 1000 {
		t.Errorf("messages %d bytes %d gaps %d largest %d", g.Messages, g.Bytes, len(g.GapsMS), g.LargestMessage)
	}
	if !slices.Contains(g.HeaderKeys, "x-test") || !slices.Contains(g.TrailerKeys, "x-done") {
		t.Errorf("header keys %v trailer keys %v", g.HeaderKeys, g.TrailerKeys)
	}
	if g.FirstMessageMS <= 0 || g.LastMessageMS < g.FirstMessageMS {
		t.Errorf("first %v last %v", g.FirstMessageMS, g.LastMessageMS)
	}
	st, _ := r.PhaseDuration("stream")
	if st <= 0 || g.LastMessageMS > r.TotalMS {
		t.Errorf("stream %.3f ms, last message at %.3f of %.3f", st, g.LastMessageMS, r.TotalMS)
	}

	// Fewer than expected, status OK.
	r = probetest.Run(t, "grpc://"+s.addr, &probe.Options{GRPCMethod: "/t.T/Stream",
		GRPCRequest: planReq(plan{N: 3, Size: 10}), ExpectMessages: 5})
	probetest.WantError(t, r, probe.ClassProtocol, "too_few_messages", probe.PhaseStream)
	if r.GRPC.Messages != 3 || r.GRPC.StatusCode != 0 || r.GRPC.NoTrailers {
		t.Errorf("grpc = %+v", r.GRPC)
	}

	// A non-OK status after two messages, from the server's trailers.
	r = probetest.Run(t, "grpc://"+s.addr, &probe.Options{GRPCMethod: "/t.T/Stream",
		GRPCRequest: planReq(plan{N: 2, Size: 10, Code: int(codes.FailedPrecondition), Msg: "nope"})})
	probetest.WantError(t, r, probe.ClassProtocol, "grpc_status", probe.PhaseStream)
	g = r.GRPC
	if g.StatusCode != 9 || g.StatusName != "FAILED_PRECONDITION" || g.StatusMessage != "nope" ||
		g.StatusOrigin != probe.GRPCStatusServer || g.Messages != 2 || g.NoTrailers {
		t.Errorf("grpc = %+v", g)
	}

	// An unknown method is UNIMPLEMENTED, trailers-only: no headers.
	r = probetest.Run(t, "grpc://"+s.addr, &probe.Options{GRPCMethod: "/t.T/Nope"})
	probetest.WantError(t, r, probe.ClassProtocol, "grpc_status", "")
	if r.GRPC.StatusName != "UNIMPLEMENTED" || r.GRPC.StatusOrigin != probe.GRPCStatusServer || r.GRPC.HeadersReceived {
		t.Errorf("grpc = %+v", r.GRPC)
	}
}

// Gaps between messages are measured on arrival: 200 ms apart on the
// server shows as ≥ 180 ms each.
func TestSlowStreamGaps(t *testing.T) {
	s := newServer(t, nil)
	r := probetest.Run(t, "grpc://"+s.addr, &probe.Options{GRPCMethod: "/t.T/Stream",
		GRPCRequest: planReq(plan{N: 4, Size: 10, GapMS: 200}), ExpectMessages: 4})
	probetest.MustSucceed(t, r)
	if len(r.GRPC.GapsMS) != 3 {
		t.Fatalf("gaps %v", r.GRPC.GapsMS)
	}
	for _, g := range r.GRPC.GapsMS {
		if g < 180 || g > 1000 {
			t.Errorf("gap %.1f ms, want about 200", g)
		}
	}
	if r.GRPC.MaxGapMS < 180 {
		t.Errorf("max gap %.1f", r.GRPC.MaxGapMS)
	}
	if st, _ := r.PhaseDuration("stream"); st < 540 {
		t.Errorf("stream phase %.1f ms, want ≥ 600", st)
	}
}

// The budget running out mid-stream is a timeout in the stream phase, not
// a truncation.
func TestTimeoutMidStream(t *testing.T) {
	s := newServer(t, nil)
	r := probetest.Run(t, "grpc://"+s.addr, &probe.Options{Timeout: 700 * time.Millisecond, GRPCMethod: "/t.T/Stream",
		GRPCRequest: planReq(plan{N: 100, Size: 10, GapMS: 200}), ExpectMessages: 100})
	probetest.WantError(t, r, probe.ClassTimeout, probe.CauseDeadline, probe.PhaseStream)
	if r.GRPC.NoTrailers || r.GRPC.Messages < 2 || r.GRPC.Messages > 5 {
		t.Errorf("grpc = %+v", r.GRPC)
	}
	if r.TotalMS > 1200 {
		t.Errorf("took %.0f ms with a 700 ms budget", r.TotalMS)
	}
}

// Many messages: the gaps list stays bounded.
func TestGapsBounded(t *testing.T) {
	s := newServer(t, nil)
	n := probe.MaxGRPCGaps + 500
	r := probetest.Run(t, "grpc://"+s.addr, &probe.Options{Timeout: 20 * time.Second, GRPCMethod: "/t.T/Stream",
		GRPCRequest: planReq(plan{N: n, Size: 1})})
	probetest.MustSucceed(t, r)
	if r.GRPC.Messages != n || len(r.GRPC.GapsMS) != probe.MaxGRPCGaps || r.GRPC.GapsDropped != n-1-probe.MaxGRPCGaps {
		t.Errorf("messages %d gaps %d dropped %d", r.GRPC.Messages, len(r.GRPC.GapsMS), r.GRPC.GapsDropped)
	}
}

// A message over the 4 MiB receive limit is a client-side status, not a
// truncation.
func TestMessageTooLarge(t *testing.T) {
	s := newServer(t, nil)
	r := probetest.Run(t, "grpc://"+s.addr, &probe.Options{GRPCMethod: "/t.T/Stream",
		GRPCRequest: planReq(plan{N: 1, Size: probe.DefaultGRPCMaxRecv + 1})})
	probetest.WantError(t, r, probe.ClassProtocol, "grpc_status", "")
	if r.GRPC.StatusName != "RESOURCE_EXHAUSTED" || r.GRPC.StatusOrigin != probe.GRPCStatusClient || r.GRPC.NoTrailers {
		t.Errorf("grpc = %+v", r.GRPC)
	}
}

// h2Server serves h over cleartext HTTP/2 with prior knowledge.
func h2Server(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	p.SetHTTP1(true)
	srv := &http.Server{Handler: h, Protocols: &p, ErrorLog: log.New(io.Discard, "", 0)}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return ln.Addr().String()
}

// grpcFrames writes n 10-byte gRPC messages.
func grpcFrames(w http.ResponseWriter, n int) {
	w.Header().Set("Content-Type", "application/grpc")
	w.WriteHeader(200)
	for i := 0; i < n; i++ {
		_, _ = w.Write([]byte{0, 0, 0, 0, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
		_ = http.NewResponseController(w).Flush()
	}
}

func TestNoTrailers(t *testing.T) {
	addr := h2Server(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		grpcFrames(w, 7)
	})
	r := probetest.Run(t, "grpc://"+addr, &probe.Options{GRPCMethod: "/t.T/Stream"})
	probetest.WantError(t, r, probe.ClassProtocol, "no_trailers", probe.PhaseStream)
	g := r.GRPC
	if !g.NoTrailers || g.Messages != 7 || g.TrailersReceived || !g.HeadersReceived || g.StatusName != "INTERNAL" ||
		g.StatusOrigin != probe.GRPCStatusClient || !strings.Contains(g.StatusMessage, "without sending trailers") {
		t.Errorf("grpc = %+v", g)
	}
}

func TestReset(t *testing.T) {
	addr := h2Server(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		grpcFrames(w, 46)
		panic(http.ErrAbortHandler)
	})
	r := probetest.Run(t, "grpc://"+addr, &probe.Options{GRPCMethod: "/t.T/Stream", ExpectMessages: 100})
	probetest.WantError(t, r, probe.ClassProtocol, "rst_stream", probe.PhaseStream)
	g := r.GRPC
	if !g.NoTrailers || g.Messages != 46 || g.ResetCode != "INTERNAL_ERROR" || g.StatusName != "INTERNAL" {
		t.Errorf("grpc = %+v", g)
	}
}

// A non-gRPC HTTP answer gets the status grpc-go maps it to, origin http.
func TestHTTPAnswer(t *testing.T) {
	addr := h2Server(t, func(w http.ResponseWriter, r *http.Request) {
		http.NotFound(w, r)
	})
	r := probetest.Run(t, "grpc://"+addr, nil)
	probetest.WantError(t, r, probe.ClassProtocol, "grpc_status", "")
	g := r.GRPC
	if g.StatusOrigin != probe.GRPCStatusHTTP || g.StatusName != "UNIMPLEMENTED" || g.NoTrailers {
		t.Errorf("grpc = %+v", g)
	}
}

// An HTTP/1.1-only server: the HTTP/2 transport cannot be set up.
func TestNotHTTP2(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler(), ErrorLog: log.New(io.Discard, "", 0)}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	defer func() { srv.Close(); <-done }()
	r := probetest.Run(t, "grpc://"+ln.Addr().String(), nil)
	probetest.WantError(t, r, probe.ClassProtocol, "transport", probe.PhaseRequest)
	if r.GRPC.StatusName != "UNAVAILABLE" || r.GRPC.NoTrailers {
		t.Errorf("grpc = %+v", r.GRPC)
	}
}

// A TLS server that does not pick h2 in ALPN cannot carry gRPC.
func TestALPNNotH2(t *testing.T) {
	cert, pool := selfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1", "h2x"}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	defer func() { ln.Close(); <-done }()
	// The server refuses ALPN h2 (no overlap): crypto/tls fails the
	// handshake with no_application_protocol.
	r := probetest.Run(t, "grpcs://"+ln.Addr().String(), &probe.Options{RootCAs: pool})
	probetest.WantError(t, r, probe.ClassTLS, probe.CauseAlert, probe.PhaseTLS)
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		target string
		o      probe.Options
		cause  probe.Cause
		want   string
	}{
		{"grpc://127.0.0.1:1/pkg.Svc/M", probe.Options{}, probe.CauseTarget, "take no path"},
		{"grpc://127.0.0.1:1", probe.Options{GRPCMethod: "pkg.Svc/M"}, probe.CauseMethod, "want /package.Service/Method"},
		{"grpc://127.0.0.1:1", probe.Options{GRPCMethod: "/pkg.Svc"}, probe.CauseMethod, "want /package.Service/Method"},
		{"grpc://127.0.0.1:1", probe.Options{H2Window: 1000}, probe.CauseWindow, "below 65535"},
		{"grpc://127.0.0.1:1", probe.Options{H2ConnWindow: 65534}, probe.CauseWindow, "h2.conn_window: want 65535 or more (grpc-go ignores HTTP/2 windows below 65535 bytes), got 65534"},
	} {
		r := probetest.Run(t, tc.target, &tc.o)
		probetest.WantError(t, r, probe.ClassConfig, tc.cause, "")
		if !strings.Contains(r.Error.Message, tc.want) {
			t.Errorf("%s %+v: %q lacks %q", tc.target, tc.o, r.Error.Message, tc.want)
		}
		if len(r.Phases) != 0 {
			t.Errorf("config error after phases %v", probetest.PhaseNames(r))
		}
	}
}

func TestRefused(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	r := probetest.Run(t, "grpc://"+addr, nil)
	probetest.WantError(t, r, probe.ClassConnect, "refused", probe.PhaseConnect)
	if r.GRPC == nil || r.GRPC.StatusOrigin != "" {
		t.Errorf("grpc = %+v", r.GRPC)
	}
}

// settingsServer reads the client preface, its SETTINGS and the frames
// after it for a moment, then closes: it sees the windows the client
// announces.
func settingsServer(t *testing.T) (addr string, got func() (initial uint32, hasInitial bool, connIncrement uint32)) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var initial, incr uint32
	var has bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		pre := make([]byte, len(http2.ClientPreface))
		if _, err := io.ReadFull(c, pre); err != nil {
			return
		}
		fr := http2.NewFramer(c, c)
		_ = fr.WriteSettings()
		for i := 0; i < 4; i++ {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			mu.Lock()
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if v, ok := f.Value(http2.SettingInitialWindowSize); ok {
					initial, has = v, true
				}
			case *http2.WindowUpdateFrame:
				if f.StreamID == 0 {
					incr += f.Increment
				}
			}
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String(), func() (uint32, bool, uint32) {
		<-done
		mu.Lock()
		defer mu.Unlock()
		return initial, has, incr
	}
}

// --h2-window and --h2-conn-window reach grpc-go: the client announces
// them in its SETTINGS and first connection WINDOW_UPDATE.
func TestWindows(t *testing.T) {
	addr, got := settingsServer(t)
	r := probetest.Run(t, "grpc://"+addr, &probe.Options{Timeout: 2 * time.Second, H2Window: 70000, H2ConnWindow: 1 << 20})
	if r.Success {
		t.Fatalf("probe of a settings-only server succeeded")
	}
	initial, has, incr := got()
	if !has || initial != 70000 {
		t.Errorf("client INITIAL_WINDOW_SIZE = %d (sent %v), want 70000", initial, has)
	}
	if incr != 1<<20-65535 {
		t.Errorf("connection WINDOW_UPDATE = %d, want %d", incr, 1<<20-65535)
	}
	if r.GRPC.Window != 70000 || r.GRPC.ConnWindow != 1<<20 {
		t.Errorf("grpc windows %d %d", r.GRPC.Window, r.GRPC.ConnWindow)
	}
	// The frame tap saw the same SETTINGS go out.
	if r.H2 == nil || r.H2.Settings["client"]["INITIAL_WINDOW_SIZE"] != 70000 {
		t.Errorf("tapped settings %+v, want client INITIAL_WINDOW_SIZE 70000", h2Settings(r))
	}

	// Unset: grpc-go's defaults (BDP estimation on): no INITIAL_WINDOW_SIZE
	// other than grpc-go's own.
	addr, got = settingsServer(t)
	_ = probetest.Run(t, "grpc://"+addr, &probe.Options{Timeout: 2 * time.Second})
	initial, has, _ = got()
	if has && initial == 70000 {
		t.Errorf("default run announced the window of the previous run")
	}

	// Against a real server the windows hold for the whole call.
	s := newServer(t, nil)
	r = probetest.Run(t, "grpc://"+s.addr, &probe.Options{GRPCMethod: "/t.T/Stream",
		GRPCRequest: planReq(plan{N: 3, Size: 200000}), H2Window: 65535, H2ConnWindow: 65535})
	probetest.MustSucceed(t, r)
	if r.GRPC.Bytes != 600000 {
		t.Errorf("bytes %d", r.GRPC.Bytes)
	}
	if r.H2 != nil {
		if v, ok := r.H2.Settings["client"]["INITIAL_WINDOW_SIZE"]; ok && v != 65535 {
			t.Errorf("client INITIAL_WINDOW_SIZE %d, want 65535 (the default, so not sent or sent as is)", v)
		}
	}
}

func h2Settings(r *probe.Result) any {
	if r.H2 == nil {
		return nil
	}
	return r.H2.Settings
}

// Frames are tapped for gRPC too: the reset shows as RST_STREAM.
func TestFramesTapped(t *testing.T) {
	addr := h2Server(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		grpcFrames(w, 3)
		panic(http.ErrAbortHandler)
	})
	r := probetest.Run(t, "grpc://"+addr, &probe.Options{GRPCMethod: "/t.T/Stream"})
	if r.H2 == nil {
		t.Fatal("no h2 block")
	}
	var sawHeaders, sawRST bool
	for _, f := range r.H2.Frames {
		switch {
		case f.Type == "HEADERS" && f.Dir == probe.H2Send:
			sawHeaders = true
		case f.Type == "RST_STREAM" && f.Dir == probe.H2Recv && f.ErrCode == "INTERNAL_ERROR":
			sawRST = true
		}
	}
	if !sawHeaders || !sawRST {
		t.Errorf("frames %+v: want the request HEADERS and the server's RST_STREAM INTERNAL_ERROR", r.H2.Frames)
	}
}

// No goroutine of grpc-go outlives a probe, success or failure.
func TestNoLeaks(t *testing.T) {
	s := newServer(t, nil)
	base := goleak.IgnoreCurrent()
	for i := 0; i < 5; i++ {
		probetest.Run(t, "grpc://"+s.addr, nil)
		probetest.Run(t, "grpc://"+s.addr, &probe.Options{GRPCMethod: "/t.T/Nope"})
	}
	goleak.VerifyNone(t, base)
}

// A server streaming without end: the probe ends within its budget, with
// the gaps list bounded.
func TestEndlessStream(t *testing.T) {
	s := newServer(t, nil)
	r := probetest.Run(t, "grpc://"+s.addr, &probe.Options{Timeout: time.Second, GRPCMethod: "/t.T/Stream",
		GRPCRequest: planReq(plan{N: 1 << 30, Size: 1})})
	probetest.WantError(t, r, probe.ClassTimeout, probe.CauseDeadline, probe.PhaseStream)
	if r.TotalMS > 1500 || len(r.GRPC.GapsMS) > probe.MaxGRPCGaps || r.GRPC.Messages < 1000 {
		t.Errorf("took %.0f ms, %d messages, %d gaps", r.TotalMS, r.GRPC.Messages, len(r.GRPC.GapsMS))
	}
}

// More than the connection's read cap: stopped by pathlens, said so, not
// a truncation by the server.
func TestReadCap(t *testing.T) {
	s := newServer(t, nil)
	r := probetest.Run(t, "grpc://"+s.addr, &probe.Options{Timeout: 10 * time.Second, MaxBody: 1, GRPCMethod: "/t.T/Stream",
		GRPCRequest: planReq(plan{N: 1000, Size: 1 << 20})})
	probetest.WantError(t, r, probe.ClassProtocol, "read_cap", "")
	if r.GRPC.NoTrailers || r.GRPC.StatusOrigin != probe.GRPCStatusClient || r.GRPC.Messages > 64 {
		t.Errorf("grpc = %+v", r.GRPC)
	}
}
