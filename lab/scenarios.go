package lab

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/pathlens/pathlens/probe"
)

// scenarioDef is one row of the scenario table: the manifest fields and
// the function that binds and starts the scenario's server.
type scenarioDef struct {
	name        string
	description string
	args        []string
	expect      []string
	hostile     bool
	// late scenarios start after all others (see Lab.start).
	late bool
	// start binds the scenario's port, starts its server and returns the target.
	start func(l *Lab, d *scenarioDef) (string, error)
	// argsFunc, when set, gives the manifest args instead of args (for
	// args naming files in the lab directory); it runs after start.
	argsFunc func(l *Lab) []string
	// check, when set, asserts the measured facts behind the scenario in
	// the Result of probing it (Scenario.Check), beyond the finding IDs.
	check func(r *probe.Result) error
}

// scenarioTable lists every scenario in manifest order. Names, targets and
// expectations are part of the contract with the prober and diagnosis.
var scenarioTable = []*scenarioDef{
	{
		name:        "ok-http",
		description: "Cleartext HTTP/1.1 server answering 200 \"ok\".",
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startHTTP("127.0.0.1", http.HandlerFunc(okHandler), httpOpts{})
		},
	},
	{
		name:        "ok-https",
		description: "HTTPS with a complete chain (leaf, intermediate) whose ALPN offers only http/1.1, so HTTP/2 is unavailable.",
		expect:      []string{"HTTP_NO_H2"},
		check: func(r *probe.Result) error {
			if r.HTTP.Proto != "HTTP/1.1" {
				return fmt.Errorf("proto = %s, want HTTP/1.1", r.HTTP.Proto)
			}
			return nil
		},
		start: func(l *Lab, d *scenarioDef) (string, error) {
			return l.startHTTPS(d.name, tlsOpts{chain: chainNormal, leaf: labLeaf(d.name), h1Only: true})
		},
	},
	{
		name:        "ok-h2",
		description: "HTTPS with a complete chain serving HTTP/2 (ALPN h2) and HTTP/1.1.",
		check: func(r *probe.Result) error {
			var f facts
			if r.HTTP.Proto != "HTTP/2.0" || r.TLS.ALPN != "h2" {
				f.errorf("proto %s alpn %q, want HTTP/2.0 over h2", r.HTTP.Proto, r.TLS.ALPN)
			}
			if r.TLS.Resumption == nil || !r.TLS.Resumption.Resumed {
				f.errorf("resumption = %+v, want resumed", r.TLS.Resumption)
			}
			if len(r.TLS.Chain) != 2 || len(r.TLS.VerifiedChain) != 3 {
				f.errorf("chain sent %d, verified %d; want 2 and 3", len(r.TLS.Chain), len(r.TLS.VerifiedChain))
			}
			return f.err()
		},
		start: func(l *Lab, d *scenarioDef) (string, error) {
			return l.startHTTPS(d.name, tlsOpts{chain: chainNormal, leaf: labLeaf(d.name)})
		},
	},
	{
		name:        "ok-h2c",
		description: "Cleartext HTTP/2 with prior knowledge (h2c); HTTP/1.1 is accepted too.",
		args:        []string{"--h2c"},
		check: func(r *probe.Result) error {
			var f facts
			if r.HTTP.Proto != "HTTP/2.0" || r.TLS != nil {
				f.errorf("proto %s, tls %v; want HTTP/2.0 in cleartext", r.HTTP.Proto, r.TLS)
			}
			if r.H2 == nil || r.H2.ParseError != "" || len(r.H2.Streams) != 1 || r.H2.Streams[0].Status != 200 {
				f.errorf("h2 = %+v, want one stream answered 200 seen by the frame tap", r.H2)
			}
			return f.err()
		},
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startHTTP("127.0.0.1", http.HandlerFunc(okHandler), httpOpts{h2: true})
		},
	},
	{
		name:        "ok-tcp",
		description: "TCP listener that accepts and closes.",
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			ln, err := l.listen()
			if err != nil {
				return "", err
			}
			l.serveRaw(ln, func(*rawConn) {})
			return hostPortURL("tcp", "127.0.0.1", ln, false), nil
		},
	},
	{
		name:        "ok-tls",
		description: "TLS-only listener with a complete chain: completes the handshake and serves nothing.",
		start: func(l *Lab, d *scenarioDef) (string, error) {
			return l.startTLSOnly(d.name)
		},
	},
	{
		name:        "ok-dns",
		description: "A query for ok-dns.lab.test answered by the lab DNS server with 127.0.0.1.",
		start: func(l *Lab, d *scenarioDef) (string, error) {
			return "dns://" + l.DNSServer() + "/" + d.name + ".lab.test?type=A", nil
		},
	},
	{
		name:        "dns-slow",
		description: "Cleartext HTTP server reached as slow.lab.test, a name the lab DNS answers only after 300 ms.",
		expect:      []string{"DNS_SLOW"},
		check:       phaseAtLeast("dns", 290, "≥ 300"),
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startHTTP("slow.lab.test", http.HandlerFunc(okHandler), httpOpts{})
		},
	},
	{
		name:        "dns-nxdomain",
		description: "Target name missing.lab.test does not exist (NXDOMAIN); the port holds a working HTTP server.",
		expect:      []string{"DNS_FAILED"},
		check:       mustFail,
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startHTTP("missing.lab.test", http.HandlerFunc(okHandler), httpOpts{})
		},
	},
	{
		name:        "tcp-refused",
		description: "Port with nothing listening: the connection is refused.",
		expect:      []string{"TCP_REFUSED"},
		late:        true,
		check:       mustFail,
		start: func(*Lab, *scenarioDef) (string, error) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return "", err
			}
			target := hostPortURL("tcp", "127.0.0.1", ln, false)
			if err := ln.Close(); err != nil {
				return "", err
			}
			return target, nil
		},
	},
	{
		name:        "tls-slow",
		description: "HTTPS server that waits 500 ms after accepting TCP before starting the TLS handshake.",
		expect:      []string{"TLS_HANDSHAKE_SLOW"},
		check:       phaseAtLeast("tls", 490, "≥ 500"),
		start: func(l *Lab, d *scenarioDef) (string, error) {
			return l.startHTTPS(d.name, tlsOpts{chain: chainNormal, leaf: labLeaf(d.name), handshakeDelay: tlsSlowDelay})
		},
	},
	{
		name:        "tls-incomplete-chain",
		description: "HTTPS server that sends only its leaf, without the intermediate that signed it.",
		expect:      []string{"TLS_CHAIN_INCOMPLETE"},
		start: func(l *Lab, d *scenarioDef) (string, error) {
			return l.startHTTPS(d.name, tlsOpts{chain: chainLeafOnly, leaf: labLeaf(d.name)})
		},
	},
	{
		name:        "tls-wrong-order",
		description: "HTTPS server that sends its chain misordered: leaf, root, intermediate.",
		expect:      []string{"TLS_CHAIN_ORDER"},
		start: func(l *Lab, d *scenarioDef) (string, error) {
			return l.startHTTPS(d.name, tlsOpts{chain: chainRootFirst, leaf: labLeaf(d.name)})
		},
	},
	{
		name:        "tls-untrusted-root",
		description: "HTTPS server whose complete chain ends at a root that is not in ca.pem.",
		expect:      []string{"TLS_UNTRUSTED_ROOT"},
		start: func(l *Lab, d *scenarioDef) (string, error) {
			return l.startHTTPS(d.name, tlsOpts{chain: chainUntrusted, leaf: labLeaf(d.name)})
		},
	},
	{
		name:        "tls-expired",
		description: "HTTPS server whose leaf expired 10 days ago.",
		expect:      []string{"TLS_CERT_EXPIRED"},
		start: func(l *Lab, d *scenarioDef) (string, error) {
			leaf := labLeaf(d.name)
			leaf.notBefore = l.pki.now.Add(-100 * day)
			leaf.notAfter = l.pki.now.Add(-10 * day)
			return l.startHTTPS(d.name, tlsOpts{chain: chainNormal, leaf: leaf})
		},
	},
	{
		name:        "tls-expiring",
		description: "HTTPS server whose leaf expires in 5 days.",
		expect:      []string{"TLS_CERT_EXPIRING"},
		start: func(l *Lab, d *scenarioDef) (string, error) {
			leaf := labLeaf(d.name)
			leaf.notAfter = l.pki.now.Add(5 * day)
			return l.startHTTPS(d.name, tlsOpts{chain: chainNormal, leaf: leaf})
		},
	},
	{
		name:        "tls-wrong-host",
		description: "HTTPS server whose leaf is valid only for other.lab.test (no IP SAN).",
		expect:      []string{"TLS_HOSTNAME_MISMATCH"},
		start: func(l *Lab, d *scenarioDef) (string, error) {
			return l.startHTTPS(d.name, tlsOpts{chain: chainNormal, leaf: leafSpec{dnsNames: []string{"other.lab.test"}}})
		},
	},
	{
		name:        "tls-no-resumption",
		description: "HTTPS server with session tickets disabled, so sessions cannot be resumed.",
		expect:      []string{"TLS_NO_RESUMPTION"},
		start: func(l *Lab, d *scenarioDef) (string, error) {
			return l.startHTTPS(d.name, tlsOpts{chain: chainNormal, leaf: labLeaf(d.name), noTickets: true})
		},
	},
	{
		name:        "tls-old-version",
		description: "HTTPS server limited to TLS 1.0–1.1 (and so to http/1.1).",
		expect:      []string{"TLS_OLD_VERSION", "HTTP_NO_H2"},
		check: func(r *probe.Result) error {
			if r.TLS.Version != "TLS 1.1" {
				return fmt.Errorf("version = %s, want TLS 1.1", r.TLS.Version)
			}
			return nil
		},
		start: func(l *Lab, d *scenarioDef) (string, error) {
			return l.startHTTPS(d.name, tlsOpts{
				chain: chainNormal, leaf: labLeaf(d.name), h1Only: true,
				minVersion: tls.VersionTLS10, maxVersion: tls.VersionTLS11,
				cipherSuites: []uint16{
					tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
					tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
				},
			})
		},
	},
	{
		name: "tls-chain-huge",
		description: "HTTPS server that sends its leaf and 200 intermediates (P-384) up to the lab root: verifying them " +
			"takes most of the handshake, and Go's verifier gives up after 100 signature checks.",
		expect: []string{"TLS_HANDSHAKE_FAILED", "TLS_VERIFY_SLOW"},
		check: func(r *probe.Result) error {
			var f facts
			t := r.TLS
			hs, err := phaseMS(r, "tls")
			f.add(err)
			if len(t.Chain) != hugeChainDepth+1 || t.Analysis == nil || t.Analysis.PathLen != hugeChainDepth+1 || !t.Analysis.IssuerInStore ||
				t.Verified || !strings.Contains(t.VerifyError, "signature check attempts limit") {
				f.errorf("chain of %d, analysis %+v, verified %v (%s); want %d certificates in order up to the lab root, "+
					"refused by Go's verifier", len(t.Chain), t.Analysis, t.Verified, t.VerifyError, hugeChainDepth+1)
			}
			if t.VerifyMS <= hs/2 || t.VerifyMS > hs {
				f.errorf("verify_ms %.1f of a %.1f ms tls phase, want most of it", t.VerifyMS, hs)
			}
			return f.err()
		},
		start: func(l *Lab, d *scenarioDef) (string, error) {
			return l.startHTTPS(d.name, tlsOpts{chain: chainHuge, leaf: labLeaf(d.name)})
		},
	},
	{
		name: "tls13-client-cert-required",
		description: "HTTPS limited to TLS 1.3 that requires a client certificate from the lab CA (RequireAndVerifyClientCert); " +
			"pathlens has none, and the server's certificate_required alert (116) arrives after the client's side of the " +
			"handshake has finished, as the first record the client reads.",
		expect: []string{"TLS_HANDSHAKE_FAILED"},
		check:  clientCertRefused("TLS 1.3", "certificate required", true),
		start: func(l *Lab, d *scenarioDef) (string, error) {
			return l.startHTTPS(d.name, tlsOpts{chain: chainNormal, leaf: labLeaf(d.name),
				minVersion: tls.VersionTLS13, clientAuth: tls.RequireAndVerifyClientCert})
		},
	},
	{
		name: "tls12-client-cert-required",
		description: "The same server capped at TLS 1.2: it refuses the missing client certificate inside the handshake " +
			"with a handshake_failure alert, as Go and OpenSSL servers do below TLS 1.3.",
		expect: []string{"TLS_HANDSHAKE_FAILED"},
		check:  clientCertRefused("", "handshake failure", false),
		start: func(l *Lab, d *scenarioDef) (string, error) {
			return l.startHTTPS(d.name, tlsOpts{chain: chainNormal, leaf: labLeaf(d.name),
				maxVersion: tls.VersionTLS12, clientAuth: tls.RequireAndVerifyClientCert})
		},
	},
	{
		name:        "http-slow",
		description: "Cleartext HTTP server that waits 400 ms before sending response headers.",
		expect:      []string{"HTTP_SERVER_SLOW"},
		check:       phaseAtLeast("wait", 390, "≥ 400"),
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startHTTP("127.0.0.1", http.HandlerFunc(l.slowHandler), httpOpts{})
		},
	},
	{
		name:        "http-truncated",
		description: "Cleartext HTTP server that announces Content-Length: 1000, sends 100 bytes and closes.",
		expect:      []string{"HTTP_BODY_TRUNCATED"},
		check: func(r *probe.Result) error {
			if !r.HTTP.Truncated || r.HTTP.BodyBytes != 100 || r.HTTP.ContentLength != 1000 {
				return fmt.Errorf("http = %+v, want 100 of 1000 bytes, truncated", r.HTTP)
			}
			return nil
		},
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startHTTP("127.0.0.1", http.HandlerFunc(l.truncatedHandler), httpOpts{})
		},
	},
	{
		name:        "http-no-keepalive",
		description: "Cleartext HTTP server that closes every connection after one response (Connection: close).",
		expect:      []string{"HTTP_NO_KEEPALIVE"},
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startHTTP("127.0.0.1", http.HandlerFunc(okHandler), httpOpts{noKeepAlive: true})
		},
	},
	{
		name:        "http-500",
		description: "Cleartext HTTP server answering 500.",
		expect:      []string{"HTTP_STATUS"},
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startHTTP("127.0.0.1", http.HandlerFunc(serverErrorHandler), httpOpts{})
		},
	},
	{
		name:        "http-redirects",
		description: "Cleartext HTTP server redirecting / → /hop1 → /hop2 → /final (three 302 hops), then 200.",
		check: func(r *probe.Result) error {
			var f facts
			if n := len(r.HTTP.Redirects); n != 3 {
				f.errorf("redirects = %d, want 3", n)
			}
			if r.Phases[0].Name != probe.PhaseRedirect || r.HTTP.Status != 200 {
				f.errorf("first phase %s, status %d; want redirect then 200", r.Phases[0].Name, r.HTTP.Status)
			}
			return f.err()
		},
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startHTTP("127.0.0.1", http.HandlerFunc(redirectHandler), httpOpts{})
		},
	},
	{
		name:        "tls-stall",
		description: "Accepts TCP and reads, but never answers the TLS ClientHello.",
		args:        []string{"--timeout", "2s"},
		expect:      []string{"PROBE_TIMEOUT"},
		check: func(r *probe.Result) error {
			if r.Error == nil || r.Error.Class != probe.ClassTimeout || r.Error.Phase != "tls" {
				return fmt.Errorf("error = %+v, want timeout in tls", r.Error)
			}
			return nil
		},
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startStall()
		},
	},

	// HTTP/2 frame scenarios (lab/h2.go).
	{
		name: "h2-upload-stall",
		description: "HTTPS (ALPN h2) with a 64 KiB stream receive window whose handler reads the request body in 256 KiB " +
			"bursts 250 ms apart: a 1 MiB upload (--data @h2-upload-stall.bin in the lab directory) keeps running out of window.",
		expect: []string{"H2_FLOW_CONTROL_STALL", "H2_SMALL_WINDOW"},
		argsFunc: func(l *Lab) []string {
			return []string{"--data", "@" + filepath.Join(l.dir, H2UploadFile), "--timeout", "5s"}
		},
		check: func(r *probe.Result) error {
			h := r.H2
			if h == nil || len(h.Stalls) < 2 || len(h.Streams) != 1 || h.Streams[0].SentBytes != H2UploadSize || h.Streams[0].SendWindow != 65535 {
				return fmt.Errorf("h2 = %+v, want ≥ 2 stalls and the 1 MiB upload on one stream", h)
			}
			var f facts
			for _, st := range h.Stalls {
				if st.Dir != probe.H2Send || st.Stream != 1 || st.DurationMS < 200 || st.InitialWindow != 65535 {
					f.errorf("stall %+v, want pathlens waiting ≥ 200 ms on stream 1's 65535-byte window", st)
				}
			}
			if r.HTTP.Status != 200 {
				f.errorf("status %d", r.HTTP.Status)
			}
			return f.err()
		},
		start: func(l *Lab, d *scenarioDef) (string, error) {
			return l.startH2UploadStall(d.name)
		},
	},
	{
		name: "h2-rst",
		description: "HTTPS (ALPN h2, hand-written HTTP/2) answering 200 with Content-Length 1 MiB, three 16 KiB DATA frames, " +
			"then RST_STREAM INTERNAL_ERROR.",
		expect: []string{"H2_RST_STREAM"},
		check: func(r *probe.Result) error {
			h := r.H2
			if h == nil || len(h.Streams) != 1 || h.Streams[0].Reset != "INTERNAL_ERROR" || h.Streams[0].ResetDir != probe.H2Recv ||
				h.Streams[0].RecvFrames != 3 || h.Streams[0].RecvBytes != 3*16384 || r.HTTP.BodyBytes != 3*16384 {
				return fmt.Errorf("h2 streams %+v, body %d; want INTERNAL_ERROR from the server after 3 × 16 KiB", h, r.HTTP.BodyBytes)
			}
			return nil
		},
		start: func(l *Lab, d *scenarioDef) (string, error) {
			return l.startH2Raw(d.name, rstMidResponse)
		},
	},
	{
		name: "h2-goaway",
		description: "HTTPS (ALPN h2, hand-written HTTP/2) sending the response headers, then GOAWAY (NO_ERROR, last stream 1, " +
			"debug \"lab: draining for restart\"), then the body: the request completes, the connection is done.",
		expect: []string{"H2_GOAWAY"},
		check: func(r *probe.Result) error {
			if g := r.H2.GoAway; g == nil || g.Code != "NO_ERROR" || g.LastStream != 1 || g.Debug != "lab: draining for restart" || g.Pending != 1 ||
				!r.Success || r.HTTP.KeepAlive {
				return fmt.Errorf("goaway %+v, success %v, keep_alive %v; want the drain before stream 1's body", g, r.Success, r.HTTP.KeepAlive)
			}
			return nil
		},
		start: func(l *Lab, d *scenarioDef) (string, error) {
			return l.startH2Raw(d.name, goAwayMidResponse)
		},
	},
	{
		name: "h2-goaway-after-response",
		description: "HTTPS (ALPN h2) from a Go server with keep-alives disabled: once the only stream is answered it sends " +
			"GOAWAY (NO_ERROR, last stream 1) and closes, as nginx does with keepalive_timeout 0: HTTP/2's Connection: close.",
		expect: []string{"HTTP_NO_KEEPALIVE"},
		check: func(r *probe.Result) error {
			var f facts
			g := r.H2.GoAway
			if g == nil || g.Code != "NO_ERROR" || g.LastStream != 1 || g.Streams != 1 || g.Pending != 0 || !r.Success {
				f.errorf("goaway %+v success %v, want NO_ERROR after stream 1 was answered", g, r.Success)
			}
			if r.HTTP.Proto != "HTTP/2.0" || r.HTTP.KeepAlive {
				f.errorf("proto %s keep_alive %v, want HTTP/2.0 without keep-alive", r.HTTP.Proto, r.HTTP.KeepAlive)
			}
			return f.err()
		},
		start: func(l *Lab, d *scenarioDef) (string, error) {
			return l.startHTTPS(d.name, tlsOpts{chain: chainNormal, leaf: labLeaf(d.name), noKeepAlive: true})
		},
	},

	{
		name:        "grpc-health-ok",
		description: "gRPC over TLS (ALPN h2) whose grpc.health.v1 Check answers SERVING.",
		check: func(r *probe.Result) error {
			var f facts
			g := r.GRPC
			if r.TLS == nil || r.TLS.ALPN != "h2" || !r.TLS.Verified || g == nil || g.HealthStatus != "SERVING" || g.StatusName != "OK" {
				f.errorf("tls %+v grpc %+v, want a verified h2 connection and SERVING", r.TLS, g)
			}
			if r.TLS != nil && (r.TLS.Resumption == nil || !r.TLS.Resumption.Resumed) {
				f.errorf("resumption = %+v, want resumed", r.TLS.Resumption)
			}
			if _, err := phaseMS(r, "stream"); err != nil {
				f.add(err)
			}
			return f.err()
		},
		start: func(l *Lab, d *scenarioDef) (string, error) {
			return l.startGRPCHealth(d.name, healthpb.HealthCheckResponse_SERVING)
		},
	},
	{
		name:        "grpc-health-not-serving",
		description: "Cleartext gRPC whose grpc.health.v1 Check answers status OK with NOT_SERVING in the body.",
		expect:      []string{"GRPC_STATUS"},
		check: func(r *probe.Result) error {
			if g := r.GRPC; g == nil || g.HealthStatus != "NOT_SERVING" || g.StatusCode != 0 || r.Success {
				return fmt.Errorf("grpc %+v success %v, want status OK with NOT_SERVING, failed", g, r.Success)
			}
			return nil
		},
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startGRPCHealth("", healthpb.HealthCheckResponse_NOT_SERVING)
		},
	},
	{
		name:        "grpc-stream-ok",
		description: "Cleartext gRPC server-streaming method sending 100 messages (one of 64 KiB, the rest 100 bytes), then OK; the 64 KiB message is larger than the client's initial 65535-byte stream window (info).",
		args:        []string{"--grpc-method", grpcStreamMethod, "--expect-messages", "100"},
		expect:      []string{"H2_SMALL_WINDOW"},
		check: func(r *probe.Result) error {
			if g := r.GRPC; g == nil || g.Messages != 100 || g.LargestMessage != 64<<10 || g.Bytes != 99*100+64<<10 || !g.TrailersReceived {
				return fmt.Errorf("grpc = %+v, want 100 messages, one of 64 KiB, and trailers", g)
			}
			return nil
		},
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startGRPCStream(grpcStreamPlan{count: grpcStreamCount, big: grpcStreamBigIndex})
		},
	},
	{
		name:        "grpc-stream-truncated",
		description: "Cleartext HTTP/2 answering the streaming method with 46 messages, then RST_STREAM (INTERNAL_ERROR) instead of trailers.",
		args:        []string{"--grpc-method", grpcStreamMethod, "--expect-messages", "100"},
		expect:      []string{"GRPC_STREAM_TRUNCATED"},
		check: func(r *probe.Result) error {
			var f facts
			if g := r.GRPC; g == nil || g.Messages != 46 || !g.NoTrailers || g.ResetCode != "INTERNAL_ERROR" {
				f.errorf("grpc = %+v, want 46 messages, then a reset without trailers", g)
			}
			if r.H2 != nil {
				rst := false
				for _, fr := range r.H2.Frames {
					rst = rst || (fr.Type == "RST_STREAM" && fr.Dir == probe.H2Recv && fr.ErrCode == "INTERNAL_ERROR")
				}
				if !rst {
					f.errorf("frame timeline lacks the server's RST_STREAM INTERNAL_ERROR")
				}
			}
			return f.err()
		},
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startGRPCBroken(grpcTruncateAfter, true)
		},
	},
	{
		name:        "grpc-stream-no-trailers",
		description: "Cleartext HTTP/2 answering the streaming method with 10 messages, then END_STREAM without a grpc-status trailer.",
		args:        []string{"--grpc-method", grpcStreamMethod},
		expect:      []string{"GRPC_STREAM_TRUNCATED"},
		check: func(r *probe.Result) error {
			if g := r.GRPC; g == nil || g.Messages != 10 || !g.NoTrailers || g.ResetCode != "" || g.TrailersReceived {
				return fmt.Errorf("grpc = %+v, want 10 messages, END_STREAM without trailers", g)
			}
			return nil
		},
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startGRPCBroken(grpcNoTrailers, false)
		},
	},
	{
		name:        "grpc-slow-stream",
		description: "Cleartext gRPC server-streaming method sending 10 messages 200 ms apart, then OK: slow but complete.",
		args:        []string{"--grpc-method", grpcStreamMethod, "--expect-messages", "10", "--timeout", "5s"},
		check: func(r *probe.Result) error {
			g := r.GRPC
			if g == nil || g.Messages != 10 || len(g.GapsMS) != 9 {
				return fmt.Errorf("grpc = %+v, want 10 messages, 9 gaps", g)
			}
			var f facts
			for i, gap := range g.GapsMS {
				if gap < 180 {
					f.errorf("gap %d = %.1f ms, want ≥ 180 (200 ms apart)", i, gap)
				}
			}
			return f.err()
		},
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startGRPCStream(grpcStreamPlan{count: grpcSlowCount, gap: grpcSlowGap, big: -1})
		},
	},

	// WebSocket scenarios (lab/ws.go).
	{
		name:        "ws-echo",
		description: "WebSocket over TLS (wss, ALPN http/1.1) echoing every message and answering pings.",
		args:        []string{"--send", "hello", "--ping-interval", "200ms", "--hold", "1s"},
		check: func(r *probe.Result) error {
			// Healthy: nothing above info, a round trip, answered pings, a
			// clean close by pathlens after the hold.
			var f facts
			w := r.WS
			if !r.Success || r.WorstSeverity().Rank() > probe.SeverityInfo.Rank() {
				f.errorf("healthy ws-echo: success %v, findings %v", r.Success, findingIDs(r))
			}
			if w == nil || w.UpgradeStatus != 101 || w.MessagesIn != 1 || w.MessagesOut != 1 || len(w.PingRTTMS) < 3 ||
				w.Close == nil || w.Close.By != probe.WSClosedByClient || w.Close.Code != 1000 || !w.Close.FrameReceived {
				f.errorf("ws = %+v close %+v", w, w.Close)
			}
			if _, err := phaseMS(r, "wait"); err != nil {
				return errors.Join(f.err(), err)
			}
			f.add(phaseAtLeast("hold", 990, "≥ 1000")(r))
			return f.err()
		},
		start: func(l *Lab, d *scenarioDef) (string, error) {
			return l.startWS(d.name, "/echo", wsBehavior{})
		},
	},
	{
		name: "ws-jwt",
		description: "WebSocket that verifies an HS256 JWT at the upgrade (the secret is ws-jwt.secret in the lab directory; " +
			"401 without a valid token) and closes with 4401 \"token expired\" at the token's exp.",
		expect: []string{"WS_TOKEN_EXPIRED"},
		argsFunc: func(l *Lab) []string {
			return []string{"--jwt-secret", filepath.Join(l.dir, WSJWTSecretFile), "--jwt-ttl", "3s", "--hold", "6s"}
		},
		check: func(r *probe.Result) error {
			w := r.WS
			if w.Close == nil || w.Close.Code != 4401 || w.Close.By != probe.WSClosedByServer || w.TokenExp == nil || w.TokenSource != "jwt-hs256" {
				return fmt.Errorf("ws = %+v close %+v, want 4401 from the server at the token's exp", w, w.Close)
			}
			return nil
		},
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			secret, err := l.writeJWTSecret()
			if err != nil {
				return "", err
			}
			return l.startWS("", "/chat", wsBehavior{jwtSecret: secret, tokenParam: "access_token"})
		},
	},
	{
		name:        "ws-reject",
		description: "WebSocket endpoint that answers every upgrade with 401 Unauthorized.",
		expect:      []string{"WS_AUTH_REJECTED"},
		check: func(r *probe.Result) error {
			if r.WS.UpgradeStatus != 401 || r.Success {
				return fmt.Errorf("ws = %+v, want a failed upgrade answered 401", r.WS)
			}
			return nil
		},
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startWS("", "/", wsBehavior{reject: http.StatusUnauthorized})
		},
	},
	{
		name:        "ws-drop",
		description: "WebSocket that sends \"tick\" every 500 ms, then 2 s after the upgrade drops TCP (reset) without a close frame.",
		args:        []string{"--hold", "5s"},
		expect:      []string{"WS_ABNORMAL_CLOSE"},
		check: func(r *probe.Result) error {
			if c := r.WS.Close; c == nil || c.FrameReceived || c.Code != 1006 || r.Error == nil || r.Error.Cause != probe.CauseAbnormalClose {
				return fmt.Errorf("close %+v error %+v, want a drop without a close frame", c, r.Error)
			}
			return nil
		},
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startWS("", "/", wsBehavior{dropAfter: wsDropAfter, tickEvery: wsTickEvery})
		},
	},
	{
		name:        "ws-no-pong",
		description: "WebSocket that echoes messages but never answers a ping.",
		args:        []string{"--ping-interval", "500ms", "--hold", "2s"},
		expect:      []string{"WS_PING_TIMEOUT"},
		check: func(r *probe.Result) error {
			if len(r.WS.Pings) < 2 || len(r.WS.PingRTTMS) != 0 {
				return fmt.Errorf("pings %+v, want several, none answered", r.WS.Pings)
			}
			return nil
		},
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startWS("", "/", wsBehavior{noPong: true})
		},
	},
	{
		name:        "ws-idle",
		description: "WebSocket that closes (1001 \"idle timeout\") after 3 s without a frame in either direction, as an idle proxy does.",
		args:        []string{"--hold", "5s"},
		expect:      []string{"WS_IDLE_CLOSED"},
		check: func(r *probe.Result) error {
			if c := r.WS.Close; c == nil || c.Code != 1001 || r.WS.IdleMS < 2900 {
				return fmt.Errorf("close %+v idle %.0f ms, want 1001 after 3 s quiet", c, r.WS.IdleMS)
			}
			return nil
		},
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startWS("", "/", wsBehavior{idleAfter: wsIdleAfter})
		},
	},
	{
		name:        "ws-big-message",
		description: "WebSocket that sends one 2 MiB binary message right after the upgrade, over the probe's 1 MiB message limit.",
		args:        []string{"--hold", "1s"},
		expect:      []string{"WS_MESSAGE_TOO_LARGE"},
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startWS("", "/", wsBehavior{bigMessage: 2 << 20})
		},
	},

	// Hostile servers: their expectation is a classified error within a
	// bounded run; `check --lab` style runs may skip them.
	{
		name:        "hostile-endless-headers",
		description: "Sends a status line, then 1 KiB header lines forever.",
		args:        []string{"--timeout", "3s"},
		expect:      []string{"HTTP_PROTOCOL_ERROR"},
		hostile:     true,
		start:       rawScenario(func(_ *Lab, c *rawConn) { endlessHeaders(c) }),
	},
	{
		name:        "hostile-endless-body",
		description: "Answers 200 with a close-delimited body that never ends (32 KiB writes).",
		args:        []string{"--timeout", "5s"},
		expect:      []string{"HTTP_BODY_TOO_LARGE", "HTTP_NO_KEEPALIVE"},
		hostile:     true,
		check:       bodyStoppedAtLimit,
		start:       rawScenario(func(_ *Lab, c *rawConn) { endlessBody(c) }),
	},
	{
		name:        "hostile-trickle",
		description: "Sends a valid response with a 10 KiB body one byte every 50 ms.",
		args:        []string{"--timeout", "2s"},
		expect:      []string{"PROBE_TIMEOUT"},
		hostile:     true,
		start:       rawScenario((*Lab).trickle),
	},
	{
		name:        "hostile-gzip-bomb",
		description: "Answers 200 with Content-Encoding: gzip and ~1 MB that inflates to 1 GiB of zeros.",
		expect:      []string{"HTTP_BODY_TOO_LARGE"},
		hostile:     true,
		check:       bodyStoppedAtLimit,
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			b := &gzipBomb{chunkSize: bombChunk, chunks: bombChunks}
			// Build it now, not on the first request, so its cost is
			// not mistaken for a slow server (HTTP_SERVER_SLOW).
			if err := b.build(l.done); err != nil {
				return "", err
			}
			return l.startHTTP("127.0.0.1", b.handler(l.done), httpOpts{})
		},
	},
	{
		name:        "hostile-tls-noise",
		description: "Answers the TLS ClientHello with 4 KiB of random bytes, then closes.",
		expect:      []string{"TLS_HANDSHAKE_FAILED"},
		hostile:     true,
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			ln, err := l.listen()
			if err != nil {
				return "", err
			}
			l.serveRaw(ln, tlsNoise)
			return hostPortURL("https", "127.0.0.1", ln, true), nil
		},
	},
	{
		name:        "hostile-giant-status",
		description: "Sends \"HTTP/1.1 200 \" followed by 10 MiB of 'A' and no newline.",
		args:        []string{"--timeout", "3s"},
		expect:      []string{"HTTP_PROTOCOL_ERROR"},
		hostile:     true,
		start:       rawScenario(func(_ *Lab, c *rawConn) { giantStatus(c) }),
	},
}

// rawScenario starts a cleartext raw-TCP server running serve per conn and
// returns http://127.0.0.1:port/.
func rawScenario(serve func(l *Lab, c *rawConn)) func(*Lab, *scenarioDef) (string, error) {
	return func(l *Lab, _ *scenarioDef) (string, error) {
		ln, err := l.listen()
		if err != nil {
			return "", err
		}
		l.serveRaw(ln, func(c *rawConn) { serve(l, c) })
		return hostPortURL("http", "127.0.0.1", ln, true), nil
	}
}
