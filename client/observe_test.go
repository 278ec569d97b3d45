package client_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/client"
	"github.com/pathlens/pathlens/diagnose"
	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/probe"
)

// TestObserverPhases: a fresh connection has dns, connect, request,
// wait, transfer (tls over https); a reused one has no dial phases and
// says how long it was idle.
func TestObserverPhases(t *testing.T) {
	srv := okServer(t)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	tsrv, pool := h2Server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }))

	cases := []struct {
		name       string
		url        string
		opts       []client.Option
		first      []string
		proto      string
		wantTLS    bool
		wantDNS    bool
		wantReused bool
	}{
		{"http by name", "http://localhost:" + port + "/", nil,
			[]string{"dns", "connect", "request", "wait", "transfer"}, "HTTP/1.1", false, true, true},
		{"http by address (no dns phase)", srv.URL, nil,
			[]string{"connect", "request", "wait", "transfer"}, "HTTP/1.1", false, false, true},
		{"https h2", tsrv.URL, []client.Option{client.WithTLS(tlsTo(pool))},
			[]string{"connect", "tls", "request", "wait", "transfer"}, "HTTP/2.0", true, false, true},
		{"https http/1.1", tsrv.URL, []client.Option{client.WithTLS(tlsTo(pool)), client.WithHTTP2(client.HTTP2{Disable: true})},
			[]string{"connect", "tls", "request", "wait", "transfer"}, "HTTP/1.1", true, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var col collector
			c := client.New(append(tc.opts, client.WithObserver(col.observe))...)
			defer c.CloseIdleConnections()
			get(t, c, tc.url)
			time.Sleep(5 * time.Millisecond)
			get(t, c, tc.url)
			rs := col.all()
			if len(rs) != 2 {
				t.Fatalf("%d Results, want 2", len(rs))
			}
			first, second := rs[0], rs[1]
			if got := probetest.PhaseNames(&first); !slices.Equal(got, tc.first) {
				t.Errorf("first phases %v, want %v", got, tc.first)
			}
			if got := probetest.PhaseNames(&second); !slices.Equal(got, []string{"request", "wait", "transfer"}) {
				t.Errorf("reused phases %v, want request, wait, transfer", got)
			}
			for _, r := range rs {
				if !r.Success || r.Error != nil || r.HTTP == nil || r.HTTP.Status != 200 || r.HTTP.Proto != tc.proto || r.HTTP.BodyBytes != 3 {
					t.Errorf("result: success=%v err=%+v http=%+v", r.Success, r.Error, r.HTTP)
				}
				if r.Schema != probe.Schema || r.Kind != strings.SplitN(tc.url, ":", 2)[0] || r.Target != tc.url || r.TimeoutMS != probe.MS(client.DefaultRequestTimeout) {
					t.Errorf("header: %q %q %q %v", r.Schema, r.Kind, r.Target, r.TimeoutMS)
				}
				var sum float64
				for i, p := range r.Phases {
					if p.Incomplete || p.DurationMS < 0 {
						t.Errorf("phase %+v", p)
					}
					if i > 0 && p.StartMS < r.Phases[i-1].StartMS {
						t.Errorf("phases out of order: %+v", r.Phases)
					}
					sum += p.DurationMS
				}
				if sum > r.TotalMS+0.01 {
					t.Errorf("phases sum %.3f > total %.3f", sum, r.TotalMS)
				}
			}
			if first.Conn == nil || first.Conn.Reused || first.Conn.RemoteAddr == "" || len(first.Conn.Attempts) == 0 {
				t.Errorf("first conn %+v", first.Conn)
			}
			if second.Conn == nil || !second.Conn.Reused || second.Conn.IdleMS <= 0 || len(second.Conn.Attempts) != 0 {
				t.Errorf("second conn %+v, want reused with idle_ms", second.Conn)
			}
			if (first.DNS != nil) != tc.wantDNS || second.DNS != nil {
				t.Errorf("dns: first %+v second %+v", first.DNS, second.DNS)
			}
			if tc.wantTLS {
				if first.TLS == nil || first.TLS.Version != "TLS 1.3" || !first.TLS.Verified || len(first.TLS.Chain) == 0 || first.TLS.TrustStore != "custom" {
					t.Errorf("tls %+v", first.TLS)
				}
				if tc.proto == "HTTP/2.0" && first.TLS.ALPN != "h2" {
					t.Errorf("alpn %q", first.TLS.ALPN)
				}
				if second.TLS == nil || second.TLS.Version == "" {
					t.Errorf("reused conn lost its TLS facts: %+v", second.TLS)
				}
			}
			// The Result reads like a probe's: diagnose has nothing to say.
			r := first
			if fs := diagnose.Diagnose(&r); len(fs) != 0 {
				t.Errorf("findings on a healthy exchange: %+v", fs)
			}
		})
	}
}

