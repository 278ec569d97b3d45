package client

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/keepalive"

	"github.com/pathlens/pathlens/probe"
)

// Defaults. docs/library.md gives the reason for each value; a test keeps
// the two in step.
const (
	// DefaultDialTimeout bounds name resolution plus TCP connect
	// (net.Dialer.Timeout): enough for two SYN retransmissions (1 s, 3 s)
	// on a lossy path, short enough that a black-holed address fails fast.
	DefaultDialTimeout = 5 * time.Second
	// DefaultTCPKeepAlive is the TCP keep-alive probe interval, so a peer
	// that vanished is noticed on an idle pooled connection.
	DefaultTCPKeepAlive = 30 * time.Second
	// DefaultTLSHandshakeTimeout bounds the handshake: one or two round
	// trips plus certificate verification take well under a second on any
	// sane path; a server still handshaking after 5 s is broken.
	DefaultTLSHandshakeTimeout = 5 * time.Second
	// DefaultResponseHeaderTimeout bounds the wait from request written to
	// response headers (server think time), separately from the body.
	DefaultResponseHeaderTimeout = 10 * time.Second
	// DefaultExpectContinueTimeout is how long a request with
	// "Expect: 100-continue" waits before sending its body anyway.
	DefaultExpectContinueTimeout = 1 * time.Second
	// DefaultIdleConnTimeout closes pooled connections idle this long:
	// below the common server and load-balancer keep-alive timeouts (AWS
	// ALB 60 s, nginx 75 s) so the client closes first and never sends a
	// request down a connection the server is closing.
	DefaultIdleConnTimeout = 50 * time.Second
	// DefaultRequestTimeout is the overall deadline of a request (all
	// retries, the body read included) whose context has none.
	DefaultRequestTimeout = 30 * time.Second
	// DefaultMaxIdleConns bounds idle connections over all hosts.
	DefaultMaxIdleConns = 512
	// DefaultMaxIdleConnsPerHost keeps up to 64 idle connections per host
	// (net/http keeps 2): with more concurrent requests than idle slots,
	// every burst closes and redials connections (TIME_WAIT, handshakes).
	DefaultMaxIdleConnsPerHost = 64
	// DefaultMaxResponseHeaderBytes caps response headers at 1 MiB
	// (net/http allows 10 MB) so a hostile server cannot feed endless headers.
	DefaultMaxResponseHeaderBytes = 1 << 20
	// DefaultH2ReadIdleTimeout is how long an HTTP/2 connection may receive
	// nothing before the client sends a PING health check.
	DefaultH2ReadIdleTimeout = 30 * time.Second
	// DefaultH2PingTimeout closes an HTTP/2 connection whose PING is not
	// answered in time, so requests stop queueing on a dead connection.
	DefaultH2PingTimeout = 10 * time.Second
	// DefaultH2WriteByteTimeout closes an HTTP/2 connection on which no
	// byte could be written for this long (a peer that stopped reading).
	DefaultH2WriteByteTimeout = 10 * time.Second
	// DefaultTLSSessionCache is the size of each client's TLS session
	// cache, so reconnections resume instead of doing a full handshake.
	DefaultTLSSessionCache = 128
)

// Retry defaults (used when WithRetry leaves a field zero).
const (
	// DefaultRetryAttempts counts the first attempt: it rides out a blip
	// without tripling the load on a server that is failing.
	DefaultRetryAttempts = 3
	// DefaultRetryBaseDelay and DefaultRetryMaxDelay shape the full-jitter
	// backoff, which spreads the retries of many clients.
	DefaultRetryBaseDelay = 100 * time.Millisecond
	DefaultRetryMaxDelay  = 2 * time.Second
	// DefaultRetryMaxRetryAfter caps a server's Retry-After: a server
	// asking for minutes should not hold a request that long silently.
	DefaultRetryMaxRetryAfter = 10 * time.Second
)

// Timeouts bounds each phase of a request. A zero field keeps the default;
// a negative field removes that bound (Audit will report it).
type Timeouts struct {
	Dial           time.Duration // DNS + TCP connect (default 5 s)
	TCPKeepAlive   time.Duration // TCP keep-alive probe interval (default 30 s)
	TLSHandshake   time.Duration // TLS handshake (default 5 s)
	ResponseHeader time.Duration // request written → response headers (default 10 s)
	ExpectContinue time.Duration // wait for "100 Continue" (default 1 s)
	IdleConn       time.Duration // idle pooled connection lifetime (default 50 s)
	// Request is the overall deadline of a request whose context has no
	// deadline of its own (default 30 s). A context deadline always wins,
	// longer or shorter. It covers every retry and the body read, and
	// applies per request sent, so each redirect hop gets its own.
	Request time.Duration
}

// Pool sizes the connection pool. A zero field keeps the default.
type Pool struct {
	MaxIdleConns        int // idle connections over all hosts (default 512)
	MaxIdleConnsPerHost int // idle connections per host (default 64)
	// MaxConnsPerHost caps connections per host, dialing, in use and idle
	// (default 0: no cap — a cap makes requests queue for a connection,
	// bounded only by their deadline).
	MaxConnsPerHost int
	// MaxResponseHeaderBytes caps response headers (default 1 MiB).
	MaxResponseHeaderBytes int64
}

