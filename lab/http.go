package lab

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"time"
)

// Timings the HTTP scenarios inject.
const httpSlowDelay = 400 * time.Millisecond // http-slow: time to first byte

// Bounds of every lab net/http server.
const (
	srvReadHeaderTimeout = 5 * time.Second
	srvReadTimeout       = 10 * time.Second
	srvWriteTimeout      = 30 * time.Second
	srvIdleTimeout       = 30 * time.Second
	srvMaxHeaderBytes    = 64 << 10
)

// httpOpts selects how serveHTTP serves a listener.
type httpOpts struct {
	tls         *tls.Config // nil: cleartext
	h2          bool        // with tls: offer h2 by ALPN; without: accept h2c prior knowledge
	noKeepAlive bool        // answer every request with Connection: close
	// wrap is applied to the TCP listener, below TLS.
	wrap func(net.Listener) net.Listener
	// h2conf sets the HTTP/2 server's settings (windows); nil: net/http's defaults.
	h2conf *http.HTTP2Config
}

// serveHTTP serves h on ln with a bounded net/http server that Close stops
// and waits for (handlers and connections included).
func (l *Lab) serveHTTP(ln net.Listener, h http.Handler, o httpOpts) {
	var protos http.Protocols
	protos.SetHTTP1(true)
	if o.h2 {
		if o.tls != nil {
			protos.SetHTTP2(true)
		} else {
			protos.SetUnencryptedHTTP2(true)
		}
	}
	srv := &http.Server{
		Handler:           l.guard(h),
		ReadHeaderTimeout: srvReadHeaderTimeout,
		ReadTimeout:       srvReadTimeout,
		WriteTimeout:      srvWriteTimeout,
		IdleTimeout:       srvIdleTimeout,
		MaxHeaderBytes:    srvMaxHeaderBytes,
		Protocols:         &protos,
		HTTP2:             o.h2conf,
		ConnState:         l.connState,
		// Handshake failures from clients that distrust a lab chain on
		// purpose are expected; keep them off the user's terminal.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	if o.noKeepAlive {
		srv.SetKeepAlivesEnabled(false)
	}
	if o.wrap != nil {
		ln = o.wrap(ln)
	}
	if o.tls != nil {
		cfg := o.tls.Clone()
		switch {
		case o.h2:
			cfg.NextProtos = []string{"h2", "http/1.1"}
		case len(cfg.NextProtos) == 0:
			cfg.NextProtos = []string{"http/1.1"}
		}
		srv.TLSConfig = cfg
		ln = tls.NewListener(ln, cfg)
	}
	l.onClose(func() { _ = srv.Close() })
	l.spawn(func() { _ = srv.Serve(ln) })
}

// guard counts each handler run so Close can wait for it, and refuses new
// requests once Close has begun.
func (l *Lab) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !l.enter() {
			w.Header().Set("Connection", "close")
			http.Error(w, "lab closing", http.StatusServiceUnavailable)
			return
		}
		defer l.leave()
		h.ServeHTTP(w, r)
	})
}

// connState counts every net/http connection from StateNew until it is
// closed or hijacked, so Close also waits for the server's conn goroutines.
func (l *Lab) connState(c net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		l.mu.Lock()
		if l.closing {
			l.mu.Unlock()
			_ = c.Close()
			return
		}
		l.wg.Add(1)
		l.hconns[c] = struct{}{}
		l.mu.Unlock()
	case http.StateHijacked, http.StateClosed:
		l.mu.Lock()
		_, ok := l.hconns[c]
		delete(l.hconns, c)
		l.mu.Unlock()
		if ok {
			l.wg.Done()
		}
	}
}

// okHandler answers 200 "ok\n".
func okHandler(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", "3")
	_, _ = io.WriteString(w, "ok\n")
}

// startHTTP serves h over cleartext HTTP on a new port and returns
// http://host:port/.
func (l *Lab) startHTTP(host string, h http.Handler, o httpOpts) (string, error) {
	ln, err := l.listen()
	if err != nil {
		return "", err
	}
	l.serveHTTP(ln, h, o)
	return hostPortURL("http", host, ln, true), nil
}

// slowHandler waits httpSlowDelay before sending headers (time to first byte).
func (l *Lab) slowHandler(w http.ResponseWriter, r *http.Request) {
	if !l.sleep(httpSlowDelay) {
		panic(http.ErrAbortHandler)
	}
	okHandler(w, r)
}

// truncatedHandler promises 1000 body bytes, sends 100 and closes.
func (l *Lab) truncatedHandler(w http.ResponseWriter, _ *http.Request) {
	conn, bufrw, release, ok := l.hijack(w)
	if !ok {
		return
	}
	defer release()
	_ = conn.SetDeadline(time.Now().Add(writeStallTimeout))
	_, _ = bufrw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
	_, _ = bufrw.Write(bytes.Repeat([]byte("x"), 100))
	if bufrw.Flush() != nil {
		return
	}
	lingerClose(conn, time.Second)
}

// serverErrorHandler answers 500.
func serverErrorHandler(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "lab: injected server error", http.StatusInternalServerError)
}

// redirectHandler walks / → /hop1 → /hop2 → /final (three 302 hops), and
// /final answers 200.
func redirectHandler(w http.ResponseWriter, r *http.Request) {
	next := map[string]string{"/": "/hop1", "/hop1": "/hop2", "/hop2": "/final"}
	if to, ok := next[r.URL.Path]; ok {
		http.Redirect(w, r, to, http.StatusFound)
		return
	}
	if r.URL.Path == "/final" {
		okHandler(w, r)
		return
	}
	http.NotFound(w, r)
}

// lingerClose half-closes c and drains what the peer still sends for up to
// d, so the data already written is not discarded by a reset.
func lingerClose(c net.Conn, d time.Duration) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, _ = io.Copy(io.Discard, io.LimitReader(c, 1<<20))
}

// hijack takes over the connection of a handler and tracks it so Close can
// end it. ok is false when that failed (the client has been answered or the
// lab is closing); otherwise release untracks and closes the connection.
func (l *Lab) hijack(w http.ResponseWriter) (conn net.Conn, brw *bufio.ReadWriter, release func(), ok bool) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "hijack: "+err.Error(), http.StatusInternalServerError)
		return nil, nil, nil, false
	}
	if !l.track(conn) {
		_ = conn.Close()
		return nil, nil, nil, false
	}
	return conn, brw, func() {
		_ = conn.Close()
		l.untrack(conn)
	}, true
}
