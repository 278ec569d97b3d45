package httpx_test

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/probe"
)

func okHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "ok\n")
}

// TestProtocols covers protocol negotiation (ALPN, HTTP1Only, HTTP2Only,
// h2c) and the phase timeline of a fresh probe to an IP literal.
func TestProtocols(t *testing.T) {
	tlsPhases := []string{"connect", "tls", "request", "wait", "transfer"}
	plainPhases := []string{"connect", "request", "wait", "transfer"}
	tests := []struct {
		name        string
		mode        serverMode
		set         func(*probe.Options)
		wantProto   string
		wantALPN    string
		wantOffered []string
		wantPhases  []string
	}{
		{name: "h2 by ALPN", mode: modeH2TLS, wantProto: "HTTP/2.0", wantALPN: "h2",
			wantOffered: []string{"h2", "http/1.1"}, wantPhases: tlsPhases},
		{name: "HTTP1Only against an h2 server", mode: modeH2TLS, set: func(o *probe.Options) { o.HTTP1Only = true },
			wantProto: "HTTP/1.1", wantALPN: "http/1.1", wantOffered: []string{"http/1.1"}, wantPhases: tlsPhases},
		{name: "h1-only TLS server", mode: modeH1TLS, wantProto: "HTTP/1.1", wantALPN: "http/1.1",
			wantOffered: []string{"h2", "http/1.1"}, wantPhases: tlsPhases},
		// HTTP2Only offers only h2; a server that does no ALPN at all
		// negotiates nothing and the probe falls back to HTTP/1.1.
		{name: "HTTP2Only against a server without ALPN falls back to HTTP/1.1", mode: modeNoALPN,
			set: func(o *probe.Options) { o.HTTP2Only = true }, wantProto: "HTTP/1.1", wantALPN: "",
			wantOffered: []string{"h2"}, wantPhases: tlsPhases},
		{name: "HTTP2Only against an h2 server", mode: modeH2Only, set: func(o *probe.Options) { o.HTTP2Only = true },
			wantProto: "HTTP/2.0", wantALPN: "h2", wantOffered: []string{"h2"}, wantPhases: tlsPhases},
		{name: "TLS 1.2", mode: modeTLS12H1, wantProto: "HTTP/1.1", wantALPN: "http/1.1",
			wantOffered: []string{"h2", "http/1.1"}, wantPhases: tlsPhases},
		{name: "plain HTTP/1.1", mode: modeHTTP, wantProto: "HTTP/1.1", wantPhases: plainPhases},
		{name: "h2c prior knowledge", mode: modeH2C, set: func(o *probe.Options) { o.H2C = true },
			wantProto: "HTTP/2.0", wantPhases: plainPhases},
		{name: "h2c server without H2C option speaks HTTP/1.1", mode: modeH2C,
			wantProto: "HTTP/1.1", wantPhases: plainPhases},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotProto string
			srv := newServer(t, tt.mode, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotProto = r.Proto
				okHandler(w, r)
			}), nil)
			o := opts(srv)
			if tt.set != nil {
				tt.set(o)
			}
			r := probetest.Run(t, srv.URL+"/", o)
			probetest.MustSucceed(t, r)
			if r.Kind != u(t, srv.URL).Scheme {
				t.Errorf("kind = %q, want %q", r.Kind, u(t, srv.URL).Scheme)
			}
			if got := probetest.PhaseNames(r); !slices.Equal(got, tt.wantPhases) {
				t.Errorf("phases = %v, want %v", got, tt.wantPhases)
			}
			probetest.CheckTimeline(t, r, true)
			if r.HTTP == nil {
				t.Fatal("http block is nil")
			}
			if r.HTTP.Proto != tt.wantProto || gotProto != tt.wantProto {
				t.Errorf("proto = %q (server saw %q), want %q", r.HTTP.Proto, gotProto, tt.wantProto)
			}
			if r.HTTP.Status != 200 || r.HTTP.BodyBytes != 3 {
				t.Errorf("status %d body_bytes %d, want 200 and 3", r.HTTP.Status, r.HTTP.BodyBytes)
			}
			if r.DNS != nil {
				t.Errorf("dns = %+v, want nil for an IP literal", r.DNS)
			}
			if r.Conn == nil || r.Conn.Reused || r.Conn.IPVersion != 4 || len(r.Conn.Attempts) != 1 {
				t.Errorf("conn = %+v, want fresh IPv4 with 1 attempt", r.Conn)
			}
			if !tt.mode.isTLS() {
				if r.TLS != nil {
					t.Errorf("tls = %+v, want nil for cleartext", r.TLS)
				}
				return
			}
			if r.TLS == nil {
				t.Fatal("tls block is nil")
			}
			if r.TLS.ALPN != tt.wantALPN {
				t.Errorf("tls.alpn = %q, want %q", r.TLS.ALPN, tt.wantALPN)
			}
			if !slices.Equal(r.TLS.OfferedALPN, tt.wantOffered) {
				t.Errorf("tls.offered_alpn = %q, want %q", r.TLS.OfferedALPN, tt.wantOffered)
			}
			if !r.TLS.Verified || r.TLS.TrustStore != "custom" || len(r.TLS.Chain) == 0 {
				t.Errorf("tls verified=%v trust_store=%q chain=%d, want verified, custom, ≥1", r.TLS.Verified, r.TLS.TrustStore, len(r.TLS.Chain))
			}
			if r.TLS.SNI != "" {
				t.Errorf("tls.sni = %q, want none for an IP literal", r.TLS.SNI)
			}
		})
	}
}

