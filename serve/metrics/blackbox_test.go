package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pathlens/pathlens/probe"
)

func expectRegistry(t *testing.T, reg *prometheus.Registry, want string, names ...string) {
	t.Helper()
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}

const (
	bbSuccess  = "# HELP probe_success Displays whether or not the probe was a success\n# TYPE probe_success gauge\n"
	bbDuration = "# HELP probe_duration_seconds Returns how long the probe took to complete in seconds\n# TYPE probe_duration_seconds gauge\n"
	bbDNS      = "# HELP probe_dns_lookup_time_seconds Returns the time taken for probe dns lookup in seconds\n# TYPE probe_dns_lookup_time_seconds gauge\n"
	bbIP       = "# HELP probe_ip_protocol Specifies whether probe ip protocol is IP4 or IP6\n# TYPE probe_ip_protocol gauge\n"
	bbFinding  = "# HELP pathlens_finding_active 1 for each finding this probe shows.\n# TYPE pathlens_finding_active gauge\n"
	bbTimeout  = "# HELP probe_timeout_seconds Returns how long the probe timeout is in seconds\n# TYPE probe_timeout_seconds gauge\n"
	bbIPHash   = "# HELP probe_ip_addr_hash Specifies the hash of IP address. It's useful to detect if the IP address changes.\n# TYPE probe_ip_addr_hash gauge\n"
	bbRegex    = "# HELP probe_failed_due_to_regex Indicates if probe failed due to regex\n# TYPE probe_failed_due_to_regex gauge\n"
	bbCipher   = "# HELP probe_tls_cipher_info Returns the TLS cipher negotiated during handshake\n# TYPE probe_tls_cipher_info gauge\n"
	bbLeaf     = "# HELP probe_ssl_last_chain_info Contains SSL leaf certificate information\n# TYPE probe_ssl_last_chain_info gauge\n"
)

// redirectedHTTPS: http://… answered 301 to https://…, which answered 200
// over HTTP/2 with TLS 1.3.
func redirectedHTTPS() *probe.Result {
	r := okHTTPS()
	r.Kind = "https"
	r.TotalMS = 40
	r.Phases = append([]probe.Phase{{Name: "redirect", StartMS: 0, DurationMS: 5}}, r.Phases...)
	r.HTTP.Redirects = []probe.Redirect{{
		URL: "http://api.example.test/health", Status: 301, Location: "https://api.example.test/health",
		Phases: []probe.Phase{
			{Name: "dns", DurationMS: 1},
			{Name: "connect", DurationMS: 2},
			{Name: "request", DurationMS: 0.25},
			{Name: "wait", DurationMS: 1},
		},
	}}
	r.HTTP.ContentLength = -1 // chunked: blackbox exports -1 too
	r.TimeoutMS = 10000
	r.TLS.Chain[0].SHA256 = "5f1e0c8a2b9d4e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f"
	r.TLS.Chain[0].DNSNames = []string{"api.example.test", "www.example.test"}
	r.Findings = []probe.Finding{{ID: "TLS_CERT_EXPIRING", Severity: probe.SeverityWarning}}
	return r
}

func TestBlackboxHTTPS(t *testing.T) {
	expectRegistry(t, BlackboxRegistry(redirectedHTTPS()), bbFinding+`pathlens_finding_active{id="TLS_CERT_EXPIRING",severity="warning"} 1
`+bbDNS+`probe_dns_lookup_time_seconds 0.001
`+bbDuration+`probe_duration_seconds 0.04
`+bbRegex+`probe_failed_due_to_regex 0
# HELP probe_http_content_length Length of http content response
# TYPE probe_http_content_length gauge
probe_http_content_length -1
# HELP probe_http_duration_seconds Duration of http request by phase, summed over all redirects
# TYPE probe_http_duration_seconds gauge
probe_http_duration_seconds{phase="connect"} 0.004
probe_http_duration_seconds{phase="processing"} 0.0215
probe_http_duration_seconds{phase="resolve"} 0.002
probe_http_duration_seconds{phase="tls"} 0.004
probe_http_duration_seconds{phase="transfer"} 0.001
# HELP probe_http_redirects The number of redirects
# TYPE probe_http_redirects gauge
probe_http_redirects 1
# HELP probe_http_ssl Indicates if SSL was used for the final redirect
# TYPE probe_http_ssl gauge
probe_http_ssl 1
# HELP probe_http_status_code Response HTTP status code
# TYPE probe_http_status_code gauge
probe_http_status_code 200
# HELP probe_http_uncompressed_body_length Length of uncompressed response body
# TYPE probe_http_uncompressed_body_length gauge
probe_http_uncompressed_body_length 1024
# HELP probe_http_version Returns the version of HTTP of the probe response
# TYPE probe_http_version gauge
probe_http_version 2
`+bbIPHash+`probe_ip_addr_hash 1886098357
`+bbIP+`probe_ip_protocol 4
# HELP probe_ssl_earliest_cert_expiry Returns earliest SSL cert expiry in unixtime
# TYPE probe_ssl_earliest_cert_expiry gauge
probe_ssl_earliest_cert_expiry 1798761600
# HELP probe_ssl_last_chain_expiry_timestamp_seconds Returns last SSL chain expiry in timestamp seconds
# TYPE probe_ssl_last_chain_expiry_timestamp_seconds gauge
probe_ssl_last_chain_expiry_timestamp_seconds 1798761600
`+bbLeaf+`probe_ssl_last_chain_info{fingerprint_sha256="5f1e0c8a2b9d4e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f",issuer="CN=Test CA R1",serialnumber="",subject="CN=api.example.test",subjectalternative="api.example.test,www.example.test"} 1
`+bbSuccess+`probe_success 1
`+bbTimeout+`probe_timeout_seconds 10
`+bbCipher+`probe_tls_cipher_info{cipher="TLS_AES_128_GCM_SHA256"} 1
# HELP probe_tls_version_info Contains the TLS version used
# TYPE probe_tls_version_info gauge
probe_tls_version_info{version="TLS 1.3"} 1
`)
}

