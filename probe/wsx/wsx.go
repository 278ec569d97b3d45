// Package wsx probes ws:// and wss:// targets with github.com/coder/websocket.
//
// pathlens dials itself (probe.Dialer: dns, connect, tls) and hands the
// established connection to the library through an http.Client whose
// transport returns that connection, so the upgrade is timed on its own.
// The session then belongs to the probe, never to the upgrade request:
//
//   - the upgrade runs under its own context, cancelled as soon as Dial
//     returns; net/http gives up a connection once it answered 101;
//   - one reader goroutine owned by the probe reads every message under a
//     context that is cancelled only after the session is closed (the
//     library closes the whole socket when a read's context ends);
//   - the server's frame headers are checked on their way to the library,
//     which enforces the read limit only on bytes it has read: a message
//     announced over the limit ends the session at its header (frames.go);
//   - the budget is enforced with a deadline on the connection, and the
//     close handshake is bounded by a grace period at the end of it;
//   - the reader and every ping goroutine have ended when Probe returns.
//
// Phases: dns connect tls upgrade wait hold. Message contents are never
// recorded, only their time, direction and size; the bearer token is sent
// but only its fingerprint reaches the Result.
package wsx

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/probe/token"
)

func init() {
	probe.RegisterKind(probe.Kind{Name: "ws", Schemes: []string{"ws", "wss"}, Sections: []string{"dns", "http", "tls", "ws"}, Prober: probe.ProberFunc(Probe), Validate: probe.ValidateWS,
		Phases: []string{probe.PhaseDNS, probe.PhaseConnect, probe.PhaseTLS, probe.PhaseUpgrade, probe.PhaseWait, probe.PhaseHold}})
}

// CloseGrace is the most time kept at the end of the budget for the close
// handshake; a tenth of the budget when that is less (at least 20 ms).
const CloseGrace = time.Second

func closeGrace(budget time.Duration) time.Duration {
	return min(CloseGrace, max(budget/10, 20*time.Millisecond))
}

// why the hold ended
type endReason int

const (
	endHold     endReason = iota // the hold ran its course
	endBudget                    // the budget (less the close grace) ran out
	endPeer                      // the reader ended: close frame, drop or read limit
	endCanceled                  // the probe's context ended (interrupt, shutdown)
)

// session is the state of one probe.
type session struct {
	ctx  context.Context
	t    probe.Target
	o    *probe.Options
	wo   *probe.WSOptions
	rec  *probe.Recorder
	r    *probe.Result
	info *probe.WSInfo

	tok   string // the bearer token; only ever sent, scrubbed from every message
	d     *probe.Dialer
	conn  net.Conn
	c     *websocket.Conn
	guard *frameGuard // checks the server's frame headers against the read limit

	upEnd      time.Time
	readCtx    context.Context // cancelled only after the session is closed
	readCancel context.CancelFunc
	readerDone chan struct{}
	firstIn    chan struct{}
	closingUs  atomic.Bool
	pingWG     sync.WaitGroup

	mu          sync.Mutex
	firstInAt   time.Time
	lastTraffic time.Time
	readErr     error
	readErrAt   time.Time
	readByUs    bool
	outstanding int
	pings       []pingRec
}

// Probe runs one WebSocket probe: dial, upgrade, optional message round
// trip, pings, hold, close.
func Probe(ctx context.Context, t probe.Target, o *probe.Options, rec *probe.Recorder, r *probe.Result) error {
	wo := o.WS
	if wo == nil {
		wo = &probe.WSOptions{}
	}
	info := &probe.WSInfo{
		PingRTTMS: []float64{}, Messages: []probe.WSMessage{}, Pings: []probe.WSPing{},
		HoldMS: probe.MS(wo.Hold), MaxMessage: wo.EffectiveMaxMessage(),
	}
	if wo.PingInterval > 0 {
		info.PingIntervalMS = probe.MS(wo.PingInterval)
	}
	r.WS = info
	s := &session{ctx: ctx, t: t, o: o, wo: wo, rec: rec, r: r, info: info}
	if err := s.token(); err != nil {
		return err
	}

	d := &probe.Dialer{Opts: o, Rec: rec, Res: r}
	s.d = d
	raw, err := d.DialTCP(ctx, t.Host, t.Port)
	if err != nil {
		return err
	}
	defer raw.Close()
	var conn net.Conn = raw
	var tlsCfg *tls.Config
	if t.Kind == "wss" {
		name := t.Host
		if o.ServerName != "" {
			name = o.ServerName
		}
		// WebSocket upgrades are HTTP/1.1 (RFC 6455); offer nothing else.
		tlsCfg = d.TLSConfig(name, []string{"http/1.1"})
		tc, err := d.Handshake(ctx, raw, tlsCfg)
		if err != nil {
			return err
		}
		defer tc.Close()
		conn = d.AppConn(tc)
	}
	err = s.run(conn)
	// The session is over: what follows is outside the total. The session
	// read past the handshake, so TLS 1.3 tickets are in the cache.
	rec.MarkDone()
	var pe *probe.PhaseError
	tlsFailed := errors.As(err, &pe) && pe.Phase == probe.PhaseTLS // the server refused the handshake late (LateAlert)
	if tlsCfg != nil && !o.SkipResumptionCheck && ctx.Err() == nil && !tlsFailed {
		d.CheckResumption(ctx, raw.RemoteAddr().String(), tlsCfg)
	}
	return err
}

