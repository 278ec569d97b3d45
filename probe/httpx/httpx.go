// Package httpx probes http:// and https:// targets. It dials itself
// (probe.Dialer: dns, connect, tls) and hands the connection to
// net/http: to an http.Transport whose dials it makes (HTTP/1.1), or as
// an http.ClientConn (HTTP/2 by ALPN or h2c prior knowledge, see
// h2ClientConn), timing request, wait and transfer with httptrace.
// Redirects are followed by hand so every hop is recorded, the caller's
// headers reach their own origin only, and Options.CheckRedirect can
// refuse a hop before anything is sent to it; the body is read through a
// cap.
package httpx

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/probe/h2tap"
)

// uaCache holds the User-Agent header value built from probe.Version, so
// a probe does not build it again (Version is set once at start).
var uaCache atomic.Pointer[uaValue]

type uaValue struct {
	version string
	header  []string
}

func userAgent() []string {
	if v := uaCache.Load(); v != nil && v.version == probe.Version {
		return v.header
	}
	v := &uaValue{version: probe.Version, header: []string{probe.UserAgent()}}
	uaCache.Store(v)
	return v.header
}

// MaxRedirectBody is how much of a redirect response's body is read
// before the connection is released.
const MaxRedirectBody = 64 << 10

func init() {
	probe.RegisterKind(probe.Kind{Name: "http", Schemes: []string{"http", "https"}, Sections: []string{"dns", "h2", "http", "tls"}, Prober: probe.ProberFunc(Probe), Validate: probe.ValidateHTTP,
		Phases: []string{probe.PhaseRedirect, probe.PhaseDNS, probe.PhaseConnect, probe.PhaseTLS, probe.PhaseRequest, probe.PhaseWait, probe.PhaseTransfer}})
}

type proberKey struct{}

// prober is the state of one probe run.
type prober struct {
	opts *probe.Options
	rec  *probe.Recorder
	res  *probe.Result
	d    *probe.Dialer

	mu      sync.Mutex
	tlsCfg  *tls.Config // of the last fresh TLS connection, for the resumption check
	tlsAddr string
	fresh   bool     // the final hop used a connection dialed by this probe
	closers []func() // connections and transports to release at the end

	// tap is the frame tap of the current hop's HTTP/2 connection.
	tap *h2tap.Conn
}

// Probe runs one HTTP(S) probe: every hop until a non-redirect answer,
// then the body through the MaxBody cap, then the resumption check.
// probe.Run has checked o with probe.ValidateHTTP (the windows among it).
func Probe(ctx context.Context, t probe.Target, o *probe.Options, rec *probe.Recorder, r *probe.Result) error {
	p := &prober{opts: o, rec: rec, res: r}
	p.d = &probe.Dialer{Opts: o, Rec: rec, Res: r}
	defer p.release()
	defer func() {
		if p.tap != nil {
			r.H2 = p.tap.Info() // the final hop's connection, before it is released
			if r.H2.GoAway != nil && r.HTTP != nil && r.HTTP.Status > 0 {
				// The server's GOAWAY: this connection takes no more requests.
				r.HTTP.KeepAlive = false
			}
		}
	}()
	ctx = context.WithValue(ctx, proberKey{}, p)

	info := &probe.HTTPInfo{ContentLength: -1, Redirects: []probe.Redirect{}, MaxBody: o.EffectiveMaxBody()}
	info.ValidStatus = rangesString(o.EffectiveValidStatus())
	r.HTTP = info

	req := &hopRequest{method: requestMethod(o), u: *t.URL, header: o.Header.Clone(), body: o.Body}
	var firstHopStart time.Time
	for hop := 0; ; hop++ {
		hopStart := rec.Now()
		if hop == 0 {
			firstHopStart = hopStart
		}
		r.DNS, r.Conn, r.TLS = nil, nil, nil
		p.mu.Lock()
		p.tlsCfg, p.tlsAddr = nil, "" // the resumption check is about the final hop's server
		p.mu.Unlock()
		resp, err := p.exchange(ctx, req.method, &req.u, req.header, req.body)
		if err != nil {
			if hop > 0 {
				rec.AddSpan(probe.PhaseRedirect, firstHopStart, hopStart)
			}
			return err
		}
		if loc := resp.Header.Get("Location"); isRedirect(resp.StatusCode) && loc != "" && o.EffectiveMaxRedirects() > 0 {
			if err := p.redirect(req, resp, loc, hopStart, firstHopStart); err != nil {
				return err
			}
			continue
		}
		if hop > 0 {
			rec.AddSpan(probe.PhaseRedirect, firstHopStart, hopStart)
		}
		return p.finish(ctx, resp, req.method)
	}
}

