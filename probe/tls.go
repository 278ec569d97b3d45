package probe

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// TLSConfig builds the client config for a probe. Verification is done by
// pathlens itself in VerifyConnection (so every fact is recorded even when
// it fails); with Insecure the failure is recorded but not fatal. TLS 1.0
// is allowed so old servers can be reached and reported (TLS_OLD_VERSION).
func (d *Dialer) TLSConfig(serverName string, alpn []string) *tls.Config {
	o := d.Opts
	info := d.tlsInfo()
	info.SNI = serverName
	info.OfferedALPN = alpn
	info.TrustStore = "system"
	if o.CAFile != "" {
		info.TrustStore = o.CAFile
	} else if o.RootCAs != nil {
		info.TrustStore = "custom"
	}
	cfg := &tls.Config{
		ServerName:         serverName,
		NextProtos:         alpn,
		MinVersion:         tls.VersionTLS10,
		InsecureSkipVerify: true, // verified below, by VerifyConnection
		ClientSessionCache: tls.NewLRUClientSessionCache(8),
	}
	if ip, err := netip.ParseAddr(serverName); err == nil && ip.IsValid() {
		cfg.ServerName = "" // no SNI for IP literals (RFC 6066)
		info.SNI = ""
	}
	// The callback runs only when the server sends a CertificateRequest:
	// it records that the server asked, and whether pathlens had a
	// certificate to give (an empty one sends none, as with no callback).
	cert := o.ClientCert
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		info.ClientCertRequested = true
		if cert == nil {
			return &tls.Certificate{}, nil
		}
		info.ClientCertSent = true
		return cert, nil
	}
	verifyName := serverName
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		return d.verify(cs, verifyName)
	}
	return cfg
}

func (d *Dialer) tlsInfo() *TLSInfo {
	if d.Res.TLS == nil {
		d.Res.TLS = &TLSInfo{Chain: []Cert{}}
	}
	return d.Res.TLS
}

// ErrVerify marks a handshake that failed pathlens's certificate verification.
var ErrVerify = errors.New("certificate verification failed")

func (d *Dialer) verify(cs tls.ConnectionState, name string) error {
	info := d.tlsInfo()
	if cs.DidResume && len(cs.PeerCertificates) == 0 {
		return nil
	}
	start := d.now()
	defer func() { info.VerifyMS = ms(d.now().Sub(start)) }()
	sent := cs.PeerCertificates
	if len(sent) == 0 {
		info.Chain = []Cert{}
		info.Analysis = &ChainAnalysis{OrderOK: true}
		info.VerifyReason, info.VerifyError = "other", "server sent no certificate"
		return d.verifyFailed(errors.New(info.VerifyError))
	}
	now := time.Now()
	cache := d.Opts.VerifyCache
	if cache == nil {
		return d.verifyFailed(d.verifyChain(info, sent, name, now))
	}
	key := chainKey(sent, name, d.Opts.RootCAs)
	if v := cache.get(key, now); v != nil {
		return d.verifyFailed(v.apply(info))
	}
	err := d.verifyChain(info, sent, name, now)
	cache.put(key, verdictOf(info, err), now)
	return d.verifyFailed(err)
}

// verifyChain verifies the chain sent for name at now, records every
// fact in info and returns x509's error (nil when verified).
func (d *Dialer) verifyChain(info *TLSInfo, sent []*x509.Certificate, name string, now time.Time) error {
	info.Chain = CertsOf(sent)
	roots := d.Opts.RootCAs
	opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool(), CurrentTime: now}
	if ip, err := netip.ParseAddr(name); err == nil {
		opts.DNSName = ip.String()
	} else {
		opts.DNSName = name
	}
	for _, c := range sent[1:] {
		opts.Intermediates.AddCert(c)
	}
	info.Analysis = analyzeChain(sent, roots, now)
	chains, err := sent[0].Verify(opts)
	if err == nil {
		info.Verified = true
		info.VerifiedChain = CertsOf(chains[0])
		info.VerifyError, info.VerifyReason = "", ""
		return nil
	}
	info.Verified = false
	info.VerifyError = err.Error()
	info.VerifyReason = VerifyReason(err)
	// Verify reports one reason; expiry anywhere in the chain is checked
	// by diagnosis from the dates, and a name mismatch hides behind an
	// unknown authority, so check the name on its own too.
	if info.VerifyReason != "hostname" {
		if herr := sent[0].VerifyHostname(opts.DNSName); herr != nil {
			info.HostnameError = herr.Error()
		}
	} else {
		info.HostnameError = err.Error()
	}
	return err
}

