package metrics

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pathlens/pathlens/probe"
)

// TestBlackboxDNSSeries: a dns probe exports blackbox's dns prober series.
func TestBlackboxDNSSeries(t *testing.T) {
	soa := "lab.test.\t60\tIN\tSOA\tlab.test. hostmaster.lab.test. 2024061501 3600 600 86400 60"
	r := &probe.Result{Kind: "dns", Success: true, TotalMS: 0.731, TimeoutMS: 5000,
		Phases: []probe.Phase{{Name: "query", DurationMS: 0.683}},
		DNS: &probe.DNSInfo{Name: "lab.test.", Type: "SOA", Server: "127.0.0.1:5353", Source: "dns", Rcode: "NOERROR",
			Answers: []string{soa}, AuthorityRRs: 2, AdditionalRRs: 3},
	}
	reg := BlackboxRegistry(r)
	expectRegistry(t, reg, `# HELP probe_dns_additional_rrs Returns number of entries in the additional resource record list
# TYPE probe_dns_additional_rrs gauge
probe_dns_additional_rrs 3
# HELP probe_dns_answer_rrs Returns number of entries in the answer resource record list
# TYPE probe_dns_answer_rrs gauge
probe_dns_answer_rrs 1
# HELP probe_dns_authority_rrs Returns number of entries in the authority resource record list
# TYPE probe_dns_authority_rrs gauge
probe_dns_authority_rrs 2
# HELP probe_dns_duration_seconds Duration of DNS request by phase
# TYPE probe_dns_duration_seconds gauge
probe_dns_duration_seconds{phase="connect"} 0
probe_dns_duration_seconds{phase="request"} 0.000683
probe_dns_duration_seconds{phase="resolve"} 0
`+bbDNS+`probe_dns_lookup_time_seconds 0
# HELP probe_dns_query_succeeded Displays whether or not the query was executed successfully
# TYPE probe_dns_query_succeeded gauge
probe_dns_query_succeeded 1
# HELP probe_dns_serial Returns the serial number of the zone
# TYPE probe_dns_serial gauge
probe_dns_serial 2.024061501e+09
`+bbDuration+`probe_duration_seconds 0.000731
`+bbIPHash+`probe_ip_addr_hash 3668918509
`+bbIP+`probe_ip_protocol 4
`+bbSuccess+`probe_success 1
`+bbTimeout+`probe_timeout_seconds 5
`)
	// No regexp series for dns (blackbox's dns prober has none).
	if n, _ := testutil.GatherAndCount(reg, "probe_failed_due_to_regex"); n != 0 {
		t.Errorf("probe_failed_due_to_regex exported for a dns probe")
	}

	// An A query through the system resolver: the addresses are the
	// answer; no serial; the server is no address, so no hash.
	r = &probe.Result{Kind: "dns", Success: true, Phases: []probe.Phase{{Name: "query", DurationMS: 2}},
		DNS: &probe.DNSInfo{Name: "localhost.", Type: "A", Server: "system", Source: "system", Rcode: "NOERROR", Addrs: []string{"127.0.0.1"}}}
	reg = BlackboxRegistry(r)
	expectRegistry(t, reg, `# HELP probe_dns_answer_rrs Returns number of entries in the answer resource record list
# TYPE probe_dns_answer_rrs gauge
probe_dns_answer_rrs 1
`+bbIPHash+`probe_ip_addr_hash 0
`+bbIP+`probe_ip_protocol 0
`, "probe_dns_answer_rrs", "probe_ip_addr_hash", "probe_ip_protocol")
	if n, _ := testutil.GatherAndCount(reg, "probe_dns_serial"); n != 0 {
		t.Errorf("probe_dns_serial exported for an A query")
	}

	// A query that timed out: no response, every count 0, no duration
	// for the unfinished query; an SOA query still exports its serial, 0.
	r = &probe.Result{Kind: "dns", TotalMS: 2000,
		Error:  &probe.ErrorInfo{Class: probe.ClassTimeout, Phase: "query", Cause: probe.CauseDeadline},
		Phases: []probe.Phase{{Name: "query", DurationMS: 2000, Incomplete: true}},
		DNS:    &probe.DNSInfo{Name: "lab.test.", Type: "SOA", Server: "[::1]:53", Source: "dns"}}
	expectRegistry(t, BlackboxRegistry(r), `# HELP probe_dns_answer_rrs Returns number of entries in the answer resource record list
# TYPE probe_dns_answer_rrs gauge
probe_dns_answer_rrs 0
# HELP probe_dns_duration_seconds Duration of DNS request by phase
# TYPE probe_dns_duration_seconds gauge
probe_dns_duration_seconds{phase="connect"} 0
probe_dns_duration_seconds{phase="request"} 0
probe_dns_duration_seconds{phase="resolve"} 0
# HELP probe_dns_query_succeeded Displays whether or not the query was executed successfully
# TYPE probe_dns_query_succeeded gauge
probe_dns_query_succeeded 0
# HELP probe_dns_serial Returns the serial number of the zone
# TYPE probe_dns_serial gauge
probe_dns_serial 0
`+bbIPHash+`probe_ip_addr_hash 1751717746
`+bbIP+`probe_ip_protocol 6
`, "probe_dns_answer_rrs", "probe_dns_duration_seconds", "probe_dns_query_succeeded", "probe_dns_serial", "probe_ip_addr_hash", "probe_ip_protocol")
}