// hopRequest is the request of one hop; a redirect rewrites it for the
// next.
type hopRequest struct {
	method string
	u      url.URL
	header http.Header
	body   []byte
}

// requestMethod is the first hop's method: Options.Method, else GET, or
// POST with a body.
func requestMethod(o *probe.Options) string {
	if o.Method != "" {
		return o.Method
	}
	if len(o.Body) > 0 {
		return http.MethodPost
	}
	return http.MethodGet
}

// redirect records the redirect answer resp (to loc) as a hop and points
// req at its target, or returns why the chain stops there: a Location
// that does not parse, too many redirects, a scheme other than http and
// https, or Options.CheckRedirect's refusal.
func (p *prober) redirect(req *hopRequest, resp *http.Response, loc string, hopStart, firstHopStart time.Time) error {
	rec, o, info := p.rec, p.opts, p.res.HTTP
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxRedirectBody))
	resp.Body.Close()
	end := rec.Now()
	next, perr := req.u.Parse(loc)
	hopRec := probe.Redirect{URL: req.u.String(), Status: resp.StatusCode, Location: loc,
		StartMS: rec.Since(hopStart), TotalMS: probe.MS(end.Sub(hopStart)), Reused: p.res.Conn != nil && p.res.Conn.Reused,
		Phases: rec.Reset(end)}
	info.Redirects = append(info.Redirects, hopRec)
	if perr != nil {
		return probe.Errorf(probe.PhaseWait, probe.ClassHTTP, probe.CauseBadRedirect, "redirect to unparsable Location %q: %v", loc, perr)
	}
	if len(info.Redirects) > o.EffectiveMaxRedirects() {
		return probe.Errorf(probe.PhaseWait, probe.ClassHTTP, probe.CauseTooManyRedirects, "stopped after %d redirects (limit %d)", len(info.Redirects), o.EffectiveMaxRedirects())
	}
	if next.Scheme != "http" && next.Scheme != "https" {
		return probe.Errorf(probe.PhaseWait, probe.ClassHTTP, probe.CauseBadRedirect, "redirect to unsupported scheme %q", next.Scheme)
	}
	if o.CheckRedirect != nil {
		asked := *next // the callback cannot change where the probe goes
		if err := o.CheckRedirect(&asked); err != nil {
			info.Redirects[len(info.Redirects)-1].Refused = err.Error()
			rec.AddSpan(probe.PhaseRedirect, firstHopStart, end)
			return probe.Errorf(probe.PhaseWait, probe.ClassHTTP, probe.CauseRedirectRefused, "redirect to %s refused: %v", withoutUserinfo(next), err)
		}
	}
	if (resp.StatusCode == http.StatusSeeOther && req.method != http.MethodHead) || ((resp.StatusCode == 301 || resp.StatusCode == 302) && req.method == http.MethodPost) {
		req.method, req.body = http.MethodGet, nil
	}
	if !probe.SameOrigin(&req.u, next) {
		req.header = crossOriginHeader(req.header, req.body != nil)
	}
	req.u = *next
	return nil
}

// crossOriginSafe lists the caller's headers a redirect to another origin
// keeps: they describe what the client accepts and cannot carry
// credentials. Every other header of Options.Header — Authorization,
// Cookie, API keys in X-… headers, a Host override — is dropped, on a
// scheme change (https → http) of the same host as well.
var crossOriginSafe = []string{"User-Agent", "Accept", "Accept-Language", "Accept-Encoding"}

// crossOriginHeader is h as sent to another origin: the crossOriginSafe
// headers only, and Content-Type while the body that it describes is
// still sent (a 307 or 308 keeps it).
func crossOriginHeader(h http.Header, withBody bool) http.Header {
	out := http.Header{}
	for k, vs := range h {
		ck := http.CanonicalHeaderKey(k)
		if slices.Contains(crossOriginSafe, ck) || (withBody && ck == "Content-Type") {
			out[k] = vs
		}
	}
	return out
}