func u(t *testing.T, s string) *url.URL {
	t.Helper()
	x, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestHTTP2OnlyRejectedByH1Server documents what HTTP2Only meets at a
// server whose ALPN list is http/1.1 only: Go's TLS server refuses the
// handshake (no_application_protocol), so there is no HTTP/1.1 fallback
// in that case; the fallback happens only with servers that do no ALPN.
func TestHTTP2OnlyRejectedByH1Server(t *testing.T) {
	srv := newServer(t, modeH1TLS, http.HandlerFunc(okHandler), nil)
	o := opts(srv)
	o.HTTP2Only = true
	r := probetest.Run(t, srv.URL+"/", o)
	if r.Success || r.Error == nil || r.Error.Class != probe.ClassTLS || r.Error.Phase != "tls" {
		t.Fatalf("error = %s, want a tls failure in phase tls", probetest.ErrString(r))
	}
	// Over TCP a received alert is a *net.OpError("remote error").
	if c := r.Error.Cause; c != "alert" {
		t.Errorf("error.cause = %q, want alert", c)
	}
	if r.TLS == nil || !strings.Contains(r.TLS.Alert, "no application protocol") {
		t.Errorf("tls = %+v, want alert naming no application protocol", r.TLS)
	}
}

// TestRepeatedTimeline runs many fast probes: the trace callbacks fire on
// different goroutines (the first response byte can be seen before the
// writer reports the request written), yet the timeline must stay ordered.
func TestRepeatedTimeline(t *testing.T) {
	for _, mode := range []serverMode{modeH2TLS, modeHTTP, modeH2C} {
		t.Run(string(mode), func(t *testing.T) {
			srv := newServer(t, mode, http.HandlerFunc(okHandler), nil)
			o := opts(srv)
			o.SkipResumptionCheck = true
			o.H2C = mode == modeH2C
			sess := &probe.Session{}
			defer sess.Close()
			for i := 0; i < 40; i++ {
				if i%2 == 1 {
					o.Session = sess
				} else {
					o.Session = nil
				}
				r := probetest.Run(t, srv.URL+"/", o)
				probetest.MustSucceed(t, r)
				probetest.CheckTimeline(t, r, true)
				names := probetest.PhaseNames(r)
				if n := len(names); n < 3 || !slices.Equal(names[n-3:], []string{"request", "wait", "transfer"}) {
					t.Fatalf("run %d: phases = %v, want … request wait transfer", i, names)
				}
			}
		})
	}
}

func TestSessionReuse(t *testing.T) {
	tests := []struct {
		name      string
		mode      serverMode
		set       func(*probe.Options)
		wantProto string
		first     []string
	}{
		{"h1 over TLS", modeH1TLS, nil, "HTTP/1.1", []string{"connect", "tls", "request", "wait", "transfer"}},
		{"h2 over TLS", modeH2TLS, nil, "HTTP/2.0", []string{"connect", "tls", "request", "wait", "transfer"}},
		{"h1 cleartext", modeHTTP, nil, "HTTP/1.1", []string{"connect", "request", "wait", "transfer"}},
		{"h2c", modeH2C, func(o *probe.Options) { o.H2C = true }, "HTTP/2.0", []string{"connect", "request", "wait", "transfer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			conns := map[string]int{}
			srv := newServer(t, tt.mode, http.HandlerFunc(okHandler), func(s *httptest.Server) {
				s.Config.ConnState = func(c net.Conn, st http.ConnState) {
					if st == http.StateNew {
						mu.Lock()
						conns[c.RemoteAddr().String()]++
						mu.Unlock()
					}
				}
			})
			sess := &probe.Session{}
			o := opts(srv)
			o.Session = sess
			o.SkipResumptionCheck = true // the check would open a second connection
			if tt.set != nil {
				tt.set(o)
			}
			for i := 1; i <= 3; i++ {
				r := probetest.Run(t, srv.URL+"/", o)
				probetest.MustSucceed(t, r)
				probetest.CheckTimeline(t, r, true)
				if r.HTTP.Proto != tt.wantProto {
					t.Errorf("run %d: proto = %q, want %q", i, r.HTTP.Proto, tt.wantProto)
				}
				if r.Conn == nil {
					t.Fatalf("run %d: conn block is nil", i)
				}
				if i == 1 {
					if got := probetest.PhaseNames(r); !slices.Equal(got, tt.first) || r.Conn.Reused {
						t.Errorf("run 1: phases = %v reused = %v, want %v and a fresh connection", got, r.Conn.Reused, tt.first)
					}
					continue
				}
				if !r.Conn.Reused {
					t.Errorf("run %d: conn.reused = false, want true", i)
				}
				if got, want := probetest.PhaseNames(r), []string{"request", "wait", "transfer"}; !slices.Equal(got, want) {
					t.Errorf("run %d: phases = %v, want %v", i, got, want)
				}
				if r.DNS != nil || r.TLS != nil || len(r.Conn.Attempts) != 0 {
					t.Errorf("run %d: dns=%+v tls=%+v attempts=%v; want none on a reused connection", i, r.DNS, r.TLS, r.Conn.Attempts)
				}
			}
			sess.Close()
			mu.Lock()
			defer mu.Unlock()
			if len(conns) != 1 {
				t.Errorf("server saw %d connections (%v), want 1", len(conns), conns)
			}
		})
	}
}

// TestSessionRedial: with a session, when the server closed the HTTP/1.1
// connection after a response, the next run dials (and times) a new one.
func TestSessionRedial(t *testing.T) {
	for _, mode := range []serverMode{modeHTTP, modeH1TLS} {
		t.Run(string(mode), func(t *testing.T) {
			srv := newServer(t, mode, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Connection", "close")
				okHandler(w, r)
			}), nil)
			sess := &probe.Session{}
			defer sess.Close()
			o := opts(srv)
			o.Session = sess
			want := []string{"connect", "request", "wait", "transfer"}
			if mode.isTLS() {
				want = []string{"connect", "tls", "request", "wait", "transfer"}
			}
			for i := 1; i <= 2; i++ {
				r := probetest.Run(t, srv.URL+"/", o)
				probetest.MustSucceed(t, r)
				probetest.CheckTimeline(t, r, true)
				if got := probetest.PhaseNames(r); !slices.Equal(got, want) {
					t.Errorf("run %d: phases = %v, want %v", i, got, want)
				}
				if r.Conn == nil || r.Conn.Reused {
					t.Errorf("run %d: conn = %+v, want a fresh connection", i, r.Conn)
				}
				if r.HTTP.KeepAlive {
					t.Errorf("run %d: keep_alive = true after Connection: close", i)
				}
				if mode.isTLS() && (r.TLS == nil || !r.TLS.Verified || r.TLS.Resumption == nil || !r.TLS.Resumption.Tested) {
					t.Errorf("run %d: tls = %+v, want a verified handshake with a resumption check", i, r.TLS)
				}
			}
		})
	}
}