func TestBlackboxFailedTCP(t *testing.T) {
	r := refusedHTTPS()
	r.Target, r.Kind = "tcp://db.internal:5432", "tcp"
	r.TimeoutMS = 2500
	// Refused: no connection, so the hash is the first address tried.
	r.Conn.Attempts = []probe.ConnectAttempt{{Addr: "[2001:db8::1]:5432", Error: "connection refused"}, {Addr: "192.0.2.10:5432", Error: "connection refused"}}
	r.Conn.IPVersion = 0
	expectRegistry(t, BlackboxRegistry(r), bbFinding+`pathlens_finding_active{id="TCP_REFUSED",severity="critical"} 1
`+bbDNS+`probe_dns_lookup_time_seconds 0.001
`+bbDuration+`probe_duration_seconds 0.003
`+bbRegex+`probe_failed_due_to_regex 0
`+bbIPHash+`probe_ip_addr_hash 1851458804
`+bbIP+`probe_ip_protocol 6
`+bbSuccess+`probe_success 0
`+bbTimeout+`probe_timeout_seconds 2.5
`)
}

func TestBlackboxNil(t *testing.T) {
	expectRegistry(t, BlackboxRegistry(nil), bbDNS+`probe_dns_lookup_time_seconds 0
`+bbDuration+`probe_duration_seconds 0
`+bbIPHash+`probe_ip_addr_hash 0
`+bbIP+`probe_ip_protocol 0
`+bbSuccess+`probe_success 0
`+bbTimeout+`probe_timeout_seconds 0
`)
}

// An https probe whose handshake failed (pathlens verification refused an
// expired certificate): like blackbox, no ssl series, probe_http_ssl 0, no
// response so status/version/content length 0, all five phases present.
func TestBlackboxHTTPSHandshakeFailed(t *testing.T) {
	r := &probe.Result{Kind: "https", TotalMS: 8,
		Error: &probe.ErrorInfo{Class: probe.ClassTLS, Phase: "tls", Message: "certificate has expired"},
		Phases: []probe.Phase{
			{Name: "dns", DurationMS: 1},
			{Name: "connect", DurationMS: 2},
			{Name: "tls", DurationMS: 5, Incomplete: true},
		},
		TLS:  &probe.TLSInfo{Chain: []probe.Cert{leaf1, ca1}, VerifyReason: "expired"},
		HTTP: &probe.HTTPInfo{ContentLength: -1, Redirects: []probe.Redirect{}},
	}
	reg := BlackboxRegistry(r)
	expectRegistry(t, reg, `# HELP probe_http_duration_seconds Duration of http request by phase, summed over all redirects
# TYPE probe_http_duration_seconds gauge
probe_http_duration_seconds{phase="connect"} 0.002
probe_http_duration_seconds{phase="processing"} 0
probe_http_duration_seconds{phase="resolve"} 0.001
probe_http_duration_seconds{phase="tls"} 0
probe_http_duration_seconds{phase="transfer"} 0
# HELP probe_http_ssl Indicates if SSL was used for the final redirect
# TYPE probe_http_ssl gauge
probe_http_ssl 0
# HELP probe_http_status_code Response HTTP status code
# TYPE probe_http_status_code gauge
probe_http_status_code 0
# HELP probe_http_content_length Length of http content response
# TYPE probe_http_content_length gauge
probe_http_content_length 0
# HELP probe_http_version Returns the version of HTTP of the probe response
# TYPE probe_http_version gauge
probe_http_version 0
`, "probe_http_duration_seconds", "probe_http_ssl", "probe_http_status_code", "probe_http_content_length", "probe_http_version")
	for _, name := range []string{"probe_ssl_earliest_cert_expiry", "probe_ssl_last_chain_expiry_timestamp_seconds", "probe_tls_version_info",
		"probe_tls_cipher_info", "probe_ssl_last_chain_info"} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != 0 {
			t.Errorf("%s exported for a failed handshake (%d, %v)", name, n, err)
		}
	}
}

