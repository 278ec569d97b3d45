package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/pathlens/pathlens/probe"
)

// systemRoots loads the system trust store once for every client in the
// process (x509.SystemCertPool returns a fresh copy on every call).
var systemRoots = sync.OnceValue(func() *x509.CertPool {
	pool, err := x509.SystemCertPool()
	if err != nil {
		return nil // crypto/tls then falls back to its own system pool
	}
	return pool
})

// SystemRoots returns the system root pool shared by every client New
// makes. It is loaded on first use; nil when the platform has none. Do
// not add certificates to it: Clone it first.
func SystemRoots() *x509.CertPool { return systemRoots() }

// New returns an *http.Client with safe defaults (see docs/library.md),
// adjusted by opts. Its Transport is a *Transport wrapping an
// *http.Transport; call CloseIdleConnections when done with the client.
// Its CheckRedirect strips credentials from a redirect that leaves the
// first request's origin (see WithCheckRedirect).
func New(opts ...Option) *http.Client {
	cfg := defaults()
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	return &http.Client{Transport: newTransport(cfg), CheckRedirect: checkRedirect(cfg.checkRedirect)}
}

// Transport is the http.RoundTripper of the clients New makes: the
// overall deadline, retries, observation, metrics, tracing and the strict
// Content-Length check around an *http.Transport.
type Transport struct {
	base     *http.Transport
	cfg      config
	retry    *Retry
	observer func(probe.Result)
	met      *metrics
	tracer   trace.Tracer
	// observe is true when anything needs the phase timeline.
	observe bool
	// lastTarget memoises Result.Target (see target).
	lastTarget atomic.Pointer[targetMemo]
}

func newTransport(cfg config) *Transport {
	t := &Transport{cfg: cfg, retry: cfg.retry, observer: cfg.observer}
	if cfg.registry != nil {
		t.met = newMetrics(cfg.registry)
	}
	if cfg.tracer != nil {
		t.tracer = cfg.tracer.Tracer(instrumentationName)
	}
	t.observe = t.observer != nil || t.met != nil || t.tracer != nil
	t.base = buildBase(cfg)
	if t.observe {
		t.base.DialContext = t.dialer(t.base.DialContext)
	}
	return t
}

// instrumentationName names the tracer (the package import path).
const instrumentationName = "github.com/pathlens/pathlens/client"

func buildBase(cfg config) *http.Transport {
	to := cfg.timeouts
	dialer := &net.Dialer{Timeout: pos(to.Dial), KeepAlive: to.TCPKeepAlive}
	b := &http.Transport{
		Proxy:                  cfg.proxy,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        tlsConfig(cfg.tls),
		TLSHandshakeTimeout:    pos(to.TLSHandshake),
		ResponseHeaderTimeout:  pos(to.ResponseHeader),
		ExpectContinueTimeout:  pos(to.ExpectContinue),
		IdleConnTimeout:        pos(to.IdleConn),
		MaxIdleConns:           cfg.pool.MaxIdleConns,
		MaxIdleConnsPerHost:    cfg.pool.MaxIdleConnsPerHost,
		MaxConnsPerHost:        cfg.pool.MaxConnsPerHost,
		MaxResponseHeaderBytes: cfg.pool.MaxResponseHeaderBytes,
	}
	var p http.Protocols
	p.SetHTTP1(true)
	if !cfg.h2.Disable {
		// A custom dialer and TLS config turn net/http's automatic
		// HTTP/2 off (golang/go#14275); say so explicitly.
		p.SetHTTP2(true)
		b.ForceAttemptHTTP2 = true
		b.HTTP2 = &http.HTTP2Config{
			SendPingTimeout:             pos(cfg.h2.ReadIdleTimeout),
			PingTimeout:                 pos(cfg.h2.PingTimeout),
			WriteByteTimeout:            pos(cfg.h2.WriteByteTimeout),
			StrictMaxConcurrentRequests: cfg.h2.StrictMaxConcurrentRequests,
		}
	} else {
		b.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	b.Protocols = &p
	return b
}

// dialer wraps dial: the dial hooks of the request that dials (DNS and
// connect phases), the dial counters, and a trackedConn for the pool
// gauges and the per-connection facts.
func (t *Transport) dialer(dial func(context.Context, string, string) (net.Conn, error)) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if ac, ok := ctx.Value(exchangeKey{}).(*attemptCtx); ok {
			if x := ac.claim(); x != nil {
				ctx = httptrace.WithClientTrace(ctx, x.dialTrace())
			}
		}
		c, err := dial(ctx, network, addr)
		if err != nil {
			if t.met != nil {
				t.met.dialFail.Inc()
			}
			return nil, err
		}
		if t.met != nil {
			t.met.dialOK.Inc()
		}
		return newTrackedConn(c, t.met), nil
	}
}

