package lab

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// startLab starts a lab for t. Cleanups run Close and then check that no
// goroutine outlived it.
func startLab(t *testing.T, opts Options) *Lab {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

// target returns the parsed target URL of a scenario.
func target(t *testing.T, l *Lab, name string) *url.URL {
	t.Helper()
	s, ok := l.Scenario(name)
	if !ok {
		t.Fatalf("scenario %s not running", name)
	}
	u, err := url.Parse(s.Target)
	if err != nil {
		t.Fatalf("%s: target %q: %v", name, s.Target, err)
	}
	return u
}

// dialLab dials like a client that resolves *.lab.test to 127.0.0.1.
func dialLab(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(host, ".lab.test") {
		host = "127.0.0.1"
	}
	var d net.Dialer
	return d.DialContext(ctx, network, net.JoinHostPort(host, port))
}

// client returns an HTTP client trusting the lab root and dialing via dialLab.
func client(t *testing.T, l *Lab, mod func(*http.Transport)) *http.Client {
	t.Helper()
	tr := &http.Transport{
		DialContext:       dialLab,
		TLSClientConfig:   &tls.Config{RootCAs: l.CAPool()},
		ForceAttemptHTTP2: true,
	}
	if mod != nil {
		mod(tr)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

func get(t *testing.T, c *http.Client, rawURL string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get(rawURL)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", rawURL, err)
	}
	return resp, body
}

// handshake runs a TLS handshake against a scenario as a Go client would,
// with ServerName taken from the target.
func handshake(t *testing.T, l *Lab, name string, mod func(*tls.Config)) (tls.ConnectionState, time.Duration, error) {
	t.Helper()
	u := target(t, l, name)
	cfg := &tls.Config{RootCAs: l.CAPool(), ServerName: u.Hostname(), NextProtos: []string{"h2", "http/1.1"}}
	if mod != nil {
		mod(cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	raw, err := dialLab(ctx, "tcp", u.Host)
	if err != nil {
		t.Fatalf("%s: dial: %v", name, err)
	}
	defer raw.Close()
	tc := tls.Client(raw, cfg)
	start := time.Now()
	err = tc.HandshakeContext(ctx)
	return tc.ConnectionState(), time.Since(start), err
}

// insecure skips verification so the chain as sent can be inspected.
func insecure(c *tls.Config) { c.InsecureSkipVerify = true }

// wantExpect is the contract table: finding IDs and args per scenario.
var wantExpect = map[string]struct {
	args, expect []string
}{
	"ok-http":                    {nil, nil},
	"ok-https":                   {nil, []string{"HTTP_NO_H2"}},
	"ok-h2":                      {nil, nil},
	"ok-h2c":                     {[]string{"--h2c"}, nil},
	"ok-tcp":                     {nil, nil},
	"ok-tls":                     {nil, nil},
	"ok-dns":                     {nil, nil},
	"dns-slow":                   {nil, []string{"DNS_SLOW"}},
	"dns-nxdomain":               {nil, []string{"DNS_FAILED"}},
	"tcp-refused":                {nil, []string{"TCP_REFUSED"}},
	"tls-slow":                   {nil, []string{"TLS_HANDSHAKE_SLOW"}},
	"tls-incomplete-chain":       {nil, []string{"TLS_CHAIN_INCOMPLETE"}},
	"tls-wrong-order":            {nil, []string{"TLS_CHAIN_ORDER"}},
	"tls-untrusted-root":         {nil, []string{"TLS_UNTRUSTED_ROOT"}},
	"tls-expired":                {nil, []string{"TLS_CERT_EXPIRED"}},
	"tls-expiring":               {nil, []string{"TLS_CERT_EXPIRING"}},
	"tls-wrong-host":             {nil, []string{"TLS_HOSTNAME_MISMATCH"}},
	"tls-no-resumption":          {nil, []string{"TLS_NO_RESUMPTION"}},
	"tls-old-version":            {nil, []string{"TLS_OLD_VERSION", "HTTP_NO_H2"}},
	"tls-chain-huge":             {nil, []string{"TLS_HANDSHAKE_FAILED", "TLS_VERIFY_SLOW"}},
	"tls13-client-cert-required": {nil, []string{"TLS_HANDSHAKE_FAILED"}},
	"tls12-client-cert-required": {nil, []string{"TLS_HANDSHAKE_FAILED"}},
	"http-slow":                  {nil, []string{"HTTP_SERVER_SLOW"}},
	"http-truncated":             {nil, []string{"HTTP_BODY_TRUNCATED"}},
	"http-no-keepalive":          {nil, []string{"HTTP_NO_KEEPALIVE"}},
	"http-500":                   {nil, []string{"HTTP_STATUS"}},
	"http-redirects":             {nil, nil},
	"tls-stall":                  {[]string{"--timeout", "2s"}, []string{"PROBE_TIMEOUT"}},
	"hostile-endless-headers":    {[]string{"--timeout", "3s"}, []string{"HTTP_PROTOCOL_ERROR"}},
	"hostile-endless-body":       {[]string{"--timeout", "5s"}, []string{"HTTP_BODY_TOO_LARGE", "HTTP_NO_KEEPALIVE"}},
	"hostile-trickle":            {[]string{"--timeout", "2s"}, []string{"PROBE_TIMEOUT"}},
	"hostile-gzip-bomb":          {nil, []string{"HTTP_BODY_TOO_LARGE"}},
	"hostile-tls-noise":          {nil, []string{"TLS_HANDSHAKE_FAILED"}},
	"hostile-giant-status":       {[]string{"--timeout", "3s"}, []string{"HTTP_PROTOCOL_ERROR"}},

	// HTTP/2 frames; $DIR stands for the lab directory.
	"h2-upload-stall":          {[]string{"--data", "@$DIR/" + H2UploadFile, "--timeout", "5s"}, []string{"H2_FLOW_CONTROL_STALL", "H2_SMALL_WINDOW"}},
	"h2-rst":                   {nil, []string{"H2_RST_STREAM"}},
	"h2-goaway":                {nil, []string{"H2_GOAWAY"}},
	"h2-goaway-after-response": {nil, []string{"HTTP_NO_KEEPALIVE"}},

	// gRPC.
	"grpc-health-ok":          {nil, nil},
	"grpc-health-not-serving": {nil, []string{"GRPC_STATUS"}},
	"grpc-stream-ok":          {[]string{"--grpc-method", "/pathlens.lab.Stream/Messages", "--expect-messages", "100"}, []string{"H2_SMALL_WINDOW"}},
	"grpc-stream-truncated":   {[]string{"--grpc-method", "/pathlens.lab.Stream/Messages", "--expect-messages", "100"}, []string{"GRPC_STREAM_TRUNCATED"}},
	"grpc-stream-no-trailers": {[]string{"--grpc-method", "/pathlens.lab.Stream/Messages"}, []string{"GRPC_STREAM_TRUNCATED"}},
	"grpc-slow-stream":        {[]string{"--grpc-method", "/pathlens.lab.Stream/Messages", "--expect-messages", "10", "--timeout", "5s"}, nil},

	// WebSocket; $DIR stands for the lab directory.
	"ws-echo":        {[]string{"--send", "hello", "--ping-interval", "200ms", "--hold", "1s"}, nil},
	"ws-jwt":         {[]string{"--jwt-secret", "$DIR/" + WSJWTSecretFile, "--jwt-ttl", "3s", "--hold", "6s"}, []string{"WS_TOKEN_EXPIRED"}},
	"ws-reject":      {nil, []string{"WS_AUTH_REJECTED"}},
	"ws-drop":        {[]string{"--hold", "5s"}, []string{"WS_ABNORMAL_CLOSE"}},
	"ws-no-pong":     {[]string{"--ping-interval", "500ms", "--hold", "2s"}, []string{"WS_PING_TIMEOUT"}},
	"ws-idle":        {[]string{"--hold", "5s"}, []string{"WS_IDLE_CLOSED"}},
	"ws-big-message": {[]string{"--hold", "1s"}, []string{"WS_MESSAGE_TOO_LARGE"}},
}

func TestManifest(t *testing.T) {
	l := startLab(t, Options{})
	m := l.Manifest()

	var names []string
	for _, s := range m.Scenarios {
		names = append(names, s.Name)
	}
	if !slices.Equal(names, Names()) {
		t.Fatalf("manifest scenarios = %v, want %v", names, Names())
	}
	if len(names) != len(wantExpect) {
		t.Fatalf("%d scenarios, contract table has %d", len(names), len(wantExpect))
	}
	if m.Zone != "lab.test." {
		t.Errorf("Zone = %q", m.Zone)
	}
	if host, _, err := net.SplitHostPort(m.DNSServer); err != nil || host != "127.0.0.1" || m.DNSServer != l.DNSServer() {
		t.Errorf("DNSServer = %q (lab says %q)", m.DNSServer, l.DNSServer())
	}

	// ca.pem: 0644, exactly the lab root.
	fi, err := os.Stat(m.CAFile)
	if err != nil {
		t.Fatalf("CA file: %v", err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("CA file mode = %v, want 0644", fi.Mode().Perm())
	}
	if filepath.Dir(m.CAFile) != l.Dir() {
		t.Errorf("CA file %s not in Dir %s", m.CAFile, l.Dir())
	}
	data, _ := os.ReadFile(m.CAFile)
	var certs []*x509.Certificate
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	if len(certs) != 1 || !certs[0].Equal(l.Root()) {
		t.Fatalf("ca.pem holds %d certs, want only the lab root", len(certs))
	}
	if root := l.Root(); root.Subject.CommonName != "pathlens lab root" || !root.IsCA ||
		root.CheckSignatureFrom(root) != nil || root.NotAfter.Before(time.Now().AddDate(9, 11, 0)) {
		t.Errorf("root: %v self-signed=%v notAfter=%v", root.Subject, root.CheckSignatureFrom(root) == nil, root.NotAfter)
	}
	if in := l.Intermediate(); in.Subject.CommonName != "pathlens lab intermediate" || in.CheckSignatureFrom(l.Root()) != nil {
		t.Errorf("intermediate %v not signed by the root", in.Subject)
	}

	ports := map[string]string{}
	for _, s := range m.Scenarios {
		if s.Args == nil || s.Expect == nil {
			t.Errorf("%s: nil args or expect", s.Name)
		}
		want := wantExpect[s.Name]
		want.args = slices.Clone(want.args)
		for i, a := range want.args {
			want.args[i] = strings.ReplaceAll(a, "$DIR", l.Dir())
		}
		if !slices.Equal(s.Args, want.args) && !(len(s.Args) == 0 && len(want.args) == 0) {
			t.Errorf("%s: args = %q, want %q", s.Name, s.Args, want.args)
		}
		if !slices.Equal(s.Expect, want.expect) && !(len(s.Expect) == 0 && len(want.expect) == 0) {
			t.Errorf("%s: expect = %q, want %q", s.Name, s.Expect, want.expect)
		}
		if s.Hostile != strings.HasPrefix(s.Name, "hostile-") {
			t.Errorf("%s: hostile = %v", s.Name, s.Hostile)
		}
		if s.Description == "" {
			t.Errorf("%s: no description", s.Name)
		}
		u, err := url.Parse(s.Target)
		if err != nil || u.Port() == "" {
			t.Errorf("%s: bad target %q", s.Name, s.Target)
			continue
		}
		if s.Name == "ok-dns" {
			if s.Target != "dns://"+l.DNSServer()+"/ok-dns.lab.test?type=A" {
				t.Errorf("ok-dns target = %q", s.Target)
			}
			continue
		}
		if other, dup := ports[u.Port()]; dup {
			t.Errorf("%s and %s share port %s", s.Name, other, u.Port())
		}
		ports[u.Port()] = s.Name
	}
	for name, host := range map[string]string{
		"ok-https": "ok-https.lab.test", "tls-expired": "tls-expired.lab.test",
		"dns-slow": "slow.lab.test", "dns-nxdomain": "missing.lab.test",
		"ok-http": "127.0.0.1", "tls-stall": "127.0.0.1", "hostile-tls-noise": "127.0.0.1",
	} {
		if h := target(t, l, name).Hostname(); h != host {
			t.Errorf("%s: target host %q, want %q", name, h, host)
		}
	}

	// JSON round trip; empty lists stay [] rather than null.
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back Manifest
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, m) {
		t.Errorf("manifest JSON round trip differs:\n%s", raw)
	}
	if bytes.Contains(raw, []byte("null")) {
		t.Errorf("manifest JSON contains null: %s", raw)
	}
	for _, key := range []string{`"ca_file"`, `"dns_server"`, `"zone":"lab.test."`, `"args":[]`, `"expect":[]`, `"hostile":true`} {
		if !bytes.Contains(raw, []byte(key)) {
			t.Errorf("manifest JSON lacks %s", key)
		}
	}

	// Accessors return copies.
	s, ok := l.Scenario("tls-stall")
	if !ok {
		t.Fatal("Scenario(tls-stall) missing")
	}
	s.Args[0] = "mutated"
	if s2, _ := l.Scenario("tls-stall"); s2.Args[0] != "--timeout" {
		t.Error("Scenario returned shared slices")
	}
	if _, ok := l.Scenario("no-such"); ok {
		t.Error("Scenario(no-such) found")
	}
}

func exchange(t *testing.T, l *Lab, net, name string, qtype uint16) (*dns.Msg, time.Duration) {
	t.Helper()
	c := &dns.Client{Net: net, Timeout: 2 * time.Second}
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	r, rtt, err := c.Exchange(q, l.DNSServer())
	if err != nil {
		t.Fatalf("%s %s %s: %v", net, name, dns.TypeToString[qtype], err)
	}
	return r, rtt
}

func TestDNS(t *testing.T) {
	l := startLab(t, Options{Only: []string{"ok-dns"}})

	isLocalA := func(r *dns.Msg) bool {
		if len(r.Answer) != 1 {
			return false
		}
		a, ok := r.Answer[0].(*dns.A)
		return ok && a.A.Equal(net.IPv4(127, 0, 0, 1))
	}
	for _, proto := range []string{"udp", "tcp"} {
		r, _ := exchange(t, l, proto, "ok-dns.lab.test.", dns.TypeA)
		if r.Rcode != dns.RcodeSuccess || !r.Authoritative || !isLocalA(r) {
			t.Errorf("%s ok-dns A: %v", proto, r)
		}
	}
	// Every scenario name resolves, whether or not it runs.
	for _, n := range Names() {
		if r, _ := exchange(t, l, "udp", n+".lab.test.", dns.TypeA); !isLocalA(r) {
			t.Errorf("%s A: %v", n, r)
		}
	}
	if r, _ := exchange(t, l, "udp", "ok-dns.lab.test.", dns.TypeAAAA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		t.Errorf("ok-dns AAAA: %v", r)
	}
	for _, n := range []string{"missing.lab.test.", "nothing-here.lab.test.", "other.lab.test."} {
		if r, _ := exchange(t, l, "udp", n, dns.TypeA); r.Rcode != dns.RcodeNameError {
			t.Errorf("%s: rcode %s, want NXDOMAIN", n, dns.RcodeToString[r.Rcode])
		}
	}
	if r, _ := exchange(t, l, "udp", "example.com.", dns.TypeA); r.Rcode != dns.RcodeRefused {
		t.Errorf("example.com: rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}

	// slow.lab.test: A and AAAA asked at once both arrive ~300 ms later.
	start := time.Now()
	var wg sync.WaitGroup
	rtts := make([]time.Duration, 2)
	msgs := make([]*dns.Msg, 2)
	for i, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		wg.Go(func() {
			c := &dns.Client{Timeout: 2 * time.Second}
			q := new(dns.Msg)
			q.SetQuestion("slow.lab.test.", qt)
			r, _, err := c.Exchange(q, l.DNSServer())
			if err != nil {
				t.Errorf("slow %d: %v", qt, err)
				return
			}
			msgs[i], rtts[i] = r, time.Since(start)
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if !isLocalA(msgs[0]) || msgs[1].Rcode != dns.RcodeSuccess || len(msgs[1].Answer) != 0 {
		t.Errorf("slow answers: %v / %v", msgs[0], msgs[1])
	}
	for i, rtt := range rtts {
		if rtt < dnsSlowDelay {
			t.Errorf("slow query %d answered after %v, want ≥ %v", i, rtt, dnsSlowDelay)
		}
	}
	if total := time.Since(start); total > 2*dnsSlowDelay {
		t.Errorf("concurrent slow queries took %v; not answered in parallel", total)
	}

	// Go's own resolver (A + AAAA) works against the lab server.
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, l.DNSServer())
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	addrs, err := r.LookupHost(ctx, "ok-https.lab.test")
	if err != nil || !slices.Equal(addrs, []string{"127.0.0.1"}) {
		t.Errorf("LookupHost ok-https.lab.test = %v, %v", addrs, err)
	}
	if _, err := r.LookupHost(ctx, "missing.lab.test"); err == nil {
		t.Error("LookupHost missing.lab.test succeeded")
	} else if de := new(net.DNSError); !errors.As(err, &de) || !de.IsNotFound {
		t.Errorf("LookupHost missing.lab.test: %v, want not found", err)
	}
}

func TestHTTPScenarios(t *testing.T) {
	l := startLab(t, Options{Only: []string{
		"ok-http", "ok-h2c", "dns-slow", "dns-nxdomain", "http-slow", "http-truncated",
		"http-no-keepalive", "http-500", "http-redirects",
	}})
	c := client(t, l, nil)

	resp, body := get(t, c, target(t, l, "ok-http").String())
	if resp.StatusCode != 200 || string(body) != "ok\n" || resp.Proto != "HTTP/1.1" || resp.Close {
		t.Errorf("ok-http: %s %s close=%v %q", resp.Proto, resp.Status, resp.Close, body)
	}

	for _, name := range []string{"dns-slow", "dns-nxdomain"} {
		if resp, _ := get(t, c, target(t, l, name).String()); resp.StatusCode != 200 {
			t.Errorf("%s server: %s", name, resp.Status)
		}
	}

	h2c := client(t, l, func(tr *http.Transport) {
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	})
	if resp, body := get(t, h2c, target(t, l, "ok-h2c").String()); resp.ProtoMajor != 2 || string(body) != "ok\n" {
		t.Errorf("ok-h2c: %s %q", resp.Proto, body)
	}
	if resp, _ := get(t, c, target(t, l, "ok-h2c").String()); resp.ProtoMajor != 1 {
		t.Errorf("ok-h2c over HTTP/1.1: %s", resp.Proto)
	}

	start := time.Now()
	resp, err := c.Get(target(t, l, "http-slow").String())
	if err != nil {
		t.Fatal(err)
	}
	ttfb := time.Since(start)
	resp.Body.Close()
	if ttfb < httpSlowDelay {
		t.Errorf("http-slow: headers after %v, want ≥ %v", ttfb, httpSlowDelay)
	}

	resp, err = c.Get(target(t, l, "http-truncated").String())
	if err != nil {
		t.Fatal(err)
	}
	body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(body) != 100 || resp.ContentLength != 1000 {
		t.Errorf("http-truncated: read %d of %d bytes, err %v; want 100 and io.ErrUnexpectedEOF", len(body), resp.ContentLength, err)
	}

	if resp, _ := get(t, c, target(t, l, "http-no-keepalive").String()); !resp.Close || resp.StatusCode != 200 {
		t.Errorf("http-no-keepalive: status %d, Close=%v, want Connection: close", resp.StatusCode, resp.Close)
	}
	if resp, _ := get(t, c, target(t, l, "http-500").String()); resp.StatusCode != 500 {
		t.Errorf("http-500: %s", resp.Status)
	}

	var hops []string
	rc := *c
	rc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		hops = append(hops, req.URL.Path)
		return nil
	}
	resp, _ = get(t, &rc, target(t, l, "http-redirects").String())
	if resp.StatusCode != 200 || !slices.Equal(hops, []string{"/hop1", "/hop2", "/final"}) {
		t.Errorf("http-redirects: %s after hops %v", resp.Status, hops)
	}
}

func TestTLSScenarios(t *testing.T) {
	l := startLab(t, Options{Only: []string{
		"ok-https", "ok-h2", "ok-tls", "tls-slow", "tls-incomplete-chain", "tls-wrong-order",
		"tls-untrusted-root", "tls-expired", "tls-expiring", "tls-wrong-host",
		"tls-no-resumption", "tls-old-version",
	}})
	root, inter := l.Root(), l.Intermediate()
	c := client(t, l, nil)

	t.Run("ok-https", func(t *testing.T) {
		st, _, err := handshake(t, l, "ok-https", nil)
		if err != nil {
			t.Fatal(err)
		}
		if st.NegotiatedProtocol != "http/1.1" {
			t.Errorf("ALPN %q, want http/1.1 only", st.NegotiatedProtocol)
		}
		pc := st.PeerCertificates
		if len(pc) != 2 || !pc[1].Equal(inter) {
			t.Fatalf("sent %d certs, want leaf + intermediate", len(pc))
		}
		if !slices.Equal(pc[0].DNSNames, []string{"ok-https.lab.test"}) || len(pc[0].IPAddresses) != 1 ||
			!pc[0].IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
			t.Errorf("leaf SANs %v %v", pc[0].DNSNames, pc[0].IPAddresses)
		}
		if d := time.Until(pc[0].NotAfter); d < 89*day || d > 91*day {
			t.Errorf("leaf valid for %v more, want ~90 days", d)
		}
		if vc := st.VerifiedChains; len(vc) == 0 || !vc[0][len(vc[0])-1].Equal(root) {
			t.Error("not verified up to the lab root")
		}
		if resp, _ := get(t, c, target(t, l, "ok-https").String()); resp.ProtoMajor != 1 || resp.StatusCode != 200 {
			t.Errorf("GET: %s %s", resp.Proto, resp.Status)
		}
	})

	t.Run("ok-h2", func(t *testing.T) {
		st, _, err := handshake(t, l, "ok-h2", nil)
		if err != nil || st.NegotiatedProtocol != "h2" {
			t.Fatalf("ALPN %q, err %v; want h2", st.NegotiatedProtocol, err)
		}
		if resp, body := get(t, c, target(t, l, "ok-h2").String()); resp.ProtoMajor != 2 || string(body) != "ok\n" {
			t.Errorf("GET: %s %q", resp.Proto, body)
		}
	})

	t.Run("ok-tls", func(t *testing.T) {
		st, _, err := handshake(t, l, "ok-tls", nil)
		if err != nil || len(st.VerifiedChains) == 0 {
			t.Fatalf("handshake: %v", err)
		}
	})

	t.Run("tls-slow", func(t *testing.T) {
		st, took, err := handshake(t, l, "tls-slow", nil)
		if err != nil || st.NegotiatedProtocol != "h2" {
			t.Fatalf("handshake: ALPN %q err %v", st.NegotiatedProtocol, err)
		}
		if took < tlsSlowDelay {
			t.Errorf("handshake took %v, want ≥ %v", took, tlsSlowDelay)
		}
	})

	t.Run("tls-incomplete-chain", func(t *testing.T) {
		st, _, err := handshake(t, l, "tls-incomplete-chain", insecure)
		if err != nil {
			t.Fatal(err)
		}
		if pc := st.PeerCertificates; len(pc) != 1 || pc[0].CheckSignatureFrom(inter) != nil {
			t.Fatalf("sent %d certs, want only the leaf signed by the intermediate", len(pc))
		}
		_, _, err = handshake(t, l, "tls-incomplete-chain", nil)
		if ua := (x509.UnknownAuthorityError{}); !errors.As(err, &ua) {
			t.Errorf("verify: %v, want unknown authority", err)
		}
	})

	t.Run("tls-wrong-order", func(t *testing.T) {
		st, _, err := handshake(t, l, "tls-wrong-order", insecure)
		if err != nil {
			t.Fatal(err)
		}
		pc := st.PeerCertificates
		if len(pc) != 3 || !pc[1].Equal(root) || !pc[2].Equal(inter) {
			t.Fatalf("sent %d certs, want leaf, root, intermediate", len(pc))
		}
		if _, _, err := handshake(t, l, "tls-wrong-order", nil); err != nil {
			t.Errorf("Go rejects the misordered chain: %v", err)
		}
	})

	t.Run("tls-untrusted-root", func(t *testing.T) {
		st, _, err := handshake(t, l, "tls-untrusted-root", insecure)
		if err != nil {
			t.Fatal(err)
		}
		pc := st.PeerCertificates
		if len(pc) != 3 || pc[1].Subject.CommonName != "pathlens untrusted intermediate" ||
			pc[2].Subject.CommonName != "pathlens untrusted root" || pc[2].CheckSignatureFrom(pc[2]) != nil ||
			pc[0].CheckSignatureFrom(pc[1]) != nil || pc[1].CheckSignatureFrom(pc[2]) != nil {
			t.Fatalf("chain is not leaf → untrusted intermediate → untrusted root (%d certs)", len(pc))
		}
		_, _, err = handshake(t, l, "tls-untrusted-root", nil)
		if ua := (x509.UnknownAuthorityError{}); !errors.As(err, &ua) {
			t.Errorf("verify: %v, want unknown authority", err)
		}
	})

	t.Run("tls-expired", func(t *testing.T) {
		st, _, err := handshake(t, l, "tls-expired", insecure)
		if err != nil {
			t.Fatal(err)
		}
		if leaf := st.PeerCertificates[0]; !leaf.NotAfter.Before(time.Now()) || len(st.PeerCertificates) != 2 {
			t.Errorf("leaf NotAfter %v is not in the past", leaf.NotAfter)
		}
		_, _, err = handshake(t, l, "tls-expired", nil)
		if ci := (x509.CertificateInvalidError{}); !errors.As(err, &ci) || ci.Reason != x509.Expired {
			t.Errorf("verify: %v, want expired", err)
		}
	})

	t.Run("tls-expiring", func(t *testing.T) {
		st, _, err := handshake(t, l, "tls-expiring", nil)
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Until(st.PeerCertificates[0].NotAfter); d < 4*day || d > 6*day {
			t.Errorf("leaf expires in %v, want ~5 days", d)
		}
	})

	t.Run("tls-wrong-host", func(t *testing.T) {
		st, _, err := handshake(t, l, "tls-wrong-host", insecure)
		if err != nil {
			t.Fatal(err)
		}
		if leaf := st.PeerCertificates[0]; !slices.Equal(leaf.DNSNames, []string{"other.lab.test"}) || len(leaf.IPAddresses) != 0 {
			t.Errorf("leaf SANs %v %v, want only other.lab.test", leaf.DNSNames, leaf.IPAddresses)
		}
		for _, sni := range []string{"", "127.0.0.1"} {
			_, _, err = handshake(t, l, "tls-wrong-host", func(c *tls.Config) {
				if sni != "" {
					c.ServerName = sni
				}
			})
			if he := (x509.HostnameError{}); !errors.As(err, &he) {
				t.Errorf("verify as %q: %v, want hostname error", sni, err)
			}
		}
	})

	t.Run("resumption", func(t *testing.T) {
		// Every scenario whose expectations lack TLS_NO_RESUMPTION must resume.
		for _, name := range []string{"ok-https", "ok-h2", "ok-tls", "tls-slow", "tls-wrong-order", "tls-expiring", "tls-old-version"} {
			if !resumes(t, l, name, func(c *tls.Config) { c.MinVersion = tls.VersionTLS10 }) {
				t.Errorf("%s: session not resumed", name)
			}
		}
		if resumes(t, l, "tls-no-resumption", nil) {
			t.Error("tls-no-resumption: session resumed")
		}
	})

	t.Run("tls-old-version", func(t *testing.T) {
		old := func(c *tls.Config) { c.MinVersion = tls.VersionTLS10 }
		st, _, err := handshake(t, l, "tls-old-version", old)
		if err != nil {
			t.Fatalf("handshake with MinVersion TLS 1.0: %v", err)
		}
		if st.Version != tls.VersionTLS11 || st.NegotiatedProtocol != "http/1.1" {
			t.Errorf("negotiated %s ALPN %q, want TLS 1.1 http/1.1", tls.VersionName(st.Version), st.NegotiatedProtocol)
		}
		if _, _, err := handshake(t, l, "tls-old-version", nil); err == nil {
			t.Error("default Go client (TLS ≥ 1.2) connected")
		}
		c10 := client(t, l, func(tr *http.Transport) { old(tr.TLSClientConfig) })
		if resp, _ := get(t, c10, target(t, l, "tls-old-version").String()); resp.StatusCode != 200 || resp.TLS.Version != tls.VersionTLS11 {
			t.Errorf("GET: %s over %s", resp.Status, tls.VersionName(resp.TLS.Version))
		}
	})
}

// resumes makes two TLS connections sharing a session cache and reports
// whether the second resumed. Each exchanges data (an HTTP/1.1 request, or
// one byte for tls:// targets) so TLS 1.3 session tickets reach the client.
func resumes(t *testing.T, l *Lab, name string, mod func(*tls.Config)) bool {
	t.Helper()
	u := target(t, l, name)
	cfg := &tls.Config{RootCAs: l.CAPool(), ServerName: u.Hostname(), NextProtos: []string{"http/1.1"},
		ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	if mod != nil {
		mod(cfg)
	}
	send, want := "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 200"
	if u.Scheme == "tls" {
		send, want = "x", ""
	}
	var resumed bool
	for range 2 {
		raw, err := dialLab(context.Background(), "tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		_ = raw.SetDeadline(time.Now().Add(3 * time.Second))
		tc := tls.Client(raw, cfg)
		if _, err := io.WriteString(tc, send); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp, err := io.ReadAll(tc)
		if err != nil || !bytes.HasPrefix(resp, []byte(want)) {
			t.Fatalf("%s: %q %v", name, resp, err)
		}
		resumed = tc.ConnectionState().DidResume
		tc.Close()
	}
	return resumed
}

func TestTCPAndStall(t *testing.T) {
	l := startLab(t, Options{Only: []string{"ok-tcp", "tcp-refused", "tls-stall", "hostile-tls-noise"}})

	c, err := net.DialTimeout("tcp", target(t, l, "ok-tcp").Host, time.Second)
	if err != nil {
		t.Fatalf("ok-tcp: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("ok-tcp read: %d %v, want EOF (accept and close)", n, err)
	}
	c.Close()

	if _, err := net.DialTimeout("tcp", target(t, l, "tcp-refused").Host, time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("tcp-refused: %v, want connection refused", err)
	}

	// tls-stall: the ClientHello goes unanswered.
	raw, err := net.Dial("tcp", target(t, l, "tls-stall").Host)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	tc := tls.Client(raw, &tls.Config{RootCAs: l.CAPool(), ServerName: "tls-stall.lab.test"})
	if err := tc.HandshakeContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("tls-stall: handshake %v, want a timeout", err)
	}
	raw2, err := net.Dial("tcp", target(t, l, "tls-stall").Host)
	if err != nil {
		t.Fatal(err)
	}
	defer raw2.Close()
	_, _ = raw2.Write(bytes.Repeat([]byte{0x16, 3, 1, 0, 4, 1, 2, 3, 4}, 100))
	_ = raw2.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := raw2.Read(make([]byte, 1)); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("tls-stall answered: %d bytes, %v", n, err)
	}

	// hostile-tls-noise: a handshake error (not a timeout), and 4 KiB of noise.
	start := time.Now()
	_, _, err = handshake(t, l, "hostile-tls-noise", nil)
	if err == nil || errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("hostile-tls-noise: handshake err %v after %v, want a prompt failure", err, time.Since(start))
	}
	nc, err := net.Dial("tcp", target(t, l, "hostile-tls-noise").Host)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_, _ = nc.Write([]byte{0x16, 3, 1, 0, 4, 1, 2, 3, 4})
	_ = nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	noise, err := io.ReadAll(nc)
	if err != nil || len(noise) != noiseSize {
		t.Errorf("hostile-tls-noise: got %d bytes (%v), want %d then EOF", len(noise), err, noiseSize)
	}
}

func TestHostile(t *testing.T) {
	l := startLab(t, Options{Only: []string{
		"hostile-endless-headers", "hostile-endless-body", "hostile-trickle",
		"hostile-gzip-bomb", "hostile-giant-status",
	}})

	rawGet := func(name string) net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", target(t, l, name).Host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		return c
	}

	t.Run("endless-headers", func(t *testing.T) {
		buf := make([]byte, 256<<10)
		if _, err := io.ReadFull(rawGet("hostile-endless-headers"), buf); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(buf, []byte("HTTP/1.1 200 OK\r\nX-A: aaaa")) || bytes.Contains(buf, []byte("\r\n\r\n")) {
			t.Errorf("not an endless header block: %q…", buf[:64])
		}
		c := client(t, l, func(tr *http.Transport) { tr.MaxResponseHeaderBytes = 64 << 10 })
		if _, err := c.Get(target(t, l, "hostile-endless-headers").String()); err == nil || !strings.Contains(err.Error(), "exceeded") {
			t.Errorf("client: %v, want headers-exceeded error", err)
		}
	})

	t.Run("endless-body", func(t *testing.T) {
		c := client(t, l, nil)
		resp, err := c.Get(target(t, l, "hostile-endless-body").String())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.ContentLength != -1 || resp.StatusCode != 200 {
			t.Errorf("status %d, Content-Length %d; want 200 and no length", resp.StatusCode, resp.ContentLength)
		}
		if n, err := io.CopyN(io.Discard, resp.Body, 8<<20); err != nil || n != 8<<20 {
			t.Errorf("read %d bytes: %v", n, err)
		}
	})

	t.Run("trickle", func(t *testing.T) {
		c := rawGet("hostile-trickle")
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		got, _ := io.ReadAll(c)
		if !bytes.HasPrefix([]byte("HTTP/1.1 200 OK\r\n"), got) || len(got) < 5 || len(got) > 15 {
			t.Errorf("read %q in 500 ms, want ~10 bytes of a status line", got)
		}
	})

	t.Run("giant-status", func(t *testing.T) {
		buf := make([]byte, 1<<20)
		if _, err := io.ReadFull(rawGet("hostile-giant-status"), buf); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(buf, []byte("HTTP/1.1 200 AAAA")) || bytes.ContainsAny(buf, "\r\n") {
			t.Errorf("not a giant status line: %q…", buf[:32])
		}
	})

	t.Run("gzip-bomb", func(t *testing.T) {
		c := client(t, l, func(tr *http.Transport) { tr.DisableCompression = true })
		resp, body := get(t, c, target(t, l, "hostile-gzip-bomb").String())
		if resp.Header.Get("Content-Encoding") != "gzip" || resp.ContentLength != int64(len(body)) {
			t.Fatalf("Content-Encoding %q, Content-Length %d, read %d", resp.Header.Get("Content-Encoding"), resp.ContentLength, len(body))
		}
		if len(body) < 512<<10 || len(body) > 2<<20 {
			t.Errorf("%d bytes on the wire, want ~1 MB", len(body))
		}
		if size := binary.LittleEndian.Uint32(body[len(body)-4:]); size != 1<<30 {
			t.Errorf("gzip ISIZE %d, want 1 GiB", size)
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		head := make([]byte, 4<<20)
		if _, err := io.ReadFull(zr, head); err != nil || bytes.ContainsFunc(head, func(r rune) bool { return r != 0 }) {
			t.Errorf("first 4 MiB do not inflate to zeros: %v", err)
		}
	})
}

func TestCRC32Zeros(t *testing.T) {
	for _, n := range []uint64{0, 1, 2, 3, 7, 8, 255, 1000, 1 << 16, 1<<20 + 13} {
		if got, want := crc32Zeros(n), crc32.ChecksumIEEE(make([]byte, n)); got != want {
			t.Errorf("crc32Zeros(%d) = %#x, want %#x", n, got, want)
		}
	}
	if got := crc32Zeros(1 << 30); got != 1533330096 { // computed once with crc32.Update
		t.Errorf("crc32Zeros(1 GiB) = %d", got)
	}
}

// TestGzipBombStream decodes a small bomb completely, checking that the
// repeated-block construction is a valid gzip stream (CRC and size included).
func TestGzipBombStream(t *testing.T) {
	b := &gzipBomb{chunkSize: 1 << 20, chunks: 4}
	var buf bytes.Buffer
	if err := b.writeTo(&buf, nil); err != nil {
		t.Fatal(err)
	}
	if int64(buf.Len()) != b.wireSize() {
		t.Errorf("wrote %d bytes, wireSize says %d", buf.Len(), b.wireSize())
	}
	zr, err := gzip.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	zr.Multistream(false)
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("inflate: %v", err)
	}
	if len(out) != 4<<20 || bytes.ContainsFunc(out, func(r rune) bool { return r != 0 }) {
		t.Errorf("inflated %d bytes, want %d zeros", len(out), 4<<20)
	}
}

// TestCloseUnblocks leaves work in flight on every kind of server and
// checks Close returns promptly and leaves no goroutine behind.
func TestCloseUnblocks(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	l, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() }) // if the test fails early

	var conns []net.Conn
	open := func(name, send string) {
		c, err := dialLab(context.Background(), "tcp", target(t, l, name).Host)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if send != "" {
			_, _ = io.WriteString(c, send)
		}
	}
	req := "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
	open("tls-stall", "\x16\x03\x01\x00\x10")
	open("tls-slow", "\x16\x03\x01\x00\x10")
	open("ok-tls", "")
	open("ok-h2c", "")
	open("http-slow", req)
	open("hostile-endless-body", req)
	open("hostile-endless-headers", req)
	open("hostile-trickle", req)
	open("hostile-giant-status", req)
	open("hostile-gzip-bomb", req)

	var wg sync.WaitGroup
	var dnsErr error
	wg.Go(func() {
		c := &dns.Client{Timeout: time.Second}
		q := new(dns.Msg)
		q.SetQuestion("slow.lab.test.", dns.TypeA)
		_, _, dnsErr = c.Exchange(q, l.DNSServer())
	})
	time.Sleep(150 * time.Millisecond) // let every server reach its wait or write loop

	start := time.Now()
	if err := l.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	// The slow DNS answer, HTTP handler and TLS handshake were all still
	// waiting (300–500 ms); Close must cut them short, not wait them out.
	if took := time.Since(start); took > 250*time.Millisecond {
		t.Errorf("Close took %v", took)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := os.Stat(l.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp dir %s not removed: %v", l.Dir(), err)
	}
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.Copy(io.Discard, c); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("conn to %s still open after Close", c.RemoteAddr())
		}
		c.Close()
	}
	wg.Wait()
	if dnsErr == nil {
		t.Error("slow DNS query was answered although the lab closed first")
	}
}

func TestOptions(t *testing.T) {
	t.Run("only-and-dir", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "lab")
		l := startLab(t, Options{Dir: dir, Only: []string{"tls-expired", "ok-http", "ok-http"}})
		m := l.Manifest()
		if len(m.Scenarios) != 2 || m.Scenarios[0].Name != "ok-http" || m.Scenarios[1].Name != "tls-expired" {
			t.Errorf("scenarios %v, want ok-http, tls-expired", m.Scenarios)
		}
		if m.CAFile != filepath.Join(dir, "ca.pem") {
			t.Errorf("CAFile %s, want in %s", m.CAFile, dir)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(m.CAFile); err != nil {
			t.Errorf("ca.pem in a caller's Dir removed by Close: %v", err)
		}
	})

	t.Run("unknown", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		_, err := Start(context.Background(), Options{Only: []string{"ok-http", "nope"}})
		if err == nil || !strings.Contains(err.Error(), `"nope"`) {
			t.Errorf("Start with unknown scenario: %v", err)
		}
	})

	t.Run("canceled", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		l, err := Start(ctx, Options{})
		if !errors.Is(err, context.Canceled) || l != nil {
			t.Errorf("Start with canceled ctx: %v", err)
		}
	})
}