func TestRedirects(t *testing.T) {
	var mu sync.Mutex
	hits := map[string]int{}
	mux := http.NewServeMux()
	mux.HandleFunc("/a", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/b", http.StatusFound) })
	mux.HandleFunc("/b", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/c", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/c", okHandler)
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits["/loop"]++
		mu.Unlock()
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	mux.HandleFunc("/once", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/c", http.StatusFound) })

	for _, mode := range []serverMode{modeHTTP, modeH2TLS} {
		srv := newServer(t, mode, mux, nil)
		t.Run(string(mode)+"/two hops", func(t *testing.T) {
			r := probetest.Run(t, srv.URL+"/a", opts(srv))
			probetest.MustSucceed(t, r)
			probetest.CheckTimeline(t, r, true)
			rd := r.HTTP.Redirects
			if len(rd) != 2 {
				t.Fatalf("redirects = %+v, want 2", rd)
			}
			want := []struct {
				status   int
				location string
				url      string
			}{{302, "/b", srv.URL + "/a"}, {301, "/c", srv.URL + "/b"}}
			for i, w := range want {
				if rd[i].Status != w.status || rd[i].Location != w.location || rd[i].URL != w.url {
					t.Errorf("redirect %d = {%d %q %q}, want {%d %q %q}", i, rd[i].Status, rd[i].Location, rd[i].URL, w.status, w.location, w.url)
				}
				if len(rd[i].Phases) == 0 || rd[i].TotalMS <= 0 {
					t.Errorf("redirect %d has no timeline: %+v", i, rd[i])
				}
			}
			if len(r.Phases) == 0 || r.Phases[0].Name != "redirect" {
				t.Fatalf("phases = %v, want redirect first", probetest.PhaseNames(r))
			}
			// The redirect phase covers both hops.
			if got, min := r.Phases[0].DurationMS, rd[0].TotalMS+rd[1].TotalMS; got < min-0.001 {
				t.Errorf("redirect phase = %v ms, want ≥ the hops' %v ms", got, min)
			}
			if r.HTTP.Status != 200 {
				t.Errorf("final status = %d, want 200", r.HTTP.Status)
			}
		})
		t.Run(string(mode)+"/loop", func(t *testing.T) {
			mu.Lock()
			hits["/loop"] = 0
			mu.Unlock()
			o := opts(srv)
			o.MaxRedirects = 3
			r := probetest.Run(t, srv.URL+"/loop", o)
			probetest.WantError(t, r, probe.ClassHTTP, "too_many_redirects", "")
			// Three redirects are followed; the fourth answer is a
			// redirect too and ends the probe.
			if got := len(r.HTTP.Redirects); got != 4 {
				t.Errorf("redirects recorded = %d, want 4", got)
			}
			mu.Lock()
			defer mu.Unlock()
			if hits["/loop"] != 4 {
				t.Errorf("server saw %d requests, want 4", hits["/loop"])
			}
		})
		t.Run(string(mode)+"/not followed", func(t *testing.T) {
			o := opts(srv)
			o.MaxRedirects = -1
			r := probetest.Run(t, srv.URL+"/once", o)
			probetest.MustSucceed(t, r)
			if r.HTTP.Status != 302 || len(r.HTTP.Redirects) != 0 || hasPhase(r, "redirect") {
				t.Errorf("status %d redirects %v phases %v; want the 302 as the final answer", r.HTTP.Status, r.HTTP.Redirects, probetest.PhaseNames(r))
			}
		})
	}
}

// TestRedirectFinalHopTimeout: when the hop after a redirect runs out of
// time, the timeline still starts with the redirect phase.
func TestRedirectFinalHopTimeout(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/slow", http.StatusFound) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	})
	srv := newServer(t, modeHTTP, mux, nil)
	o := opts(srv)
	o.Timeout = 300 * time.Millisecond
	r := probetest.Run(t, srv.URL+"/start", o)
	probetest.WantError(t, r, probe.ClassTimeout, "deadline", "wait")
	probetest.CheckTimeline(t, r, false)
	if len(r.Phases) == 0 || r.Phases[0].Name != "redirect" {
		t.Errorf("phases = %v, want redirect first", probetest.PhaseNames(r))
	}
	if len(r.HTTP.Redirects) != 1 {
		t.Errorf("redirects = %v, want 1", r.HTTP.Redirects)
	}
}

// TestRedirectToCleartext: when an https hop redirects to an http URL, the
// final (cleartext) result has no tls block.
func TestRedirectToCleartext(t *testing.T) {
	plain := newServer(t, modeHTTP, http.HandlerFunc(okHandler), nil)
	secure := newServer(t, modeH1TLS, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+"/", http.StatusFound)
	}), nil)
	r := probetest.Run(t, secure.URL+"/", opts(secure))
	probetest.MustSucceed(t, r)
	if r.TLS != nil {
		t.Errorf("tls = %+v (resumption %+v), want nil: the final hop is cleartext", r.TLS, r.TLS.Resumption)
	}
	if got, want := probetest.PhaseNames(r), []string{"redirect", "connect", "request", "wait", "transfer"}; !slices.Equal(got, want) {
		t.Errorf("phases = %v, want %v", got, want)
	}
}

