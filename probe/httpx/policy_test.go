package httpx_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pathlens/pathlens/diagnose"
	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/probe"
)

// counted starts a plain HTTP server that counts the connections it
// accepted and the requests it got.
func counted(t *testing.T, h http.Handler) (srv *httptest.Server, conns, requests *atomic.Int32) {
	t.Helper()
	conns, requests = new(atomic.Int32), new(atomic.Int32)
	srv = newServer(t, modeHTTP, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		h.ServeHTTP(w, r)
	}), func(s *httptest.Server) {
		s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				conns.Add(1)
			}
		}
	})
	return srv, conns, requests
}

func TestCheckRedirect(t *testing.T) {
	refused, conns, requests := counted(t, http.HandlerFunc(okHandler))
	refusedPort := u(t, refused.URL).Port()
	zone := &probetest.Zone{Records: map[string][]string{"refused.test.": {"refused.test. 60 IN A 127.0.0.1"}}}
	dnsAddr := probetest.StartDNS(t, zone)
	first := newServer(t, modeHTTP, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, "http://user:secret@refused.test:"+refusedPort+"/x", http.StatusFound)
		case "/near":
			http.Redirect(w, r, "/final", http.StatusFound)
		default:
			okHandler(w, r)
		}
	}), nil)
	var mu sync.Mutex
	var asked []string
	policy := func(next *url.URL) error {
		mu.Lock()
		asked = append(asked, next.String())
		mu.Unlock()
		if next.Hostname() == "refused.test" {
			return errors.New("host refused.test is not allowed")
		}
		return nil
	}

	t.Run("refused", func(t *testing.T) {
		o := opts(first)
		o.DNSServer = dnsAddr
		o.CheckRedirect = policy
		r := probetest.Run(t, first.URL+"/away", o)
		probetest.WantError(t, r, probe.ClassHTTP, "redirect_refused", probe.PhaseWait)
		if !strings.Contains(r.Error.Message, "http://refused.test:"+refusedPort+"/x") ||
			!strings.Contains(r.Error.Message, "host refused.test is not allowed") {
			t.Errorf("message %q, want the refused URL and the reason", r.Error.Message)
		}
		if strings.Contains(r.Error.Message, "secret") {
			t.Errorf("message %q leaks the Location's password", r.Error.Message)
		}
		if q := zone.Seen(); len(q) != 0 {
			t.Errorf("the resolver got %v, want no query for the refused hop", q)
		}
		if conns.Load() != 0 || requests.Load() != 0 {
			t.Errorf("the refused server got %d connections and %d requests, want none", conns.Load(), requests.Load())
		}
		if r.HTTP.Status != 0 {
			t.Errorf("http.status = %d, want 0: nothing answered from the refused host", r.HTTP.Status)
		}
		rd := r.HTTP.Redirects
		if len(rd) != 1 || rd[0].Status != 302 || rd[0].URL != first.URL+"/away" || rd[0].Refused != "host refused.test is not allowed" {
			t.Errorf("redirects = %+v, want the one 302 record with the reason", rd)
		}
		if got := probetest.PhaseNames(r); len(got) == 0 || got[0] != probe.PhaseRedirect {
			t.Errorf("phases = %v, want the redirect phase", got)
		}
		probetest.CheckTimeline(t, r, true)
		r.Findings = diagnose.Diagnose(r)
		if got := probetest.FindingIDs(r); !slices.Equal(got, []string{diagnose.IDProbeRedirectRefused}) {
			t.Errorf("findings = %v, want [%s] only", got, diagnose.IDProbeRedirectRefused)
		}
	})
	t.Run("allowed, with the resolved URL", func(t *testing.T) {
		mu.Lock()
		asked = nil
		mu.Unlock()
		o := opts(first)
		o.CheckRedirect = policy
		r := probetest.Run(t, first.URL+"/near", o)
		probetest.MustSucceed(t, r)
		mu.Lock()
		defer mu.Unlock()
		if want := []string{first.URL + "/final"}; !slices.Equal(asked, want) {
			t.Errorf("CheckRedirect asked about %v, want %v", asked, want)
		}
	})
}

// dualListener serves TLS and plain HTTP on one port: a connection whose
// first byte starts a TLS handshake (22) is handed over as a *tls.Conn,
// which net/http serves as https.
type dualListener struct {
	net.Listener
	cfg *tls.Config
}

func (l dualListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	b, err := br.Peek(1)
	_ = c.SetReadDeadline(time.Time{})
	pc := &peekedConn{Conn: c, r: br}
	if err == nil && b[0] == 22 {
		return tls.Server(pc, l.cfg), nil
	}
	return pc, nil
}