// HTTP2 configures HTTP/2. The zero value keeps it on with the default
// health checks.
type HTTP2 struct {
	// Disable turns HTTP/2 off (HTTP/1.1 only).
	Disable bool
	// ReadIdleTimeout: after this long without a frame the client sends
	// a PING (default 30 s; negative: no health check).
	ReadIdleTimeout time.Duration
	// PingTimeout: a PING unanswered this long closes the connection
	// (default 10 s).
	PingTimeout time.Duration
	// WriteByteTimeout: no byte written for this long closes the
	// connection (default 10 s; negative: no bound).
	WriteByteTimeout time.Duration
	// StrictMaxConcurrentRequests makes requests wait for a stream on an
	// existing connection instead of opening another one when the
	// server's concurrency limit is reached.
	StrictMaxConcurrentRequests bool
}

// Retry configures retries (WithRetry). Zero fields take the defaults.
type Retry struct {
	// MaxAttempts counts every attempt, the first included (default 3).
	MaxAttempts int
	// BaseDelay and MaxDelay shape the backoff: before retry n (1, 2, …)
	// the client sleeps a uniformly random time in
	// [0, min(MaxDelay, BaseDelay·2^(n-1))) — "full jitter"
	// (defaults 100 ms and 2 s).
	BaseDelay, MaxDelay time.Duration
	// MaxRetryAfter caps how long a server's Retry-After may make the
	// client wait (default 10 s). A capped wait is reported (finding
	// CLIENT_RETRY_AFTER_CAPPED, metric pathlens_client_retry_after_capped_total).
	MaxRetryAfter time.Duration
	// Statuses are the response codes retried (default 429, 502, 503, 504).
	Statuses []int
	// AllowNonIdempotent permits retrying POST, PATCH and other
	// non-idempotent methods. Without it only GET, HEAD, OPTIONS, TRACE,
	// PUT, DELETE and requests carrying an Idempotency-Key header are
	// retried. A request with a body is retried only when its GetBody is
	// set (http.NewRequest sets it for bytes, strings and bytes.Reader bodies).
	AllowNonIdempotent bool

	// Now, Sleep and Rand replace the clock, the sleep and the jitter
	// source (tests). Sleep must return early with ctx.Err() when ctx
	// ends; Rand returns a number in [0, 1).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	Rand  func() float64
}

// Option configures New (and GRPCDialOptions, which reads WithObserver,
// WithMetrics and the WithGRPC… options).
type Option func(*config)

type config struct {
	timeouts Timeouts
	pool     Pool
	tls      *tls.Config
	h2       HTTP2
	retry    *Retry
	strict   bool
	observer func(probe.Result)
	registry prometheus.Registerer
	tracer   trace.TracerProvider
	proxy    func(*http.Request) (*url.URL, error)
	// checkRedirect is the caller's redirect policy (WithCheckRedirect).
	checkRedirect func(req *http.Request, via []*http.Request) error

	grpcKeepalive *keepalive.ClientParameters
	grpcWindow    *[2]int32
}

// WithTimeouts sets phase bounds; zero fields keep the defaults.
func WithTimeouts(t Timeouts) Option {
	return func(c *config) {
		set := func(dst *time.Duration, v time.Duration) {
			if v != 0 {
				*dst = v
			}
		}
		set(&c.timeouts.Dial, t.Dial)
		set(&c.timeouts.TCPKeepAlive, t.TCPKeepAlive)
		set(&c.timeouts.TLSHandshake, t.TLSHandshake)
		set(&c.timeouts.ResponseHeader, t.ResponseHeader)
		set(&c.timeouts.ExpectContinue, t.ExpectContinue)
		set(&c.timeouts.IdleConn, t.IdleConn)
		set(&c.timeouts.Request, t.Request)
	}
}

// WithPool sizes the connection pool; zero fields keep the defaults.
func WithPool(p Pool) Option {
	return func(c *config) {
		if p.MaxIdleConns != 0 {
			c.pool.MaxIdleConns = p.MaxIdleConns
		}
		if p.MaxIdleConnsPerHost != 0 {
			c.pool.MaxIdleConnsPerHost = p.MaxIdleConnsPerHost
		}
		if p.MaxConnsPerHost != 0 {
			c.pool.MaxConnsPerHost = p.MaxConnsPerHost
		}
		if p.MaxResponseHeaderBytes != 0 {
			c.pool.MaxResponseHeaderBytes = p.MaxResponseHeaderBytes
		}
	}
}

// WithTLS uses cfg (cloned; the caller may keep changing its own copy)
// as the base TLS config. Where cfg leaves them unset the client still
// applies its defaults: the shared system root pool when RootCAs is nil,
// TLS 1.2 as the minimum version, and a session cache. HTTP/2 stays on.
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) {
		if cfg != nil {
			c.tls = cfg.Clone()
		}
	}
}

