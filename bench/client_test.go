package bench

// Benchmarks of the client library (package client) against a plain
// http.Client on the same httptest server, interleaved (see interleave):
// "base" is the plain client, "pathlens" is client.New with the options
// named. Each also reports allocations per request of either side
// (testing.AllocsPerRun, client and in-process server together).
//
// Tracing uses the OpenTelemetry SDK's TracerProvider with AlwaysSample
// and no span processor: every span is built, timed and ended, then
// dropped — the cost of tracing without the cost of exporting.

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/pathlens/pathlens/client"
	"github.com/pathlens/pathlens/probe"
)

// clientPair compares a plain client with client.New(opts...) on GET of
// a 3-byte body over a kept-alive HTTP/1.1 connection. base, when set,
// replaces the plain client's request function.
func clientPair(b *testing.B, base func(c *http.Client, url string) error, opts ...client.Option) {
	clientPairOn(b, false, nil, base, opts...)
}

// clientPairOn is clientPair over HTTPS when tls is set, and with
// baseClient (when not nil) as the "plain" side.
func clientPairOn(b *testing.B, tls bool, baseClient *http.Client, base func(c *http.Client, url string) error, opts ...client.Option) {
	srv := httptest.NewUnstartedServer(okHandler())
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	defer srv.Close()
	plain := &http.Client{Transport: &http.Transport{}}
	if tls {
		plain = &http.Client{Transport: &http.Transport{TLSClientConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig}}
		opts = append(opts, client.WithTLS(srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()))
	}
	if baseClient != nil {
		plain = baseClient
	}
	defer plain.CloseIdleConnections()
	cand := client.New(opts...)
	defer cand.CloseIdleConnections()
	if base == nil {
		base = func(c *http.Client, url string) error { return drain(c.Get(url)) }
	}
	bf := func() error { return base(plain, srv.URL) }
	cf := func() error { return drain(cand.Get(srv.URL)) }
	// Warm both pools, then count allocations per request of each side.
	for range 10 {
		if err := bf(); err != nil {
			b.Fatal(err)
		}
		if err := cf(); err != nil {
			b.Fatal(err)
		}
	}
	ab := testing.AllocsPerRun(200, func() { _ = bf() })
	ac := testing.AllocsPerRun(200, func() { _ = cf() })
	interleave(b, bf, cf)
	b.ReportMetric(ab, "base-allocs/op")
	b.ReportMetric(ac, "pathlens-allocs/op")
}

func noopObserver(probe.Result) {}

// BenchmarkClientDefaults: client.New() with nothing on — the cost of
// the safe defaults themselves (mainly the per-request deadline).
func BenchmarkClientDefaults(b *testing.B) { clientPair(b, nil) }

// BenchmarkClientObserverMetrics: observer and metrics on (the ≤ 5 %
// CPU goal in docs/benchmarks.md).
func BenchmarkClientObserverMetrics(b *testing.B) {
	clientPair(b, nil, client.WithObserver(noopObserver), client.WithMetrics(prometheus.NewRegistry()))
}

// BenchmarkClientObserverMetricsVsDeadline: the same, against a plain
// client whose requests carry a deadline too, which isolates what the
// instrumentation adds from what the deadline costs inside net/http.
func BenchmarkClientObserverMetricsVsDeadline(b *testing.B) {
	clientPair(b, withDeadline, client.WithObserver(noopObserver), client.WithMetrics(prometheus.NewRegistry()))
}

// BenchmarkClientObserverMetricsVsSameTimeouts: the same, against a
// plain client given every timeout client.New sets: the deadline on
// each request and the transport's timeouts, of which two cost net/http
// a timer operation per request (ResponseHeaderTimeout, a timer while
// the response head is awaited; IdleConnTimeout, the idle connection's
// timer stopped and reset). What is left is the library's own cost.
func BenchmarkClientObserverMetricsVsSameTimeouts(b *testing.B) {
	same := &http.Client{Transport: &http.Transport{
		TLSHandshakeTimeout:   client.DefaultTLSHandshakeTimeout,
		ResponseHeaderTimeout: client.DefaultResponseHeaderTimeout,
		ExpectContinueTimeout: client.DefaultExpectContinueTimeout,
		IdleConnTimeout:       client.DefaultIdleConnTimeout,
	}}
	clientPairOn(b, false, same, withDeadline, client.WithObserver(noopObserver), client.WithMetrics(prometheus.NewRegistry()))
}

