package client

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/pathlens/pathlens/probe"
)

// exchange is one attempt under observation: the phase recorder, the
// Result being filled and whatever else watches the attempt. Hooks run
// on net/http's goroutines; every write to the Result happens under mu
// and stops once the exchange is finished (a background dial can still
// report after its request gave up).
//
// An exchange whose attempt is over goes back to exchangePool when
// nothing but that attempt can have reached it (see recyclable), so its
// hooks, bound once when it is made, cost no closures per request. What
// outlives the attempt is in att, allocated anew for each.
type exchange struct {
	t    *Transport
	att  *attempt
	ctx  context.Context // the attempt's: &att.ctx, or a context above it
	rec  *probe.Recorder // &recorder
	span trace.Span
	n    int
	// gen counts the attempts the exchange has served: an attemptCtx
	// reaches its exchange only while gen is the one it was made with.
	gen atomic.Uint64

	mu  sync.Mutex
	res probe.Result
	// Times of the request's own milestones, as nanoseconds since the
	// recorder's start plus one (0: not yet). They are set lock-free from
	// net/http's writer and reader goroutines and turned into the
	// request, wait and transfer phases when the exchange finishes.
	atConn, atWrote, atFirst atomic.Int64
	connGot                  bool // GotConn seen: later dial hooks belong to another request
	connectOn                bool // the connect phase has begun
	dialing                  int  // connect attempts in flight
	// keep holds the exchange out of the pool: something besides its
	// attempt may still call its hooks (a dial of its own, a connection
	// that did not come straight from the idle pool, a trace composed
	// with its hooks).
	keep     bool
	tracked  *trackedConn
	findings []probe.Finding
	finished atomic.Bool

	// Storage for the trace and the recorder, so that an exchange is one
	// allocation, made once for many attempts.
	trace    httptrace.ClientTrace
	recorder probe.Recorder
}

// attempt is what an observed attempt allocates: its context, the blocks
// of its Result and the wrapper of its response body, in one allocation.
// It is never reused: the caller keeps the body and, through
// resp.Request, the context; the observer keeps the Result.
type attempt struct {
	ctx    attemptCtx
	body   body
	conn   probe.ConnInfo
	http   probe.HTTPInfo
	phases [3]probe.Phase // a fast attempt's (spans.phases)
}

// exchangeKey finds the attempt from the dial context (which keeps the
// request context's values), so only requests that dial pay for the dial
// hooks.
type exchangeKey struct{}

// exchangePool holds exchanges whose attempt is over.
var exchangePool = sync.Pool{New: func() any { return newExchangeState() }}

func newExchangeState() *exchange {
	x := &exchange{}
	x.rec = &x.recorder
	x.setTrace()
	return x
}

// newExchange starts observing an attempt that started at start (zero:
// now).
func (t *Transport) newExchange(ctx context.Context, req *http.Request, n int, note *retryNote, budget time.Duration, start time.Time) *exchange {
	pooled := traceKey != nil
	if httptrace.ContextClientTrace(ctx) != nil {
		// A trace in ctx already (the caller's, or that of an attempt
		// whose context is reused) is composed with the exchange's hooks,
		// which rewrites them: that exchange serves this attempt alone,
		// and so does an earlier one whose hooks the composed trace calls.
		if prev, ok := ctx.Value(exchangeKey{}).(*attemptCtx); ok {
			prev.pin()
		}
		pooled = false
	}
	var x *exchange
	if pooled {
		x = exchangePool.Get().(*exchange)
	} else {
		x = newExchangeState()
		x.keep = true
	}
	x.t, x.n = t, n
	if start.IsZero() {
		start = time.Now()
	}
	x.rec.Init(start, time.Now)
	x.res = probe.Result{
		Schema:    probe.Schema,
		Kind:      req.URL.Scheme,
		StartedAt: start.UTC(),
		Phases:    []probe.Phase{},
		Findings:  []probe.Finding{},
	}
	if t.observer != nil {
		x.res.Target = t.target(req.URL) // only the observer reads it
	}
	if budget > 0 {
		x.res.TimeoutMS = probe.MS(budget)
	}
	if note != nil {
		x.findings = append(x.findings, note.findings(n)...)
	}
	if t.tracer != nil {
		ctx, x.span = t.startSpan(ctx, req, start, n)
	}
	x.att = &attempt{ctx: attemptCtx{Context: ctx, x: x, gen: x.gen.Load(), trace: pooled}}
	x.ctx = &x.att.ctx
	if !pooled {
		x.ctx = httptrace.WithClientTrace(x.ctx, &x.trace)
	}
	return x
}