// TestObserverFinishes: the Result arrives when the body is read to EOF,
// when it is closed early, at once for bodiless replies, and on errors.
func TestObserverFinishes(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, 1<<20)) })
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	dead := probetest.ClosedPort(t)

	cases := []struct {
		name   string
		method string
		url    string
		read   int // bytes to read before closing; -1: all
		check  func(t *testing.T, r probe.Result)
	}{
		{"read to EOF", "GET", srv.URL + "/", -1, func(t *testing.T, r probe.Result) {
			if !r.Success || r.HTTP.BodyBytes != 3 {
				t.Errorf("%+v %+v", r.Error, r.HTTP)
			}
		}},
		{"closed early", "GET", srv.URL + "/big", 1000, func(t *testing.T, r probe.Result) {
			if !r.Success || r.HTTP.BodyBytes < 1000 || r.HTTP.BodyBytes >= 1<<20 || r.HTTP.Truncated {
				t.Errorf("%+v %+v", r.Error, r.HTTP)
			}
		}},
		{"HEAD", "HEAD", srv.URL + "/", 0, func(t *testing.T, r probe.Result) {
			if !r.Success || r.HTTP.Status != 200 || r.HTTP.BodyBytes != 0 {
				t.Errorf("%+v %+v", r.Error, r.HTTP)
			}
		}},
		{"204", "GET", srv.URL + "/nocontent", 0, func(t *testing.T, r probe.Result) {
			if !r.Success || r.HTTP.Status != 204 {
				t.Errorf("%+v %+v", r.Error, r.HTTP)
			}
		}},
		{"500 is a failed exchange, as in a probe", "GET", srv.URL + "/500", -1, func(t *testing.T, r probe.Result) {
			if r.Success || r.Error == nil || r.Error.Class != probe.ClassHTTP || r.Error.Cause != "status" || r.Error.Phase != probe.PhaseWait {
				t.Errorf("error %+v", r.Error)
			}
			fs := diagnose.Diagnose(&r)
			if len(fs) == 0 || fs[0].ID != diagnose.IDHTTPStatus {
				t.Errorf("findings %+v, want HTTP_STATUS", fs)
			}
		}},
		{"connection refused", "GET", "http://" + dead + "/", 0, func(t *testing.T, r probe.Result) {
			if r.Success || r.Error == nil || r.Error.Class != probe.ClassConnect || r.Error.Phase != probe.PhaseConnect || r.Error.Cause != "refused" {
				t.Errorf("error %+v phases %+v", r.Error, r.Phases)
			}
			fs := diagnose.Diagnose(&r)
			if len(fs) == 0 || fs[0].ID != diagnose.IDTCPRefused {
				t.Errorf("findings %+v, want TCP_REFUSED", fs)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var col collector
			c := client.New(client.WithObserver(col.observe))
			defer c.CloseIdleConnections()
			req, _ := http.NewRequest(tc.method, tc.url, nil)
			resp, err := c.Do(req)
			if err == nil {
				if len(col.all()) != 0 && tc.read != 0 {
					t.Errorf("Result before the body was read")
				}
				if tc.read < 0 {
					io.Copy(io.Discard, resp.Body)
				} else if tc.read > 0 {
					io.CopyN(io.Discard, resp.Body, int64(tc.read))
				}
				resp.Body.Close()
				resp.Body.Close() // twice: still one Result
			}
			if n := len(col.all()); n != 1 {
				t.Fatalf("%d Results, want 1", n)
			}
			tc.check(t, col.last(t))
		})
	}
}

// TestObserverComposes: several observers all see each Result, and a
// ClientTrace of the caller still fires.
func TestObserverComposes(t *testing.T) {
	srv := okServer(t)
	var a, b collector
	c := client.New(client.WithObserver(a.observe), client.WithObserver(b.observe), client.WithObserver(nil))
	defer c.CloseIdleConnections()
	got := false
	ctx := httptraceWithGotConn(context.Background(), func() { got = true })
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if len(a.all()) != 1 || len(b.all()) != 1 || !got {
		t.Fatalf("a=%d b=%d callerTrace=%v", len(a.all()), len(b.all()), got)
	}
}

// TestObserverConcurrent: many requests at once, one Result each (run
// with -race).
func TestObserverConcurrent(t *testing.T) {
	srv, pool := h2Server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }))
	var col collector
	c := client.New(client.WithTLS(tlsTo(pool)), client.WithObserver(col.observe))
	defer c.CloseIdleConnections()
	const n = 40
	errs := make(chan error, n)
	for range n {
		go func() {
			resp, err := c.Get(srv.URL)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := len(col.all()); got != n {
		t.Fatalf("%d Results, want %d", got, n)
	}
	for _, r := range col.all() {
		if !r.Success || r.HTTP.Proto != "HTTP/2.0" {
			t.Fatalf("%+v %+v", r.Error, r.HTTP)
		}
	}
}
