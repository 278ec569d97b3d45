package client_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/pathlens/pathlens/client"
	"github.com/pathlens/pathlens/probe"
)

func exampleServer() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }))
}

// drainGet is the usual GET: read the body to the end, close it.
func drainGet(c *http.Client, url string) (*http.Response, error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp, err
}

func ids(fs []probe.Finding) string {
	var out []string
	for _, f := range fs {
		out = append(out, f.ID)
	}
	if len(out) == 0 {
		return "none"
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// Before and after: the findings Audit reports for http.DefaultClient,
// and two ways to a client with none — client.New, or fixing a copy of
// the default transport by hand.
func Example_beforeAfter() {
	fmt.Println("before:", ids(client.Audit(http.DefaultClient)))

	// After, the short way.
	safe := client.New()
	defer safe.CloseIdleConnections()
	fmt.Println("client.New():", ids(client.Audit(safe)))

	// After, by hand.
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 10 * time.Second // a server that never answers
	t.MaxIdleConnsPerHost = 64                 // keep connections under concurrency
	t.Proxy = nil                              // no proxy unless the code says so
	byHand := &http.Client{Timeout: 30 * time.Second, Transport: t}
	fmt.Println("by hand:", ids(client.Audit(byHand)))
	// Output:
	// before: CLIENT_NO_RESPONSE_HEADER_TIMEOUT CLIENT_NO_TIMEOUT CLIENT_PROXY_FROM_ENVIRONMENT CLIENT_SMALL_IDLE_POOL
	// client.New(): none
	// by hand: none
}

func ExampleNew() {
	srv := exampleServer()
	defer srv.Close()

	c := client.New()
	defer c.CloseIdleConnections()
	resp, err := drainGet(c, srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Status)
	// Output: 200 OK
}

// Audit in a test: fail on anything worse than info.
func ExampleAudit() {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12} // turns HTTP/2 off silently
	t.ForceAttemptHTTP2 = false
	c := &http.Client{Timeout: 5 * time.Second, Transport: t}

	for _, f := range client.Audit(c) {
		if f.Severity != probe.SeverityInfo {
			fmt.Printf("%s (%s)\n", f.ID, f.Severity) // in a test: t.Errorf("%s: %s — %s", f.ID, f.Summary, f.Advice)
		}
	}
	// Output:
	// CLIENT_NO_RESPONSE_HEADER_TIMEOUT (warning)
	// CLIENT_SMALL_IDLE_POOL (warning)
	// CLIENT_H2_DISABLED (warning)
}

func ExampleWithTimeouts() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // a server that thinks too long
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()

	c := client.New(client.WithTimeouts(client.Timeouts{ResponseHeader: 50 * time.Millisecond}))
	defer c.CloseIdleConnections()
	_, err := c.Get(srv.URL)
	var ne net.Error
	fmt.Println("timed out:", errors.As(err, &ne) && ne.Timeout())
	// Output: timed out: true
}

func ExampleWithPool() {
	c := client.New(client.WithPool(client.Pool{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 512}))
	defer c.CloseIdleConnections()
	b := c.Transport.(*client.Transport).Base()
	fmt.Println(b.MaxIdleConnsPerHost, b.MaxConnsPerHost, b.MaxIdleConns)
	// Output: 256 512 512
}

// A private CA in a custom TLS config; HTTP/2 stays on.
func ExampleWithTLS() {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())

	c := client.New(client.WithTLS(&tls.Config{RootCAs: roots}))
	defer c.CloseIdleConnections()
	resp, err := drainGet(c, srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Proto)
	// Output: HTTP/2.0
}

func ExampleWithHTTP2() {
	c := client.New(client.WithHTTP2(client.HTTP2{ReadIdleTimeout: 15 * time.Second, PingTimeout: 5 * time.Second}))
	defer c.CloseIdleConnections()
	h2 := c.Transport.(*client.Transport).Base().HTTP2
	fmt.Println(h2.SendPingTimeout, h2.PingTimeout)

	off := client.New(client.WithHTTP2(client.HTTP2{Disable: true}))
	defer off.CloseIdleConnections()
	fmt.Println(off.Transport.(*client.Transport).Base().Protocols)
	// Output:
	// 15s 5s
	// {HTTP1}
}