// TestRedirectCredentials: Authorization and Cookie go to the same host
// only.
func TestRedirectCredentials(t *testing.T) {
	type seen struct{ auth, cookie, host string }
	var mu sync.Mutex
	got := map[string]seen{}
	record := func(key string, r *http.Request) {
		mu.Lock()
		host := ""
		if r.Host == "pinned.example" {
			host = r.Host
		}
		got[key] = seen{r.Header.Get("Authorization"), r.Header.Get("Cookie"), host}
		mu.Unlock()
	}
	second := newServer(t, modeHTTP, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record("second", r)
		okHandler(w, r)
	}), nil)
	secondPort, _ := strconv.Atoi(u(t, second.URL).Port())
	first := newServer(t, modeHTTP, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/cross":
			record("first", r)
			http.Redirect(w, r, "http://other.test:"+strconv.Itoa(secondPort)+"/", http.StatusFound)
		case "/same":
			record("first", r)
			http.Redirect(w, r, "/final", http.StatusFound)
		case "/final":
			record("final", r)
			okHandler(w, r)
		}
	}), nil)

	tests := []struct {
		name   string
		path   string
		target string // key of the server that answers last
		want   seen
	}{
		{"other host drops credentials", "/cross", "second", seen{}},
		{"same host keeps credentials", "/same", "final", seen{"Bearer secret", "k=v", "pinned.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			clear(got)
			mu.Unlock()
			o := opts(first)
			o.Header = http.Header{"Authorization": {"Bearer secret"}, "Cookie": {"k=v"}, "Host": {"pinned.example"}}
			o.Resolve = []probe.ResolveEntry{{Host: "other.test", Port: secondPort, Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}}
			r := probetest.Run(t, first.URL+tt.path, o)
			probetest.MustSucceed(t, r)
			mu.Lock()
			defer mu.Unlock()
			if g := got["first"]; g.auth != "Bearer secret" || g.cookie != "k=v" || g.host != "pinned.example" {
				t.Errorf("first server got %+v, want the credentials", g)
			}
			if g := got[tt.target]; g != tt.want {
				t.Errorf("%s got %+v, want %+v", tt.target, g, tt.want)
			}
			if len(r.HTTP.Redirects) != 1 {
				t.Errorf("redirects = %v, want 1", r.HTTP.Redirects)
			}
		})
	}
	// The probe's own options are not modified by the redirect.
	o := opts(first)
	o.Header = http.Header{"Authorization": {"Bearer secret"}}
	o.Resolve = []probe.ResolveEntry{{Host: "other.test", Port: secondPort, Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}}
	probetest.Run(t, first.URL+"/cross", o)
	if o.Header.Get("Authorization") != "Bearer secret" {
		t.Errorf("Options.Header lost Authorization after a cross-host redirect")
	}
}

