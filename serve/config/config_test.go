package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
)

// invalidCases pairs every testdata/invalid-*.yaml with its exact error.
var invalidCases = map[string]string{
	"unknown-key":             `testdata/invalid-unknown-key.yaml:7: targets[0].intervall: unknown field "intervall" (allowed: name, url, module, interval, timeout, labels, assert, slo, failures_before_down, successes_before_up, warnings_before_degraded, flap_changes, flap_window)`,
	"duplicate-key":           `testdata/invalid-duplicate-key.yaml:4: defaults.interval: duplicate field "interval" (first at line 2)`,
	"duration":                `testdata/invalid-duration.yaml:3: defaults.timeout: bad duration "10 seconds" (want e.g. 500ms, 10s or 1m)`,
	"size":                    `testdata/invalid-size.yaml:5: modules.web.http.max_body: bad size "10XB" (want e.g. 1000, 512KiB or 10MiB)`,
	"unknown-module":          `testdata/invalid-unknown-module.yaml:6: targets[1].module: unknown module "webb" (known: db, default, web)`,
	"unknown-kind":            `testdata/invalid-unknown-kind.yaml:3: modules.web.kind: unknown kind "smtp" (want dns, grpc, http, icmp, tcp, tls or ws)`,
	"kind-https":              `testdata/invalid-kind-https.yaml:2: modules.web.kind: unknown kind "https" (want dns, grpc, http, icmp, tcp, tls or ws; kind http probes https:// URLs too)`,
	"grpc-method":             `testdata/invalid-grpc-method.yaml:5: modules.rpc.grpc.method: want /package.Service/Method, got "pkg.Svc/Method"`,
	"grpc-request-hex":        `testdata/invalid-grpc-request-hex.yaml:6: modules.rpc.grpc.request_hex: not hex: encoding/hex: invalid byte: U+0067 'g'`,
	"kind-missing":            `testdata/invalid-kind-missing.yaml:2: modules.web.kind: kind is required (dns, grpc, http, icmp, tcp, tls or ws)`,
	"ws-hold":                 `testdata/invalid-ws-hold.yaml:7: targets[0].interval: interval 30s is shorter than modules.chat.ws.hold 1m (a ws target holds its session for up to its interval)`,
	"ws-token-param":          `testdata/invalid-ws-token-param.yaml:4: modules.chat.ws.token_param: token_param needs a token (bearer_file or jwt)`,
	"ws-jwt-both":             `testdata/invalid-ws-jwt-both.yaml:5: modules.chat.ws.jwt.key_file: secret_file and key_file exclude each other`,
	"url":                     `testdata/invalid-url.yaml:3: targets[0].url: target "api.example.com/health": no scheme; write it as a URL such as https://api.example.com/health`,
	"url-port":                `testdata/invalid-url-port.yaml:2: targets[0].url: target "tcp://db.internal": tcp targets need a port, e.g. tcp://db.internal:5432`,
	"scheme-mismatch":         `testdata/invalid-scheme-mismatch.yaml:5: targets[0].url: scheme "https" does not match module "db" (kind tcp takes tcp:// targets)`,
	"duplicate-name":          `testdata/invalid-duplicate-name.yaml:6: targets[2].name: duplicate target name "api" (first at line 2)`,
	"empty-name":              `testdata/invalid-empty-name.yaml:2: targets[0].name: name is required`,
	"missing-name":            `testdata/invalid-missing-name.yaml:2: targets[0].name: name is required`,
	"interval-timeout":        `testdata/invalid-interval-timeout.yaml:4: targets[0].interval: interval 5s is shorter than timeout 10s (timeout from defaults.timeout)`,
	"interval-module-timeout": `testdata/invalid-interval-module-timeout.yaml:4: targets[0]: interval 30s is shorter than timeout 45s (interval from defaults.interval, timeout from modules.slow.timeout)`,
	"interval-min":            `testdata/invalid-interval-min.yaml:4: targets[0].interval: interval 500ms is below the minimum of 1s`,
	"defaults-interval":       `testdata/invalid-defaults-interval.yaml:2: defaults.interval: interval 5s is shorter than timeout 10s`,
	"timeout-zero":            `testdata/invalid-timeout-zero.yaml:2: targets[0].timeout: want a positive duration, got 0s`,
	"valid-status":            `testdata/invalid-valid-status.yaml:5: modules.web.http.valid_status[1]: bad status range "600" (want e.g. 200-399 or 404)`,
	"http2":                   `testdata/invalid-http2.yaml:4: modules.web.http.http2: unknown http2 mode "maybe" (want auto, off, on or h2c)`,
	"ca-file":                 `testdata/invalid-ca-file.yaml:5: modules.web.tls.ca_file: cannot read testdata/missing-ca.pem: no such file or directory`,
	"ca-not-pem":              `testdata/invalid-ca-not-pem.yaml:5: modules.web.tls.ca_file: testdata/not-pem.txt: no PEM certificate found in it`,
	"cert-no-key":             `testdata/invalid-cert-no-key.yaml:5: modules.web.tls.cert_file: cert_file needs key_file (they go together)`,
	"key-no-cert":             `testdata/invalid-key-no-cert.yaml:5: modules.web.tls.key_file: key_file needs cert_file (they go together)`,
	"cert-bad":                `testdata/invalid-cert-bad.yaml:5: modules.web.tls.cert_file: testdata/client.pem / testdata/ca.pem: tls: found a certificate rather than a key in the PEM for the private key`,
	"token-missing":           `testdata/invalid-token-missing.yaml:3: auth.token_file: cannot read testdata/no-such-token: no such file or directory`,
	"token-empty":             `testdata/invalid-token-empty.yaml:1: auth.token_file: testdata/empty-token is empty`,
	"listen":                  `testdata/invalid-listen.yaml:1: listen: "localhost" is not host:port (e.g. 127.0.0.1:9116)`,
	"listen-public":           `testdata/invalid-listen-public.yaml:2: listen: binding 0.0.0.0:9116 beyond loopback needs auth.token_file`,
	"retention":               `testdata/invalid-retention.yaml:3: storage.retention: retention 30m is below the minimum of 1h`,
	"concurrency":             `testdata/invalid-concurrency.yaml:2: defaults.concurrency: want 1 or more, got 0`,
	"allow-empty":             `testdata/invalid-allow-empty.yaml:4: probe_endpoint.allow[1]: empty pattern`,
	"allow-no-scheme":         `testdata/invalid-allow-no-scheme.yaml:2: probe_endpoint.allow[0]: pattern "*.example.com" has no scheme (write e.g. https://*.example.com/*)`,
	"syntax":                  `testdata/invalid-syntax.yaml:5: YAML syntax error: did not find expected '-' indicator`,
	"syntax-first-line":       `testdata/invalid-syntax-first-line.yaml:1: YAML syntax error: mapping values are not allowed in this context`,
	"syntax-tab":              `testdata/invalid-syntax-tab.yaml:3: YAML syntax error: found a tab character that violates indentation`,
	"syntax-flow":             `testdata/invalid-syntax-flow.yaml:2: YAML syntax error: did not find expected ',' or ']'`,
	"second-document":         `testdata/invalid-second-document.yaml:2: a config file holds one YAML document; remove the second (---)`,
	"not-mapping":             `testdata/invalid-not-mapping.yaml:1: the config must be a mapping with the keys listen, allowed_hosts, auth, storage, defaults, modules, targets, probe_endpoint, alerting, maintenance, memory_limit, status_page, remote_write, got a list`,
	"wrong-type":              `testdata/invalid-wrong-type.yaml:2: targets: want a list, got a mapping`,
	"module-default":          `testdata/invalid-module-default.yaml:2: modules.default: the module name "default" is reserved for the built-in module (kind from the URL scheme)`,
	"label-reserved":          `testdata/invalid-label-reserved.yaml:6: targets[0].labels.target: label name "target" is reserved (pathlens metrics use target, module, phase, id, severity, result, subject, class, direction, le, finding, alertname, location, agent)`,
	"dns-server":              `testdata/invalid-dns-server.yaml:4: modules.resolver.dns.server: "10.0.0.53:domain": bad port "domain"`,
	"ip-family":               `testdata/invalid-ip-family.yaml:2: modules.web.ip_family: unknown ip_family "ipv4" (want ip4 or ip6)`,
	"h2-conn-window":          `testdata/invalid-h2-conn-window.yaml:5: modules.web.http.h2_conn_window: want 131070 or more (the HTTP/2 client cannot announce a connection window below 131070 bytes: the 65,535-byte initial window plus at least as much again), got 64KiB`,
	"grpc-h2-window":          `testdata/invalid-grpc-h2-window.yaml:5: modules.rpc.grpc.h2_window: want 65535 or more (grpc-go ignores HTTP/2 windows below 65535 bytes), got 1000`,
	"h2-window-http2-off":     `testdata/invalid-h2-window-http2-off.yaml:6: modules.web.http.h2_window: h2_window sets an HTTP/2 window, and http2: off rules HTTP/2 out`,
	"ws-max-message":          `testdata/invalid-ws-max-message.yaml:5: modules.chat.ws.max_message: want a size from 1 byte to 1GiB, got 2GiB`,
	"grpc-expect-messages":    `testdata/invalid-grpc-expect-messages.yaml:5: modules.rpc.grpc.expect_messages: want 0 or more, got -1`,
	"icmp-count":              `testdata/invalid-icmp-count.yaml:4: modules.ping.icmp.count: want 1 to 1000, got 2000000000`,
	"icmp-interval":           `testdata/invalid-icmp-interval.yaml:6: modules.ping.icmp.interval: want 10ms or more, got 1ns`,
	"probe-modules":           `testdata/invalid-probe-modules.yaml:5: probe_endpoint.modules[1]: unknown module "nope" (known: default, web)`,
	"probe-modules-twice":     `testdata/invalid-probe-modules-twice.yaml:6: probe_endpoint.modules[1]: module "web" is listed twice (first at line 5)`,
	"probe-open":              `testdata/invalid-probe-open.yaml:3: probe_endpoint.open: want true or false, got "sometimes"`,
	"deny-networks":           `testdata/invalid-deny-networks.yaml:5: probe_endpoint.deny_networks[2]: "intranet" is not a CIDR (such as 10.0.0.0/8 or fd00::/8), an address or one of loopback, link-local, private, unspecified or cgnat`,
	"deny-networks-zone":      `testdata/invalid-deny-networks-zone.yaml:2: probe_endpoint.deny_networks[0]: "fe80::1%eth0": an address with a zone (%eth0) is not a network; leave the zone out`,
	"max-concurrent":          `testdata/invalid-max-concurrent.yaml:3: probe_endpoint.max_concurrent: want 1 to 10000, got 0`,
	"queue-timeout":           `testdata/invalid-queue-timeout.yaml:2: probe_endpoint.queue_timeout: queue_timeout 2m is above the maximum of 1m`,
	"queue-timeout-zero":      `testdata/invalid-queue-timeout-zero.yaml:2: probe_endpoint.queue_timeout: want a positive duration, got 0s`,
	"allowed-hosts-port":      `testdata/invalid-allowed-hosts-port.yaml:4: allowed_hosts[1]: "pathlens.example.com:9116": want the host name without a port`,
	"allowed-hosts-url":       `testdata/invalid-allowed-hosts-url.yaml:1: allowed_hosts[0]: "https://pathlens.example.com/": want a host name alone, not a URL (no scheme, path or user-info)`,
	"kind-section":            `testdata/invalid-kind-section.yaml:5: modules.chat.ws: applies to ws modules only (kind is http)`,
	"allowed-hosts-name":      `testdata/invalid-allowed-hosts-name.yaml:1: allowed_hosts[0]: "*.*.example.com" is not a host name (letters, digits, '-', '_' and '.', with an optional leading "*.")`,
	"assert":                  `testdata/invalid-assert.yaml:7: targets[2].assert[0]: column 15: Syntax error: token recognition error at: '= '; column 17: Syntax error: extraneous input '200' expecting <EOF>`,
	"assert-severity":         `testdata/invalid-assert-severity.yaml:5: modules.web.assert[0].severity: want critical, warning or info, got "fatal"`,
}

func TestInvalidConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "invalid-"), ".yaml")
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			want, ok := invalidCases[name]
			if !ok {
				t.Fatalf("%s has no expected message in invalidCases", f)
			}
			c, err := Load(f)
			if err == nil {
				t.Fatalf("Load(%s) = %+v, want error %q", f, c, want)
			}
			if got := err.Error(); got != want {
				t.Errorf("Load(%s) error\n got: %s\nwant: %s", f, got, want)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.File != f || ce.Line < 1 {
				t.Errorf("error %#v: want an *Error naming %s and a line", err, f)
			}
		})
	}
	for name := range invalidCases {
		if !seen[name] {
			t.Errorf("invalidCases[%q] has no testdata/invalid-%s.yaml", name, name)
		}
	}
	if len(files) < 15 {
		t.Errorf("only %d invalid configs, want at least 15", len(files))
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/nope.yaml")
	want := "testdata/nope.yaml: cannot read config: no such file or directory"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

func TestValidFull(t *testing.T) {
	c, err := Load("testdata/valid-full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != "testdata/valid-full.yaml" || c.Listen != "0.0.0.0:9200" {
		t.Errorf("Path, Listen = %q, %q", c.Path, c.Listen)
	}
	if c.Auth.TokenFile != "testdata/token" || c.Auth.Token != "test-token-s3cr3t-7f1c" || c.Auth.OpenEndpoints {
		t.Errorf("Auth = %+v (token %q)", c.Auth, c.Auth.Token)
	}
	if c.Storage != (Storage{Path: "testdata/history.db", Retention: 72 * time.Hour}) {
		t.Errorf("Storage = %+v", c.Storage)
	}
	if c.Defaults != (Defaults{Interval: 20 * time.Second, Timeout: 8 * time.Second, Concurrency: 4}) {
		t.Errorf("Defaults = %+v", c.Defaults)
	}
	wantMods := []string{"cleartext-h2", "db", "default", "h2only", "mail", "ping", "resolver", "web"}
	if got := c.moduleNames(); !slices.Equal(got, wantMods) {
		t.Errorf("modules = %v, want %v", got, wantMods)
	}

	web := c.Modules["web"]
	if web.Kind != "http" || web.Timeout != 5*time.Second || web.IPFamily != "ip4" {
		t.Errorf("web = %+v", web)
	}
	if web.HTTP.Method != "POST" || web.HTTP.Body != `{"ping": true}` || web.HTTP.HTTP2 != "off" ||
		web.HTTP.MaxBody != 512<<10 || web.HTTP.MaxRedirects != 0 ||
		!slices.Equal(web.HTTP.ValidStatus, []probe.StatusRange{{Lo: 200, Hi: 299}, {Lo: 404, Hi: 404}}) ||
		web.HTTP.Headers["X-A"] != "b" || web.HTTP.Headers["x-request-source"] != "pathlens" {
		t.Errorf("web.HTTP = %+v", web.HTTP)
	}
	if web.TLS != (TLSModule{CAFile: "testdata/ca.pem", CertFile: "testdata/client.pem", KeyFile: "testdata/client-key.pem",
		ServerName: "api.internal", Insecure: true, ResumptionCheck: false, ResumptionEvery: probe.DefaultResumptionEvery}) {
		t.Errorf("web.TLS = %+v", web.TLS)
	}
	if web.DNS.Server != "10.0.0.53:53" {
		t.Errorf("web.DNS = %+v", web.DNS)
	}
	if p := c.Modules["ping"]; p.Kind != "icmp" || p.ICMP != (ICMPModule{Count: 5, Interval: 100 * time.Millisecond}) {
		t.Errorf("ping = %+v", p)
	}
	if db := c.Modules["db"]; db.ICMP != (ICMPModule{Count: DefaultICMPCount, Interval: DefaultICMPInterval}) || db.HTTP.HTTP2 != "auto" || !db.TLS.ResumptionCheck {
		t.Errorf("db defaults = %+v", db)
	}

	names := []string{}
	for _, tg := range c.Targets {
		names = append(names, tg.Name)
	}
	wantNames := []string{"api", "api-module-timeout", "plain", "h2", "h2c", "postgres", "smtps", "www-a", "gateway"}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("targets = %v, want %v", names, wantNames)
	}
	get := func(name string) *Target {
		tg, ok := c.Target(name)
		if !ok {
			t.Fatalf("Target(%q) not found", name)
		}
		return tg
	}
	if _, ok := c.Target("nope"); ok {
		t.Error("Target(nope) found")
	}

	// Timeout precedence: target, then module, then defaults.
	for _, tc := range []struct {
		name     string
		timeout  time.Duration
		interval time.Duration
		module   string
	}{
		{"api", 2 * time.Second, 15 * time.Second, "web"},
		{"api-module-timeout", 5 * time.Second, 20 * time.Second, "web"},
		{"plain", 8 * time.Second, 20 * time.Second, "default"},
		{"h2", 8 * time.Second, time.Minute, "h2only"},
		{"gateway", 3 * time.Second, 10 * time.Second, "ping"},
	} {
		tg := get(tc.name)
		if tg.Timeout != tc.timeout || tg.Options.Timeout != tc.timeout || tg.Interval != tc.interval || tg.Module != tc.module {
			t.Errorf("%s: timeout %v (options %v), interval %v, module %q; want %v, %v, %q",
				tc.name, tg.Timeout, tg.Options.Timeout, tg.Interval, tg.Module, tc.timeout, tc.interval, tc.module)
		}
	}

	api := get("api")
	if api.Parsed.Kind != "https" || api.Parsed.Host != "api.example.com" || api.Parsed.Port != 443 {
		t.Errorf("api.Parsed = %+v", api.Parsed)
	}
	if api.Labels["team"] != "core" || api.Labels["env"] != "prod" || len(api.Labels) != 2 {
		t.Errorf("api.Labels = %v", api.Labels)
	}
	o := api.Options
	if o.RootCAs == nil || o.CAFile != "testdata/ca.pem" {
		t.Errorf("CA pool not loaded: %v %q", o.RootCAs, o.CAFile)
	}
	if !caHas(o.RootCAs, "testdata/ca.pem") {
		t.Error("RootCAs does not hold testdata/ca.pem")
	}
	if o.ClientCert == nil || len(o.ClientCert.Certificate) != 1 {
		t.Errorf("ClientCert = %v", o.ClientCert)
	}
	if o.Header.Get("X-A") != "b" || o.Header.Get("X-Request-Source") != "pathlens" || len(o.Header) != 2 {
		t.Errorf("Header = %v", o.Header)
	}
	if o.Method != "POST" || string(o.Body) != `{"ping": true}` || !o.HTTP1Only || o.HTTP2Only || o.H2C ||
		o.MaxBody != 512<<10 || !o.NoRedirects || o.EffectiveMaxRedirects() != 0 ||
		!slices.Equal(o.ValidStatus, []probe.StatusRange{{Lo: 200, Hi: 299}, {Lo: 404, Hi: 404}}) ||
		o.DNSServer != "10.0.0.53:53" || !o.IPv4Only || o.IPv6Only ||
		o.ServerName != "api.internal" || !o.Insecure || !o.SkipResumptionCheck {
		t.Errorf("api.Options = %+v", o)
	}
	// The CA pool and client certificate are loaded once per module and shared.
	o2 := get("api-module-timeout").Options
	if o2 == o || o2.RootCAs != o.RootCAs || o2.ClientCert != o.ClientCert {
		t.Error("targets of one module should share the CA pool and client cert, not the Options")
	}
	o2.Header.Set("X-A", "changed")
	if o.Header.Get("X-A") != "b" {
		t.Error("targets share a Header map")
	}

	// HTTP2 modes.
	if o := get("plain").Options; o.HTTP1Only || o.HTTP2Only || o.H2C || o.RootCAs != nil || o.Method != "GET" ||
		o.MaxBody != probe.DefaultMaxBody || o.MaxRedirects != probe.DefaultMaxRedirects || o.SkipResumptionCheck ||
		!slices.Equal(o.EffectiveValidStatus(), probe.DefaultValidStatus) {
		t.Errorf("plain (auto, defaults) = %+v", o)
	}
	if o := get("h2").Options; !o.HTTP2Only || o.HTTP1Only || o.H2C || o.MaxRedirects != 3 || o.RootCAs == nil {
		t.Errorf("h2 (on) = %+v", o)
	}
	if o := get("h2c").Options; !o.H2C || o.HTTP1Only || o.HTTP2Only ||
		!slices.Equal(o.ValidStatus, []probe.StatusRange{{Lo: 200, Hi: 399}, {Lo: 418, Hi: 418}}) {
		t.Errorf("h2c = %+v", o)
	}
	if o := get("postgres").Options; !o.IPv6Only || get("postgres").Parsed.Port != 5432 {
		t.Errorf("postgres = %+v", o)
	}
	if o := get("www-a").Options; o.DNSServer != "127.0.0.1:5353" || get("www-a").Parsed.QName != "www.example.com." {
		t.Errorf("www-a = %+v", o)
	}
	if o := get("gateway").Options; o.ICMPCount != 5 || o.ICMPInterval != 100*time.Millisecond {
		t.Errorf("gateway ICMP options = %d, %v", o.ICMPCount, o.ICMPInterval)
	}
	if c.ProbeEndpoint.Allow[0] != "https://*.example.com/*" || len(c.ProbeEndpoint.Allow) != 2 {
		t.Errorf("ProbeEndpoint = %+v", c.ProbeEndpoint)
	}
}