func (d *Dialer) verifyFailed(err error) error {
	if err == nil || d.Opts.Insecure {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrVerify, err)
}

// VerifyReason classifies an x509 verification error: hostname, expired,
// not_yet_valid, invalid, unknown_authority or other.
func VerifyReason(err error) string {
	var he x509.HostnameError
	var ie x509.CertificateInvalidError
	var ua x509.UnknownAuthorityError
	switch {
	case errors.As(err, &he):
		return "hostname"
	case errors.As(err, &ie):
		switch ie.Reason {
		case x509.Expired:
			if ie.Cert != nil && time.Now().Before(ie.Cert.NotBefore) {
				return "not_yet_valid"
			}
			return "expired"
		case x509.NameMismatch:
			return "hostname"
		}
		return "invalid"
	case errors.As(err, &ua):
		return "unknown_authority"
	}
	return "other"
}

// CertsOf describes certificates as the Result records them, order kept.
func CertsOf(cs []*x509.Certificate) []Cert {
	out := make([]Cert, 0, len(cs))
	for _, c := range cs {
		sum := sha256.Sum256(c.Raw)
		ce := Cert{
			Subject:    c.Subject.String(),
			Issuer:     c.Issuer.String(),
			NotBefore:  c.NotBefore.UTC(),
			NotAfter:   c.NotAfter.UTC(),
			SHA256:     hex.EncodeToString(sum[:]),
			Serial:     serialHex(c),
			IsCA:       c.IsCA,
			SelfSigned: selfSigned(c),
			DNSNames:   c.DNSNames,
		}
		for _, ip := range c.IPAddresses {
			ce.IPs = append(ce.IPs, ip.String())
		}
		out = append(out, ce)
	}
	return out
}

// serialHex is c's serial number as blackbox_exporter labels it: the
// lower-case hex of its big-endian bytes ("" without one).
func serialHex(c *x509.Certificate) string {
	if c.SerialNumber == nil {
		return ""
	}
	return hex.EncodeToString(c.SerialNumber.Bytes())
}

func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

func issuedBy(child, parent *x509.Certificate) bool {
	return bytes.Equal(child.RawIssuer, parent.RawSubject) && child.CheckSignatureFrom(parent) == nil
}