// token resolves the bearer token of this probe (minting a JWT) and
// records what may be shown of it.
func (s *session) token() error {
	info := s.info
	var tok probe.Token
	switch {
	case s.wo.Token != nil:
		var err error
		tok, err = s.wo.Token.Token(s.rec.Start())
		if err != nil {
			return &probe.PhaseError{Class: probe.ClassConfig, Cause: probe.CauseToken, Err: err}
		}
		info.TokenSource = s.wo.Token.Kind()
		info.TokenVia = "header"
		if s.wo.TokenParam != "" {
			info.TokenVia = "query:" + s.wo.TokenParam
		}
	case s.o.Header != nil:
		// A token sent with -H 'Authorization: Bearer …' is shown (as a
		// fingerprint) and its expiry read too.
		v, ok := token.BearerFromHeader(s.o.Header.Get("Authorization"))
		if !ok {
			return nil
		}
		tok = probe.Token{Value: v, Exp: token.UnverifiedExp(v)}
		info.TokenSource, info.TokenVia = "header", "header"
	default:
		return nil
	}
	if tok.Value == "" {
		return probe.Errorf("", probe.ClassConfig, probe.CauseToken, "the token source gave an empty token")
	}
	s.tok = tok.Value
	info.TokenFingerprint = tok.Fingerprint()
	if !tok.Exp.IsZero() {
		e := tok.Exp.UTC()
		info.TokenExp = &e
	}
	return nil
}

// run upgrades conn and holds the session. Every step reads the budget
// computed at the top.
func (s *session) run(conn net.Conn) error {
	deadline, ok := s.ctx.Deadline()
	if !ok {
		deadline = s.rec.Start().Add(probe.DefaultTimeout)
	}
	grace := closeGrace(deadline.Sub(s.rec.Start()))
	stopAt := deadline.Add(-grace)
	s.conn = conn

	client, gt, tr := oneShotClient(conn, s.info.MaxMessage)
	defer tr.CloseIdleConnections()
	c, err := s.upgrade(client, stopAt)
	if err != nil {
		return err
	}
	s.c, s.guard = c, gt.guard
	// The guard refuses a message by its announced length; the library's
	// own limit, on the bytes read, stays as a second line.
	c.SetReadLimit(s.info.MaxMessage)
	// Nothing outlives the budget, whatever the peer does.
	_ = conn.SetDeadline(deadline)

	s.readCtx, s.readCancel = context.WithCancel(context.Background())
	defer s.readCancel()
	s.readerDone = make(chan struct{})
	s.firstIn = make(chan struct{})
	s.lastTraffic = s.upEnd
	go s.readLoop()
	return s.hold(stopAt, grace, deadline)
}

// upgradeRequest is what the upgrade request carries: the URL (with the
// token under --token-param), the headers (with the token otherwise), the
// Host override and the subprotocols, both taken out of the headers.
func (s *session) upgradeRequest() (u url.URL, header http.Header, host string, subprotocols []string) {
	u = *s.t.URL
	u.Fragment, u.RawFragment = "", ""
	header = s.o.Header.Clone()
	if header == nil {
		header = http.Header{}
	}
	host = header.Get("Host")
	header.Del("Host")
	for _, v := range header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				subprotocols = append(subprotocols, p)
			}
		}
	}
	header.Del("Sec-WebSocket-Protocol")
	if s.wo.Token != nil {
		if s.wo.TokenParam != "" {
			// Only the request URL carries the token; Result.Target stays
			// as the user wrote it.
			q := u.Query()
			q.Set(s.wo.TokenParam, s.tok)
			u.RawQuery = q.Encode()
		} else {
			header.Set("Authorization", "Bearer "+s.tok)
		}
	}
	if header.Get("User-Agent") == "" {
		header.Set("User-Agent", probe.UserAgent())
	}
	return u, header, host, subprotocols
}