// TestRedirectMethod: 303 turns any method but HEAD into GET without a
// body; 301/302 do so for POST; 307/308 keep method and body.
func TestRedirectMethod(t *testing.T) {
	type seen struct {
		method string
		body   string
		cl     int64
	}
	var mu sync.Mutex
	var final seen
	srv := newServer(t, modeHTTP, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/r/")); err == nil {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Location", "/final")
			w.WriteHeader(code)
			return
		}
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		final = seen{r.Method, string(b), r.ContentLength}
		mu.Unlock()
		okHandler(w, r)
	}), nil)
	tests := []struct {
		code   int
		method string
		want   seen
	}{
		{303, "POST", seen{"GET", "", 0}},
		{303, "PUT", seen{"GET", "", 0}},
		{303, "HEAD", seen{"HEAD", "", 0}},
		{302, "POST", seen{"GET", "", 0}},
		{301, "POST", seen{"GET", "", 0}},
		{307, "POST", seen{"POST", "payload", 7}},
		{308, "POST", seen{"POST", "payload", 7}},
		{307, "PUT", seen{"PUT", "payload", 7}},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.code)+" after "+tt.method, func(t *testing.T) {
			mu.Lock()
			final = seen{}
			mu.Unlock()
			o := opts(srv)
			o.Method = tt.method
			if tt.method != "HEAD" {
				o.Body = []byte("payload")
			}
			r := probetest.Run(t, srv.URL+"/r/"+strconv.Itoa(tt.code), o)
			probetest.MustSucceed(t, r)
			mu.Lock()
			defer mu.Unlock()
			if final != tt.want {
				t.Errorf("final hop got %+v, want %+v", final, tt.want)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	srv := newServer(t, modeHTTP, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		w.WriteHeader(code)
	}), nil)
	tests := []struct {
		code  int
		valid []probe.StatusRange
		ok    bool
		shown string
	}{
		{200, nil, true, "200-399"},
		{204, nil, true, "200-399"},
		{404, nil, false, "200-399"},
		{500, nil, false, "200-399"},
		{404, []probe.StatusRange{{Lo: 404, Hi: 404}}, true, "404"},
		{200, []probe.StatusRange{{Lo: 404, Hi: 404}}, false, "404"},
		{503, []probe.StatusRange{{Lo: 200, Hi: 299}, {Lo: 500, Hi: 503}}, true, "200-299,500-503"},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.code)+"/"+tt.shown, func(t *testing.T) {
			o := opts(srv)
			o.ValidStatus = tt.valid
			r := probetest.Run(t, srv.URL+"/"+strconv.Itoa(tt.code), o)
			if r.HTTP == nil || r.HTTP.Status != tt.code || r.HTTP.ValidStatus != tt.shown {
				t.Fatalf("http = %+v, want status %d valid_status %q", r.HTTP, tt.code, tt.shown)
			}
			if tt.ok {
				probetest.MustSucceed(t, r)
				return
			}
			probetest.WantError(t, r, probe.ClassHTTP, "status", "wait")
			probetest.CheckTimeline(t, r, true)
		})
	}
}