// analyzeChain reads the chain as sent: is each certificate followed by its
// issuer, and where does the path up from the leaf end — at a self-signed
// root, at a certificate whose issuer the trust store holds, or at one whose
// issuer nobody sent?
func analyzeChain(sent []*x509.Certificate, roots *x509.CertPool, now time.Time) *ChainAnalysis {
	a := &ChainAnalysis{OrderOK: true}
	if len(sent) == 0 {
		return a
	}
	for i := 0; i+1 < len(sent); i++ {
		if !issuedBy(sent[i], sent[i+1]) {
			a.OrderOK = false
			a.MisorderedAt = i
			break
		}
	}
	// The order check has verified sent[i]'s signature by sent[i+1] for
	// every i below ordered (and found it wanting at ordered itself, when
	// misordered): the walk below reuses those verdicts rather than check
	// each signature twice (a long chain is mostly signature checks).
	ordered := len(sent) - 1
	if !a.OrderOK {
		ordered = a.MisorderedAt
	}
	issues := func(i, j int) bool {
		if j == i+1 && i <= ordered {
			return i < ordered
		}
		return issuedBy(sent[i], sent[j])
	}
	// Follow issuers among the sent certificates, in any order.
	path := []*x509.Certificate{sent[0]}
	used := map[int]bool{0: true}
	for cur := 0; ; {
		if selfSigned(sent[cur]) {
			break
		}
		found := -1
		for j := range sent {
			if !used[j] && issues(cur, j) {
				found = j
				break
			}
		}
		if found < 0 {
			break
		}
		used[found] = true
		path = append(path, sent[found])
		cur = found
	}
	last := path[len(path)-1]
	a.PathLen = len(path)
	a.EndsAt = last.Subject.String()
	a.EndsSelfSigned = selfSigned(last)
	a.AIA = last.IssuingCertificateURL
	if !a.EndsSelfSigned {
		a.IssuerInStore = issuerInStore(last, roots, now)
		if !a.IssuerInStore {
			a.MissingIssuer = last.Issuer.String()
		}
	}
	if a.OrderOK && len(path) < len(sent) {
		// Extra certificates that are not on the path are an ordering
		// problem too (RFC 8446 §4.4.2 allows it, many clients do not).
		a.OrderOK = len(path) == len(sent)
		if !a.OrderOK {
			a.MisorderedAt = len(path) - 1
		}
	}
	return a
}

// issuerInStore checks whether the trust store holds an issuer for c, by
// verifying c alone against the store (ignoring names and usages).
// The check runs at the middle of c's validity so that an expired
// certificate is not mistaken for one whose issuer is known: expiry has
// its own finding.
func issuerInStore(c *x509.Certificate, roots *x509.CertPool, _ time.Time) bool {
	mid := c.NotBefore.Add(c.NotAfter.Sub(c.NotBefore) / 2)
	_, err := c.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: mid, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err == nil
}

// Handshake runs the TLS handshake on conn (phase tls) and records the
// negotiated facts in Result.TLS.
func (d *Dialer) Handshake(ctx context.Context, conn net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	d.Rec.Begin(PhaseTLS)
	tc := tls.Client(conn, cfg)
	err := tc.HandshakeContext(ctx)
	d.Rec.End(PhaseTLS)
	info := d.tlsInfo()
	if err != nil {
		info.Alert = alertOf(err)
		if errors.Is(err, ErrVerify) {
			return nil, &PhaseError{Phase: PhaseTLS, Class: ClassTLS, Cause: VerifyCause(info.VerifyReason), Err: err}
		}
		return nil, Classify(ctx, PhaseTLS, ClassTLS, err)
	}
	d.recordState(tc.ConnectionState())
	return tc, nil
}

// now reads the clock the phases are timed on.
func (d *Dialer) now() time.Time {
	if d.Rec != nil {
		return d.Rec.Now()
	}
	return time.Now()
}

func (d *Dialer) recordState(cs tls.ConnectionState) {
	info := d.tlsInfo()
	info.Version = tls.VersionName(cs.Version)
	info.Cipher = CipherSuiteName(cs.CipherSuite)
	if cs.CurveID != 0 {
		info.Curve = cs.CurveID.String()
	}
	info.HelloRetryRequest = cs.HelloRetryRequest
	info.ALPN = cs.NegotiatedProtocol
	info.Resumed = cs.DidResume
	info.OCSPStapled = len(cs.OCSPResponse) > 0
}

