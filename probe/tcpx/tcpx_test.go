package tcpx_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/engine"
	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/probe"
	_ "github.com/pathlens/pathlens/probe/tcpx" // registers tcp and tls
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tlsServer starts an httptest TLS server (configure may adjust its TLS
// config before it starts) and returns it with a pool trusting it.
func tlsServer(t *testing.T, configure func(*tls.Config)) (*httptest.Server, *x509.CertPool) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{}
	if configure != nil {
		configure(srv.TLS)
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return srv, pool
}

func TestTCP(t *testing.T) {
	open := probetest.ServeTCP(t, "127.0.0.1:0", func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	openPort, _ := strconv.Atoi(strings.TrimPrefix(open, "127.0.0.1:"))
	refused := probetest.ClosedPort(t)
	tests := []struct {
		name       string
		target     string
		set        func(*probe.Options)
		wantErr    bool
		wantPhases []string
		wantDNS    string // dns.source, "" for no dns block
	}{
		{name: "open port", target: "tcp://" + open, wantPhases: []string{"connect"}},
		{name: "pinned name", target: "tcp://pinned.test:" + strconv.Itoa(openPort), set: func(o *probe.Options) {
			o.Resolve = []probe.ResolveEntry{{Host: "pinned.test", Port: openPort, Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}}
		}, wantPhases: []string{"connect"}, wantDNS: "resolve"},
		{name: "refused", target: "tcp://" + refused, wantErr: true, wantPhases: []string{"connect"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &probe.Options{}
			if tt.set != nil {
				tt.set(o)
			}
			r := probetest.Run(t, tt.target, o)
			if r.Kind != "tcp" {
				t.Errorf("kind = %q, want tcp", r.Kind)
			}
			if got := probetest.PhaseNames(r); !slices.Equal(got, tt.wantPhases) {
				t.Errorf("phases = %v, want %v", got, tt.wantPhases)
			}
			probetest.CheckTimeline(t, r, false)
			if r.Conn == nil || len(r.Conn.Attempts) != 1 {
				t.Fatalf("conn = %+v, want exactly one attempt", r.Conn)
			}
			if r.TLS != nil || r.HTTP != nil {
				t.Errorf("tls = %+v http = %+v, want neither for tcp", r.TLS, r.HTTP)
			}
			if (tt.wantDNS == "") != (r.DNS == nil) || (r.DNS != nil && r.DNS.Source != tt.wantDNS) {
				t.Errorf("dns = %+v, want source %q", r.DNS, tt.wantDNS)
			}
			if tt.wantErr {
				probetest.WantError(t, r, probe.ClassConnect, "refused", "connect")
				if r.Conn.Attempts[0].Error == "" {
					t.Errorf("attempt = %+v, want its error", r.Conn.Attempts[0])
				}
				return
			}
			probetest.MustSucceed(t, r)
			if r.Conn.RemoteAddr != open || r.Conn.IPVersion != 4 || r.Conn.Attempts[0].Error != "" {
				t.Errorf("conn = %+v, want a connection to %s over IPv4", r.Conn, open)
			}
		})
	}
}

func TestTCPIPv6(t *testing.T) {
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	l.Close()
	addr := probetest.ServeTCP(t, "[::1]:0", func(c net.Conn) {})
	r := probetest.Run(t, "tcp://"+addr, nil)
	probetest.MustSucceed(t, r)
	if r.Conn == nil || r.Conn.IPVersion != 6 {
		t.Errorf("conn = %+v, want ip_version 6", r.Conn)
	}
}

func TestTLS(t *testing.T) {
	tests := []struct {
		name        string
		configure   func(*tls.Config)
		skip        bool
		wantVersion string
		wantALPN    string
		wantResumed bool
		wantCurve   string // "": X25519MLKEM768, what Go clients and servers prefer
		wantHRR     bool
	}{
		{name: "TLS 1.3, http/1.1", wantVersion: "TLS 1.3", wantALPN: "http/1.1", wantResumed: true},
		{name: "h2 preferred", configure: func(c *tls.Config) { c.NextProtos = []string{"h2", "http/1.1"} },
			wantVersion: "TLS 1.3", wantALPN: "h2", wantResumed: true},
		{name: "TLS 1.2", configure: func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 },
			wantVersion: "TLS 1.2", wantALPN: "http/1.1", wantResumed: true, wantCurve: "X25519"},
		{name: "no session tickets", configure: func(c *tls.Config) { c.SessionTicketsDisabled = true },
			wantVersion: "TLS 1.3", wantALPN: "http/1.1", wantResumed: false},
		{name: "resumption check skipped", skip: true, wantVersion: "TLS 1.3", wantALPN: "http/1.1"},
		// The client sends key shares for X25519MLKEM768 and X25519 only:
		// a server that takes P-256 alone asks again for one.
		{name: "HelloRetryRequest", configure: func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{tls.CurveP256} },
			wantVersion: "TLS 1.3", wantALPN: "http/1.1", wantResumed: true, wantCurve: "CurveP256", wantHRR: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, pool := tlsServer(t, tt.configure)
			addr := srv.Listener.Addr().String()
			start := time.Now()
			r := probetest.Run(t, "tls://"+addr, &probe.Options{RootCAs: pool, SkipResumptionCheck: tt.skip})
			elapsed := time.Since(start)
			probetest.MustSucceed(t, r)
			if got, want := probetest.PhaseNames(r), []string{"connect", "tls"}; !slices.Equal(got, want) {
				t.Errorf("phases = %v, want %v", got, want)
			}
			probetest.CheckTimeline(t, r, false)
			ti := r.TLS
			if ti == nil {
				t.Fatal("tls block is nil")
			}
			if ti.Version != tt.wantVersion || ti.ALPN != tt.wantALPN || !ti.Verified || ti.Resumed {
				t.Errorf("tls version %q alpn %q verified %v resumed %v; want %q %q verified, full handshake",
					ti.Version, ti.ALPN, ti.Verified, ti.Resumed, tt.wantVersion, tt.wantALPN)
			}
			if !slices.Equal(ti.OfferedALPN, []string{"h2", "http/1.1"}) {
				t.Errorf("offered_alpn = %q, want [h2 http/1.1]", ti.OfferedALPN)
			}
			if len(ti.Chain) < 1 || len(ti.VerifiedChain) < 1 || ti.Cipher == "" || ti.TrustStore != "custom" {
				t.Errorf("chain %d verified_chain %d cipher %q trust_store %q; want a verified chain, a cipher, custom",
					len(ti.Chain), len(ti.VerifiedChain), ti.Cipher, ti.TrustStore)
			}
			if ti.Analysis == nil || !ti.Analysis.OrderOK {
				t.Errorf("analysis = %+v, want order_ok", ti.Analysis)
			}
			if ti.SNI != "" {
				t.Errorf("sni = %q, want none for an IP literal", ti.SNI)
			}
			wantCurve := tt.wantCurve
			if wantCurve == "" {
				wantCurve = tls.X25519MLKEM768.String()
			}
			if ti.Curve != wantCurve || ti.HelloRetryRequest != tt.wantHRR {
				t.Errorf("curve %q hello_retry_request %v, want %q %v", ti.Curve, ti.HelloRetryRequest, wantCurve, tt.wantHRR)
			}
			// Verification is timed inside the handshake: part of the tls phase.
			if hs, _ := r.PhaseDuration(probe.PhaseTLS); ti.VerifyMS <= 0 || ti.VerifyMS > hs {
				t.Errorf("verify_ms = %v of a %v ms tls phase, want a part of it", ti.VerifyMS, hs)
			}
			if tt.skip {
				if ti.Resumption != nil {
					t.Errorf("resumption = %+v, want nil when skipped", ti.Resumption)
				}
				return
			}
			rc := ti.Resumption
			if rc == nil || !rc.Tested || rc.Resumed != tt.wantResumed || rc.Error != "" {
				t.Fatalf("resumption = %+v, want tested, resumed %v", rc, tt.wantResumed)
			}
			// The ticket wait and the second handshake happen after the
			// measured exchange: total_ms ends with the tls phase.
			tlsPh := r.Phases[len(r.Phases)-1]
			if end := tlsPh.StartMS + tlsPh.DurationMS; r.TotalMS > end+50 {
				t.Errorf("total_ms = %v, tls phase ends at %v: the resumption check was counted", r.TotalMS, end)
			}
			// A TLS 1.3 server that sends nothing after its tickets makes the
			// probe wait the whole TicketWait (an h2 server's SETTINGS end
			// the wait early).
			if tt.wantVersion == "TLS 1.3" && tt.wantALPN != "h2" && elapsed < probe.TicketWait {
				t.Errorf("run took %v, want ≥ %v (the ticket wait)", elapsed, probe.TicketWait)
			}
		})
	}
}