func ExampleWithRetry() {
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n++; n < 3 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	c := client.New(
		client.WithRetry(client.Retry{MaxAttempts: 4}),
		client.WithObserver(func(r probe.Result) {
			fmt.Printf("%d %v\n", r.HTTP.Status, ids(r.Findings))
		}))
	defer c.CloseIdleConnections()
	resp, err := drainGet(c, srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("caller sees", resp.StatusCode)
	// Output:
	// 503 none
	// 503 CLIENT_RETRY
	// 200 CLIENT_RETRY
	// caller sees 200
}

func ExampleWithStrictContentLength() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, _ := http.NewResponseController(w).Hijack()
		defer conn.Close()
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")
		buf.Flush()
	}))
	defer srv.Close()

	c := client.New(client.WithStrictContentLength())
	defer c.CloseIdleConnections()
	_, err := drainGet(c, srv.URL)
	var te *client.TruncatedError
	if errors.As(err, &te) {
		fmt.Printf("truncated: %d of %d bytes (ErrTruncated: %v)\n", te.Got, te.Want, errors.Is(err, client.ErrTruncated))
	}
	// Output: truncated: 5 of 10 bytes (ErrTruncated: true)
}

func ExampleWithObserver() {
	srv := exampleServer()
	defer srv.Close()

	c := client.New(client.WithObserver(func(r probe.Result) {
		var names []string
		for _, p := range r.Phases {
			names = append(names, p.Name)
		}
		fmt.Println(r.HTTP.Status, "reused:", r.Conn.Reused, names)
	}))
	defer c.CloseIdleConnections()
	for range 2 {
		if _, err := drainGet(c, srv.URL); err != nil {
			fmt.Println(err)
		}
	}
	// Output:
	// 200 reused: false [connect request wait transfer]
	// 200 reused: true [request wait transfer]
}

func ExampleWithMetrics() {
	srv := exampleServer()
	defer srv.Close()
	reg := prometheus.NewRegistry()

	c := client.New(client.WithMetrics(reg))
	defer c.CloseIdleConnections()
	if _, err := drainGet(c, srv.URL); err != nil {
		fmt.Println(err)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		fmt.Println(mf.GetName())
	}
	// Output:
	// pathlens_client_connections_idle
	// pathlens_client_connections_in_use
	// pathlens_client_connections_open
	// pathlens_client_dials_total
	// pathlens_client_phase_duration_seconds
	// pathlens_client_request_duration_seconds
	// pathlens_client_requests_total
	// pathlens_client_retries_stopped_total
	// pathlens_client_retries_total
	// pathlens_client_retry_after_capped_total
}

func ExampleWithTracing() {
	var traceparent string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		traceparent = r.Header.Get("traceparent")
	}))
	defer srv.Close()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())

	c := client.New(client.WithTracing(tp))
	defer c.CloseIdleConnections()
	if _, err := drainGet(c, srv.URL); err != nil {
		fmt.Println(err)
	}
	var names []string
	for _, s := range spans.Ended() {
		names = append(names, s.Name())
	}
	fmt.Println(strings.Join(names, " "))
	fmt.Println("traceparent names the GET span:", strings.Contains(traceparent, spans.Ended()[4].SpanContext().SpanID().String()))
	// Output:
	// connect request wait transfer GET
	// traceparent names the GET span: true
}

func ExampleWithProxy() {
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "proxied ", r.URL)
	}))
	defer proxy.Close()
	pu, _ := url.Parse(proxy.URL)

	c := client.New(client.WithProxy(http.ProxyURL(pu)))
	defer c.CloseIdleConnections()
	resp, err := c.Get("http://service.invalid/x")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	fmt.Println(line)
	// Output: proxied http://service.invalid/x
}

func ExampleGRPCDialOptions() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(ln)
	defer srv.Stop()

	results := make(chan probe.Result, 1)
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())},
		client.GRPCDialOptions(client.WithObserver(func(r probe.Result) { results <- r }))...)
	conn, err := grpc.NewClient(ln.Addr().String(), opts...)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	if _, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		fmt.Println(err)
		return
	}
	r := <-results
	var names []string
	for _, p := range r.Phases {
		names = append(names, p.Name)
	}
	fmt.Println(r.Kind, r.Success, names)
	// Output: grpc true [request wait transfer]
}

// Keepalive for servers whose enforcement policy allows pings every 30 s.
func ExampleWithGRPCKeepalive() {
	opts := client.GRPCDialOptions(client.WithGRPCKeepalive(keepalive.ClientParameters{
		Time:    30 * time.Second, // the server must set EnforcementPolicy.MinTime ≤ 30 s
		Timeout: 10 * time.Second,
	}))
	fmt.Println(len(opts), "dial option: keepalive")
	// Output: 1 dial option: keepalive
}

// Static windows cap memory per stream and connection, and turn off BDP
// estimation: use them only when memory matters more than throughput.
func ExampleWithGRPCWindow() {
	opts := client.GRPCDialOptions(client.WithGRPCWindow(256<<10, 1<<20))
	fmt.Println(len(opts), "dial options: keepalive, stream window, connection window")
	// Output: 3 dial options: keepalive, stream window, connection window
}
