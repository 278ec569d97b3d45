package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
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

// setTrace sets the hooks every request needs. The DNS and connect
// hooks are added by the dialer (dialTrace) only when a request dials:
// net hooks make httptrace build a second trace for the resolver.
func (x *exchange) setTrace() {
	x.trace = httptrace.ClientTrace{
		TLSHandshakeStart:    x.tlsStart,
		TLSHandshakeDone:     x.tlsDone,
		GotConn:              x.gotConn,
		WroteRequest:         x.wroteRequest,
		GotFirstResponseByte: x.gotFirstByte,
	}
}

func (x *exchange) dialTrace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		DNSStart:     x.dnsStart,
		DNSDone:      x.dnsDone,
		ConnectStart: x.connectStart,
		ConnectDone:  x.connectDone,
	}
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

// dialHook is lock for the dial hooks, which stop counting once a
// connection was handed to this request.
func (x *exchange) dialHook() bool {
	if !x.lock() {
		return false
	}
	if x.connGot {
		x.mu.Unlock()
		return false
	}
	return true
}

func (x *exchange) dnsStart(info httptrace.DNSStartInfo) {
	t := time.Now()
	if !x.dialHook() {
		return
	}
	defer x.mu.Unlock()
	x.rec.BeginAt(probe.PhaseDNS, t)
	x.res.DNS = &probe.DNSInfo{Name: info.Host, Server: "system", Source: "system"}
}

func (x *exchange) dnsDone(info httptrace.DNSDoneInfo) {
	t := time.Now()
	if !x.dialHook() {
		return
	}
	defer x.mu.Unlock()
	x.rec.EndAt(probe.PhaseDNS, t)
	if d := x.res.DNS; d != nil {
		for _, a := range info.Addrs {
			d.Addrs = append(d.Addrs, a.String())
		}
		if info.Err != nil {
			var de *net.DNSError
			if errors.As(info.Err, &de) && de.IsNotFound {
				d.Rcode = "NXDOMAIN"
			}
		}
	}
}

func (x *exchange) connectStart(network, addr string) {
	t := time.Now()
	if !x.dialHook() {
		return
	}
	defer x.mu.Unlock()
	if !x.connectOn {
		x.connectOn = true
		x.rec.BeginAt(probe.PhaseConnect, t)
	}
	x.dialing++
	c := x.conn()
	c.Attempts = append(c.Attempts, probe.ConnectAttempt{Addr: addr, StartMS: x.rec.Since(t)})
}

func (x *exchange) connectDone(network, addr string, err error) {
	t := time.Now()
	if !x.dialHook() {
		return
	}
	defer x.mu.Unlock()
	x.dialing--
	c := x.conn()
	for i := len(c.Attempts) - 1; i >= 0; i-- {
		a := &c.Attempts[i]
		if a.Addr == addr && a.DurationMS == 0 && a.Error == "" {
			a.DurationMS = x.rec.Since(t) - a.StartMS
			if err != nil {
				a.Error = err.Error()
			}
			break
		}
	}
	if err == nil {
		x.rec.EndAt(probe.PhaseConnect, t)
		c.RemoteAddr = addr
		c.IPVersion = ipVersion(addr)
	} else if x.dialing == 0 {
		// Every attempt failed: the phase ends here, the error says why.
		x.rec.EndAt(probe.PhaseConnect, t)
	}
}

func (x *exchange) tlsStart() {
	t := time.Now()
	if !x.dialHook() {
		return
	}
	defer x.mu.Unlock()
	x.rec.BeginAt(probe.PhaseTLS, t)
}

func (x *exchange) tlsDone(cs tls.ConnectionState, err error) {
	t := time.Now()
	if !x.dialHook() {
		return
	}
	defer x.mu.Unlock()
	if err != nil {
		// Leave the phase open: the error ends the exchange in tls.
		info := x.tlsInfo(cs, false)
		info.Alert = err.Error()
		var ve *tls.CertificateVerificationError
		if errors.As(err, &ve) {
			info.VerifyError = ve.Err.Error()
			info.VerifyReason = probe.VerifyReason(ve.Err)
		}
		return
	}
	x.rec.EndAt(probe.PhaseTLS, t)
	x.tlsInfo(cs, true)
}