// LateAlert turns err, met on this probe's TLS connection after Handshake
// returned, into the tls phase's failure when the handshake was TLS 1.3
// and the first thing the server sent after it was a TLS alert: err's,
// or the one the connection's AppConn met (the protocol above may report
// a write's broken pipe instead). AppConn knows whether application data
// came first; a caller that reads without one (tls://'s DrainTickets)
// vouches that its read was the first. A TLS 1.3 client finishes its handshake
// one flight before the server does, so a server that rejects the
// client's Certificate or Finished — certificate_required (116) when a
// client certificate is required and none was sent, bad_certificate or
// unknown_ca when it is not trusted — sends its alert then, and the
// client meets it on its first read, in the request or wait phase. Below
// TLS 1.3 the server verifies the client before its own Finished, so an
// alert after the handshake is not the handshake's. It records the alert
// in Result.TLS (Alert, AlertAfterHandshake) and returns a class tls,
// cause alert PhaseError in phase tls; nil when err is not such an alert.
func (d *Dialer) LateAlert(err error) *PhaseError {
	info := d.Res.TLS
	if info == nil || info.Version != "TLS 1.3" {
		return nil
	}
	alert := tlsAlert(err)
	if w := d.app; w != nil {
		if w.got.Load() {
			return nil // the server had sent application data: its side of the handshake was done
		}
		if a := w.alert.Load(); a != nil {
			alert = *a // met by a read the protocol above did not report (a write failed first)
		}
	}
	if alert == nil {
		return nil
	}
	info.Alert = alertOf(alert)
	info.AlertAfterHandshake = true
	// Only the alert is quoted: what wraps it may name the request URL.
	return &PhaseError{Phase: PhaseTLS, Class: ClassTLS, Cause: CauseAlert,
		Err: fmt.Errorf("the server ended the TLS 1.3 handshake with an alert after pathlens had finished its side: %w", alert)}
}

// lateAlertWait bounds the read an AppConn makes when a write fails
// before the server sent anything: the server's alert, if any, came
// before the reset that failed the write, so it is already there.
const lateAlertWait = 50 * time.Millisecond

// AppConn is the connection a prober hands the protocol above TLS (HTTP,
// HTTP/2, gRPC, WebSocket) after Handshake. On TLS 1.3 it watches the
// first reads for the server's late verdict on the client (LateAlert):
// it remembers whether any application data came, and a TLS alert met
// before any did. A server that rejects the client sends its alert and
// closes, so the client's first write (the request, the HTTP/2 preface)
// may fail with a broken pipe or a reset before anything reads the alert,
// and the protocol reports the write's error: then it reads once itself,
// for at most lateAlertWait. Below TLS 1.3 it is tc itself.
func (d *Dialer) AppConn(tc *tls.Conn) net.Conn {
	d.app = nil
	if tc.ConnectionState().Version < tls.VersionTLS13 {
		return tc
	}
	d.app = &appConn{Conn: tc}
	return d.app
}

// appConn is AppConn's watch on a TLS 1.3 connection.
type appConn struct {
	*tls.Conn
	got   atomic.Bool           // a read returned application data
	alert atomic.Pointer[error] // the TLS alert a read met before any
}

func (c *appConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.saw(n, err)
	return n, err
}

func (c *appConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if err != nil && !c.got.Load() && c.alert.Load() == nil {
		_ = c.Conn.SetReadDeadline(time.Now().Add(lateAlertWait))
		var one [1]byte
		c.saw(c.Conn.Read(one[:]))
		if a := c.alert.Load(); a != nil {
			err = fmt.Errorf("%w (after %w)", *a, err)
		}
	}
	return n, err
}

// saw records what a read returned.
func (c *appConn) saw(n int, err error) {
	if n > 0 {
		c.got.Store(true)
		return
	}
	if a := tlsAlert(err); a != nil && !c.got.Load() {
		c.alert.CompareAndSwap(nil, &a)
	}
}