// attemptCtx is an attempt's context: the request's, answering for the
// attempt (exchangeKey) and, when trace is set, for its
// httptrace.ClientTrace (traceKey), in one allocation. It outlives the
// attempt (resp.Request keeps it) and the exchange may then serve
// another: it answers for the exchange only while gen matches.
type attemptCtx struct {
	context.Context
	x     *exchange
	gen   uint64
	trace bool
}

func (c *attemptCtx) Value(key any) any {
	if key == (exchangeKey{}) {
		return c
	}
	if c.trace && key == traceKey && c.live() {
		return &c.x.trace
	}
	return c.Context.Value(key)
}

func (c *attemptCtx) live() bool { return c.x.gen.Load() == c.gen }

// claim returns the exchange to a dial its attempt started, for the dial
// hooks, and holds it out of the pool: the dial may outlive the attempt.
// It returns nil once the attempt is over.
func (c *attemptCtx) claim() *exchange {
	x := c.x
	x.mu.Lock()
	defer x.mu.Unlock()
	if !c.live() || x.finished.Load() {
		return nil
	}
	x.keep = true
	return x
}

// pin holds the exchange out of the pool, if it still is c's: a trace is
// about to be composed with its hooks.
func (c *attemptCtx) pin() {
	x := c.x
	x.mu.Lock()
	if c.live() {
		x.keep = true
	}
	x.mu.Unlock()
}

// traceKey is the context key under which net/http/httptrace keeps a
// ClientTrace. It is unexported there; an attemptCtx answering it saves
// the context httptrace.WithClientTrace would add to every request. It
// is learnt once, by asking httptrace.ContextClientTrace through a
// context that notes the keys it is asked for, and checked against
// WithClientTrace; nil if either step fails, and exchanges then use
// WithClientTrace (and are not pooled).
var traceKey = findTraceKey()

type keySpy struct {
	context.Context
	keys []any
}

func (s *keySpy) Value(key any) any {
	s.keys = append(s.keys, key)
	return nil
}

func findTraceKey() any {
	spy := &keySpy{Context: context.Background()}
	httptrace.ContextClientTrace(spy)
	if len(spy.keys) != 1 {
		return nil
	}
	key, ct := spy.keys[0], &httptrace.ClientTrace{}
	if got, _ := httptrace.WithClientTrace(context.Background(), ct).Value(key).(*httptrace.ClientTrace); got != ct {
		return nil
	}
	return key
}

// targetMemo is the last URL an observed request went to and its
// redacted string: a service calls the same few URLs over and over.
type targetMemo struct {
	u url.URL
	s string
}

// target returns u.Redacted(), reusing the string of the previous
// request when the URL is the same (and carries no user info).
func (t *Transport) target(u *url.URL) string {
	if u.User != nil {
		return u.Redacted()
	}
	if m := t.lastTarget.Load(); m != nil && m.u == *u {
		return m.s
	}
	m := &targetMemo{u: *u, s: u.String()}
	t.lastTarget.Store(m)
	return m.s
}

// lock takes mu and reports whether the exchange still takes facts.
func (x *exchange) lock() bool {
	x.mu.Lock()
	if x.finished.Load() {
		x.mu.Unlock()
		return false
	}
	return true
}