// withoutUserinfo formats u without its user name and password.
func withoutUserinfo(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

func isRedirect(code int) bool {
	switch code {
	case 301, 302, 303, 307, 308:
		return true
	}
	return false
}

// exchange sends one request and returns the response with headers read
// (phases up to wait are recorded; transfer begins at the first byte).
func (p *prober) exchange(ctx context.Context, method string, u *url.URL, header http.Header, body []byte) (*http.Response, error) {
	rec := p.rec
	h := &hopTrace{p: p, rec: rec, ms: probe.Milestones{Rec: rec, Response: probe.PhaseTransfer}}
	trace := &h.trace
	trace.GotConn = h.gotConn
	trace.WroteRequest = h.wroteRequest
	trace.GotFirstResponseByte = h.gotFirstByte
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), method, u.String(), nil)
	if err != nil {
		return nil, probe.Errorf("", probe.ClassConfig, probe.CauseRequest, "building request: %v", err)
	}
	if body != nil {
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		req.ContentLength = int64(len(body))
	}
	for k, vs := range header {
		if strings.EqualFold(k, "Host") {
			req.Host = vs[0]
			continue
		}
		req.Header[k] = vs
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header["User-Agent"] = userAgent()
	}
	rt, err := p.roundTripper(ctx, u)
	if err != nil {
		return nil, err
	}
	if _, ok := rt.(*http.ClientConn); ok {
		// ClientConn.RoundTrip does not report GotConn: the connection is ready now.
		rec.Begin(probe.PhaseRequest)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		if pe := p.lateAlert(err); pe != nil {
			p.tap = nil // the server never spoke HTTP/2: no h2 block, whichever frames pathlens had sent
			return nil, pe
		}
		return nil, classifyHTTP(ctx, rec, err)
	}
	// A reply with no body (HEAD, 204) may never fire GotFirstResponseByte
	// on h2 before RoundTrip returns; make sure transfer is open.
	h.ms.Answered(rec.Now())
	return resp, nil
}

// MinConnWindow is the smallest --h2-conn-window an HTTP/2 probe can
// announce (probe.MinH2ConnWindow).
const MinConnWindow = probe.MinH2ConnWindow

// initialWindow is every HTTP/2 window before SETTINGS (RFC 9113 §6.9.2).
const initialWindow = 65535

// h2HeaderOverhead is what net/http adds to MaxResponseHeaderBytes to
// make SETTINGS_MAX_HEADER_LIST_SIZE: HTTP/2's 32 bytes of per-field
// overhead for 10 fields.
const h2HeaderOverhead = 10 * 32

// h2ClientConn runs HTTP/2 on conn, which pathlens dialed, handshook
// (ALPN h2) or left cleartext (h2c), and tapped, as a net/http
// ClientConn: a Transport whose one dial hands conn over makes it. The
// Transport only runs HTTP/2 over TLS on a *tls.Conn it can see, and the
// tap sits above TLS, so every conn takes the prior-knowledge way
// (Protocols: unencrypted HTTP/2 only), TLS or not; tlsTap still gives
// the TLS state to the response.
//
// --h2-window and --h2-conn-window go through HTTP2Config: the stream
// window is announced in SETTINGS_INITIAL_WINDOW_SIZE, the connection
// window as 65,535 plus the first WINDOW_UPDATE. The header cap is
// announced as SETTINGS_MAX_HEADER_LIST_SIZE and enforced at that size;
// MaxResponseHeaderBytes is set h2HeaderOverhead lower so that the cap
// is announced as given.
func h2ClientConn(ctx context.Context, o *probe.Options, conn net.Conn) (*http.ClientConn, error) {
	addr := conn.RemoteAddr().String()
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	handOver := func(context.Context, string, string) (net.Conn, error) {
		c := conn
		conn = nil // NewClientConn dials once; the ClientConn never redials
		if c == nil {
			return nil, errors.New("pathlens: the HTTP/2 connection was handed over already")
		}
		return c, nil
	}
	t := &http.Transport{Protocols: &protos, DialContext: handOver, HTTP2: &http.HTTP2Config{}}
	if max := o.EffectiveMaxHeader(); max > h2HeaderOverhead {
		t.MaxResponseHeaderBytes = max - h2HeaderOverhead
	}
	if o.H2Window > 0 {
		t.HTTP2.MaxReceiveBufferPerStream = int(o.H2Window)
	}
	if o.H2ConnWindow >= MinConnWindow {
		t.HTTP2.MaxReceiveBufferPerConnection = int(o.H2ConnWindow) - initialWindow
	}
	return t.NewClientConn(ctx, "http", addr)
}

