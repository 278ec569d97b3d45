package serve

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/lab"
)

// exposition is one /probe answer, parsed: each sample's value by its
// name and labels as written, and each family's TYPE.
type exposition struct {
	body    string
	samples map[string]string // `name{a="b",…}` or `name` → value as printed
	types   map[string]string
}

var (
	expoSample = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$`)
	expoType   = regexp.MustCompile(`^# TYPE (\S+) (\S+)$`)
)

func parseExposition(t *testing.T, body string) exposition {
	t.Helper()
	e := exposition{body: body, samples: map[string]string{}, types: map[string]string{}}
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		if m := expoType.FindStringSubmatch(line); m != nil {
			e.types[m[1]] = m[2]
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		m := expoSample.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("unparsable exposition line %q", line)
		}
		e.samples[m[1]+m[2]] = m[3]
	}
	return e
}

// value is the sample's value; the test fails when it is missing.
func (e exposition) value(t *testing.T, series string) float64 {
	t.Helper()
	s, ok := e.samples[series]
	if !ok {
		t.Errorf("/probe lacks %s:\n%s", series, e.body)
		return math.NaN()
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Errorf("%s: value %q: %v", series, s, err)
	}
	return v
}

// want checks series (name and labels exactly as written) == v and that
// its family is a gauge.
func (e exposition) want(t *testing.T, series string, v float64) {
	t.Helper()
	if got := e.value(t, series); got != v && !math.IsNaN(got) {
		t.Errorf("%s = %v, want %v", series, got, v)
	}
	e.gauge(t, series)
}

func (e exposition) gauge(t *testing.T, series string) {
	t.Helper()
	name, _, _ := strings.Cut(series, "{")
	if typ := e.types[name]; typ != "gauge" {
		t.Errorf("# TYPE %s is %q, want gauge", name, typ)
	}
}

func (e exposition) absent(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, ok := e.types[n]; ok {
			t.Errorf("/probe exports %s, want it absent:\n%s", n, e.body)
		}
	}
}

// shortFloats: every value is printed as Prometheus prints a float (the
// shortest representation, strconv 'g' -1), and every duration is a whole
// number of microseconds — not 0.049430999999999996 for 49.431 ms.
func (e exposition) shortFloats(t *testing.T) {
	t.Helper()
	for series, s := range e.samples {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Errorf("%s: value %q: %v", series, s, err)
			continue
		}
		if short := strconv.FormatFloat(v, 'g', -1, 64); short != s {
			t.Errorf("%s %s: not the shortest representation %s", series, s, short)
		}
		name, _, _ := strings.Cut(series, "{")
		if strings.HasSuffix(name, "_seconds") && !strings.Contains(name, "timestamp") {
			if us := strconv.FormatFloat(math.Round(v*1e6)/1e6, 'g', -1, 64); us != s {
				t.Errorf("%s %s: not a whole number of µs (%s)", series, s, us)
			}
		}
	}
}

// probeBlackbox GETs /probe, with X-Prometheus-Scrape-Timeout-Seconds
// when scrape is set, and parses the answer.
func probeBlackbox(t *testing.T, base, target, module, scrape string) exposition {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/probe?module="+module+"&target="+url.QueryEscape(target), nil)
	if err != nil {
		t.Fatal(err)
	}
	if scrape != "" {
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", scrape)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/probe %s: %d %s", target, resp.StatusCode, b)
	}
	e := parseExposition(t, string(b))
	e.shortFloats(t)
	return e
}

// fnv32a is blackbox's probe_ip_addr_hash of an IPv4 address.
func fnv32a(ip net.IP) float64 {
	h := fnv.New32a()
	h.Write(ip.To4())
	return float64(h.Sum32())
}

// leafInfo is blackbox's probe_ssl_last_chain_info of the server at addr
// as name (without the serial number, which pathlens does not keep), and
// the cipher suite a Go client negotiates there: worked out from
// crypto/tls's own ConnectionState, the way blackbox does.
func leafInfo(t *testing.T, caFile, addr, name string) (labels, cipher string) {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{ServerName: name, RootCAs: pool}}
	c, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatalf("TLS to %s: %v", addr, err)
	}
	defer c.Close()
	st := c.(*tls.Conn).ConnectionState()
	leaf := st.PeerCertificates[0]
	sum := sha256.Sum256(leaf.Raw)
	// blackbox labels the serial as fmt's %x of its bytes.
	return fmt.Sprintf(`fingerprint_sha256=%q,issuer=%q,serialnumber="%x",subject=%q,subjectalternative=%q`,
		hex.EncodeToString(sum[:]), leaf.Issuer.String(), leaf.SerialNumber.Bytes(), leaf.Subject.String(), strings.Join(leaf.DNSNames, ",")), tls.CipherSuiteName(st.CipherSuite)
}

