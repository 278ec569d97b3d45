package client

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pathlens/pathlens/probe"
)

// Metric names (docs/library.md lists them with their labels).
const (
	MetricPhaseDuration   = "pathlens_client_phase_duration_seconds"
	MetricRequestDuration = "pathlens_client_request_duration_seconds"
	MetricRequests        = "pathlens_client_requests_total"
	MetricRetries         = "pathlens_client_retries_total"
	MetricRetriesStopped  = "pathlens_client_retries_stopped_total"
	MetricRetryAfterCap   = "pathlens_client_retry_after_capped_total"
	MetricConnsOpen       = "pathlens_client_connections_open"
	MetricConnsInUse      = "pathlens_client_connections_in_use"
	MetricConnsIdle       = "pathlens_client_connections_idle"
	MetricDials           = "pathlens_client_dials_total"
)

var (
	phaseBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	// metricPhases are the phases one HTTP request of the client has: the
	// http kind's phases in probe.Phases order, less redirect (the client
	// times each hop as a request of its own).
	metricPhases = [...]string{probe.PhaseDNS, probe.PhaseConnect, probe.PhaseTLS, probe.PhaseRequest, probe.PhaseWait, probe.PhaseTransfer}
	outcomes     = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx", "truncated", "dns", "connect", "tls", "http", "protocol", "timeout", "canceled", "config", "other"}
	stopReasons  = []string{"deadline", "max_attempts", "not_idempotent", "body_not_replayable"}
)

// Indexes in metricPhases of the phases of a request on a connection it
// did not dial.
const (
	iRequest = 3 + iota
	iWait
	iTransfer
)

// metrics holds the client's collectors, with the label values every
// request uses resolved once.
type metrics struct {
	phase    [len(metricPhases)]prometheus.Observer // by index in metricPhases
	total    prometheus.Observer
	outcome  [len(outcomes)]prometheus.Counter // by index in outcomes
	retryOn  [2]prometheus.Counter             // [0] error, [1] status
	stopped  map[string]prometheus.Counter
	capped   prometheus.Counter
	open     prometheus.Gauge
	inUse    prometheus.Gauge
	idle     prometheus.Gauge
	dialOK   prometheus.Counter
	dialFail prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	phase := register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: MetricPhaseDuration, Help: "Time spent in each phase of a request attempt (dns, connect, tls, request, wait, transfer).",
		Buckets: phaseBuckets,
	}, []string{"phase"}))
	total := register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: MetricRequestDuration, Help: "Duration of a request attempt, from sending to the end of the body.",
		Buckets: phaseBuckets,
	}))
	outcome := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricRequests, Help: "Request attempts by outcome: status class (2xx…5xx), truncated, or the error class.",
	}, []string{"outcome"}))
	retries := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricRetries, Help: "Retries made, by what the failed attempt got: a retryable status or a transport error.",
	}, []string{"reason"}))
	stopped := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricRetriesStopped, Help: "Retryable failures not retried, by why: deadline, max_attempts, not_idempotent, body_not_replayable.",
	}, []string{"why"}))
	capped := register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: MetricRetryAfterCap, Help: "Retries whose server-requested Retry-After exceeded MaxRetryAfter (the client waited the cap).",
	}))
	open := register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: MetricConnsOpen, Help: "Connections dialed and not yet closed.",
	}))
	inUse := register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: MetricConnsInUse, Help: "Open connections carrying at least one request (HTTP/2: stream).",
	}))
	idle := register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: MetricConnsIdle, Help: "Open connections carrying no request.",
	}))
	dials := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricDials, Help: "Connections dialed (DNS and TCP connect), by result: ok or error.",
	}, []string{"result"}))

	m := &metrics{
		total:    total,
		retryOn:  [2]prometheus.Counter{retries.WithLabelValues("error"), retries.WithLabelValues("status")},
		stopped:  map[string]prometheus.Counter{},
		capped:   capped,
		open:     open,
		inUse:    inUse,
		idle:     idle,
		dialOK:   dials.WithLabelValues("ok"),
		dialFail: dials.WithLabelValues("error"),
	}
	for i, p := range metricPhases {
		m.phase[i] = phase.WithLabelValues(p)
	}
	for i, o := range outcomes {
		m.outcome[i] = outcome.WithLabelValues(o)
	}
	for _, s := range stopReasons {
		m.stopped[s] = stopped.WithLabelValues(s)
	}
	return m
}

// register registers c, or returns the identical collector registered
// before (clients sharing a registry share series).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if ex, ok := are.ExistingCollector.(C); ok {
				return ex
			}
		}
		panic("client: registering metrics: " + err.Error())
	}
	return c
}

// observe records one finished attempt from its Result.
func (m *metrics) observe(r *probe.Result) {
	for i := range r.Phases {
		p := &r.Phases[i]
		if p.Incomplete {
			continue
		}
		if i := phaseIndex(p.Name); i >= 0 {
			m.phase[i].Observe(p.DurationMS / 1e3)
		}
	}
	m.total.Observe(r.TotalMS / 1e3)
	m.outcome[outcome(r)].Inc()
}