// oneShotClient is an http.Client whose transport hands out conn once
// and puts a frame guard (limit: the read limit) on the upgraded
// connection. The caller closes the transport's idle connections.
func oneShotClient(conn net.Conn, limit int64) (*http.Client, *guardTransport, *http.Transport) {
	var handedMu sync.Mutex
	handed := false
	dial := func(context.Context, string, string) (net.Conn, error) {
		handedMu.Lock()
		defer handedMu.Unlock()
		if handed {
			return nil, errors.New("pathlens: the probe's connection is already in use")
		}
		handed = true
		return conn, nil
	}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            dial,
		DialTLSContext:         dial,
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: probe.DefaultMaxHeader,
		TLSNextProto:           map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	gt := &guardTransport{rt: tr, limit: limit}
	client := &http.Client{Transport: gt, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // a redirected upgrade is a failed upgrade
	}}
	return client, gt, tr
}

// upgrade runs the upgrade phase through client and records its status,
// subprotocol and extensions.
func (s *session) upgrade(client *http.Client, stopAt time.Time) (*websocket.Conn, error) {
	u, header, host, subprotocols := s.upgradeRequest()
	// The upgrade's own context: it bounds the handshake and is cancelled
	// the moment Dial returns, which must not (and does not) touch the
	// session.
	upCtx, upCancel := context.WithDeadline(s.ctx, stopAt)
	defer upCancel()
	s.rec.Begin(probe.PhaseUpgrade)
	c, resp, err := websocket.Dial(upCtx, u.String(), &websocket.DialOptions{
		HTTPClient:      client,
		HTTPHeader:      header,
		Host:            host,
		Subprotocols:    subprotocols,
		CompressionMode: websocket.CompressionDisabled,
	})
	s.upEnd = s.rec.End(probe.PhaseUpgrade)
	if resp != nil {
		s.info.UpgradeStatus = resp.StatusCode
	}
	if err != nil {
		return nil, s.upgradeError(upCtx, resp, err)
	}
	s.info.Subprotocol = s.scrub(c.Subprotocol())
	for _, v := range resp.Header.Values("Sec-WebSocket-Extensions") {
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e != "" {
				s.info.Extensions = append(s.info.Extensions, s.scrub(e))
			}
		}
	}
	return c, nil
}

// upgradeError classifies a failed Dial.
func (s *session) upgradeError(ctx context.Context, resp *http.Response, err error) error {
	if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
		if ch := resp.Header.Get("WWW-Authenticate"); ch != "" {
			s.info.AuthChallenge = truncate(s.scrub(ch), 200)
		}
		text := http.StatusText(resp.StatusCode)
		if text != "" {
			text = " " + text
		}
		return probe.Errorf(probe.PhaseUpgrade, probe.ClassHTTP, probe.CauseStatus,
			"the upgrade was answered %d%s, not 101 Switching Protocols", resp.StatusCode, text)
	}
	if resp != nil {
		return probe.Errorf(probe.PhaseUpgrade, probe.ClassProtocol, probe.CauseBadHandshake, "%s", s.scrub(rootText(err)))
	}
	if pe := s.d.LateAlert(err); pe != nil {
		// No response came: the TLS 1.3 server rejected the client (its
		// first record after the handshake was an alert).
		return pe
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL may carry the token (--token-param)
	}
	pe := probe.Classify(ctx, probe.PhaseUpgrade, probe.ClassProtocol, err)
	return &probe.PhaseError{Phase: probe.PhaseUpgrade, Class: pe.Class, Cause: pe.Cause,
		Err: errors.New("upgrade request failed: " + s.scrub(shortErr(err)))}
}

// scrub removes the token from text that may have picked it up (an error
// quoting the request URL, a server echoing it).
func (s *session) scrub(text string) string {
	if s.tok == "" {
		return text
	}
	text = strings.ReplaceAll(text, s.tok, "[token]")
	if q := url.QueryEscape(s.tok); q != s.tok {
		text = strings.ReplaceAll(text, q, "[token]")
	}
	return text
}

// shortErr names the low-level cause of a failed read or write.
func shortErr(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, io.EOF):
		return "EOF: the TCP connection was closed"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected EOF: the TCP connection was closed mid-frame"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "i/o timeout"
	case errors.Is(err, net.ErrClosed):
		return "connection closed"
	}
	return rootText(err)
}

// rootText is the message of the innermost error, without the library's
// "failed to …:" prefixes.
func rootText(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		var ce websocket.CloseError
		if errors.As(err, &ce) && !errors.As(next, &ce) {
			return err.Error()
		}
		err = next
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// fmtDur formats a duration for messages: 2.01s, 350ms.
func fmtDur(d time.Duration) string {
	if d >= time.Second {
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}
