package lab

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Timings the TLS scenarios inject.
const (
	tlsSlowDelay   = 500 * time.Millisecond // tls-slow: accept → handshake start
	tlsOnlyTimeout = 5 * time.Second        // ok-tls: handshake + idle bound
)

// tlsOpts describes an HTTPS scenario server.
type tlsOpts struct {
	chain chainKind
	leaf  leafSpec
	// h1Only limits ALPN to http/1.1; otherwise h2 and http/1.1 are offered.
	h1Only                 bool
	minVersion, maxVersion uint16
	cipherSuites           []uint16
	noTickets              bool
	handshakeDelay         time.Duration
	handler                http.Handler // nil: okHandler
	// clientAuth asks clients for a certificate; ClientCAs is then the lab root.
	clientAuth tls.ClientAuthType
	// noKeepAlive closes every connection after its response: HTTP/1.1
	// Connection: close, HTTP/2 GOAWAY (NO_ERROR) once the stream is done.
	noKeepAlive bool
}

// startHTTPS serves HTTPS for scenario name on a new port and returns
// https://<name>.lab.test:port/.
func (l *Lab) startHTTPS(name string, o tlsOpts) (string, error) {
	cert, err := l.pki.serverCert(o.chain, o.leaf)
	if err != nil {
		return "", err
	}
	cfg := &tls.Config{
		Certificates:           []tls.Certificate{cert},
		MinVersion:             tls.VersionTLS12,
		MaxVersion:             o.maxVersion,
		CipherSuites:           o.cipherSuites,
		SessionTicketsDisabled: o.noTickets,
		ClientAuth:             o.clientAuth,
	}
	if o.clientAuth != tls.NoClientCert {
		cfg.ClientCAs = l.CAPool()
	}
	if o.minVersion != 0 {
		cfg.MinVersion = o.minVersion
	}
	if o.h1Only {
		cfg.NextProtos = []string{"http/1.1"}
	}
	h := o.handler
	if h == nil {
		h = http.HandlerFunc(okHandler)
	}
	hopts := httpOpts{tls: cfg, h2: !o.h1Only, noKeepAlive: o.noKeepAlive}
	if o.handshakeDelay > 0 {
		hopts.wrap = func(ln net.Listener) net.Listener {
			return &delayListener{Listener: ln, delay: o.handshakeDelay, done: l.done}
		}
	}
	ln, err := l.listen()
	if err != nil {
		return "", err
	}
	l.serveHTTP(ln, h, hopts)
	return hostPortURL("https", name+".lab.test", ln, true), nil
}

// startTLSOnly serves bare TLS for scenario name: it completes the
// handshake, reads once (or waits up to tlsOnlyTimeout) and closes.
func (l *Lab) startTLSOnly(name string) (string, error) {
	cert, err := l.pki.serverCert(chainNormal, labLeaf(name))
	if err != nil {
		return "", err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	ln, err := l.listen()
	if err != nil {
		return "", err
	}
	l.serveRaw(ln, func(c *rawConn) {
		_ = c.SetDeadline(time.Now().Add(tlsOnlyTimeout))
		tc := tls.Server(c.Conn, cfg)
		if tc.Handshake() != nil {
			return
		}
		var buf [512]byte
		_, _ = tc.Read(buf[:])
		_ = tc.Close()
	})
	return hostPortURL("tls", name+".lab.test", ln, false), nil
}

// startStall accepts TCP, reads and discards whatever arrives and never
// answers: a TLS client sees its handshake hang.
func (l *Lab) startStall() (string, error) {
	ln, err := l.listen()
	if err != nil {
		return "", err
	}
	l.serveRaw(ln, func(c *rawConn) {
		_, _ = io.Copy(io.Discard, c.Conn)
	})
	return hostPortURL("https", "127.0.0.1", ln, true), nil
}

// delayListener hands out conns whose first Read waits delay, so a TLS
// server starts its handshake late while TCP connect stays fast. The wait
// ends early when the lab closes or the conn is closed.
type delayListener struct {
	net.Listener
	delay time.Duration
	done  <-chan struct{}
}

func (dl *delayListener) Accept() (net.Conn, error) {
	c, err := dl.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &delayConn{Conn: c, delay: dl.delay, done: dl.done, closed: make(chan struct{})}, nil
}

type delayConn struct {
	net.Conn
	delay     time.Duration
	done      <-chan struct{}
	waitOnce  sync.Once
	closed    chan struct{}
	closeOnce sync.Once
}

func (c *delayConn) Read(p []byte) (int, error) {
	c.waitOnce.Do(func() {
		t := time.NewTimer(c.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.done:
		case <-c.closed:
		}
	})
	return c.Conn.Read(p)
}

func (c *delayConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}