// conn returns Result.Conn, creating it (mu held).
func (x *exchange) conn() *probe.ConnInfo {
	if x.res.Conn == nil {
		x.res.Conn = &x.att.conn
	}
	return x.res.Conn
}

// since reads the monotonic clock only (time.Since), which costs half
// of time.Now, as a duration since the start.
func (x *exchange) since() time.Duration { return time.Since(x.rec.Start()) }

// now is the current time as the start plus since.
func (x *exchange) now() time.Time { return x.rec.Start().Add(x.since()) }

// mark encodes the current time for the at… fields.
func (x *exchange) mark() int64 { return int64(x.since()) + 1 }

// at decodes a mark.
func (x *exchange) at(m int64) time.Time { return x.rec.Start().Add(time.Duration(m - 1)) }

// roundTripped records the response head (or nothing on error).
func (x *exchange) roundTripped(resp *http.Response, err error) {
	if err != nil || resp == nil {
		return
	}
	if x.atFirst.Load() == 0 { // no-body replies may skip GotFirstResponseByte
		x.atFirst.CompareAndSwap(0, x.mark())
	}
	if !x.lock() {
		return
	}
	defer x.mu.Unlock()
	h := &x.att.http
	*h = probe.HTTPInfo{
		Status:        resp.StatusCode,
		Proto:         resp.Proto,
		ContentLength: resp.ContentLength,
		KeepAlive:     !resp.Close,
		ValidStatus:   "200-399",
	}
	if x.t.observer != nil { // only the observer reads these
		h.HeadersBytes = headerBytes(resp)
		if resp.Uncompressed {
			h.ContentEncoding = "gzip"
		} else if ce := resp.Header["Content-Encoding"]; len(ce) > 0 {
			h.ContentEncoding = ce[0]
		}
	}
	x.res.HTTP = h
	if resp.ProtoMajor == 2 && x.tracked != nil {
		x.tracked.h2.Store(true)
	}
}

// headerBytes estimates the size of the response head on the wire
// (HTTP/1 framing; HPACK makes h2 smaller).
func headerBytes(resp *http.Response) int {
	n := len(resp.Proto) + len(resp.Status) + 4
	for k, vs := range resp.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n + 2
}

// addFinding attaches a library finding to this attempt's Result.
func (x *exchange) addFinding(f probe.Finding) {
	x.mu.Lock()
	x.findings = append(x.findings, f)
	x.mu.Unlock()
}

// finish closes the books: phases, total, classified error, then hands
// the Result to the observer, the metrics and the tracer. Only the first
// call counts. end zero means now.
func (x *exchange) finish(err error, end time.Time) { x.finishAt(err, end, -1) }

// finishAt is finish, recording body bytes of body first unless it is
// negative.
func (x *exchange) finishAt(err error, end time.Time, body int64) {
	if end.IsZero() {
		end = x.now()
	}
	x.mu.Lock()
	if x.finished.Load() {
		x.mu.Unlock()
		return
	}
	x.finished.Store(true)
	res := &x.res
	if body >= 0 && res.HTTP != nil {
		res.HTTP.BodyBytes = body
	}
	var sp spans
	fast := err == nil && sp.measure(x, end)
	if fast {
		res.TotalMS, res.Success, res.Error = probe.MS(time.Duration(sp.end)), true, nil
	} else {
		x.settleSlow(err, end)
	}
	if len(x.findings) > 0 {
		res.Findings = append(res.Findings, x.findings...)
	}
	tracked := x.tracked
	recycle := x.recyclable()
	if recycle {
		x.gen.Add(1) // every attemptCtx of this attempt lets go of x
	}
	x.mu.Unlock()

	// The Result is final: no hook writes to it any more.
	if tracked != nil {
		tracked.release()
	}
	x.report(&sp, fast, end)
	if recycle {
		x.release()
	}
}