// hopTrace is the httptrace hooks of one request and their shared state
// (one allocation for all of it, where closures would take one each).
type hopTrace struct {
	p     *prober
	rec   *probe.Recorder
	trace httptrace.ClientTrace
	// ms keeps request, wait, transfer in order: WroteRequest and
	// GotFirstResponseByte come from the writer and reader goroutines.
	ms probe.Milestones
}

func (h *hopTrace) gotConn(gi httptrace.GotConnInfo) {
	if gi.Reused {
		c := h.p.d.ConnInfo()
		c.Reused = true
		c.IdleMS = probe.MS(gi.IdleTime)
		c.RemoteAddr, c.LocalAddr = probe.ConnAddrs(gi.Conn)
	}
	if h.rec.InFlight() != probe.PhaseRequest {
		h.rec.Begin(probe.PhaseRequest)
	}
}

func (h *hopTrace) wroteRequest(httptrace.WroteRequestInfo) { h.ms.Wrote(h.rec.Now()) }

func (h *hopTrace) gotFirstByte() { h.ms.Answered(h.rec.Now()) }

// roundTripper finds or makes the connection for u: a reused one from the
// session (with --reuse), else a fresh dial handed to HTTP/2 or HTTP/1.1.
func (p *prober) roundTripper(ctx context.Context, u *url.URL) (http.RoundTripper, error) {
	o := p.opts
	key := u.Scheme + "://" + u.Host
	p.tap = nil
	if o.Session != nil {
		if v, ok := o.Session.Load(key); ok {
			switch c := v.(type) {
			case *http.ClientConn:
				if c.Err() == nil && c.Available() > 0 {
					ci := p.d.ConnInfo()
					ci.Reused = true
					p.fresh = false
					if t, ok := o.Session.Load(key + " h2tap"); ok {
						p.tap = t.(tapRef).c
						p.tap.Reset(p.rec.Start())
					}
					return c, nil
				}
			case *http.Transport:
				p.fresh = false
				return c, nil
			}
		}
	}
	conn, alpn, err := p.dial(ctx, u, p.alpnFor(u))
	if err != nil {
		return nil, err
	}
	p.fresh = true
	if alpn == "h2" || (u.Scheme == "http" && o.H2C) {
		// The frame tap sits between TLS (or TCP, for h2c) and HTTP/2.
		tap := h2tap.Wrap(conn, p.rec.Start(), h2tap.Options{})
		var tc net.Conn = tap
		if tlsc, ok := conn.(tlsStater); ok {
			tc = tlsTap{tap, tlsc}
		}
		cc, err := h2ClientConn(ctx, o, tc)
		if err != nil {
			conn.Close()
			if pe := p.lateAlert(err); pe != nil {
				return nil, pe
			}
			return nil, probe.Classify(ctx, probe.PhaseRequest, probe.ClassProtocol, err)
		}
		p.tap = tap
		if o.Session != nil {
			o.Session.Store(key, cc)
			o.Session.Store(key+" h2tap", tapRef{tap}) // no Close: the ClientConn owns the connection
		} else {
			p.closers = append(p.closers, func() { cc.Close() })
		}
		return cc, nil
	}
	tr := p.h1Transport(conn)
	if o.Session != nil {
		o.Session.Store(key, tr)
	} else {
		p.closers = append(p.closers, func() { tr.CloseIdleConnections(); conn.Close() })
	}
	return tr, nil
}

// lateAlert is the tls phase's failure when the exchange failed on a TLS
// 1.3 connection this probe dialed because the server's first record
// after the handshake was an alert (probe.Dialer.LateAlert).
func (p *prober) lateAlert(err error) *probe.PhaseError {
	if !p.fresh {
		return nil
	}
	return p.d.LateAlert(err)
}

// tlsStater is a TLS connection (a *tls.Conn or probe.Dialer.AppConn's).
type tlsStater interface {
	ConnectionState() tls.ConnectionState
}

// tlsTap is a tapped TLS connection that still tells net/http's HTTP/2
// client its TLS state (it looks for a ConnectionState method).
type tlsTap struct {
	*h2tap.Conn
	tls tlsStater
}

func (t tlsTap) ConnectionState() tls.ConnectionState { return t.tls.ConnectionState() }

// tapRef keeps a tap in a Session without offering Session.Close a Close method.
type tapRef struct{ c *h2tap.Conn }