func TestBody(t *testing.T) {
	payload := bytes.Repeat([]byte("pathlens "), 1000) // 9000 bytes
	var mu sync.Mutex
	var acceptEncoding string
	mux := http.NewServeMux()
	mux.HandleFunc("/5000", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(payload[:5000]) })
	mux.HandleFunc("/1000", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(payload[:1000]) })
	mux.HandleFunc("/gzip", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		acceptEncoding = r.Header.Get("Accept-Encoding")
		mu.Unlock()
		w.Header().Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		_, _ = gz.Write(payload)
		_ = gz.Close()
	})
	mux.HandleFunc("/short", func(w http.ResponseWriter, r *http.Request) {
		c, bw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = bw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: text/plain\r\n\r\n0123456789")
		_ = bw.Flush()
	})
	h1 := newServer(t, modeHTTP, mux, nil)
	h2 := newServer(t, modeH2TLS, mux, nil)

	for _, srv := range []*httptest.Server{h1, h2} {
		name := "h1"
		if srv == h2 {
			name = "h2"
		}
		t.Run(name+"/limited", func(t *testing.T) {
			o := opts(srv)
			o.MaxBody = 1000
			r := probetest.Run(t, srv.URL+"/5000", o)
			probetest.MustSucceed(t, r)
			probetest.CheckTimeline(t, r, true)
			if !r.HTTP.BodyLimited || r.HTTP.BodyBytes != 1000 || r.HTTP.MaxBody != 1000 || r.HTTP.Truncated {
				t.Errorf("http = %+v, want body_limited, body_bytes 1000, max_body 1000, not truncated", r.HTTP)
			}
		})
		t.Run(name+"/exactly the cap", func(t *testing.T) {
			o := opts(srv)
			o.MaxBody = 1000
			r := probetest.Run(t, srv.URL+"/1000", o)
			probetest.MustSucceed(t, r)
			if r.HTTP.BodyLimited || r.HTTP.BodyBytes != 1000 {
				t.Errorf("body_limited %v body_bytes %d, want false and 1000", r.HTTP.BodyLimited, r.HTTP.BodyBytes)
			}
		})
		t.Run(name+"/gzip", func(t *testing.T) {
			r := probetest.Run(t, srv.URL+"/gzip", opts(srv))
			probetest.MustSucceed(t, r)
			if r.HTTP.ContentEncoding != "gzip" || r.HTTP.BodyBytes != int64(len(payload)) || r.HTTP.ContentLength != -1 {
				t.Errorf("content_encoding %q body_bytes %d content_length %d, want gzip, %d (decoded), -1",
					r.HTTP.ContentEncoding, r.HTTP.BodyBytes, r.HTTP.ContentLength, len(payload))
			}
			mu.Lock()
			defer mu.Unlock()
			if !strings.Contains(acceptEncoding, "gzip") {
				t.Errorf("Accept-Encoding = %q, want gzip offered", acceptEncoding)
			}
		})
	}
	t.Run("h1/truncated", func(t *testing.T) {
		r := probetest.Run(t, h1.URL+"/short", opts(h1))
		probetest.WantError(t, r, probe.ClassHTTP, "truncated", "transfer")
		if !r.HTTP.Truncated || r.HTTP.BodyBytes != 10 || r.HTTP.ContentLength != 100 {
			t.Errorf("http = %+v, want truncated with 10 of 100 bytes", r.HTTP)
		}
		probetest.CheckTimeline(t, r, true)
	})
}

func TestTimeouts(t *testing.T) {
	stallBeforeHeaders := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}
	stallInBody := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		_, _ = w.Write([]byte("0123456789"))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}
	tests := []struct {
		name      string
		mode      serverMode
		h         http.HandlerFunc
		wantPhase string
	}{
		{"h1 wait", modeHTTP, stallBeforeHeaders, "wait"},
		{"h1 transfer", modeHTTP, stallInBody, "transfer"},
		// h2c rather than h2 over TLS: under -race on one CPU a TLS
		// handshake alone can take most of a 300 ms budget.
		{"h2 wait", modeH2C, stallBeforeHeaders, "wait"},
		{"h2 transfer", modeH2C, stallInBody, "transfer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.mode, tt.h, nil)
			o := opts(srv)
			o.Timeout = 300 * time.Millisecond
			o.H2C = tt.mode == modeH2C
			start := time.Now()
			r := probetest.Run(t, srv.URL+"/", o)
			elapsed := time.Since(start)
			probetest.WantError(t, r, probe.ClassTimeout, "deadline", tt.wantPhase)
			probetest.CheckTimeline(t, r, false)
			last := r.Phases[len(r.Phases)-1]
			if last.Name != tt.wantPhase || !last.Incomplete {
				t.Errorf("last phase = %+v, want %s incomplete", last, tt.wantPhase)
			}
			for _, p := range r.Phases[:len(r.Phases)-1] {
				if p.Incomplete {
					t.Errorf("phase %s incomplete, only %s should be", p.Name, tt.wantPhase)
				}
			}
			if r.TotalMS < 290 || r.TotalMS > 1000 || elapsed > time.Second {
				t.Errorf("total_ms = %v (run took %v), want ≈300", r.TotalMS, elapsed)
			}
			if tt.wantPhase == "transfer" {
				want := "HTTP/1.1"
				if tt.mode == modeH2C {
					want = "HTTP/2.0"
				}
				if r.HTTP.Proto != want || r.HTTP.BodyBytes != 10 {
					t.Errorf("proto %q body_bytes %d, want %s and the 10 bytes sent", r.HTTP.Proto, r.HTTP.BodyBytes, want)
				}
			}
			if r.TimeoutMS != 300 {
				t.Errorf("timeout_ms = %v, want 300", r.TimeoutMS)
			}
		})
	}
}

func TestRefused(t *testing.T) {
	addr := probetest.ClosedPort(t)
	r := probetest.Run(t, "http://"+addr+"/", nil)
	probetest.WantError(t, r, probe.ClassConnect, "refused", "connect")
	if r.Conn == nil || len(r.Conn.Attempts) != 1 {
		t.Fatalf("conn = %+v, want 1 attempt", r.Conn)
	}
	if a := r.Conn.Attempts[0]; a.Error == "" || a.Addr != addr || a.Canceled {
		t.Errorf("attempt = %+v, want a failed, not canceled attempt to %s", a, addr)
	}
	if got := probetest.PhaseNames(r); !slices.Equal(got, []string{"connect"}) {
		t.Errorf("phases = %v, want [connect]", got)
	}
}

