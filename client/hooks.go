package client

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http/httptrace"
	"time"

	"github.com/pathlens/pathlens/probe"
)

// setTrace sets the hooks every request needs, once for the life of the
// exchange. The DNS and connect hooks are added by the dialer
// (dialTrace) only when a request dials: net hooks make httptrace build
// a second trace for the resolver.
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
	d := x.since()
	if !x.lock() {
		return
	}
	defer x.mu.Unlock()
	x.connGot = true
	c := x.conn()
	var tc *trackedConn
	if info.Conn != nil {
		tc = trackedOf(info.Conn)
	}
	// Straight from the idle pool (HTTP/1), or an HTTP/2 connection's
	// stream, this attempt started no dial: anything else keeps x.
	if !info.WasIdle && !(info.Reused && tc != nil && tc.h2.Load()) {
		x.keep = true
	}
	if info.Reused {
		x.reusedConn(info, c, x.rec.Start().Add(d))
	}
	if tc != nil {
		c.RemoteAddr, c.LocalAddr, c.IPVersion = tc.remote, tc.local, tc.ipVersion
		x.tracked = tc
		tc.acquire()
	} else if info.Conn != nil {
		if ra := info.Conn.RemoteAddr(); ra != nil {
			c.RemoteAddr = ra.String()
			c.IPVersion = ipVersion(c.RemoteAddr)
		}
		if la := info.Conn.LocalAddr(); la != nil {
			c.LocalAddr = la.String()
		}
	}
	x.atConn.Store(int64(d) + 1)
}

// reusedConn records a connection from the pool (mu held): any dial this
// request started went to the pool, its phases are not this request's.
func (x *exchange) reusedConn(info httptrace.GotConnInfo, c *probe.ConnInfo, t time.Time) {
	if x.rec.Last() != "" {
		x.rec.Reset(t)
	}
	x.res.DNS, x.res.TLS = nil, nil
	c.Attempts = nil
	c.Reused = true
	if info.WasIdle {
		c.IdleMS = probe.MS(info.IdleTime)
	}
	if tc, ok := info.Conn.(*tls.Conn); ok && x.t.observer != nil { // only the observer reads it
		x.tlsInfo(tc.ConnectionState(), false)
	}
}

func (x *exchange) wroteRequest(httptrace.WroteRequestInfo) {
	x.atWrote.CompareAndSwap(0, x.mark())
}

func (x *exchange) gotFirstByte() { x.atFirst.CompareAndSwap(0, x.mark()) }

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

// spans are the request, wait and transfer phases of an attempt that
// succeeded on a connection it did not dial, as nanoseconds since the
// start: request is [conn, wait), wait [wait, transfer), transfer
// [transfer, end). They are what requestPhases and the recorder make of
// the same milestones, without either.
type spans struct{ conn, wait, transfer, end int64 }

// measure fills s from x's milestones (mu held) and reports whether spans
// describe the attempt: a response in the valid status range, on a
// connection the attempt did not dial (the recorder has no phase).
func (s *spans) measure(x *exchange, end time.Time) bool {
	conn, wrote, first := x.atConn.Load(), x.atWrote.Load(), x.atFirst.Load()
	if conn == 0 || first == 0 || x.res.HTTP == nil || !statusOK(x.res.HTTP.Status) || x.rec.Last() != "" {
		return false
	}
	w := first // as requestPhases
	if wrote != 0 && wrote < first {
		w = max(wrote, conn)
	}
	s.conn, s.wait, s.transfer = conn-1, w-1, max(first, conn)-1
	s.end = int64(end.Sub(x.rec.Start()))
	return true
}

// phases appends the Result's phases to buf, as the recorder makes them.
func (s *spans) phases(buf []probe.Phase) []probe.Phase {
	ms := func(ns int64) float64 { return probe.MS(time.Duration(ns)) }
	return append(buf,
		probe.Phase{Name: probe.PhaseRequest, StartMS: ms(s.conn), DurationMS: ms(s.wait - s.conn)},
		probe.Phase{Name: probe.PhaseWait, StartMS: ms(s.wait), DurationMS: ms(s.transfer - s.wait)},
		probe.Phase{Name: probe.PhaseTransfer, StartMS: ms(s.transfer), DurationMS: ms(s.end - s.transfer)})
}