func TestSOASerial(t *testing.T) {
	for rr, want := range map[string]int64{
		"lab.test.\t60\tIN\tSOA\tlab.test. hostmaster.lab.test. 1 3600 600 86400 60":         1,
		"example.com. 3600 IN SOA ns.example.com. noc.example.com. 4294967295 7200 3600 1 2": 4294967295,
		"example.com. 3600 IN SOA ns.example.com. noc.example.com. 4294967296 7200 3600 1 2": -1,
		"example.com.\t60\tIN\tA\t127.0.0.1":                                                 -1,
		"example.com. 60 IN TXT \"SOA a b 1 2 3 4 5\"":                                       -1,
		"": -1,
	} {
		got, ok := soaSerial(rr)
		if (want < 0) == ok || (ok && int64(got) != want) {
			t.Errorf("soaSerial(%q) = %d, %v; want %d", rr, got, ok, want)
		}
	}
}

// TestBlackboxAssertionFailed: probe_failed_due_to_regex is pathlens's
// failed assertion (ASSERTION_FAILED), for the kinds blackbox's http and
// tcp probers cover.
func TestBlackboxAssertionFailed(t *testing.T) {
	for kind, exported := range map[string]bool{"http": true, "https": true, "tcp": true, "tls": true, "icmp": false, "grpc": false, "ws": false} {
		r := &probe.Result{Kind: kind, Findings: []probe.Finding{{ID: "ASSERTION_FAILED", Severity: probe.SeverityCritical}}}
		reg := BlackboxRegistry(r)
		if !exported {
			if n, _ := testutil.GatherAndCount(reg, "probe_failed_due_to_regex"); n != 0 {
				t.Errorf("%s: probe_failed_due_to_regex exported", kind)
			}
			continue
		}
		expectRegistry(t, reg, bbRegex+"probe_failed_due_to_regex 1\n", "probe_failed_due_to_regex")
		r.Findings = []probe.Finding{{ID: "HTTP_STATUS", Severity: probe.SeverityCritical}}
		expectRegistry(t, BlackboxRegistry(r), bbRegex+"probe_failed_due_to_regex 0\n", "probe_failed_due_to_regex")
	}
}

// TestIPHash: blackbox's fnv32a of the 4 or 16 address bytes; an
// IPv4-mapped IPv6 address counts as IPv4 (net.IP.To4, as blackbox).
func TestIPHash(t *testing.T) {
	for addr, want := range map[string]float64{ // from an independent FNV-1a
		"192.0.2.10:443": 1886098357, "127.0.0.1:80": 3668918509, "[::ffff:127.0.0.1]:80": 3668918509,
		"[::1]:443": 1751717746, "[2001:db8::1]:443": 1851458804,
	} {
		r := &probe.Result{Kind: "https", Conn: &probe.ConnInfo{RemoteAddr: addr}}
		expectRegistry(t, BlackboxRegistry(r), bbIPHash+"probe_ip_addr_hash "+strconv.FormatFloat(want, 'g', -1, 64)+"\n", "probe_ip_addr_hash")
	}
	// Resolved but never connected (every address denied): the first
	// address of the answer.
	r := &probe.Result{Kind: "http", DNS: &probe.DNSInfo{Name: "a.test", Addrs: []string{"127.0.0.1", "::1"}}}
	expectRegistry(t, BlackboxRegistry(r), bbIPHash+"probe_ip_addr_hash 3668918509\n"+bbIP+"probe_ip_protocol 4\n", "probe_ip_addr_hash", "probe_ip_protocol")
}

// TestBlackboxSeriesDocumented: every family /probe can answer with is
// in the /probe series table of docs/serve.md.
func TestBlackboxSeriesDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/serve.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "\n### `/probe` series\n")
	if i < 0 {
		t.Fatal("docs/serve.md has no \"### `/probe` series\" section")
	}
	sec := doc[i+1:]
	if j := strings.Index(sec, "\n## "); j >= 0 {
		sec = sec[:j]
	}
	grpcs := &probe.Result{Kind: "grpcs", TLS: &probe.TLSInfo{Version: "TLS 1.3", Chain: []probe.Cert{leaf1}},
		GRPC: &probe.GRPCInfo{Health: true, HealthStatus: "SERVING", StatusOrigin: probe.GRPCStatusServer}}
	soa := &probe.Result{Kind: "dns", DNS: &probe.DNSInfo{Type: "SOA"}}
	icmp := &probe.Result{Kind: "icmp", ICMP: &probe.ICMPInfo{}}
	seen := map[string]bool{}
	for _, r := range []*probe.Result{redirectedHTTPS(), refusedHTTPS(), grpcs, soa, icmp} {
		mfs, err := BlackboxRegistry(r).Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			name := mf.GetName()
			seen[name] = true
			if !strings.Contains(sec, "`"+name+"`") && !strings.Contains(sec, "`"+name+"{") {
				t.Errorf("docs/serve.md's /probe table does not list %s", name)
			}
		}
	}
	if len(seen) < 30 {
		t.Errorf("only %d families seen", len(seen))
	}
}