// DNSAddr pins the DNS server to a given address (the e2e tests point a
// system resolver at it, which only speaks to port 53).
func TestDNSAddrFixed(t *testing.T) {
	ln, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.LocalAddr().String()
	ln.Close()
	l, err := Start(context.Background(), Options{DNSAddr: addr, Only: []string{"ok-http"}})
	if err != nil {
		t.Skipf("port taken meanwhile: %v", err)
	}
	t.Cleanup(func() { l.Close(); goleak.VerifyNone(t) })
	if got := l.Manifest().DNSServer; got != addr {
		t.Fatalf("DNSServer = %s, want %s", got, addr)
	}
	if _, err := Start(context.Background(), Options{DNSAddr: addr}); err == nil {
		t.Fatal("second lab on the same DNS address started; want an error")
	}
}

// docs/lab.md lists every scenario with its expected findings, so the
// documentation cannot drift from the table.
func TestDocsListEveryScenario(t *testing.T) {
	b, err := os.ReadFile("../docs/lab.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, def := range scenarioTable {
		row := ""
		for _, line := range strings.Split(doc, "\n") {
			if strings.HasPrefix(line, "| `"+def.name+"` |") {
				row = line
			}
		}
		if row == "" {
			t.Errorf("docs/lab.md has no row for %s", def.name)
			continue
		}
		for _, id := range def.expect {
			if !strings.Contains(row, id) {
				t.Errorf("docs/lab.md row for %s lacks %s", def.name, id)
			}
		}
	}
}