func TestTLSFailures(t *testing.T) {
	srv, pool := tlsServer(t, nil)
	good := srv.Listener.Addr().String()
	garbage := probetest.ServeTCP(t, "127.0.0.1:0", func(c net.Conn) {
		_, _ = io.WriteString(c, "HELLO\r\n")
		_, _ = io.Copy(io.Discard, c) // keep reading until the client gives up
	})
	silent := probetest.ServeTCP(t, "127.0.0.1:0", func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })

	tests := []struct {
		name       string
		addr       string
		o          probe.Options
		wantClass  probe.ErrorClass
		wantCause  []string // any of
		wantPhase  string
		wantReason string
		check      func(*testing.T, *probe.Result)
	}{
		{name: "not TLS", addr: garbage, o: probe.Options{RootCAs: pool},
			wantClass: probe.ClassTLS, wantCause: []string{"not_tls", "alert"}, wantPhase: "tls",
			check: func(t *testing.T, r *probe.Result) {
				if r.TLS == nil || r.TLS.Alert == "" {
					t.Errorf("tls = %+v, want the low-level cause in tls.alert", r.TLS)
				}
			}},
		{name: "hostname mismatch", addr: good, o: probe.Options{RootCAs: pool, ServerName: "wrong.example"},
			wantClass: probe.ClassTLS, wantCause: []string{"verify_hostname"}, wantPhase: "tls", wantReason: "hostname",
			check: func(t *testing.T, r *probe.Result) {
				if r.TLS.SNI != "wrong.example" || r.TLS.HostnameError == "" || r.TLS.Verified || len(r.TLS.Chain) == 0 {
					t.Errorf("tls = %+v, want sni wrong.example, a hostname error, the chain, not verified", r.TLS)
				}
			}},
		{name: "unknown authority", addr: good, o: probe.Options{},
			wantClass: probe.ClassTLS, wantCause: []string{"verify_unknown_authority"}, wantPhase: "tls", wantReason: "unknown_authority",
			check: func(t *testing.T, r *probe.Result) {
				if r.TLS.TrustStore != "system" || r.TLS.Analysis == nil || r.TLS.Analysis.IssuerInStore {
					t.Errorf("tls = %+v analysis %+v, want system store without the issuer", r.TLS, r.TLS.Analysis)
				}
			}},
		{name: "hostname mismatch with Insecure", addr: good, o: probe.Options{RootCAs: pool, ServerName: "wrong.example", Insecure: true},
			wantReason: "hostname",
			check: func(t *testing.T, r *probe.Result) {
				if r.TLS.Verified || r.TLS.Version == "" {
					t.Errorf("tls = %+v, want a completed handshake, verified false", r.TLS)
				}
			}},
		{name: "silent server times out in tls", addr: silent, o: probe.Options{Timeout: 300 * time.Millisecond},
			wantClass: probe.ClassTimeout, wantCause: []string{"deadline"}, wantPhase: "tls",
			check: func(t *testing.T, r *probe.Result) {
				last := r.Phases[len(r.Phases)-1]
				if last.Name != "tls" || !last.Incomplete || r.TotalMS > 1000 {
					t.Errorf("last phase %+v total %v, want tls incomplete after ≈300 ms", last, r.TotalMS)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.o
			r := probetest.Run(t, "tls://"+tt.addr, &o)
			probetest.CheckTimeline(t, r, false)
			if got, want := probetest.PhaseNames(r), []string{"connect", "tls"}; !slices.Equal(got, want) {
				t.Errorf("phases = %v, want %v", got, want)
			}
			if r.TLS == nil {
				t.Fatalf("tls block is nil (%s; phases %+v, total %v ms)", probetest.ErrString(r), r.Phases, r.TotalMS)
			}
			if r.TLS.VerifyReason != tt.wantReason {
				t.Errorf("verify_reason = %q, want %q", r.TLS.VerifyReason, tt.wantReason)
			}
			if tt.wantClass == "" {
				probetest.MustSucceed(t, r)
			} else {
				if r.Success || r.Error == nil {
					t.Fatalf("success = %v, want failure", r.Success)
				}
				if r.Error.Class != tt.wantClass || !slices.Contains(tt.wantCause, r.Error.Cause) || r.Error.Phase != tt.wantPhase {
					t.Errorf("error = %s, want class %q cause in %q phase %q", probetest.ErrString(r), tt.wantClass, tt.wantCause, tt.wantPhase)
				}
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

// TestResumptionMemory: with a ResumptionMemory the second connection is
// opened on the first run only; later runs carry its verdict (with its
// age), so TLS_NO_RESUMPTION stays active without the extra handshake.
func TestResumptionMemory(t *testing.T) {
	srv, conns := probetest.NoResumptionTLSServer(t)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	mem := &probe.ResumptionMemory{Every: time.Hour}
	target := "tls://" + srv.Listener.Addr().String()
	tg, err := probe.ParseTarget(target)
	if err != nil {
		t.Fatal(err)
	}
	for run := 1; run <= 3; run++ {
		r := engine.Check(context.Background(), tg, &probe.Options{RootCAs: pool, Timeout: 5 * time.Second, Resumption: mem})
		probetest.MustSucceed(t, r)
		rc := r.TLS.Resumption
		if rc == nil || !rc.Tested || rc.Resumed || rc.Carried != (run > 1) {
			t.Fatalf("run %d: resumption = %+v, want a tested, not resumed verdict, carried after the first run", run, rc)
		}
		if !slices.Contains(probetest.FindingIDs(r), "TLS_NO_RESUMPTION") {
			t.Fatalf("run %d: findings %v, want TLS_NO_RESUMPTION", run, probetest.FindingIDs(r))
		}
	}
	// The server closes the probe's connections when the handshake ends;
	// wait until it has counted them all.
	deadline := time.Now().Add(2 * time.Second)
	for conns.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := conns.Load(); got != 4 {
		t.Errorf("connections = %d, want 4 (two on the first run, one on each of the next two)", got)
	}
}
