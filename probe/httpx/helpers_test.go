package httpx_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/probe"
	_ "github.com/pathlens/pathlens/probe/httpx" // registers http and https
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serverMode names the kind of test server newServer starts.
type serverMode string

const (
	modeHTTP    serverMode = "http"     // plain HTTP/1.1
	modeH2C     serverMode = "h2c"      // plain HTTP/1.1 and h2c prior knowledge
	modeH1TLS   serverMode = "h1-tls"   // TLS, ALPN http/1.1 only
	modeH2TLS   serverMode = "h2-tls"   // TLS, ALPN h2 and http/1.1
	modeNoALPN  serverMode = "noalpn"   // TLS, no ALPN at all (HTTP/1.1)
	modeH2Only  serverMode = "h2only"   // TLS, ALPN h2 only
	modeTLS12H1 serverMode = "tls12-h1" // TLS 1.2 at most, HTTP/1.1
)

// newServer starts an httptest server of the given mode, closed in Cleanup.
// configure, when not nil, runs on the unstarted server.
func newServer(t testing.TB, mode serverMode, h http.Handler, configure func(*httptest.Server)) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	switch mode {
	case modeH2C:
		var p http.Protocols
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		srv.Config.Protocols = &p
	case modeH2TLS:
		srv.EnableHTTP2 = true
		srv.TLS = &tls.Config{NextProtos: []string{"h2", "http/1.1"}}
	case modeH2Only:
		srv.EnableHTTP2 = true
		srv.TLS = &tls.Config{NextProtos: []string{"h2"}}
	case modeNoALPN:
		srv.TLS = &tls.Config{NextProtos: []string{}}
	case modeTLS12H1:
		srv.TLS = &tls.Config{MaxVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	}
	if configure != nil {
		configure(srv)
	}
	switch mode {
	case modeHTTP, modeH2C:
		srv.Start()
	default:
		srv.StartTLS()
	}
	t.Cleanup(srv.Close)
	return srv
}

// isTLS reports whether the mode serves TLS.
// bodyHandler answers every request with body.
func bodyHandler(body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(body)) })
}

func (m serverMode) isTLS() bool { return m != modeHTTP && m != modeH2C }

// poolOf is a trust store holding srv's certificate.
func poolOf(srv *httptest.Server) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(srv.Certificate())
	return p
}

// opts returns options that trust srv (when it serves TLS).
func opts(srv *httptest.Server) *probe.Options {
	o := &probe.Options{Timeout: 5 * time.Second}
	if srv != nil && srv.TLS != nil {
		o.RootCAs = poolOf(srv)
	}
	return o
}

func hasPhase(r *probe.Result, name string) bool {
	return slices.Contains(probetest.PhaseNames(r), name)
}