// observeSpans records an attempt that succeeded on a connection it did
// not dial, from its milestones: the figures observe would take from the
// Result (the same rounding to the microsecond), without the Result.
// status is in 200-399.
func (m *metrics) observeSpans(s *spans, status int) {
	m.phase[iRequest].Observe(probe.MS(time.Duration(s.wait-s.conn)) / 1e3)
	m.phase[iWait].Observe(probe.MS(time.Duration(s.transfer-s.wait)) / 1e3)
	m.phase[iTransfer].Observe(probe.MS(time.Duration(s.end-s.transfer)) / 1e3)
	m.total.Observe(probe.MS(time.Duration(s.end)) / 1e3)
	m.outcome[status/100-1].Inc()
}

// phaseIndex is the index of phase name in metricPhases, or -1.
func phaseIndex(name string) int {
	for i, p := range metricPhases {
		if p == name {
			return i
		}
	}
	return -1
}

// outcome indexes outcomes with an attempt's result for the requests
// counter.
func outcome(r *probe.Result) int {
	e := r.Error
	if e == nil || e.Cause == probe.CauseStatus {
		if r.HTTP != nil && r.HTTP.Status >= 100 && r.HTTP.Status < 600 {
			return r.HTTP.Status/100 - 1 // "1xx" … "5xx"
		}
		if e == nil {
			return 1 // "2xx"
		}
	}
	if e.Cause == probe.CauseTruncated {
		return outcomeIndex("truncated")
	}
	switch e.Class {
	case probe.ClassDNS, probe.ClassConnect, probe.ClassTLS, probe.ClassHTTP, probe.ClassProtocol,
		probe.ClassTimeout, probe.ClassCanceled, probe.ClassConfig:
		return outcomeIndex(string(e.Class))
	}
	return outcomeIndex("other")
}

// outcomeIndex is the index of o in outcomes ("other" if it is not one).
func outcomeIndex(o string) int {
	for i, s := range outcomes {
		if s == o {
			return i
		}
	}
	return len(outcomes) - 1
}

func (m *metrics) retried(status, capped bool) {
	if status {
		m.retryOn[1].Inc()
	} else {
		m.retryOn[0].Inc()
	}
	if capped {
		m.capped.Inc()
	}
}

func (m *metrics) retryStopped(why string) {
	if c, ok := m.stopped[why]; ok {
		c.Inc()
	}
}

// trackedConn is a connection the client dialed. It keeps the address
// facts every request on it reports, and, with metrics, moves the pool
// gauges: idle while it carries no request, in use while it carries one
// or more.
type trackedConn struct {
	net.Conn
	m             *metrics // nil without metrics
	remote, local string
	ipVersion     int
	mu            sync.Mutex
	streams       int
	closed        bool
	// h2 is set once a response came over the connection in HTTP/2: its
	// requests are streams, none of which queued a dial.
	h2 atomic.Bool
}

func newTrackedConn(c net.Conn, m *metrics) *trackedConn {
	tc := &trackedConn{Conn: c, m: m}
	if ra := c.RemoteAddr(); ra != nil {
		tc.remote = ra.String()
		tc.ipVersion = ipVersion(tc.remote)
	}
	if la := c.LocalAddr(); la != nil {
		tc.local = la.String()
	}
	if m != nil {
		m.open.Inc()
		m.idle.Inc()
	}
	return tc
}

// state is 0 (closed), 1 (idle) or 2 (in use); mu held.
func (c *trackedConn) state() int {
	switch {
	case c.closed:
		return 0
	case c.streams > 0:
		return 2
	}
	return 1
}

func (c *trackedConn) move(f func()) {
	c.mu.Lock()
	before := c.state()
	f()
	after := c.state()
	c.mu.Unlock()
	if before == after || c.m == nil {
		return
	}
	switch before {
	case 1:
		c.m.idle.Dec()
	case 2:
		c.m.inUse.Dec()
	}
	switch after {
	case 0:
		c.m.open.Dec()
	case 1:
		c.m.idle.Inc()
	case 2:
		c.m.inUse.Inc()
	}
}

func (c *trackedConn) acquire() { c.move(func() { c.streams++ }) }
func (c *trackedConn) release() { c.move(func() { c.streams-- }) }

// Close closes the connection and takes it off the gauges.
func (c *trackedConn) Close() error {
	c.move(func() { c.closed = true })
	return c.Conn.Close()
}

// ReadFrom keeps the connection's own ReadFrom (sendfile, splice) for
// request bodies.
func (c *trackedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// CloseWrite half-closes when the connection can.
func (c *trackedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// trackedOf finds the trackedConn under conn (a *tls.Conn wraps it).
func trackedOf(conn net.Conn) *trackedConn {
	for range 4 {
		switch c := conn.(type) {
		case *trackedConn:
			return c
		case interface{ NetConn() net.Conn }:
			conn = c.NetConn()
		default:
			return nil
		}
	}
	return nil
}
