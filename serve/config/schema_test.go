package config

import (
	"strings"
	"testing"
	"time"
)

// The schema's errors: yaml.v3's, and the scalar types', in the
// FILE:LINE: FIELD: MESSAGE form with the field found again in the tree.
func TestSchemaErrors(t *testing.T) {
	for text, want := range map[string]string{
		"auth: foo\n":                                             `s.yaml:1: auth: want a mapping, got a string`,
		"targets: [foo]\n":                                        `s.yaml:1: targets[0]: want a mapping with the keys name, url, module, interval, timeout, labels, assert, slo, failures_before_down, successes_before_up, warnings_before_degraded, flap_changes, flap_window, got a string`,
		"targets: [~]\n":                                          `s.yaml:1: targets[0]: want a mapping with the keys name, url, module, interval, timeout, labels, assert, slo, failures_before_down, successes_before_up, warnings_before_degraded, flap_changes, flap_window, got nothing`,
		"probe_endpoint: {allow: x}\n":                            `s.yaml:1: probe_endpoint.allow: want a list, got a string`,
		"modules: {m: 1}\n":                                       `s.yaml:1: modules.m: want a mapping, got a number`,
		"listen: [1]\n":                                           `s.yaml:1: listen: want a string, got a list`,
		"auth: {open_endpoints: [x]}\n":                           `s.yaml:1: auth.open_endpoints: want true or false, got a list`,
		"storage: {retention: {a: 1}}\n":                          `s.yaml:1: storage.retention: want a duration, got a mapping`,
		"defaults: {concurrency: many}\n":                         `s.yaml:1: defaults.concurrency: want a whole number, got "many"`,
		"modules: {m: {kind: http, http: {max_body: [1]}}}\n":     `s.yaml:1: modules.m.http.max_body: want a size, got a list`,
		"modules: {m: {kind: http, http: {headers: {X: [1]}}}}\n": `s.yaml:1: modules.m.http.headers.X: want a string, got a list`,
		"modules: {m: {kind: ws, ws: {jwt: 5}}}\n":                `s.yaml:1: modules.m.ws.jwt: want a mapping, got a number`,
		"x: 1\nlisten: 2\n":                                       `s.yaml:1: x: unknown field "x" (allowed: listen, allowed_hosts, auth, storage, defaults, modules, targets, probe_endpoint, alerting, maintenance, memory_limit, status_page, remote_write)`,
		"modules:\n  m:\n    kind: http\n    tls: {insecure: true, sni: a}\n": `s.yaml:4: modules.m.tls.sni: unknown field "sni" (allowed: ca_file, cert_file, key_file, server_name, insecure, resumption_check, resumption_check_every)`,
		"modules: {[a]: 1}\n":                                   `s.yaml:1: modules: a key must be a string, got a list`,
		"modules: {m: {<<: 1}}\n":                               `s.yaml:1: modules.m: a merge (<<) takes a mapping or a list of mappings`,
		"b: &b {timeout: 1s}\nmodules: {m: {<<: *b, <<: *b}}\n": `s.yaml:2: modules.m.<<: duplicate field "<<" (first at line 2); merge several mappings with <<: [*a, *b]`,
		// The first error in the file wins, whatever its kind.
		"defaults: {timeout: soon}\ntargets: [{name: a, bogus: 1}]\n": `s.yaml:1: defaults.timeout: bad duration "soon" (want e.g. 500ms, 10s or 1m)`,
		"targets: [{name: a, bogus: 1}]\ndefaults: {timeout: soon}\n": `s.yaml:1: targets[0].bogus: unknown field "bogus" (allowed: name, url, module, interval, timeout, labels, assert, slo, failures_before_down, successes_before_up, warnings_before_degraded, flap_changes, flap_window)`,
		// A value reached through an alias is named where it is written.
		"defaults: {interval: &d soon}\ntargets: [{name: a, url: 'http://a/', interval: *d}]\n": `s.yaml:1: defaults.interval: bad duration "soon" (want e.g. 500ms, 10s or 1m)`,
	} {
		_, err := Parse("s.yaml", []byte(text))
		if err == nil || err.Error() != want {
			t.Errorf("Parse(%q)\n got: %v\nwant: %s", text, err, want)
		}
		if _, ok := err.(*Error); err != nil && !ok {
			t.Errorf("Parse(%q): error %T, want *Error", text, err)
		}
	}
}

