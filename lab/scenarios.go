package lab

import (
	"crypto/tls"
	"net"
	"net/http"
	"path/filepath"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
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
		start: func(l *Lab, d *scenarioDef) (string, error) {
			return l.startHTTPS(d.name, tlsOpts{chain: chainNormal, leaf: labLeaf(d.name), h1Only: true})
		},
	},
	{
		name:        "ok-h2",
		description: "HTTPS with a complete chain serving HTTP/2 (ALPN h2) and HTTP/1.1.",
		start: func(l *Lab, d *scenarioDef) (string, error) {
			return l.startHTTPS(d.name, tlsOpts{chain: chainNormal, leaf: labLeaf(d.name)})
		},
	},
	{
		name:        "ok-h2c",
		description: "Cleartext HTTP/2 with prior knowledge (h2c); HTTP/1.1 is accepted too.",
		args:        []string{"--h2c"},
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
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startHTTP("slow.lab.test", http.HandlerFunc(okHandler), httpOpts{})
		},
	},
	{
		name:        "dns-nxdomain",
		description: "Target name missing.lab.test does not exist (NXDOMAIN); the port holds a working HTTP server.",
		expect:      []string{"DNS_FAILED"},
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startHTTP("missing.lab.test", http.HandlerFunc(okHandler), httpOpts{})
		},
	},
	{
		name:        "tcp-refused",
		description: "Port with nothing listening: the connection is refused.",
		expect:      []string{"TCP_REFUSED"},
		late:        true,
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
		name:        "http-slow",
		description: "Cleartext HTTP server that waits 400 ms before sending response headers.",
		expect:      []string{"HTTP_SERVER_SLOW"},
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startHTTP("127.0.0.1", http.HandlerFunc(l.slowHandler), httpOpts{})
		},
	},
	{
		name:        "http-truncated",
		description: "Cleartext HTTP server that announces Content-Length: 1000, sends 100 bytes and closes.",
		expect:      []string{"HTTP_BODY_TRUNCATED"},
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
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startHTTP("127.0.0.1", http.HandlerFunc(redirectHandler), httpOpts{})
		},
	},
	{
		name:        "tls-stall",
		description: "Accepts TCP and reads, but never answers the TLS ClientHello.",
		args:        []string{"--timeout", "2s"},
		expect:      []string{"PROBE_TIMEOUT"},
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
		start: func(l *Lab, d *scenarioDef) (string, error) {
			return l.startH2UploadStall(d.name)
		},
	},
	{
		name: "h2-rst",
		description: "HTTPS (ALPN h2, hand-written HTTP/2) answering 200 with Content-Length 1 MiB, three 16 KiB DATA frames, " +
			"then RST_STREAM INTERNAL_ERROR.",
		expect: []string{"H2_RST_STREAM"},
		start: func(l *Lab, d *scenarioDef) (string, error) {
			return l.startH2Raw(d.name, rstMidResponse)
		},
	},
	{
		name: "h2-goaway",
		description: "HTTPS (ALPN h2, hand-written HTTP/2) sending the response headers, then GOAWAY (NO_ERROR, last stream 1, " +
			"debug \"lab: draining for restart\"), then the body: the request completes, the connection is done.",
		expect: []string{"H2_GOAWAY"},
		start: func(l *Lab, d *scenarioDef) (string, error) {
			return l.startH2Raw(d.name, goAwayMidResponse)
		},
	},

	{
		name:        "grpc-health-ok",
		description: "gRPC over TLS (ALPN h2) whose grpc.health.v1 Check answers SERVING.",
		start: func(l *Lab, d *scenarioDef) (string, error) {
			return l.startGRPCHealth(d.name, healthpb.HealthCheckResponse_SERVING)
		},
	},
	{
		name:        "grpc-health-not-serving",
		description: "Cleartext gRPC whose grpc.health.v1 Check answers status OK with NOT_SERVING in the body.",
		expect:      []string{"GRPC_STATUS"},
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startGRPCHealth("", healthpb.HealthCheckResponse_NOT_SERVING)
		},
	},
	{
		name:        "grpc-stream-ok",
		description: "Cleartext gRPC server-streaming method sending 100 messages (one of 64 KiB, the rest 100 bytes), then OK; the 64 KiB message is larger than the client's initial 65535-byte stream window (info).",
		args:        []string{"--grpc-method", grpcStreamMethod, "--expect-messages", "100"},
		expect:      []string{"H2_SMALL_WINDOW"},
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startGRPCStream(grpcStreamPlan{count: grpcStreamCount, big: grpcStreamBigIndex})
		},
	},
	{
		name:        "grpc-stream-truncated",
		description: "Cleartext HTTP/2 answering the streaming method with 46 messages, then RST_STREAM (INTERNAL_ERROR) instead of trailers.",
		args:        []string{"--grpc-method", grpcStreamMethod, "--expect-messages", "100"},
		expect:      []string{"GRPC_STREAM_TRUNCATED"},
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startGRPCBroken(grpcTruncateAfter, true)
		},
	},
	{
		name:        "grpc-stream-no-trailers",
		description: "Cleartext HTTP/2 answering the streaming method with 10 messages, then END_STREAM without a grpc-status trailer.",
		args:        []string{"--grpc-method", grpcStreamMethod},
		expect:      []string{"GRPC_STREAM_TRUNCATED"},
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startGRPCBroken(grpcNoTrailers, false)
		},
	},
	{
		name:        "grpc-slow-stream",
		description: "Cleartext gRPC server-streaming method sending 10 messages 200 ms apart, then OK: slow but complete.",
		args:        []string{"--grpc-method", grpcStreamMethod, "--expect-messages", "10", "--timeout", "5s"},
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startGRPCStream(grpcStreamPlan{count: grpcSlowCount, gap: grpcSlowGap, big: -1})
		},
	},

	// WebSocket scenarios (lab/ws.go).
	{
		name:        "ws-echo",
		description: "WebSocket over TLS (wss, ALPN http/1.1) echoing every message and answering pings.",
		args:        []string{"--send", "hello", "--ping-interval", "200ms", "--hold", "1s"},
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
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startWS("", "/", wsBehavior{reject: http.StatusUnauthorized})
		},
	},
	{
		name:        "ws-drop",
		description: "WebSocket that sends \"tick\" every 500 ms, then 2 s after the upgrade drops TCP (reset) without a close frame.",
		args:        []string{"--hold", "5s"},
		expect:      []string{"WS_ABNORMAL_CLOSE"},
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startWS("", "/", wsBehavior{dropAfter: wsDropAfter, tickEvery: wsTickEvery})
		},
	},
	{
		name:        "ws-no-pong",
		description: "WebSocket that echoes messages but never answers a ping.",
		args:        []string{"--ping-interval", "500ms", "--hold", "2s"},
		expect:      []string{"WS_PING_TIMEOUT"},
		start: func(l *Lab, _ *scenarioDef) (string, error) {
			return l.startWS("", "/", wsBehavior{noPong: true})
		},
	},
	{
		name:        "ws-idle",
		description: "WebSocket that closes (1001 \"idle timeout\") after 3 s without a frame in either direction, as an idle proxy does.",
		args:        []string{"--hold", "5s"},
		expect:      []string{"WS_IDLE_CLOSED"},
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