type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// TestRedirectDropsCallerHeaders: the caller's headers go to the origin
// they were meant for only; a redirect to another origin — another port,
// or the same host and port with http instead of https — keeps only the
// headers that cannot carry credentials.
func TestRedirectDropsCallerHeaders(t *testing.T) {
	var mu sync.Mutex
	var final http.Header
	var finalBody string
	record := func(r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		final, finalBody = r.Header.Clone(), string(b)
		mu.Unlock()
	}
	other := newServer(t, modeHTTP, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record(r)
		okHandler(w, r)
	}), nil)

	// One port, both schemes: https://127.0.0.1:P redirects to http://127.0.0.1:P.
	borrowed := httptest.NewTLSServer(http.NotFoundHandler())
	cert, pool := borrowed.TLS.Certificates[0], poolOf(borrowed)
	borrowed.Close()
	dual := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.TLS != nil:
			http.Redirect(w, r, "http://"+r.Host+"/final", http.StatusFound)
		default:
			record(r)
			okHandler(w, r)
		}
	}))
	dual.Config.ErrorLog = log.New(io.Discard, "", 0)
	dual.Listener = dualListener{dual.Listener, &tls.Config{Certificates: []tls.Certificate{cert}}}
	dual.Start()
	t.Cleanup(dual.Close)
	dualURL := u(t, dual.URL)

	first := newServer(t, modeHTTP, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/other":
			http.Redirect(w, r, other.URL+"/", http.StatusFound)
		case "/other307":
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Location", other.URL+"/")
			w.WriteHeader(http.StatusTemporaryRedirect)
		case "/same":
			http.Redirect(w, r, "/final", http.StatusFound)
		default:
			record(r)
			okHandler(w, r)
		}
	}), nil)

	caller := http.Header{
		"Authorization":   {"Bearer secret"},
		"X-Api-Key":       {"k-123"},
		"Cookie":          {"session=1"},
		"Content-Type":    {"application/json"},
		"Accept":          {"text/plain"},
		"Accept-Language": {"de"},
		"User-Agent":      {"probe-test/1"},
	}
	safe := []string{"Accept", "Accept-Language", "User-Agent"}
	tests := []struct {
		name   string
		target string
		body   bool
		keep   []string // caller headers the last hop must see; the others it must not
	}{
		{"same origin keeps them", first.URL + "/same", false, []string{"Authorization", "X-Api-Key", "Cookie", "Content-Type", "Accept", "Accept-Language", "User-Agent"}},
		{"another port drops them", first.URL + "/other", false, safe},
		{"https to http on the same host and port drops them", "https://" + dualURL.Host + "/start", false, safe},
		{"307 to another origin keeps the body and its type", first.URL + "/other307", true, append([]string{"Content-Type"}, safe...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			final, finalBody = nil, ""
			mu.Unlock()
			o := opts(nil)
			o.RootCAs = pool
			o.Header = caller.Clone()
			if tt.body {
				o.Body = []byte(`{"a":1}`)
			}
			r := probetest.Run(t, tt.target, o)
			probetest.MustSucceed(t, r)
			if len(r.HTTP.Redirects) != 1 || r.HTTP.Redirects[0].URL != tt.target {
				t.Fatalf("redirects = %+v, want one, from %s", r.HTTP.Redirects, tt.target)
			}
			mu.Lock()
			defer mu.Unlock()
			for k, vs := range caller {
				got := final.Get(k)
				switch {
				case slices.Contains(tt.keep, k) && got != vs[0]:
					t.Errorf("%s = %q at the last hop, want %q", k, got, vs[0])
				case !slices.Contains(tt.keep, k) && got != "":
					t.Errorf("%s = %q reached the other origin", k, got)
				}
			}
			if tt.body && finalBody != `{"a":1}` {
				t.Errorf("body at the last hop = %q, want the 307 to keep it", finalBody)
			}
		})
	}
	if caller.Get("Authorization") == "" || len(caller) != 7 {
		t.Errorf("the caller's header was modified: %v", caller)
	}
}

func TestDenyNetworks(t *testing.T) {
	t.Run("target", func(t *testing.T) {
		srv, conns, _ := counted(t, http.HandlerFunc(okHandler))
		o := opts(srv)
		o.DenyNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		r := probetest.Run(t, srv.URL+"/", o)
		probetest.WantError(t, r, probe.ClassConnect, "address_denied", probe.PhaseConnect)
		time.Sleep(20 * time.Millisecond) // an accepted connection would be counted by now
		if n := conns.Load(); n != 0 {
			t.Errorf("the server accepted %d connections, want none", n)
		}
		if r.Conn == nil || len(r.Conn.Denied) != 1 || r.Conn.Denied[0] != (probe.DeniedAddr{Addr: "127.0.0.1", Network: "127.0.0.0/8"}) || len(r.Conn.Attempts) != 0 {
			t.Errorf("conn = %+v, want 127.0.0.1 denied by 127.0.0.0/8 and no attempt", r.Conn)
		}
		r.Findings = diagnose.Diagnose(r)
		if got := probetest.FindingIDs(r); !slices.Equal(got, []string{diagnose.IDProbeAddressDenied}) {
			t.Errorf("findings = %v, want [%s] only", got, diagnose.IDProbeAddressDenied)
		}
	})
	t.Run("redirect into a denied network", func(t *testing.T) {
		l, err := net.Listen("tcp", "[::1]:0")
		if err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		var v6conns atomic.Int32
		v6 := httptest.NewUnstartedServer(http.HandlerFunc(okHandler))
		v6.Listener.Close()
		v6.Listener = l
		v6.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				v6conns.Add(1)
			}
		}
		v6.Start()
		t.Cleanup(v6.Close)
		first := newServer(t, modeHTTP, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, v6.URL+"/", http.StatusFound)
		}), nil)
		o := opts(first)
		o.DenyNetworks = []netip.Prefix{netip.MustParsePrefix("::1/128")}
		r := probetest.Run(t, first.URL+"/", o)
		probetest.WantError(t, r, probe.ClassConnect, "address_denied", probe.PhaseConnect)
		if len(r.HTTP.Redirects) != 1 || r.HTTP.Redirects[0].Status != 302 {
			t.Errorf("redirects = %+v, want the first hop's 302", r.HTTP.Redirects)
		}
		time.Sleep(20 * time.Millisecond)
		if n := v6conns.Load(); n != 0 {
			t.Errorf("the [::1] server accepted %d connections, want none", n)
		}
		fs := diagnose.Diagnose(r)
		if len(fs) != 1 || fs[0].ID != diagnose.IDProbeAddressDenied || fs[0].Evidence["from"] != first.URL+"/" {
			t.Errorf("findings = %+v, want %s naming the redirect from %s", fs, diagnose.IDProbeAddressDenied, first.URL)
		}
	})
}