// tlsConfig fills in the defaults where base leaves them unset.
func tlsConfig(base *tls.Config) *tls.Config {
	c := base
	if c == nil {
		c = &tls.Config{}
	}
	if c.RootCAs == nil {
		c.RootCAs = systemRoots()
	}
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	if c.ClientSessionCache == nil {
		c.ClientSessionCache = tls.NewLRUClientSessionCache(DefaultTLSSessionCache)
	}
	return c
}

// Base returns the *http.Transport underneath, for inspection and for
// settings the options do not cover. Changing it after the first request
// is a data race, as for any http.Transport.
func (t *Transport) Base() *http.Transport { return t.base }

// Unwrap returns the transport underneath (the convention Audit follows
// through wrappers).
func (t *Transport) Unwrap() http.RoundTripper { return t.base }

// CloseIdleConnections closes the pooled connections that are idle.
func (t *Transport) CloseIdleConnections() { t.base.CloseIdleConnections() }

// RoundTrip sends req under the overall deadline, with retries when
// configured, observing each attempt.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	var cancel context.CancelFunc
	var budget time.Duration // for Result.TimeoutMS
	var start time.Time      // of the first attempt, when the deadline gives it
	if dl, ok := ctx.Deadline(); ok {
		if t.observe {
			budget = time.Until(dl)
		}
	} else if d := t.cfg.timeouts.Request; d > 0 && !isUpgrade(req) {
		ctx, cancel = context.WithTimeout(ctx, d)
		budget = d
		if dl, ok := ctx.Deadline(); ok && t.observe {
			start = dl.Add(-d) // WithTimeout read the clock just now
		}
	}
	if t.retry != nil {
		return t.roundTripRetry(ctx, req, cancel, budget)
	}
	x, resp, err := t.attempt(ctx, req, 1, nil, budget, start)
	return t.settle(x, resp, err, cancel)
}

// settle finishes an attempt that is final: on error at once, on a
// response when its body is done (which also releases the deadline).
func (t *Transport) settle(x *exchange, resp *http.Response, err error, cancel context.CancelFunc) (*http.Response, error) {
	if err != nil {
		if x != nil {
			x.finish(err, time.Time{})
		}
		if cancel != nil {
			cancel()
		}
		return nil, err
	}
	t.wrapBody(x, resp, cancel)
	return resp, nil
}

// isUpgrade reports a protocol upgrade (WebSocket): the connection
// outlives the request, so the default deadline must not close it.
func isUpgrade(req *http.Request) bool {
	return req.Header.Get("Upgrade") != "" || strings.EqualFold(req.Header.Get("Connection"), "upgrade")
}

// attempt sends one attempt of req under ctx, started at start (zero:
// now). n counts attempts from 1; note annotates a retry. The exchange
// (nil when nothing observes) is not finished: the caller settles it.
func (t *Transport) attempt(ctx context.Context, req *http.Request, n int, note *retryNote, budget time.Duration, start time.Time) (*exchange, *http.Response, error) {
	r := req
	var x *exchange
	if t.observe {
		x = t.newExchange(ctx, req, n, note, budget, start)
		ctx = x.ctx
	}
	if ctx != req.Context() || n > 1 || (x != nil && x.span != nil) {
		r = req.WithContext(ctx)
		if x != nil && x.span != nil {
			r.Header = req.Header.Clone()
			if r.Header == nil {
				r.Header = http.Header{}
			}
			x.inject(r.Header)
		}
		if n > 1 && req.Body != nil && req.Body != http.NoBody {
			body, err := req.GetBody()
			if err != nil {
				return x, nil, err
			}
			r.Body = body
		}
	}
	resp, err := t.base.RoundTrip(r)
	if x != nil {
		x.roundTripped(resp, err)
	}
	return x, resp, err
}
