package client_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pathlens/pathlens/client"
)

// seenHeaders is a plain HTTP server that records the headers of the last
// request it got.
func seenHeaders(t *testing.T) (*httptest.Server, func() http.Header) {
	t.Helper()
	var mu sync.Mutex
	var last http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		last = r.Header.Clone()
		mu.Unlock()
		io.WriteString(w, "ok\n")
	}))
	t.Cleanup(srv.Close)
	return srv, func() http.Header {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

// credentials are the request headers a redirect to another origin must
// not carry.
var credentials = http.Header{
	"Authorization":       {"Bearer secret"},
	"Cookie":              {"session=1"},
	"Proxy-Authorization": {"Basic cHJveHk6cHc="},
}

func getWith(t *testing.T, c *http.Client, url string, h http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h.Clone()
	req.Header.Set("X-Trace", "kept")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestRedirectToCleartextDropsCredentials: an https server redirecting to
// an http one on the same host (127.0.0.1) gets the credentials through
// net/http's own policy, which compares host names only; New's client
// drops them.
func TestRedirectToCleartextDropsCredentials(t *testing.T) {
	plain, last := seenHeaders(t)
	secure, pool := h2Server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+"/landing", http.StatusFound)
	}))
	c := client.New(client.WithTLS(tlsTo(pool)))
	closeClient(t, c)
	getWith(t, c, secure.URL+"/", credentials)
	got := last()
	if got == nil {
		t.Fatal("the redirect was not followed")
	}
	for k := range credentials {
		if v := got.Get(k); v != "" {
			t.Errorf("%s: %q reached the cleartext origin", k, v)
		}
	}
	if got.Get("X-Trace") != "kept" {
		t.Errorf("X-Trace = %q, want other headers kept as net/http does", got.Get("X-Trace"))
	}
}

func TestRedirectSameOriginKeepsCredentials(t *testing.T) {
	var mu sync.Mutex
	var final http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/start" {
			http.Redirect(w, r, "/final", http.StatusFound)
			return
		}
		mu.Lock()
		final = r.Header.Clone()
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	c := client.New()
	closeClient(t, c)
	getWith(t, c, srv.URL+"/start", credentials)
	mu.Lock()
	defer mu.Unlock()
	for k, v := range credentials {
		if got := final.Get(k); got != v[0] {
			t.Errorf("%s = %q after a same-origin redirect, want %q", k, got, v[0])
		}
	}
}

// TestRedirectLimit: without a policy of the caller's, the client stops
// after 10 redirects with net/http's error.
func TestRedirectLimit(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, "/again", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	c := client.New()
	closeClient(t, c)
	_, err := c.Get(srv.URL + "/")
	plain := &http.Client{Transport: &http.Transport{}}
	defer plain.CloseIdleConnections()
	mine := hits.Swap(0)
	_, perr := plain.Get(srv.URL + "/")
	if err == nil || perr == nil || !strings.HasSuffix(err.Error(), "stopped after 10 redirects") {
		t.Fatalf("err = %v, want net/http's %v", err, perr)
	}
	if theirs := hits.Load(); mine != theirs || mine != 10 {
		t.Errorf("client.New sent %d requests, net/http %d; want 10 each", mine, theirs)
	}
}

// TestWithCheckRedirect: the caller's policy sees the stripped request
// and decides.
func TestWithCheckRedirect(t *testing.T) {
	plain, last := seenHeaders(t)
	secure, pool := h2Server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+"/", http.StatusFound)
	}))
	var sawAuth atomic.Value
	c := client.New(client.WithTLS(tlsTo(pool)), client.WithCheckRedirect(func(req *http.Request, via []*http.Request) error {
		sawAuth.Store(req.Header.Get("Authorization"))
		return http.ErrUseLastResponse
	}))
	closeClient(t, c)
	resp := getWith(t, c, secure.URL+"/", credentials)
	if resp.StatusCode != http.StatusFound {
		t.Errorf("status = %d, want the 302 (the policy said ErrUseLastResponse)", resp.StatusCode)
	}
	if v, _ := sawAuth.Load().(string); v != "" {
		t.Errorf("the policy saw Authorization %q, want it stripped already", v)
	}
	if last() != nil {
		t.Error("the redirect was followed")
	}

	stop := errors.New("no")
	c2 := client.New(client.WithTLS(tlsTo(pool)), client.WithCheckRedirect(func(*http.Request, []*http.Request) error { return stop }))
	closeClient(t, c2)
	if _, err := c2.Get(secure.URL + "/"); !errors.Is(err, stop) {
		t.Errorf("err = %v, want the policy's error", err)
	}
}