func (p *prober) alpnFor(u *url.URL) []string {
	switch {
	case u.Scheme != "https":
		return nil
	case p.opts.HTTP1Only:
		return []string{"http/1.1"}
	case p.opts.HTTP2Only:
		return []string{"h2"}
	}
	return []string{"h2", "http/1.1"}
}

// h1Transport returns an HTTP/1.1-only transport whose first dial returns
// first and whose later dials (after the server closed it, with --reuse)
// are made and timed by the prober of the request's context.
func (p *prober) h1Transport(first net.Conn) *http.Transport {
	var mu sync.Mutex
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		c := first
		first = nil
		mu.Unlock()
		if c != nil {
			return c, nil
		}
		cur, _ := ctx.Value(proberKey{}).(*prober)
		if cur == nil {
			return nil, errors.New("pathlens: dial outside a probe")
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		u := &url.URL{Scheme: "http", Host: net.JoinHostPort(host, port)}
		if network == "tls" {
			u.Scheme = "https"
		}
		cur.fresh = true
		conn, _, err := cur.dial(ctx, u, []string{"http/1.1"})
		return conn, err
	}
	return &http.Transport{
		Proxy:       nil,
		DialContext: dial,
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dial(ctx, "tls", addr)
		},
		TLSNextProto:           map[string]func(string, *tls.Conn) http.RoundTripper{}, // h2 is handled by h2ClientConn
		MaxResponseHeaderBytes: p.opts.EffectiveMaxHeader(),
		MaxIdleConnsPerHost:    1,
		IdleConnTimeout:        90 * time.Second,
	}
}

// dial runs dns, connect and (for https) tls, returning the connection
// and the negotiated ALPN protocol.
func (p *prober) dial(ctx context.Context, u *url.URL, alpn []string) (net.Conn, string, error) {
	host := u.Hostname()
	port := 80
	if u.Scheme == "https" {
		port = 443
	}
	if ps := u.Port(); ps != "" {
		n, err := strconv.Atoi(ps)
		if err != nil {
			return nil, "", probe.Errorf("", probe.ClassConfig, probe.CauseTarget, "bad port %q", ps)
		}
		port = n
	}
	c, err := p.d.DialTCP(ctx, host, port)
	if err != nil {
		return nil, "", err
	}
	if u.Scheme != "https" {
		return c, "", nil
	}
	name := host
	if p.opts.ServerName != "" {
		name = p.opts.ServerName
	}
	cfg := p.d.TLSConfig(name, alpn)
	tc, err := p.d.Handshake(ctx, c, cfg)
	if err != nil {
		c.Close()
		return nil, "", err
	}
	p.mu.Lock()
	p.tlsCfg, p.tlsAddr = cfg, c.RemoteAddr().String()
	p.mu.Unlock()
	return p.d.AppConn(tc), tc.ConnectionState().NegotiatedProtocol, nil
}

// finish reads the final response's body through the cap and records the
// HTTP facts, then runs the resumption check.
func (p *prober) finish(ctx context.Context, resp *http.Response, method string) error {
	info := p.res.HTTP
	info.Status = resp.StatusCode
	info.Proto = resp.Proto
	info.ContentLength = resp.ContentLength
	info.HeadersBytes = headerBytes(resp)
	info.KeepAlive = !resp.Close
	if resp.Uncompressed {
		info.ContentEncoding = "gzip"
		info.ContentLength = -1
	} else if ce := resp.Header.Get("Content-Encoding"); ce != "" {
		info.ContentEncoding = ce
	}
	max := p.opts.EffectiveMaxBody()
	var sink io.Writer = io.Discard
	var kept *bodyBuffer
	if p.opts.EffectiveKeepBody() {
		kept = &bodyBuffer{max: max}
		sink = kept
	}
	n, rerr := io.Copy(sink, io.LimitReader(resp.Body, max+1))
	if n > max {
		info.BodyLimited = true
		n = max
	}
	if kept != nil {
		p.res.Body = kept.b
		if p.res.Body == nil {
			p.res.Body = []byte{}
		}
	}
	info.BodyBytes = n
	var pe *probe.PhaseError
	if rerr != nil {
		pe = classifyHTTP(ctx, p.rec, rerr) // while transfer is still in flight
	}
	resp.Body.Close()
	p.rec.End(probe.PhaseTransfer)
	p.rec.MarkDone()
	if pe != nil {
		if pe.Class != probe.ClassTimeout && pe.Class != probe.ClassCanceled {
			info.Truncated = true
			pe.Phase, pe.Class, pe.Cause = probe.PhaseTransfer, probe.ClassHTTP, probe.CauseTruncated
			pe.Err = fmt.Errorf("body ended after %d bytes%s: %w", n, ofLength(resp.ContentLength), rerr)
		}
		return pe
	}
	if resp.ContentLength >= 0 && !resp.Uncompressed && n < resp.ContentLength && !info.BodyLimited && bodyExpected(method, resp.StatusCode) {
		info.Truncated = true
		return probe.Errorf(probe.PhaseTransfer, probe.ClassHTTP, probe.CauseTruncated, "body ended after %d of %d bytes", n, resp.ContentLength)
	}
	if p.fresh && p.tlsCfg != nil && !p.opts.SkipResumptionCheck {
		p.d.CheckResumption(ctx, p.tlsAddr, p.tlsCfg)
	}
	if !statusValid(resp.StatusCode, p.opts.EffectiveValidStatus()) {
		return probe.Errorf(probe.PhaseWait, probe.ClassHTTP, probe.CauseStatus, "status %d is not in %s", resp.StatusCode, info.ValidStatus)
	}
	return nil
}