// tlsAlert is the TLS alert from the peer that err holds (IsTLSAlert),
// nil when it holds none.
func tlsAlert(err error) error {
	var ae tls.AlertError
	if errors.As(err, &ae) {
		return ae
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "remote error" {
		return oe
	}
	return nil
}

// AwaitsClientAuth reports whether the server's verdict on the client's
// side of the handshake is still to come: TLS 1.3, and the server asked
// for a client certificate. A prober that reads nothing after the
// handshake (tls://) reads once then (DrainTickets), so that a rejection
// (LateAlert) is not mistaken for success.
func (d *Dialer) AwaitsClientAuth() bool {
	info := d.Res.TLS
	return info != nil && info.Version == "TLS 1.3" && info.ClientCertRequested
}

func alertOf(err error) string {
	var ae tls.AlertError
	if errors.As(err, &ae) {
		return ae.Error()
	}
	var re *net.OpError
	if errors.As(err, &re) && re.Op == "remote error" && re.Err != nil {
		return "remote alert: " + re.Err.Error()
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		return "not a TLS record: " + strings.TrimSpace(rh.Msg)
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return shortErr(err)
	}
	return err.Error()
}

// TicketWait is how long the tls prober reads after a handshake so that
// TLS 1.3 session tickets (sent after the handshake) are processed.
const TicketWait = 100 * time.Millisecond

// CheckResumption opens a second connection to addr and handshakes with
// the first connection's session cache, recording whether the server
// resumed. It is outside the phase timeline. The first connection must
// already have read past the handshake (TLS 1.3 tickets arrive after it).
//
// With Options.Resumption set, the check runs only when it is due
// (ResumptionDue) and its verdict is remembered for the next runs.
func (d *Dialer) CheckResumption(ctx context.Context, addr string, cfg *tls.Config) {
	if !d.ResumptionDue(addr) {
		return
	}
	rc := &ResumptionCheck{Tested: true}
	d.tlsInfo().Resumption = rc
	if m := d.Opts.Resumption; m != nil {
		leaf := d.leafSHA256()
		defer func() { m.remember(addr, leaf, rc) }()
	}
	if ctx.Err() != nil {
		rc.Tested, rc.Error = false, "no budget left"
		return
	}
	var nd net.Dialer
	raw, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		rc.Tested, rc.Error = false, shortErr(err)
		return
	}
	defer raw.Close()
	c2 := cfg.Clone()
	c2.VerifyConnection = nil // already verified on the first connection
	start := time.Now()
	tc := tls.Client(raw, c2)
	if err := tc.HandshakeContext(ctx); err != nil {
		rc.Tested, rc.Error = false, shortErr(err)
		return
	}
	rc.HandshakeMS = ms(time.Since(start))
	rc.Resumed = tc.ConnectionState().DidResume
}

// DrainTickets reads briefly from a TLS connection that carries no
// application data so that post-handshake messages (session tickets) are
// processed. It returns early when ctx ends, and returns the read's error
// unless the wait simply ran out (nil then, and for TLS 1.2 and below,
// where nothing is read): a TLS alert the server sent as its first record
// after the handshake (Dialer.LateAlert), or the connection's end.
func DrainTickets(ctx context.Context, tc *tls.Conn, wait time.Duration) error {
	if tc.ConnectionState().Version < tls.VersionTLS13 {
		return nil
	}
	dl := time.Now().Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	_ = tc.SetReadDeadline(dl)
	var b [1]byte
	_, err := tc.Read(b[:])
	_ = tc.SetReadDeadline(time.Time{})
	if isTimeout(err) {
		return nil
	}
	return err
}

// cipherNames maps every suite crypto/tls knows to its name, built once:
// tls.CipherSuiteName builds both suite lists on every call (a dozen
// allocations), too much for the client library's per-request path.
var cipherNames = sync.OnceValue(func() map[uint16]string {
	m := map[uint16]string{}
	for _, list := range [][]*tls.CipherSuite{tls.CipherSuites(), tls.InsecureCipherSuites()} {
		for _, c := range list {
			m[c.ID] = c.Name
		}
	}
	return m
})

// CipherSuiteName is tls.CipherSuiteName without allocating for the
// suites crypto/tls knows.
func CipherSuiteName(id uint16) string {
	if n, ok := cipherNames()[id]; ok {
		return n
	}
	return tls.CipherSuiteName(id)
}