// withDeadline sends GET url through c with client.New's default
// deadline on the request, as a plain client configured as safely would.
func withDeadline(c *http.Client, url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), client.DefaultRequestTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	return drain(c.Do(req))
}

// BenchmarkClientFull: observer, metrics and tracing (SDK provider,
// always sampled, no exporter).
func BenchmarkClientFull(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	defer tp.Shutdown(context.Background())
	clientPair(b, nil, client.WithObserver(noopObserver), client.WithMetrics(prometheus.NewRegistry()), client.WithTracing(tp))
}

// BenchmarkClientInstrumentationOnly: what turning observer and metrics
// on costs, against client.New() with the same safe defaults (deadline,
// transport timeouts) and nothing observing — the instrumentation alone.
func BenchmarkClientInstrumentationOnly(b *testing.B) {
	clientPairOn(b, false, client.New(), nil, client.WithObserver(noopObserver), client.WithMetrics(prometheus.NewRegistry()))
}

// BenchmarkClientObserverMetricsTLS: observer and metrics on against a
// plain client, over a kept-alive HTTPS (HTTP/2) connection, where a
// request also pays for TLS records as it would against a real service.
func BenchmarkClientObserverMetricsTLS(b *testing.B) {
	clientPairOn(b, true, nil, nil, client.WithObserver(noopObserver), client.WithMetrics(prometheus.NewRegistry()))
}

// BenchmarkClientObserverMetricsSaturated: observer and metrics on
// against a plain client with the cores kept busy (see
// interleaveSaturated); each worker has its own pair of clients.
func BenchmarkClientObserverMetricsSaturated(b *testing.B) {
	srv := httptest.NewServer(okHandler())
	defer srv.Close()
	interleaveSaturated(b, func() (func() error, func() error) {
		plain := &http.Client{Transport: &http.Transport{}}
		cand := client.New(client.WithObserver(noopObserver), client.WithMetrics(prometheus.NewRegistry()))
		b.Cleanup(plain.CloseIdleConnections)
		b.Cleanup(cand.CloseIdleConnections)
		return func() error { return drain(plain.Get(srv.URL)) }, func() error { return drain(cand.Get(srv.URL)) }
	})
}

// BenchmarkClientInstrumentationOnlySaturated: observer and metrics
// against client.New() defaults, cores kept busy.
func BenchmarkClientInstrumentationOnlySaturated(b *testing.B) {
	srv := httptest.NewServer(okHandler())
	defer srv.Close()
	interleaveSaturated(b, func() (func() error, func() error) {
		def := client.New()
		cand := client.New(client.WithObserver(noopObserver), client.WithMetrics(prometheus.NewRegistry()))
		b.Cleanup(def.CloseIdleConnections)
		b.Cleanup(cand.CloseIdleConnections)
		return func() error { return drain(def.Get(srv.URL)) }, func() error { return drain(cand.Get(srv.URL)) }
	})
}

// BenchmarkClientNoTimers: client.New with the per-request deadline and
// the response-header timeout switched off, against a plain client —
// what the rest of the defaults cost.
func BenchmarkClientNoTimers(b *testing.B) {
	clientPair(b, nil, client.WithTimeouts(client.Timeouts{ResponseHeader: -1, Request: -1}))
}

// BenchmarkPlainWithTimers: a plain client given the same two timers
// (a context deadline on each request, Transport.ResponseHeaderTimeout)
// against a plain client without them — what safety costs any client.
func BenchmarkPlainWithTimers(b *testing.B) {
	srv := httptest.NewServer(okHandler())
	defer srv.Close()
	plain := &http.Client{Transport: &http.Transport{}}
	timed := &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: client.DefaultResponseHeaderTimeout}}
	defer plain.CloseIdleConnections()
	defer timed.CloseIdleConnections()
	interleave(b, func() error { return drain(plain.Get(srv.URL)) }, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), client.DefaultRequestTimeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		return drain(timed.Do(req))
	})
}