// A tls:// probe with --insecure: handshake done, chain not verified, so
// probe_ssl_last_chain_expiry_timestamp_seconds is absent (as blackbox).
func TestBlackboxTLSInsecure(t *testing.T) {
	r := &probe.Result{Kind: "tls", Success: true, TotalMS: 7,
		Phases:    []probe.Phase{{Name: "connect", DurationMS: 3}, {Name: "tls", DurationMS: 4}},
		Conn:      &probe.ConnInfo{RemoteAddr: "[::1]:853", IPVersion: 6},
		TLS:       &probe.TLSInfo{Version: "TLS 1.2", Cipher: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", Chain: []probe.Cert{ca1, leaf2}},
		TimeoutMS: 5000,
	}
	// probe_ssl_last_chain_info describes the first certificate sent,
	// even when it is not the leaf (blackbox's PeerCertificates[0]).
	expectRegistry(t, BlackboxRegistry(r), bbDNS+`probe_dns_lookup_time_seconds 0
`+bbDuration+`probe_duration_seconds 0.007
`+bbRegex+`probe_failed_due_to_regex 0
`+bbIPHash+`probe_ip_addr_hash 1751717746
`+bbIP+`probe_ip_protocol 6
# HELP probe_ssl_earliest_cert_expiry Returns earliest SSL cert expiry in unixtime
# TYPE probe_ssl_earliest_cert_expiry gauge
probe_ssl_earliest_cert_expiry 1811808000
`+bbLeaf+`probe_ssl_last_chain_info{fingerprint_sha256="",issuer="CN=Test Root",serialnumber="",subject="CN=Test CA R1",subjectalternative=""} 1
`+bbSuccess+`probe_success 1
`+bbTimeout+`probe_timeout_seconds 5
`+bbCipher+`probe_tls_cipher_info{cipher="TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"} 1
# HELP probe_tls_version_info Contains the TLS version used
# TYPE probe_tls_version_info gauge
probe_tls_version_info{version="TLS 1.2"} 1
`)
}

func TestHTTPVersion(t *testing.T) {
	for proto, want := range map[string]float64{"HTTP/1.1": 1.1, "HTTP/1.0": 1, "HTTP/2.0": 2, "HTTP/2": 2, "HTTP/3.0": 3, "": 0, "junk": 0} {
		if got := httpVersion(proto); got != want {
			t.Errorf("httpVersion(%q) = %v, want %v", proto, got, want)
		}
	}
}

func TestBlackboxICMP(t *testing.T) {
	r := &probe.Result{Kind: "icmp", Success: true, TotalMS: 3000,
		Phases:    []probe.Phase{{Name: "dns", DurationMS: 2}, {Name: "echo", DurationMS: 2998}},
		Conn:      &probe.ConnInfo{IPVersion: 4},
		ICMP:      &probe.ICMPInfo{Addr: "127.0.0.1", Sent: 3, Received: 2, LossPct: 100.0 / 3, MinMS: 10, AvgMS: 12.5, MaxMS: 15, RTTsMS: []float64{10, 15}},
		TimeoutMS: 5000,
		Findings:  []probe.Finding{{ID: "ICMP_LOSS", Severity: probe.SeverityWarning}},
	}
	expectRegistry(t, BlackboxRegistry(r), bbFinding+`pathlens_finding_active{id="ICMP_LOSS",severity="warning"} 1
`+bbDNS+`probe_dns_lookup_time_seconds 0.002
`+bbDuration+`probe_duration_seconds 3
# HELP probe_icmp_duration_seconds Duration of icmp request by phase
# TYPE probe_icmp_duration_seconds gauge
probe_icmp_duration_seconds{phase="resolve"} 0.002
probe_icmp_duration_seconds{phase="rtt"} 0.0125
probe_icmp_duration_seconds{phase="setup"} 0
`+bbIPHash+`probe_ip_addr_hash 3668918509
`+bbIP+`probe_ip_protocol 4
`+bbSuccess+`probe_success 1
`+bbTimeout+`probe_timeout_seconds 5
`)
	// No reply at all: rtt 0, like blackbox without a reply.
	r.Success, r.ICMP = false, &probe.ICMPInfo{Sent: 3}
	expectRegistry(t, BlackboxRegistry(r), `# HELP probe_icmp_duration_seconds Duration of icmp request by phase
# TYPE probe_icmp_duration_seconds gauge
probe_icmp_duration_seconds{phase="resolve"} 0.002
probe_icmp_duration_seconds{phase="rtt"} 0
probe_icmp_duration_seconds{phase="setup"} 0
`, "probe_icmp_duration_seconds")
}