// A module sets only the sections its kind reads (probe.Kind.Sections);
// tls goes with any kind.
func TestModuleSections(t *testing.T) {
	for text, want := range map[string]string{
		"modules: {m: {kind: grpc, ws: {send: x}}}\n":                                              `s.yaml:1: modules.m.ws: applies to ws modules only (kind is grpc)`,
		"modules: {m: {kind: grpc, http: {}}}\n":                                                   `s.yaml:1: modules.m.http: applies to http and ws modules only (kind is grpc)`,
		"modules: {m: {kind: tcp, icmp: {count: 1}}}\n":                                            `s.yaml:1: modules.m.icmp: applies to icmp modules only (kind is tcp)`,
		"modules:\n  m:\n    kind: ws\n    grpc:\n      service: x\n":                              `s.yaml:4: modules.m.grpc: applies to grpc modules only (kind is ws)`,
		"modules: {m: {kind: http, ws: ~, icmp: ~}}\n":                                             "",
		"modules: {m: {kind: tcp, tls: {ca_file: testdata/ca.pem}, dns: {server: 10.0.0.53}}}\n":   `s.yaml:1: modules.m.tls: applies to grpc, http, tls and ws modules only (kind is tcp)`,
		"modules: {m: {kind: tls, tls: {resumption_check_every: 1m}, dns: {server: 10.0.0.53}}}\n": "",
		"modules: {m: {kind: tls, tls: {resumption_check_every: -1s}}}\n":                          `s.yaml:1: modules.m.tls.resumption_check_every: must be 0s (test on every run) or more, got -1s`,
		"modules: {m: {kind: ws, http: {headers: {X-A: b}}, tls: {insecure: true}}}\n":             "",
		"modules:\n  m:\n    kind: ws\n    http:\n      headers: {X-A: b}\n      method: POST\n":   `s.yaml:6: modules.m.http.method: applies to http modules only (a ws module reads http.headers only)`,
		"modules: {m: {kind: ws, http: {valid_status: [200]}}}\n":                                  `s.yaml:1: modules.m.http.valid_status: applies to http modules only (a ws module reads http.headers only)`,
	} {
		_, err := Parse("s.yaml", []byte(text))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("Parse(%q)\n got: %s\nwant: %s", text, got, want)
		}
	}
}

// Mappings keep their file order: modules, headers and labels.
func TestFileOrder(t *testing.T) {
	c, err := Parse("o.yaml", []byte(`
modules:
  z: {kind: http, http: {headers: {B: "1", a: "2"}}}
  a: {kind: http, timeout: 3s}
targets:
  - {name: t, url: "https://a/", module: z, labels: {z: "1", b: "2"}}
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Modules["a"].Timeout != 3*time.Second || c.Targets[0].Labels["b"] != "2" || c.Modules["z"].HTTP.Headers["a"] != "2" {
		t.Errorf("config = %+v", c)
	}
	_, err = Parse("o.yaml", []byte("modules:\n  z: {kind: bogus}\n  a: {kind: nope}\n"))
	if want := `o.yaml:2: modules.z.kind: unknown kind "bogus" (want dns, grpc, http, icmp, tcp, tls or ws)`; err == nil || err.Error() != want {
		t.Errorf("err = %v, want the first module's error: %s", err, want)
	}
}

// A module's metrics section is serve's own: any kind sets it, and its
// flags reach Module.Metrics.
func TestModuleMetrics(t *testing.T) {
	c, err := Parse("m.yaml", []byte("modules:\n  t: {kind: tcp, metrics: {per_target_histograms: true, last_run_timestamp: yes}}\n  w: {kind: http}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Modules["t"].Metrics; got != (MetricsModule{PerTargetHistograms: true, LastRunTimestamp: true}) {
		t.Errorf("t.Metrics = %+v", got)
	}
	if got := c.Modules["w"].Metrics; got != (MetricsModule{}) {
		t.Errorf("w.Metrics = %+v, want all off", got)
	}
	_, err = Parse("m.yaml", []byte("modules:\n  t:\n    kind: tcp\n    metrics: {histograms: true}\n"))
	if err == nil || !strings.Contains(err.Error(), `m.yaml:4: modules.t.metrics.histograms: unknown field "histograms" (allowed: per_target_histograms, per_target_phases, last_run_timestamp, tls_resumed)`) {
		t.Errorf("unknown metrics key: %v", err)
	}
}