// WithHTTP2 configures HTTP/2 (on by default); zero durations keep the
// defaults.
func WithHTTP2(h HTTP2) Option {
	return func(c *config) {
		c.h2.Disable = h.Disable
		c.h2.StrictMaxConcurrentRequests = h.StrictMaxConcurrentRequests
		if h.ReadIdleTimeout != 0 {
			c.h2.ReadIdleTimeout = h.ReadIdleTimeout
		}
		if h.PingTimeout != 0 {
			c.h2.PingTimeout = h.PingTimeout
		}
		if h.WriteByteTimeout != 0 {
			c.h2.WriteByteTimeout = h.WriteByteTimeout
		}
	}
}

// WithRetry turns retries on (they are off by default); zero fields of r
// take the defaults.
func WithRetry(r Retry) Option {
	return func(c *config) {
		rr := r
		rr.fill()
		c.retry = &rr
	}
}

// WithStrictContentLength makes a response body that ends before its
// Content-Length fail with a *TruncatedError (errors.Is ErrTruncated and
// io.ErrUnexpectedEOF), from Read and from Close.
func WithStrictContentLength() Option {
	return func(c *config) { c.strict = true }
}

// WithObserver hands every attempt's probe.Result to f once the
// exchange is over: when the body is read to the end or closed, or when
// the attempt failed. f runs on the goroutine that finished the exchange,
// must be safe for concurrent use and should return quickly. Several
// WithObserver options all observe.
func WithObserver(f func(probe.Result)) Option {
	return func(c *config) {
		if f == nil {
			return
		}
		if prev := c.observer; prev != nil {
			c.observer = func(r probe.Result) { prev(r); f(r) }
			return
		}
		c.observer = f
	}
}

// WithMetrics registers the client's Prometheus metrics (prefix
// pathlens_client_) with reg. Clients sharing a registry share the
// series; wrap reg with prometheus.WrapRegistererWith to tell them apart.
// New panics if reg refuses a metric for another reason than an identical
// one being registered already (as prometheus.MustRegister does).
func WithMetrics(reg prometheus.Registerer) Option {
	return func(c *config) { c.registry = reg }
}

// WithTracing emits an OpenTelemetry client span per attempt, a child
// span per phase, and sends the W3C traceparent header.
func WithTracing(tp trace.TracerProvider) Option {
	return func(c *config) { c.tracer = tp }
}

// WithProxy routes requests through proxy (e.g. http.ProxyFromEnvironment).
// The default is no proxy: traffic goes where the code says.
func WithProxy(proxy func(*http.Request) (*url.URL, error)) Option {
	return func(c *config) { c.proxy = proxy }
}

// WithCheckRedirect sets the client's redirect policy, as
// http.Client.CheckRedirect does, but keeps the client's own credential
// stripping around it: f sees the next request with Authorization,
// Cookie and the other credential headers already removed when the
// redirect leaves the first request's origin. With no f, net/http's
// default applies (stop after 10 redirects). Assigning CheckRedirect on
// the returned client instead replaces the stripping.
func WithCheckRedirect(f func(req *http.Request, via []*http.Request) error) Option {
	return func(c *config) { c.checkRedirect = f }
}

func defaults() config {
	return config{
		timeouts: Timeouts{
			Dial:           DefaultDialTimeout,
			TCPKeepAlive:   DefaultTCPKeepAlive,
			TLSHandshake:   DefaultTLSHandshakeTimeout,
			ResponseHeader: DefaultResponseHeaderTimeout,
			ExpectContinue: DefaultExpectContinueTimeout,
			IdleConn:       DefaultIdleConnTimeout,
			Request:        DefaultRequestTimeout,
		},
		pool: Pool{
			MaxIdleConns:           DefaultMaxIdleConns,
			MaxIdleConnsPerHost:    DefaultMaxIdleConnsPerHost,
			MaxResponseHeaderBytes: DefaultMaxResponseHeaderBytes,
		},
		h2: HTTP2{
			ReadIdleTimeout:  DefaultH2ReadIdleTimeout,
			PingTimeout:      DefaultH2PingTimeout,
			WriteByteTimeout: DefaultH2WriteByteTimeout,
		},
	}
}

func (r *Retry) fill() {
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = DefaultRetryAttempts
	}
	if r.BaseDelay <= 0 {
		r.BaseDelay = DefaultRetryBaseDelay
	}
	if r.MaxDelay <= 0 {
		r.MaxDelay = DefaultRetryMaxDelay
	}
	if r.MaxDelay < r.BaseDelay {
		r.MaxDelay = r.BaseDelay
	}
	if r.MaxRetryAfter <= 0 {
		r.MaxRetryAfter = DefaultRetryMaxRetryAfter
	}
	if r.Statuses == nil {
		r.Statuses = []int{http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Sleep == nil {
		r.Sleep = sleepCtx
	}
	if r.Rand == nil {
		r.Rand = randFloat
	}
}

// pos turns "negative means off" into the zero that net/http reads as off.
func pos(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}