func TestResolvePinned(t *testing.T) {
	srv := newServer(t, modeHTTP, http.HandlerFunc(okHandler), nil)
	port, _ := strconv.Atoi(u(t, srv.URL).Port())
	o := opts(srv)
	o.Resolve = []probe.ResolveEntry{{Host: "pinned.test", Port: port, Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}}
	r := probetest.Run(t, "http://pinned.test:"+strconv.Itoa(port)+"/", o)
	probetest.MustSucceed(t, r)
	if hasPhase(r, "dns") {
		t.Errorf("phases = %v, want no dns phase for a pinned name", probetest.PhaseNames(r))
	}
	if r.DNS == nil || r.DNS.Source != "resolve" || !slices.Equal(r.DNS.Addrs, []string{"127.0.0.1"}) || r.DNS.Name != "pinned.test" {
		t.Errorf("dns = %+v, want source resolve, addrs [127.0.0.1]", r.DNS)
	}
}

func TestDNSServer(t *testing.T) {
	z := &probetest.Zone{Records: map[string][]string{
		"svc.test.": {"svc.test. 60 IN A 127.0.0.1"},
	}}
	dnsAddr := probetest.StartDNS(t, z)
	srv := newServer(t, modeHTTP, http.HandlerFunc(okHandler), nil)
	port := u(t, srv.URL).Port()

	t.Run("answer", func(t *testing.T) {
		o := opts(srv)
		o.DNSServer = dnsAddr
		r := probetest.Run(t, "http://svc.test:"+port+"/", o)
		probetest.MustSucceed(t, r)
		probetest.CheckTimeline(t, r, true)
		if got, want := probetest.PhaseNames(r), []string{"dns", "connect", "request", "wait", "transfer"}; !slices.Equal(got, want) {
			t.Errorf("phases = %v, want %v", got, want)
		}
		if r.DNS == nil || r.DNS.Server != dnsAddr || r.DNS.Source != "dns" || r.DNS.Rcode != "NOERROR" ||
			!slices.Equal(r.DNS.Addrs, []string{"127.0.0.1"}) {
			t.Errorf("dns = %+v, want server %s, source dns, NOERROR, addrs [127.0.0.1]", r.DNS, dnsAddr)
		}
		if q := z.Seen(); !slices.Contains(q, "udp svc.test. A") || !slices.Contains(q, "udp svc.test. AAAA") {
			t.Errorf("server saw %q, want A and AAAA queries for svc.test.", q)
		}
	})
	t.Run("nxdomain", func(t *testing.T) {
		o := opts(srv)
		o.DNSServer = dnsAddr
		r := probetest.Run(t, "http://missing.test:"+port+"/", o)
		probetest.WantError(t, r, probe.ClassDNS, "nxdomain", "dns")
		if r.DNS == nil || r.DNS.Rcode != "NXDOMAIN" {
			t.Errorf("dns = %+v, want rcode NXDOMAIN", r.DNS)
		}
		if got := probetest.PhaseNames(r); !slices.Equal(got, []string{"dns"}) {
			t.Errorf("phases = %v, want [dns]", got)
		}
	})
}

func TestRequestShape(t *testing.T) {
	type seen struct {
		method, host, ua, custom, body string
		cl                             int64
	}
	var mu sync.Mutex
	var got seen
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = seen{r.Method, r.Host, r.Header.Get("User-Agent"), r.Header.Get("X-Test"), string(b), r.ContentLength}
		mu.Unlock()
		okHandler(w, r)
	})
	h1 := newServer(t, modeHTTP, h, nil)
	h2 := newServer(t, modeH2TLS, h, nil)
	ua := probe.UserAgent()
	for _, srv := range []*httptest.Server{h1, h2} {
		proto := "h1"
		if srv == h2 {
			proto = "h2"
		}
		host := u(t, srv.URL).Host
		tests := []struct {
			name string
			set  func(*probe.Options)
			want seen
		}{
			{"GET by default", nil, seen{"GET", host, ua, "", "", 0}},
			{"POST when a body is set", func(o *probe.Options) { o.Body = []byte("hello") }, seen{"POST", host, ua, "", "hello", 5}},
			{"explicit method with body", func(o *probe.Options) { o.Method = "PUT"; o.Body = []byte("abc") }, seen{"PUT", host, ua, "", "abc", 3}},
			{"Host header sets the request host", func(o *probe.Options) {
				o.Header = http.Header{"Host": {"virtual.example"}, "X-Test": {"1"}}
			}, seen{"GET", "virtual.example", ua, "1", "", 0}},
			{"User-Agent override", func(o *probe.Options) { o.Header = http.Header{"User-Agent": {"mine/1"}} }, seen{"GET", host, "mine/1", "", "", 0}},
		}
		for _, tt := range tests {
			t.Run(proto+"/"+tt.name, func(t *testing.T) {
				o := opts(srv)
				if tt.set != nil {
					tt.set(o)
				}
				r := probetest.Run(t, srv.URL+"/", o)
				probetest.MustSucceed(t, r)
				mu.Lock()
				defer mu.Unlock()
				if got != tt.want {
					t.Errorf("server saw %+v, want %+v", got, tt.want)
				}
				if !strings.HasPrefix(got.ua, "pathlens/") && tt.want.ua == ua {
					t.Errorf("User-Agent %q does not start with pathlens/", got.ua)
				}
			})
		}
	}
}