func caHas(pool *x509.CertPool, file string) bool {
	want := x509.NewCertPool()
	b, err := os.ReadFile(file)
	if err != nil || !want.AppendCertsFromPEM(b) {
		return false
	}
	return pool.Equal(want)
}

func TestExampleLoads(t *testing.T) {
	c, err := Load("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Targets) != 6 || c.Listen != DefaultListen {
		t.Errorf("example: %d targets, listen %s", len(c.Targets), c.Listen)
	}
	if tg, _ := c.Target("status-page"); tg == nil || tg.Module != DefaultModule || tg.Interval != 30*time.Second {
		t.Errorf("status-page = %+v", tg)
	}
}

// docs/config.md's example must load too.
func TestDocsExampleLoads(t *testing.T) {
	b, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Skip("docs/config.md not found:", err)
	}
	doc := string(b)
	const start = "<!-- example -->\n```yaml\n"
	i := strings.Index(doc, start)
	if i < 0 {
		t.Fatal("docs/config.md has no <!-- example --> yaml block")
	}
	text := doc[i+len(start):]
	text = text[:strings.Index(text, "```")]
	// The example names files next to the config; point them at testdata.
	if _, err := Parse("testdata/docs-example.yaml", []byte(text)); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultsAndEmpty(t *testing.T) {
	for _, text := range []string{"", "# nothing\n", "auth:\nstorage: ~\n"} {
		c, err := Parse("", []byte(text))
		if err != nil {
			t.Fatalf("Parse(%q): %v", text, err)
		}
		if c.Listen != DefaultListen || c.Storage.Path != DefaultStorage || c.Storage.Retention != DefaultRetention ||
			c.Defaults != (Defaults{Interval: DefaultInterval, Timeout: DefaultTimeout, Concurrency: DefaultConcurrency}) || !c.Auth.OpenEndpoints ||
			len(c.Targets) != 0 || len(c.Modules) != 1 || c.Modules[DefaultModule] == nil {
			t.Errorf("Parse(%q) = %+v", text, c)
		}
	}
	_, err := Parse("", []byte("listen: [\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "config:1: YAML syntax error: ") {
		t.Errorf("err = %v", err)
	}
}

func TestAnchorsAndMerge(t *testing.T) {
	text := `
modules:
  base: &base {kind: http, timeout: 4s, http: {valid_status: [200]}}
  derived:
    <<: *base
    timeout: 6s
targets:
  - {name: a, url: "https://a.example.com/", module: derived}
  - {name: b, url: "https://b.example.com/", module: base}
`
	c, err := Parse("m.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Modules["derived"]; d.Kind != "http" || d.Timeout != 6*time.Second || d.HTTP.ValidStatus[0] != (probe.StatusRange{Lo: 200, Hi: 200}) {
		t.Errorf("derived = %+v", d)
	}
	_, err = Parse("m.yaml", []byte("modules:\n  base: &b {kind: http, bogus: 1}\n  d: {<<: *b}\n"))
	if want := `m.yaml:2: modules.base.bogus: unknown field "bogus" (allowed: kind, timeout, ip_family, http, tls, dns, icmp, grpc, ws, metrics, assert)`; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

func TestModuleOptions(t *testing.T) {
	c, err := Load("testdata/valid-full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.ModuleOptions("web", 0)
	if err != nil || o.Timeout != 5*time.Second || !o.HTTP1Only || o.RootCAs == nil || o.Header.Get("X-A") != "b" {
		t.Fatalf("web: %+v, %v", o, err)
	}
	if o, _ := c.ModuleOptions("web", 2*time.Second); o.Timeout != 2*time.Second {
		t.Errorf("scrape timeout 2s: %v", o.Timeout)
	}
	if o, _ := c.ModuleOptions("web", time.Minute); o.Timeout != 5*time.Second {
		t.Errorf("scrape timeout 1m: %v", o.Timeout)
	}
	if o, _ := c.ModuleOptions("", 0); o.Timeout != 8*time.Second || o.RootCAs != nil {
		t.Errorf("default: %+v", o)
	}
	o1, _ := c.ModuleOptions("web", 0)
	o1.Header.Set("X-A", "mutated")
	if o2, _ := c.ModuleOptions("web", 0); o2.Header.Get("X-A") != "b" {
		t.Error("ModuleOptions shares the Header map")
	}
	if _, err := c.ModuleOptions("nope", 0); err == nil ||
		err.Error() != `unknown module "nope" (known: cleartext-h2, db, default, h2only, mail, ping, resolver, web)` {
		t.Errorf("unknown module: %v", err)
	}
	tcp, _ := probe.ParseTarget("tcp://db.internal:5432")
	if err := c.Modules["web"].Accepts(tcp); err == nil {
		t.Error("web accepts tcp://")
	}
	if err := c.Modules[DefaultModule].Accepts(tcp); err != nil {
		t.Error(err)
	}
	ws, _ := probe.ParseTarget("ws://x.example.com/")
	if err := c.Modules[DefaultModule].Accepts(ws); err != nil {
		t.Errorf("default refuses ws: %v", err)
	}
	if err := c.Modules["web"].Accepts(ws); err == nil {
		t.Error("web (kind http) accepts ws://")
	}
}

func TestCheckListen(t *testing.T) {
	for _, tc := range []struct {
		addr  string
		token bool
		want  string
	}{
		{"127.0.0.1:9116", false, ""},
		{"[::1]:9116", false, ""},
		{"localhost:0", false, ""},
		{"127.0.0.2:80", false, ""},
		{"0.0.0.0:9116", true, ""},
		{":9116", false, "binding :9116 beyond loopback needs auth.token_file"},
		{"[::]:9116", false, "binding [::]:9116 beyond loopback needs auth.token_file"},
		{"10.1.2.3:9116", false, "binding 10.1.2.3:9116 beyond loopback needs auth.token_file"},
		{"myhost:9116", false, "binding myhost:9116 beyond loopback needs auth.token_file"},
		{"127.0.0.1", false, `"127.0.0.1" is not host:port (e.g. 127.0.0.1:9116)`},
		{"127.0.0.1:http", false, `"127.0.0.1:http": port "http" is not a number from 0 to 65535`},
		{"127.0.0.1:70000", false, `"127.0.0.1:70000": port "70000" is not a number from 0 to 65535`},
	} {
		err := CheckListen(tc.addr, tc.token)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("CheckListen(%q, %v) = %q, want %q", tc.addr, tc.token, got, tc.want)
		}
	}
}

// The token's content never appears in an error or in printed output.
func TestTokenNeverShown(t *testing.T) {
	const secret = "test-token-s3cr3t-7f1c"
	c, err := Load("testdata/valid-full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.Token != secret {
		t.Fatalf("token = %q", c.Auth.Token)
	}
	outputs := []string{
		fmt.Sprint(c), fmt.Sprintf("%v", *c), fmt.Sprintf("%+v", *c), fmt.Sprintf("%#v", *c), fmt.Sprintf("%#v", c),
		fmt.Sprintf("%s", c.Auth), fmt.Sprintf("%q", c.Auth), fmt.Sprintf("%x", c.Auth), fmt.Sprintf("%d", c.Auth),
		fmt.Sprintf("%v", &c.Auth), fmt.Sprintf("%+v", []Auth{c.Auth}), c.Auth.String(), c.Auth.GoString(),
	}
	for _, out := range outputs {
		if strings.Contains(out, secret) || strings.Contains(out, fmt.Sprintf("%x", secret)) {
			t.Errorf("token shown in %q", out)
		}
	}
	if !strings.Contains(fmt.Sprintf("%+v", c.Auth), "[redacted]") {
		t.Errorf("%%+v = %s", fmt.Sprintf("%+v", c.Auth))
	}

	// Errors met after the token is read, or about files that hold it.
	bad := []string{
		"auth: {token_file: token}\nlisten: 0.0.0.0:x\n",
		"auth: {token_file: token}\ndefaults: {timeout: soon}\n",
		"auth: {token_file: token}\nmodules: {m: {kind: http, tls: {ca_file: token}}}\n",
		"auth: {token_file: token}\nmodules: {m: {kind: http, tls: {cert_file: token, key_file: token}}}\n",
		"auth: {token_file: token}\nmodules: {m: {kind: http, tls: {cert_file: client.pem, key_file: token}}}\n",
		"auth: {token_file: token}\nmodules: {m: {kind: http, tls: {cert_file: token, key_file: client-key.pem}}}\n",
		"auth: {token_file: token, token: " + secret + "}\n",
		"auth: {token_file: token}\ntargets: [{name: x, url: \"https://x/\", interval: 1s}]\n",
		"auth: {token_file: client-key.pem}\n",
		"auth: {token_file: ca.pem}\n",
	}
	for _, text := range bad {
		_, err := Parse("testdata/secret.yaml", []byte(text))
		if err == nil {
			t.Errorf("Parse(%q) succeeded", text)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), "BEGIN") {
			t.Errorf("error shows a secret: %v", err)
		}
	}
}

func TestAllowed(t *testing.T) {
	p := ProbeEndpoint{Allow: []string{
		"https://*.example.com/*",
		"http://127.0.0.1:*",
		"https://api.example.org/health",
		"tcp://db.internal:5432",
		"dns://*",
		"icmp://10.0.0.*",
		"https://[::1]:8443/*",
	}}
	for _, tc := range []struct {
		target string
		want   bool
	}{
		{"https://api.example.com/health", true},
		{"https://a.b.example.com/", true},
		{"https://api.example.com", true},
		{"https://api.example.com/x?y=z", true},
		{"HTTPS://API.EXAMPLE.COM/x", true},
		{"https://api.example.com:443/", true},
		{"https://api.example.com:8443/", false}, // a port the pattern does not name
		{"https://example.com/", false},          // '*.' needs a label
		{"http://api.example.com/", false},       // scheme is exact
		{"https://evil.com/x.example.com/y", false},
		{"https://evil.com/?x=.example.com/", false},
		{"https://evil.com?.example.com/", false},
		{"https://evil.com#.example.com/", false},
		{"https://example.com.evil.com/", false},
		{"https://api.example.com.evil.com/", false},
		{"https://api.example.com@evil.com/", false},
		{"https://evil.com\\.example.com/", false},
		{"https://evil.com%2f.example.com/", false},
		{"https://api.example.com./", false}, // trailing dot: refused, not guessed
		{"http://127.0.0.1:8080/", true},
		{"http://127.0.0.1/", false}, // port 80 is the default: authority has no port
		{"http://127.0.0.1:8080/anything?at=all", true},
		{"http://127.0.0.10:8080/", false},
		{"http://127.0.0.1.evil.com:8080/", false},
		{"https://api.example.org/health", true},
		{"https://api.example.org/health?x=1", false},
		{"https://api.example.org/healthz", false},
		{"https://api.example.org/", false},
		{"tcp://db.internal:5432", true},
		{"tcp://db.internal:5433", false},
		{"tcp://db.internal.evil.com:5432", false},
		{"dns://127.0.0.1:5353/www.example.com?type=A", true},
		{"dns:///www.example.com", true},
		{"icmp://10.0.0.7", true},
		{"icmp://10.0.1.7", false},
		{"https://[::1]:8443/x", true},
		{"https://[::2]:8443/x", false},
		{"not a url", false},
		{"", false},
		{"ftp://api.example.com/", false},
	} {
		if got := p.Allowed(tc.target); got != tc.want {
			t.Errorf("Allowed(%q) = %v, want %v", tc.target, got, tc.want)
		}
	}
	if (ProbeEndpoint{}).Allowed("https://api.example.com/") {
		t.Error("an empty allow list allows")
	}
	// Bad patterns never match.
	if (ProbeEndpoint{Allow: []string{"", "*", "*://*"}}).Allowed("https://api.example.com/") {
		t.Error("a bad pattern allows")
	}
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"", "", true}, {"*", "", true}, {"*", "abc", true}, {"a*c", "abc", true}, {"a*c", "ac", true},
		{"a*c", "abd", false}, {"*.x", "a.x", true}, {"*.x", ".x", true}, {"*.x", "x", false},
		{"a*b*c", "aXbYbZc", true}, {"a*b*c", "aXbYbZ", false}, {"abc", "abcd", false}, {"**", "z", true},
	} {
		if got := glob(tc.p, tc.s); got != tc.want {
			t.Errorf("glob(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}

func TestHeadersCanonical(t *testing.T) {
	c, err := Parse("h.yaml", []byte("modules: {m: {kind: http, http: {headers: {user-agent: x, Empty: }}}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	o, _ := c.ModuleOptions("m", 0)
	if o.Header.Get("User-Agent") != "x" || o.Header["Empty"] == nil {
		t.Errorf("Header = %v", o.Header)
	}
	if _, ok := o.Header[http.CanonicalHeaderKey("user-agent")]; !ok {
		t.Errorf("header keys not canonical: %v", o.Header)
	}
	_, err = Parse("h.yaml", []byte("modules: {m: {kind: http, http: {headers: {\"Bad Name\": x}}}}\n"))
	if err == nil || err.Error() != `h.yaml:1: modules.m.http.headers.Bad Name: invalid header name "Bad Name"` {
		t.Errorf("err = %v", err)
	}
}

func TestTokenFileChecks(t *testing.T) {
	dir := t.TempDir()
	spaced := filepath.Join(dir, "spaced")
	if err := os.WriteFile(spaced, []byte("two words\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte(strings.Repeat("x", 5000)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, want string }{
		{spaced, spaced + " must hold the token alone on one line (no spaces)"},
		{big, big + " is larger than 4 KiB; it must hold only the token"},
		{dir, dir + " is not a regular file"},
		{"/dev/null", "/dev/null is not a regular file"},
	} {
		_, err := Parse("c.yaml", []byte("auth: {token_file: "+tc.file+"}\n"))
		want := "c.yaml:1: auth.token_file: " + tc.want
		if err == nil || err.Error() != want {
			t.Errorf("token_file %s: err = %v, want %s", tc.file, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "two words") {
			t.Errorf("token shown: %v", err)
		}
	}
	// A CA file that is a device is refused rather than read.
	_, err := Parse("c.yaml", []byte("modules: {m: {kind: http, tls: {ca_file: /dev/zero}}}\n"))
	if err == nil || err.Error() != "c.yaml:1: modules.m.tls.ca_file: /dev/zero is not a regular file" {
		t.Errorf("ca_file /dev/zero: %v", err)
	}
}
