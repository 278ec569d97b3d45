package httpx_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
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
func newServer(t *testing.T, mode serverMode, h http.Handler, configure func(*httptest.Server)) *httptest.Server {
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

// mustSucceed fails the test when r is not a success.
func mustSucceed(t *testing.T, r *probe.Result) {
	t.Helper()
	if !r.Success || r.Error != nil {
		t.Fatalf("success = %v, error = %s; want success (phases %v)", r.Success, probetest.ErrString(r), probetest.PhaseNames(r))
	}
}

// wantError checks a failed result's class, cause and (when not empty) phase.
func wantError(t *testing.T, r *probe.Result, class probe.ErrorClass, cause, phase string) {
	t.Helper()
	if r.Success {
		t.Fatalf("success = true, want failure %s/%s", class, cause)
	}
	if r.Error == nil {
		t.Fatalf("error = nil on a failed result")
	}
	if r.Error.Class != class || r.Error.Cause != cause {
		t.Errorf("error = %s; want class %q cause %q", probetest.ErrString(r), class, cause)
	}
	if phase != "" && r.Error.Phase != phase {
		t.Errorf("error.phase = %q, want %q (%s)", r.Error.Phase, phase, probetest.ErrString(r))
	}
}

// checkTimeline checks the phase invariants: durations and starts ≥ 0,
// phases in order and non-overlapping, total ≥ sum of durations and ≥ the
// end of the last phase; with complete, no phase is incomplete.
func checkTimeline(t *testing.T, r *probe.Result, complete bool) {
	t.Helper()
	// Start and duration are each rounded to the µs, so a phase may
	// appear to begin up to 1 µs before the previous one ends.
	const eps = 0.001 + 1e-9
	sum := 0.0
	for i, p := range r.Phases {
		if p.DurationMS < 0 || p.StartMS < 0 {
			t.Errorf("phase %s: start %v duration %v; want both ≥ 0", p.Name, p.StartMS, p.DurationMS)
		}
		if complete && p.Incomplete {
			t.Errorf("phase %s is incomplete on a finished probe", p.Name)
		}
		if i > 0 {
			prev := r.Phases[i-1]
			if p.StartMS < prev.StartMS+prev.DurationMS-eps {
				t.Errorf("phase %s starts at %v, before %s ends at %v", p.Name, p.StartMS, prev.Name, prev.StartMS+prev.DurationMS)
			}
		}
		sum += p.DurationMS
	}
	if r.TotalMS < sum-eps {
		t.Errorf("total_ms = %v, want ≥ sum of phases %v", r.TotalMS, sum)
	}
	if n := len(r.Phases); n > 0 {
		last := r.Phases[n-1]
		if end := last.StartMS + last.DurationMS; r.TotalMS < end-eps {
			t.Errorf("total_ms = %v, want ≥ end of last phase %v", r.TotalMS, end)
		}
	}
}

// dnsZone is a tiny authoritative server's data: records by owner name
// (lower-case FQDN) and rcodes forced per name. Unknown names are NXDOMAIN.
type dnsZone struct {
	records map[string][]string
	rcodes  map[string]int

	mu      sync.Mutex
	queries []string // "name TYPE" in arrival order
}

func (z *dnsZone) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Authoritative = true
	if len(q.Question) == 1 {
		qq := q.Question[0]
		name := strings.ToLower(qq.Name)
		z.mu.Lock()
		z.queries = append(z.queries, name+" "+dns.TypeToString[qq.Qtype])
		z.mu.Unlock()
		rrs, known := z.records[name]
		if rc, ok := z.rcodes[name]; ok {
			m.Rcode = rc
		} else if !known {
			m.Rcode = dns.RcodeNameError
		}
		for _, s := range rrs {
			rr, err := dns.NewRR(s)
			if err == nil && rr.Header().Rrtype == qq.Qtype {
				m.Answer = append(m.Answer, rr)
			}
		}
	}
	_ = w.WriteMsg(m)
}

// startDNS serves z over UDP on 127.0.0.1 and returns the address.
func startDNS(t *testing.T, z *dnsZone) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	probetest.ServeDNS(t, z, pc, nil)
	return pc.LocalAddr().String()
}