// TestProbeBlackboxSeries: /probe on the lab exports blackbox_exporter's
// probe_ssl_last_chain_info, probe_tls_cipher_info, probe_ip_addr_hash,
// probe_failed_due_to_regex and probe_timeout_seconds with blackbox's
// labels, values and types, and prints every value as Prometheus would.
func TestProbeBlackboxSeries(t *testing.T) {
	l, err := lab.Start(context.Background(), lab.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := l.Manifest()
	target := func(name string) string {
		for _, s := range m.Scenarios {
			if s.Name == name {
				return s.Target
			}
		}
		t.Fatalf("no scenario %s", name)
		return ""
	}
	base := startServe(t, fmt.Sprintf(`modules:
  lab: {kind: http, timeout: 4s, tls: {ca_file: %[1]s}, dns: {server: %[2]q}}
  lab-tls: {kind: tls, tls: {ca_file: %[1]s}, dns: {server: %[2]q}}
  lab-tcp: {kind: tcp}
probe_endpoint:
  allow: ["https://*.lab.test:*", "http://127.0.0.1:*", "tls://*.lab.test:*", "tcp://127.0.0.1:*"]
  modules: [lab, lab-tls, lab-tcp]
`, m.CAFile, m.DNSServer))
	loopback := fnv32a(net.IPv4(127, 0, 0, 1))

	t.Run("https", func(t *testing.T) {
		tg := target("ok-h2")
		u, _ := url.Parse(tg)
		wantLeaf, wantCipher := leafInfo(t, m.CAFile, "127.0.0.1:"+u.Port(), u.Hostname())
		e := probeBlackbox(t, base, tg, "lab", "")
		e.want(t, "probe_success", 1)
		e.want(t, "probe_ssl_last_chain_info{"+wantLeaf+"}", 1)
		if !strings.Contains(wantLeaf, `subject="CN=ok-h2.lab.test,O=pathlens lab"`) || !strings.Contains(wantLeaf, `subjectalternative="ok-h2.lab.test"`) {
			t.Errorf("the lab leaf is not what this test expects: %s", wantLeaf)
		}
		e.want(t, `probe_tls_cipher_info{cipher="`+wantCipher+`"}`, 1)
		e.want(t, `probe_tls_version_info{version="TLS 1.3"}`, 1)
		e.want(t, "probe_ip_addr_hash", loopback)
		if s := e.samples["probe_ip_addr_hash"]; s != "3.668918509e+09" {
			t.Errorf("probe_ip_addr_hash printed %q, want 3.668918509e+09 (fnv32a of 127.0.0.1 as Prometheus prints it)", s)
		}
		e.want(t, "probe_ip_protocol", 4)
		e.want(t, "probe_failed_due_to_regex", 0)
		// The module's 4 s exactly (not the few µs less the handler took).
		if v := e.value(t, "probe_timeout_seconds"); v != 4 {
			t.Errorf("probe_timeout_seconds = %v, want the module's 4 s", v)
		}
		e.gauge(t, "probe_timeout_seconds")
		if v := e.value(t, "probe_duration_seconds"); !(v > 0 && v < 4) {
			t.Errorf("probe_duration_seconds = %v", v)
		}
		e.absent(t, "probe_dns_answer_rrs", "probe_dns_duration_seconds")
	})

	t.Run("scrape timeout", func(t *testing.T) {
		// Prometheus waits 2 s: the budget is 2 s less the 0.5 s offset.
		e := probeBlackbox(t, base, target("ok-http"), "", "2")
		if v := e.value(t, "probe_timeout_seconds"); v != 1.5 {
			t.Errorf("probe_timeout_seconds = %v, want 1.5 (2 s scrape timeout less 0.5 s)", v)
		}
		e.want(t, "probe_success", 1)
		e.want(t, "probe_failed_due_to_regex", 0)
		e.want(t, "probe_ip_addr_hash", loopback)
		e.want(t, "probe_http_ssl", 0)
		e.absent(t, "probe_ssl_last_chain_info", "probe_tls_cipher_info", "probe_tls_version_info")
	})

	t.Run("tls", func(t *testing.T) {
		tg := target("ok-tls")
		u, _ := url.Parse(tg)
		wantLeaf, wantCipher := leafInfo(t, m.CAFile, "127.0.0.1:"+u.Port(), u.Hostname())
		e := probeBlackbox(t, base, tg, "lab-tls", "")
		e.want(t, "probe_success", 1)
		e.want(t, "probe_ssl_last_chain_info{"+wantLeaf+"}", 1)
		e.want(t, `probe_tls_cipher_info{cipher="`+wantCipher+`"}`, 1)
		e.want(t, "probe_failed_due_to_regex", 0)
		e.want(t, "probe_ip_addr_hash", loopback)
	})

	t.Run("tcp refused", func(t *testing.T) {
		// Nothing listens: the hash is of the address that was tried.
		e := probeBlackbox(t, base, target("tcp-refused"), "lab-tcp", "")
		e.want(t, "probe_success", 0)
		e.want(t, "probe_failed_due_to_regex", 0)
		e.want(t, "probe_ip_addr_hash", loopback)
		e.want(t, "probe_ip_protocol", 4)
		e.absent(t, "probe_ssl_last_chain_info", "probe_tls_cipher_info")
	})
}

// TestProbeBlackboxDNS: a dns:// target through /probe exports
// blackbox's dns prober series with the lab DNS server's answers.
func TestProbeBlackboxDNS(t *testing.T) {
	l, err := lab.Start(context.Background(), lab.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	srv := l.Manifest().DNSServer
	base := startServe(t, "modules:\n  lab-dns: {kind: dns, timeout: 3s}\nprobe_endpoint:\n  allow: [\"dns://*\"]\n  modules: [lab-dns]\n")
	loopback := fnv32a(net.IPv4(127, 0, 0, 1)) // the server's address

	for _, c := range []struct {
		name, path                         string
		success, answer, authority, serial float64 // serial < 0: absent
	}{
		// The A record; the OPT pseudo-record the server adds is not an additional record.
		{"A", "ok-dns.lab.test?type=A", 1, 1, 0, -1},
		// NODATA: the zone's SOA in the authority section.
		{"AAAA no data", "ok-dns.lab.test?type=AAAA", 1, 0, 1, -1},
		{"SOA", "lab.test?type=SOA", 1, 1, 0, 1},
		// NXDOMAIN fails the probe, but the query got its answer.
		{"NXDOMAIN", "missing.lab.test", 0, 0, 1, -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := probeBlackbox(t, base, "dns://"+srv+"/"+c.path, "lab-dns", "")
			e.want(t, "probe_success", c.success)
			e.want(t, "probe_dns_query_succeeded", 1)
			e.want(t, "probe_dns_answer_rrs", c.answer)
			e.want(t, "probe_dns_authority_rrs", c.authority)
			e.want(t, "probe_dns_additional_rrs", 0)
			e.want(t, `probe_dns_duration_seconds{phase="resolve"}`, 0)
			e.want(t, `probe_dns_duration_seconds{phase="connect"}`, 0)
			if v := e.value(t, `probe_dns_duration_seconds{phase="request"}`); !(v > 0 && v <= e.value(t, "probe_duration_seconds")) {
				t.Errorf("request phase %v s, want > 0 and within probe_duration_seconds", v)
			}
			e.want(t, "probe_dns_lookup_time_seconds", 0)
			e.want(t, "probe_ip_addr_hash", loopback)
			e.want(t, "probe_ip_protocol", 4)
			if v := e.value(t, "probe_timeout_seconds"); !(v > 2.9 && v <= 3) {
				t.Errorf("probe_timeout_seconds = %v, want the module's 3 s", v)
			}
			if c.serial >= 0 {
				e.want(t, "probe_dns_serial", c.serial)
			} else {
				e.absent(t, "probe_dns_serial")
			}
			e.absent(t, "probe_failed_due_to_regex", "probe_http_duration_seconds", "probe_ssl_last_chain_info")
		})
	}

	// A server that never answers: no response, every count 0.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	req, _ := http.NewRequest(http.MethodGet, base+"/probe?module=lab-dns&target="+url.QueryEscape("dns://"+pc.LocalAddr().String()+"/lab.test?type=SOA"), nil)
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	e := parseExposition(t, string(b))
	e.shortFloats(t)
	e.want(t, "probe_success", 0)
	e.want(t, "probe_dns_query_succeeded", 0)
	e.want(t, "probe_dns_answer_rrs", 0)
	e.want(t, "probe_dns_authority_rrs", 0)
	e.want(t, "probe_dns_additional_rrs", 0)
	e.want(t, `probe_dns_duration_seconds{phase="request"}`, 0) // never finished
	e.want(t, "probe_dns_serial", 0)
	if v := e.value(t, "probe_timeout_seconds"); !(v > 0.4 && v <= 0.5) {
		t.Errorf("probe_timeout_seconds = %v, want 0.5 (1 s scrape timeout less 0.5 s)", v)
	}
}