// tlsInfo records the negotiated facts; full adds the certificate chains
// (only after a fresh handshake).
func (x *exchange) tlsInfo(cs tls.ConnectionState, full bool) *probe.TLSInfo {
	info := &probe.TLSInfo{
		Version:     tls.VersionName(cs.Version),
		Cipher:      probe.CipherSuiteName(cs.CipherSuite),
		ALPN:        cs.NegotiatedProtocol,
		SNI:         cs.ServerName,
		Resumed:     cs.DidResume,
		OCSPStapled: len(cs.OCSPResponse) > 0,
		Verified:    len(cs.VerifiedChains) > 0,
		Chain:       []probe.Cert{},
		TrustStore:  "system",
	}
	if cfg := x.t.base.TLSClientConfig; cfg != nil {
		if cfg.InsecureSkipVerify {
			info.TrustStore = "none (InsecureSkipVerify)"
		} else if cfg.RootCAs != systemRoots() {
			info.TrustStore = "custom"
		}
	}
	if full {
		info.Chain = probe.CertsOf(cs.PeerCertificates)
		if len(cs.VerifiedChains) > 0 {
			info.VerifiedChain = probe.CertsOf(cs.VerifiedChains[0])
		}
	}
	x.res.TLS = info
	return info
}

func (x *exchange) gotConn(info httptrace.GotConnInfo) {
	t := time.Now()
	if !x.lock() {
		return
	}
	defer x.mu.Unlock()
	x.connGot = true
	c := x.conn()
	if info.Reused {
		// Any dial this request started went to the pool: its phases are
		// not this request's.
		if x.rec.Last() != "" {
			x.rec.Reset(t)
		}
		x.res.DNS, x.res.TLS = nil, nil
		c.Attempts = nil
		c.Reused = true
		if info.WasIdle {
			c.IdleMS = probe.MS(info.IdleTime)
		}
		if tc, ok := info.Conn.(*tls.Conn); ok {
			x.tlsInfo(tc.ConnectionState(), false)
		}
	}
	if info.Conn != nil {
		if tc := trackedOf(info.Conn); tc != nil {
			c.RemoteAddr, c.LocalAddr, c.IPVersion = tc.remote, tc.local, tc.ipVersion
			x.tracked = tc
			tc.acquire()
		} else {
			if ra := info.Conn.RemoteAddr(); ra != nil {
				c.RemoteAddr = ra.String()
				c.IPVersion = ipVersion(c.RemoteAddr)
			}
			if la := info.Conn.LocalAddr(); la != nil {
				c.LocalAddr = la.String()
			}
		}
	}
	x.atConn.Store(x.mark(t))
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

func (x *exchange) wroteRequest(httptrace.WroteRequestInfo) {
	x.atWrote.CompareAndSwap(0, x.mark(time.Now()))
}

func (x *exchange) gotFirstByte() { x.atFirst.CompareAndSwap(0, x.mark(time.Now())) }

// requestPhases turns the milestones into phases (mu held, at finish).
// The writer and reader goroutines report independently: the first byte
// can be reported before the request written. Keep request, wait,
// transfer in order; a late WroteRequest leaves wait empty.
func (x *exchange) requestPhases() {
	conn, wrote, first := x.atConn.Load(), x.atWrote.Load(), x.atFirst.Load()
	if conn == 0 {
		return
	}
	x.rec.BeginAt(probe.PhaseRequest, x.at(conn))
	switch {
	case first == 0 && wrote != 0:
		x.rec.BeginAt(probe.PhaseWait, x.at(wrote))
	case first != 0:
		w := first
		if wrote != 0 && wrote < first {
			w = max(wrote, conn)
		}
		x.rec.BeginAt(probe.PhaseWait, x.at(w))
		x.rec.BeginAt(probe.PhaseTransfer, x.at(max(first, conn)))
	}
}

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

// ---- the response body ----

// ErrTruncated is matched (errors.Is) by the error a response body
// returns under WithStrictContentLength when it ends before its
// Content-Length.
var ErrTruncated = errors.New("response body shorter than Content-Length")

// TruncatedError is the error of a short body under
// WithStrictContentLength: Got of the Want bytes announced arrived.
type TruncatedError struct {
	URL       string
	Got, Want int64
	// Err is what the connection reported (io.ErrUnexpectedEOF when the
	// body just stopped).
	Err error
}

func (e *TruncatedError) Error() string {
	return fmt.Sprintf("%s: body ended after %d of %d bytes (Content-Length): %v", e.URL, e.Got, e.Want, e.Err)
}

// Is matches ErrTruncated.
func (e *TruncatedError) Is(target error) bool { return target == ErrTruncated }

// Unwrap returns the underlying read error.
func (e *TruncatedError) Unwrap() error { return e.Err }

// body watches a response body: it counts bytes, checks the length under
// strict mode, and finishes the exchange and releases the request's
// deadline when the body is read to the end, fails or is closed.
type body struct {
	rc     io.ReadCloser
	x      *exchange
	cancel context.CancelFunc
	req    *http.Request
	want   int64 // Content-Length when strict checking applies, else -1
	n      atomic.Int64
	done   atomic.Bool
	errMu  sync.Mutex
	err    error // the truncation error, returned again by Close
}

func (t *Transport) wrapBody(x *exchange, resp *http.Response, cancel context.CancelFunc) {
	want := int64(-1)
	if t.cfg.strict && resp.ContentLength > 0 && !resp.Uncompressed && resp.Request != nil && resp.Request.Method != http.MethodHead {
		want = resp.ContentLength
	}
	if resp.Body == nil || resp.Body == http.NoBody || resp.StatusCode == http.StatusSwitchingProtocols {
		// Nothing to read (or an upgraded connection the caller now owns).
		if x != nil {
			x.finish(nil, time.Time{})
		}
		if cancel != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			cancel()
		}
		return
	}
	if x == nil && want < 0 && cancel == nil {
		return
	}
	resp.Body = &body{rc: resp.Body, x: x, cancel: cancel, want: want, req: resp.Request}
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	total := b.n.Add(int64(n))
	if err == nil {
		return n, nil
	}
	if err == io.EOF {
		if b.want >= 0 && total < b.want {
			err = b.truncated(total, io.ErrUnexpectedEOF)
			b.end(err)
			return n, err
		}
		b.end(nil)
		return n, err
	}
	if b.want >= 0 && errors.Is(err, io.ErrUnexpectedEOF) {
		err = b.truncated(total, err)
	}
	b.end(err)
	return n, err
}