// bodyBuffer keeps the first max bytes written to it and counts the rest
// as written, so that io.Copy goes on to detect a body over the cap.
type bodyBuffer struct {
	b   []byte
	max int64
}

func (w *bodyBuffer) Write(p []byte) (int, error) {
	if room := w.max - int64(len(w.b)); room > 0 {
		w.b = append(w.b, p[:min(int64(len(p)), room)]...)
	}
	return len(p), nil
}

// bodyExpected reports whether a response may carry a body: a HEAD
// response and 1xx, 204 and 304 answers have none whatever their
// Content-Length says (RFC 9110 §8.6).
func bodyExpected(method string, code int) bool {
	return method != http.MethodHead && code >= 200 && code != http.StatusNoContent && code != http.StatusNotModified
}

func ofLength(cl int64) string {
	if cl < 0 {
		return ""
	}
	return fmt.Sprintf(" of %d", cl)
}

func statusValid(code int, ranges []probe.StatusRange) bool {
	for _, r := range ranges {
		if code >= r.Lo && code <= r.Hi {
			return true
		}
	}
	return false
}

// defaultRanges is rangesString(probe.DefaultValidStatus), computed once.
var defaultRanges = rangesStringOf(probe.DefaultValidStatus)

func rangesString(rs []probe.StatusRange) string {
	if len(rs) == len(probe.DefaultValidStatus) && (len(rs) == 0 || &rs[0] == &probe.DefaultValidStatus[0]) {
		return defaultRanges
	}
	return rangesStringOf(rs)
}

func rangesStringOf(rs []probe.StatusRange) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// headerBytes is the size of the response header block as parsed: status
// line plus "Key: value\r\n" per field plus the blank line.
func headerBytes(resp *http.Response) int {
	n := len(resp.Proto) + 1 + len(resp.Status) + 2
	for k, vs := range resp.Header {
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	return n + 2
}

// classifyHTTP maps an HTTP-layer error to a PhaseError. net/http exports
// no types for these errors, so the two limits pathlens sets are
// recognised by their fixed messages.
func classifyHTTP(ctx context.Context, rec *probe.Recorder, err error) *probe.PhaseError {
	phase := rec.InFlight()
	if phase == "" {
		phase = probe.PhaseWait
	}
	pe := probe.Classify(ctx, phase, probe.ClassHTTP, err)
	if pe.Class == probe.ClassTimeout || pe.Class == probe.ClassCanceled {
		return pe
	}
	msg := err.Error()
	switch {
	case errors.Is(err, probe.ErrReadCap):
		pe.Cause = probe.CauseReadCap
	case strings.Contains(msg, "server response headers exceeded"), strings.Contains(msg, "header list larger than"):
		pe.Cause = probe.CauseHeadersTooLarge
	case strings.Contains(msg, "malformed HTTP"), strings.Contains(msg, "unsupported protocol version"):
		pe.Cause = probe.CauseMalformed
		pe.Class = probe.ClassProtocol
	case strings.Contains(msg, "server sent GOAWAY"), strings.Contains(msg, "stream error"):
		pe.Class = probe.ClassProtocol
		if pe.Cause == "" {
			pe.Cause = probe.CauseH2
		}
	}
	return pe
}

func (p *prober) release() {
	for _, c := range p.closers {
		c()
	}
}
