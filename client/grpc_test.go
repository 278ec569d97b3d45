package client_test

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/pathlens/pathlens/client"
	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/probe"
)

// grpcServer serves the standard health service on 127.0.0.1.
func grpcServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, health.NewServer())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ln) }()
	t.Cleanup(func() { s.Stop(); <-done })
	return ln.Addr().String()
}

func grpcDial(t *testing.T, addr string, opts ...client.Option) healthpb.HealthClient {
	t.Helper()
	dopts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, client.GRPCDialOptions(opts...)...)
	conn, err := grpc.NewClient(addr, dopts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return healthpb.NewHealthClient(conn)
}

// TestGRPCObserver: each RPC hands the observer (and the metrics) a
// Result with the request, wait and transfer phases and the status.
func TestGRPCObserver(t *testing.T) {
	addr := grpcServer(t)
	var col collector
	reg := newRegistry()
	hc := grpcDial(t, addr, client.WithObserver(col.observe), client.WithMetrics(reg))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check: %v %v", r, err)
	}
	_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("Check(nope): %v", err)
	}
	wctx, wcancel := context.WithCancel(ctx)
	stream, err := hc.Watch(wctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	wcancel()
	for {
		if _, err := stream.Recv(); err != nil {
			if status.Code(err) != codes.Canceled {
				t.Fatalf("Watch: %v", err)
			}
			break
		}
	}

	var rs []probe.Result
	deadline := time.Now().Add(5 * time.Second)
	for len(rs) < 3 && time.Now().Before(deadline) {
		rs = col.all()
		time.Sleep(5 * time.Millisecond)
	}
	if len(rs) != 3 {
		t.Fatalf("%d Results, want 3", len(rs))
	}
	cases := []struct {
		name   string
		r      probe.Result
		target string
		class  probe.ErrorClass
		cause  string
	}{
		{"ok", rs[0], "/grpc.health.v1.Health/Check", "", ""},
		{"not found", rs[1], "/grpc.health.v1.Health/Check", probe.ClassHTTP, "not_found"},
		{"canceled", rs[2], "/grpc.health.v1.Health/Watch", probe.ClassCanceled, "canceled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			if r.Kind != "grpc" || r.Target != "grpc://"+addr+tc.target || r.Schema != probe.Schema {
				t.Errorf("kind %q target %q", r.Kind, r.Target)
			}
			if got := probetest.PhaseNames(&r); !slices.Equal(got, []string{"request", "wait", "transfer"}) {
				t.Errorf("phases %v", got)
			}
			if r.Conn == nil || r.Conn.RemoteAddr != addr {
				t.Errorf("conn %+v", r.Conn)
			}
			if tc.class == "" {
				if !r.Success || r.Error != nil || r.HTTP.BodyBytes == 0 {
					t.Errorf("success=%v err=%+v http=%+v", r.Success, r.Error, r.HTTP)
				}
				return
			}
			if r.Success || r.Error == nil || r.Error.Class != tc.class || r.Error.Cause != tc.cause {
				t.Errorf("error %+v, want %s/%s", r.Error, tc.class, tc.cause)
			}
		})
	}
	if got := counterValue(t, reg, client.MetricRequests, "outcome", "2xx"); got != 1 {
		t.Errorf("requests{2xx} %v", got)
	}
	if got := counterValue(t, reg, client.MetricRequests, "outcome", "canceled"); got != 1 {
		t.Errorf("requests{canceled} %v", got)
	}
	if got := counterValue(t, reg, client.MetricPhaseDuration, "phase", "wait"); got != 3 {
		t.Errorf("wait observations %v", got)
	}
}

// TestGRPCDialOptions: keepalive always, windows only when asked (BDP
// estimation stays on otherwise), the stats handler only with something
// to feed; every combination dials and serves.
func TestGRPCDialOptions(t *testing.T) {
	addr := grpcServer(t)
	cases := []struct {
		name string
		opts []client.Option
		n    int
	}{
		{"defaults: keepalive only", nil, 1},
		{"window asked", []client.Option{client.WithGRPCWindow(1<<20, 4<<20)}, 3},
		{"observer", []client.Option{client.WithObserver(func(probe.Result) {})}, 2},
		{"metrics", []client.Option{client.WithMetrics(newRegistry())}, 2},
		{"custom keepalive", []client.Option{client.WithGRPCKeepalive(keepalive.ClientParameters{Time: time.Minute, Timeout: 5 * time.Second})}, 1},
		{"HTTP-only options are ignored", []client.Option{client.WithRetry(client.Retry{}), client.WithStrictContentLength()}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := len(client.GRPCDialOptions(tc.opts...)); got != tc.n {
				t.Fatalf("%d dial options, want %d", got, tc.n)
			}
			hc := grpcDial(t, addr, tc.opts...)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