// The servers behind the client-certificate, huge-chain and
// GOAWAY-after-response scenarios, seen by a plain Go client.
func TestClientCertChainAndGoAwayServers(t *testing.T) {
	l := startLab(t, Options{Only: []string{"tls13-client-cert-required", "tls12-client-cert-required", "tls-chain-huge", "h2-goaway-after-response"}})
	cert, err := l.ClientCert()
	if err != nil {
		t.Fatal(err)
	}
	withCert := func(c *tls.Config) { c.Certificates = []tls.Certificate{cert} }

	t.Run("client certificate required", func(t *testing.T) {
		for _, tc := range []struct {
			name, alert string
			late        bool
		}{
			{"tls13-client-cert-required", "certificate required", true},
			{"tls12-client-cert-required", "handshake failure", false},
		} {
			name := tc.name
			// Without a certificate: TLS 1.3 finishes the client's side and
			// fails the first read; TLS 1.2 fails the handshake itself.
			st, _, herr := handshake(t, l, name, nil)
			if tc.late && (herr != nil || st.Version != tls.VersionTLS13) {
				t.Fatalf("%s: handshake %v version %x, want a finished TLS 1.3 handshake", name, herr, st.Version)
			}
			if !tc.late && (herr == nil || !strings.Contains(herr.Error(), tc.alert)) {
				t.Fatalf("%s: handshake error %v, want %q", name, herr, tc.alert)
			}
			// (A Go client may report the write the server's close broke
			// rather than the TLS 1.3 alert; pathlens reads the alert.)
			if _, err := client(t, l, nil).Get(target(t, l, name).String()); err == nil || (!tc.late && !strings.Contains(err.Error(), tc.alert)) {
				t.Errorf("%s: GET without a certificate: %v, want a failure (%q)", name, err, tc.alert)
			}
			// With the lab's client certificate: 200.
			c := client(t, l, func(tr *http.Transport) { withCert(tr.TLSClientConfig) })
			if resp, body := get(t, c, target(t, l, name).String()); resp.StatusCode != 200 || string(body) != "ok\n" {
				t.Errorf("%s: GET with the certificate: %s %q", name, resp.Status, body)
			}
		}
	})

	t.Run("tls-chain-huge", func(t *testing.T) {
		st, _, err := handshake(t, l, "tls-chain-huge", insecure)
		if err != nil {
			t.Fatal(err)
		}
		pc := st.PeerCertificates
		if len(pc) != hugeChainDepth+1 {
			t.Fatalf("sent %d certificates, want %d", len(pc), hugeChainDepth+1)
		}
		for i := 0; i+1 < len(pc); i++ {
			if err := pc[i].CheckSignatureFrom(pc[i+1]); err != nil {
				t.Fatalf("certificate %d is not signed by %d: %v", i, i+1, err)
			}
		}
		if err := pc[len(pc)-1].CheckSignatureFrom(l.Root()); err != nil {
			t.Errorf("the top is not signed by the lab root: %v", err)
		}
		if _, _, err := handshake(t, l, "tls-chain-huge", nil); err == nil || !strings.Contains(err.Error(), "signature check attempts limit") {
			t.Errorf("verifying handshake: %v, want Go's signature check limit", err)
		}
	})

	t.Run("h2-goaway-after-response", func(t *testing.T) {
		// The response ends, then GOAWAY (NO_ERROR, last stream 1) comes
		// without another request, then the server closes.
		u := target(t, l, "h2-goaway-after-response")
		raw, err := dialLab(context.Background(), "tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
		tc := tls.Client(raw, &tls.Config{RootCAs: l.CAPool(), ServerName: u.Hostname(), NextProtos: []string{"h2"}})
		if _, err := io.WriteString(tc, http2.ClientPreface); err != nil {
			t.Fatal(err)
		}
		fr := http2.NewFramer(tc, tc)
		var hb bytes.Buffer
		enc := hpack.NewEncoder(&hb)
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", u.Host}, {":path", "/"}} {
			_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		if fr.WriteSettings() != nil || fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}) != nil {
			t.Fatal("write request")
		}
		var got []string
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				t.Fatalf("after %q: %v", got, err)
			}
			if f.Header().Flags.Has(http2.FlagDataEndStream) && (f.Header().Type == http2.FrameData || f.Header().Type == http2.FrameHeaders) {
				got = append(got, "END_STREAM")
			}
			if s, ok := f.(*http2.SettingsFrame); ok && !s.IsAck() {
				_ = fr.WriteSettingsAck()
			}
			if g, ok := f.(*http2.GoAwayFrame); ok {
				got = append(got, fmt.Sprintf("GOAWAY %s last=%d", g.ErrCode, g.LastStreamID))
				break
			}
		}
		if want := []string{"END_STREAM", "GOAWAY NO_ERROR last=1"}; !slices.Equal(got, want) {
			t.Errorf("frames %q, want %q", got, want)
		}
	})
}
