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
type exchange struct {
	t    *Transport
	ctx  context.Context
	rec  *probe.Recorder // &recorder
	span trace.Span
	n    int

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
	tracked                  *trackedConn
	findings                 []probe.Finding
	finished                 atomic.Bool

	// Storage for the trace and the Result's blocks, so that an exchange
	// is mostly one allocation.
	trace    httptrace.ClientTrace
	recorder probe.Recorder
	connInfo probe.ConnInfo
	httpInfo probe.HTTPInfo
}

// exchangeKey finds the exchange from the dial context (which keeps the
// request context's values), so only requests that dial pay for the dial
// hooks.
type exchangeKey struct{}

func (t *Transport) newExchange(ctx context.Context, req *http.Request, n int, note *retryNote, budget time.Duration) *exchange {
	x := &exchange{t: t, n: n}
	rec := &x.recorder
	rec.Init(time.Now(), time.Now)
	x.rec = rec
	x.res = probe.Result{
		Schema:    probe.Schema,
		Kind:      req.URL.Scheme,
		StartedAt: rec.Start().UTC(),
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
		ctx, x.span = t.startSpan(ctx, req, rec.Start(), n)
	}
	if t.observe {
		ctx = context.WithValue(ctx, exchangeKey{}, x)
		x.setTrace()
		ctx = httptrace.WithClientTrace(ctx, &x.trace)
	}
	x.ctx = ctx
	return x
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
		x.res.Conn = &x.connInfo
	}
	return x.res.Conn
}

// mark encodes t for the at… fields.
func (x *exchange) mark(t time.Time) int64 { return int64(t.Sub(x.rec.Start())) + 1 }

// at decodes a mark.
func (x *exchange) at(m int64) time.Time { return x.rec.Start().Add(time.Duration(m - 1)) }

// roundTripped records the response head (or nothing on error).
func (x *exchange) roundTripped(resp *http.Response, err error) {
	if err != nil || resp == nil {
		return
	}
	if x.atFirst.Load() == 0 { // no-body replies may skip GotFirstResponseByte
		x.atFirst.CompareAndSwap(0, x.mark(time.Now()))
	}
	if !x.lock() {
		return
	}
	defer x.mu.Unlock()
	h := &x.httpInfo
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
func (x *exchange) finish(err error, end time.Time) {
	if end.IsZero() {
		end = time.Now()
	}
	x.mu.Lock()
	if x.finished.Load() {
		x.mu.Unlock()
		return
	}
	x.finished.Store(true)
	res := &x.res
	x.requestPhases()
	if err == nil {
		x.rec.EndAt(probe.PhaseTransfer, end)
	}
	if err == nil && res.HTTP != nil && (res.HTTP.Status < 200 || res.HTTP.Status > 399) {
		err = probe.Errorf(probe.PhaseWait, probe.ClassHTTP, probe.CauseStatus, "status %d is not in %s", res.HTTP.Status, res.HTTP.ValidStatus)
	}
	if err != nil {
		err = x.classify(err)
	}
	probe.Finish(x.ctx, x.rec, res, err, end)
	if len(x.findings) > 0 {
		res.Findings = append(res.Findings, x.findings...)
	}
	tracked := x.tracked
	x.mu.Unlock()

	// The Result is final: no hook writes to it any more.
	t := x.t
	if tracked != nil {
		tracked.release()
	}
	if t.met != nil {
		t.met.observe(res)
	}
	if x.span != nil {
		t.endSpan(x, res, end)
	}
	if t.observer != nil {
		t.observer(*res)
	}
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