func (b *body) truncated(got int64, cause error) error {
	u := ""
	if b.req != nil && b.req.URL != nil {
		u = b.req.URL.Redacted()
	}
	e := &TruncatedError{URL: u, Got: got, Want: b.want, Err: cause}
	b.errMu.Lock()
	b.err = e
	b.errMu.Unlock()
	return e
}

// Close closes the body. Under strict mode it returns the truncation
// error if the body ended short.
func (b *body) Close() error {
	err := b.rc.Close()
	b.end(nil)
	b.errMu.Lock()
	terr := b.err
	b.errMu.Unlock()
	if terr != nil {
		return terr
	}
	return err
}

// end finishes the exchange once: err nil means the body ended (or was
// closed early) without a transfer error.
func (b *body) end(err error) {
	if !b.done.CompareAndSwap(false, true) {
		return
	}
	if x := b.x; x != nil {
		if err != nil {
			var te *TruncatedError
			if errors.As(err, &te) || errors.Is(err, io.ErrUnexpectedEOF) {
				x.markTruncated()
			}
		}
		x.finishBody(err, b.n.Load())
	}
	if b.cancel != nil {
		b.cancel()
	}
}

func (x *exchange) markTruncated() {
	if !x.lock() {
		return
	}
	defer x.mu.Unlock()
	if x.res.HTTP != nil {
		x.res.HTTP.Truncated = true
	}
}

// finishBody finishes the exchange of a body that ended after n bytes.
func (x *exchange) finishBody(err error, n int64) {
	end := time.Now()
	x.setBodyBytes(n)
	x.finish(err, end)
}

func (x *exchange) setBodyBytes(n int64) {
	if !x.lock() {
		return
	}
	defer x.mu.Unlock()
	if x.res.HTTP != nil {
		x.res.HTTP.BodyBytes = n
	}
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