// settleSlow makes the phases with the recorder and classifies err (mu
// held): the path of an attempt that dialed or failed.
func (x *exchange) settleSlow(err error, end time.Time) {
	res := &x.res
	x.requestPhases()
	if err == nil {
		x.rec.EndAt(probe.PhaseTransfer, end)
	}
	if err == nil && res.HTTP != nil && !statusOK(res.HTTP.Status) {
		err = probe.Errorf(probe.PhaseWait, probe.ClassHTTP, probe.CauseStatus, "status %d is not in %s", res.HTTP.Status, res.HTTP.ValidStatus)
	}
	if err != nil {
		err = x.classify(err)
	}
	probe.Finish(x.ctx, x.rec, res, err, end)
}

// statusOK reports a status in the valid range, 200-399.
func statusOK(status int) bool { return status >= 200 && status <= 399 }

// report hands the final Result to the metrics, the tracer and the
// observer. The metrics of a fast attempt are taken from its spans; its
// phases are built only for the tracer and the observer.
func (x *exchange) report(sp *spans, fast bool, end time.Time) {
	t, res := x.t, &x.res
	if t.met != nil {
		if fast {
			t.met.observeSpans(sp, res.HTTP.Status)
		} else {
			t.met.observe(res)
		}
	}
	if fast && (t.observer != nil || x.span != nil) {
		res.Phases = sp.phases(x.att.phases[:0])
	}
	if x.span != nil {
		t.endSpan(x, res, end)
	}
	if t.observer != nil {
		t.observer(*res) // its blocks are in x.att: recycling x leaves them be
	}
}

// recyclable reports, as the attempt finishes (mu held), whether x can
// serve another: nothing else holds it (keep), it got its connection
// straight from the idle pool, so no dial of its own is still running,
// its response head arrived and net/http reported the request written,
// so no hook of this attempt is still to come.
func (x *exchange) recyclable() bool {
	return !x.keep && x.connGot && x.res.HTTP != nil && x.atWrote.Load() != 0
}

// release resets x and puts it back in the pool. The attempt is over
// and its attemptCtx no longer reaches x: nothing else touches it.
func (x *exchange) release() {
	x.t, x.att, x.ctx, x.span, x.n, x.tracked, x.findings = nil, nil, nil, nil, 0, nil, nil
	x.res = probe.Result{}
	x.atConn.Store(0)
	x.atWrote.Store(0)
	x.atFirst.Store(0)
	x.connGot, x.connectOn, x.dialing = false, false, 0
	x.finished.Store(false)
	exchangePool.Put(x)
}

// classify turns a net/http error into a PhaseError naming the phase in
// flight (mu held).
func (x *exchange) classify(err error) error {
	var pe *probe.PhaseError
	if errors.As(err, &pe) {
		return pe
	}
	phase := x.rec.InFlight()
	if phase == "" {
		phase = x.rec.Last()
	}
	class := probe.ClassHTTP
	switch phase {
	case probe.PhaseDNS:
		class = probe.ClassDNS
	case probe.PhaseConnect:
		class = probe.ClassConnect
	case probe.PhaseTLS:
		class = probe.ClassTLS
	case "":
		class = probe.ClassConnect
	}
	pe = probe.Classify(x.ctx, phase, class, err)
	if pe.Cause == "" {
		var de *net.DNSError
		var ve *tls.CertificateVerificationError
		switch {
		case errors.As(err, &de) && de.IsNotFound:
			pe.Class, pe.Cause = probe.ClassDNS, probe.CauseNXDomain
		case errors.As(err, &ve):
			pe.Class, pe.Cause = probe.ClassTLS, probe.VerifyCause(probe.VerifyReason(ve.Err))
		case errors.Is(err, io.ErrUnexpectedEOF) && phase == probe.PhaseTransfer:
			pe.Cause = probe.CauseTruncated
		}
	}
	return pe
}

// ---- helpers ----

func ipVersion(addr string) int {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		return 0
	case ip.To4() != nil:
		return 4
	}
	return 6
}
