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

// TestObserverResultsIntact: the state of an attempt on a reused
// connection is recycled, never its Result: every Result an observer
// kept still describes its own request after many more, with the phases
// and facts the recorder gave before recycling (request, wait, transfer
// in order and back to back, non-negative, within the total).
func TestObserverResultsIntact(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/a", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/bb", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, strings.Repeat("x", 1000)) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	var col collector
	c := client.New(client.WithObserver(col.observe))
	defer c.CloseIdleConnections()
	const n = 60
	for i := range n {
		path := []string{"/a", "/bb"}[i%2]
		get(t, c, srv.URL+path)
	}
	rs := col.all()
	if len(rs) != n {
		t.Fatalf("%d Results, want %d", len(rs), n)
	}
	for i, r := range rs {
		path, size := "/a", int64(3)
		if i%2 == 1 {
			path, size = "/bb", 1000
		}
		if r.Target != srv.URL+path || !r.Success || r.Error != nil || r.HTTP == nil || r.HTTP.Status != 200 ||
			r.HTTP.Proto != "HTTP/1.1" || r.HTTP.BodyBytes != size || r.HTTP.ContentLength != size {
			t.Fatalf("Result %d (%s): %q success=%v err=%+v http=%+v", i, path, r.Target, r.Success, r.Error, r.HTTP)
		}
		if i > 0 && (r.Conn == nil || !r.Conn.Reused || r.Conn.RemoteAddr != srv.Listener.Addr().String() || r.Conn.LocalAddr == "") {
			t.Fatalf("Result %d: conn %+v", i, r.Conn)
		}
		if i > 0 && !r.StartedAt.After(rs[i-1].StartedAt) {
			t.Errorf("Result %d started at %v, before the one before it (%v)", i, r.StartedAt, rs[i-1].StartedAt)
		}
		if i == 0 {
			continue
		}
		if got := probetest.PhaseNames(&r); !slices.Equal(got, []string{"request", "wait", "transfer"}) {
			t.Fatalf("Result %d phases %v", i, got)
		}
		for j, p := range r.Phases {
			if p.Incomplete || p.DurationMS < 0 || p.StartMS < 0 {
				t.Errorf("Result %d phase %+v", i, p)
			}
			if j > 0 {
				prev := r.Phases[j-1]
				if gap := p.StartMS - (prev.StartMS + prev.DurationMS); gap < -0.0015 || gap > 0.0015 {
					t.Errorf("Result %d: %s does not start where %s ends: %+v", i, p.Name, prev.Name, r.Phases)
				}
			}
		}
		last := r.Phases[len(r.Phases)-1]
		if end := last.StartMS + last.DurationMS; end > r.TotalMS+0.0015 || r.TotalMS <= 0 {
			t.Errorf("Result %d: phases end at %.3f, total %.3f", i, end, r.TotalMS)
		}
	}
}

// TestAttemptContextOutlivesAttempt: resp.Request's context keeps
// working once the attempt is over and its state recycled, and a
// request sent on it while the first body is still open leaves both
// Results whole.
func TestAttemptContextOutlivesAttempt(t *testing.T) {
	srv := okServer(t)
	var col collector
	c := client.New(client.WithObserver(col.observe))
	defer c.CloseIdleConnections()
	get(t, c, srv.URL) // dial once; the rest reuse the connection

	do := func(ctx context.Context) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	finish := func(resp *http.Response) {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// The caller's deadline: the client adds none, so the context is not
	// cancelled when the body ends.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp := do(ctx)
	finish(resp)
	finish(do(resp.Request.Context())) // after the attempt: a context like any other
	open := do(context.Background())
	finish(do(open.Request.Context())) // while the body of open is unread
	finish(open)

	rs := col.all()
	if len(rs) != 5 {
		t.Fatalf("%d Results, want 5", len(rs))
	}
	for i, r := range rs {
		want := []string{"connect", "request", "wait", "transfer"} // the first, and the one sent while open was busy
		if i == 1 || i == 2 || i == 4 {
			want = want[1:]
		}
		if !r.Success || r.HTTP == nil || r.HTTP.BodyBytes != 3 || r.Conn == nil || r.Conn.Reused != (len(want) == 3) ||
			!slices.Equal(probetest.PhaseNames(&r), want) {
			t.Errorf("Result %d: success=%v http=%+v conn=%+v phases=%v", i, r.Success, r.HTTP, r.Conn, probetest.PhaseNames(&r))
		}
	}
}

// TestObserverConcurrentHTTP1: requests queued for a few HTTP/1
// connections (some get one from the idle pool, some wait for one handed
// over, some start dials that go to the pool) each get one Result, whole
// (run with -race).
func TestObserverConcurrentHTTP1(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/a", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/bb", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, strings.Repeat("x", 1000)) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	var col collector
	c := client.New(client.WithObserver(col.observe), client.WithPool(client.Pool{MaxConnsPerHost: 2, MaxIdleConnsPerHost: 1}))
	defer c.CloseIdleConnections()
	const workers, each = 8, 25
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			var err error
			for i := 0; i < each && err == nil; i++ {
				var resp *http.Response
				if resp, err = c.Get(srv.URL + []string{"/a", "/bb"}[(w+i)%2]); err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
			errs <- err
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	rs := col.all()
	if len(rs) != workers*each {
		t.Fatalf("%d Results, want %d", len(rs), workers*each)
	}
	for _, r := range rs {
		size := int64(3)
		if strings.HasSuffix(r.Target, "/bb") {
			size = 1000
		}
		names := probetest.PhaseNames(&r)
		if !r.Success || r.HTTP == nil || r.HTTP.BodyBytes != size || r.Conn == nil || r.Conn.RemoteAddr == "" ||
			len(names) < 3 || !slices.Equal(names[len(names)-3:], []string{"request", "wait", "transfer"}) {
			t.Fatalf("%s: success=%v err=%+v http=%+v conn=%+v phases=%v", r.Target, r.Success, r.Error, r.HTTP, r.Conn, names)
		}
	}
}
