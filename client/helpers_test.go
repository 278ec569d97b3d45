package client_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"sync"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
)

// collector is an observer that keeps every Result.
type collector struct {
	mu  sync.Mutex
	res []probe.Result
}

func (c *collector) observe(r probe.Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res = append(c.res, r)
}

func (c *collector) all() []probe.Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]probe.Result(nil), c.res...)
}

func (c *collector) last(t *testing.T) probe.Result {
	t.Helper()
	all := c.all()
	if len(all) == 0 {
		t.Fatal("observer got no Result")
	}
	return all[len(all)-1]
}

// get sends GET url through c, reads the body and returns the status.
func get(t *testing.T, c *http.Client, url string) int {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp.StatusCode
}

// closeClient releases a client's pooled connections at test end.
func closeClient(t *testing.T, c *http.Client) {
	t.Cleanup(c.CloseIdleConnections)
}

func okServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// h2Server is an httptest TLS server with HTTP/2 on; pool trusts it.
func h2Server(t *testing.T, h http.Handler) (*httptest.Server, *x509.CertPool) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return srv, pool
}

func tlsTo(pool *x509.CertPool) *tls.Config { return &tls.Config{RootCAs: pool} }

// okServerSlow answers after delay, or at once when release is closed.
func okServerSlow(t *testing.T, delay time.Duration, release <-chan struct{}) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(delay):
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "ok\n")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func httptraceWithGotConn(ctx context.Context, f func()) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { f() }})
}