func TestHead(t *testing.T) {
	for _, mode := range []serverMode{modeHTTP, modeH2TLS} {
		t.Run(string(mode), func(t *testing.T) {
			srv := newServer(t, mode, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "1234")
			}), nil)
			o := opts(srv)
			o.Method = "HEAD"
			r := probetest.Run(t, srv.URL+"/", o)
			probetest.MustSucceed(t, r)
			probetest.CheckTimeline(t, r, true)
			if r.HTTP.BodyBytes != 0 || r.HTTP.Truncated {
				t.Errorf("http = %+v, want no body and not truncated", r.HTTP)
			}
		})
	}
}

func TestIPv6(t *testing.T) {
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(okHandler))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	defer srv.Close()
	r := probetest.Run(t, srv.URL+"/", nil)
	probetest.MustSucceed(t, r)
	if r.Conn == nil || r.Conn.IPVersion != 6 || !strings.HasPrefix(r.Conn.RemoteAddr, "[::1]:") {
		t.Errorf("conn = %+v, want ip_version 6 to [::1]", r.Conn)
	}
	if r.DNS != nil || hasPhase(r, "dns") {
		t.Errorf("dns = %+v phases %v, want no lookup for an IP literal", r.DNS, probetest.PhaseNames(r))
	}
}

func TestTLSResumption(t *testing.T) {
	noTickets := func(s *httptest.Server) {
		if s.TLS == nil {
			s.TLS = &tls.Config{}
		}
		s.TLS.SessionTicketsDisabled = true
	}
	tests := []struct {
		name        string
		mode        serverMode
		configure   func(*httptest.Server)
		skip        bool
		wantVersion string
		wantResumed bool
	}{
		{"h1", modeH1TLS, nil, false, "TLS 1.3", true},
		{"h2", modeH2TLS, nil, false, "TLS 1.3", true},
		{"TLS 1.2", modeTLS12H1, nil, false, "TLS 1.2", true},
		{"tickets disabled", modeH1TLS, noTickets, false, "TLS 1.3", false},
		{"h2 tickets disabled", modeH2TLS, noTickets, false, "TLS 1.3", false},
		{"check skipped", modeH2TLS, nil, true, "TLS 1.3", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.mode, http.HandlerFunc(okHandler), tt.configure)
			o := opts(srv)
			o.SkipResumptionCheck = tt.skip
			r := probetest.Run(t, srv.URL+"/", o)
			probetest.MustSucceed(t, r)
			probetest.CheckTimeline(t, r, true)
			if r.TLS == nil || r.TLS.Version != tt.wantVersion || r.TLS.Resumed {
				t.Fatalf("tls = %+v, want a full %s handshake", r.TLS, tt.wantVersion)
			}
			rc := r.TLS.Resumption
			if tt.skip {
				if rc != nil {
					t.Errorf("resumption = %+v, want nil with SkipResumptionCheck", rc)
				}
				return
			}
			if rc == nil || !rc.Tested || rc.Resumed != tt.wantResumed || rc.Error != "" {
				t.Fatalf("resumption = %+v, want tested, resumed %v", rc, tt.wantResumed)
			}
			if rc.HandshakeMS <= 0 {
				t.Errorf("resumption.handshake_ms = %v, want > 0", rc.HandshakeMS)
			}
		})
	}
}

func TestTLSVerification(t *testing.T) {
	srv := newServer(t, modeH2TLS, http.HandlerFunc(okHandler), nil)
	tests := []struct {
		name       string
		set        func(*probe.Options)
		wantOK     bool
		wantCause  string
		wantReason string
	}{
		{"unknown authority", func(o *probe.Options) { o.RootCAs = nil }, false, "verify_unknown_authority", "unknown_authority"},
		{"hostname", func(o *probe.Options) { o.ServerName = "wrong.example" }, false, "verify_hostname", "hostname"},
		{"insecure records but passes", func(o *probe.Options) { o.RootCAs = nil; o.Insecure = true }, true, "", "unknown_authority"},
		{"ServerName covered by the certificate", func(o *probe.Options) { o.ServerName = "example.com" }, true, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := opts(srv)
			tt.set(o)
			r := probetest.Run(t, srv.URL+"/", o)
			if r.TLS == nil {
				t.Fatalf("tls block is nil (%s)", probetest.ErrString(r))
			}
			if r.TLS.VerifyReason != tt.wantReason || r.TLS.Verified != (tt.wantReason == "") {
				t.Errorf("tls verified=%v verify_reason=%q, want reason %q", r.TLS.Verified, r.TLS.VerifyReason, tt.wantReason)
			}
			if tt.wantOK {
				probetest.MustSucceed(t, r)
				return
			}
			probetest.WantError(t, r, probe.ClassTLS, tt.wantCause, "tls")
			if got := probetest.PhaseNames(r); !slices.Equal(got, []string{"connect", "tls"}) {
				t.Errorf("phases = %v, want [connect tls]", got)
			}
		})
	}
}
