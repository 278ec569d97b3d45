package config

import (
	"strings"
	"testing"
)

func TestGRPCModule(t *testing.T) {
	c, err := Parse("g.yaml", []byte(`
modules:
  health: {kind: grpc, grpc: {service: pkg.Svc}}
  stream:
    kind: grpc
    timeout: 5s
    grpc: {method: /pkg.Svc/Stream, request_hex: "0a 03 61 62 63", expect_messages: 100}
targets:
  - {name: h, url: "grpcs://api.example.com:443", module: health}
  - {name: s, url: "grpc://127.0.0.1:50051", module: stream}
  - {name: d, url: "grpc://127.0.0.1:50052"}
`))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := c.Target("h")
	if h.Options.GRPCService != "pkg.Svc" || h.Options.GRPCMethod != "" {
		t.Errorf("h options %+v", h.Options)
	}
	s, _ := c.Target("s")
	o := s.Options
	if o.GRPCMethod != "/pkg.Svc/Stream" || string(o.GRPCRequest) != "\x0a\x03abc" || o.ExpectMessages != 100 || o.Timeout.String() != "5s" {
		t.Errorf("s options %+v", o)
	}
	// Each target's options are a copy.
	o.GRPCRequest[0] = 'X'
	if s2, _ := c.ModuleOptions("stream", 0); s2.GRPCRequest[0] != 0x0a {
		t.Error("targets share the request bytes")
	}
	if d, _ := c.Target("d"); d.Module != DefaultModule || d.Options.GRPCMethod != "" {
		t.Errorf("d = %+v", d)
	}

	for _, tc := range []struct{ yaml, want string }{
		{"modules: {m: {kind: grpc, grpc: {method: /a.B/C, service: x}}}", "g.yaml:1: modules.m.grpc.service: service names what the default health Check asks about"},
		{"modules: {m: {kind: grpc, grpc: {request_hex: 0a}}}", "g.yaml:1: modules.m.grpc.request_hex: request_hex needs method"},
		{"modules: {m: {kind: grpc, grpc: {expect_messages: -1}}}", "g.yaml:1: modules.m.grpc.expect_messages: want 0 or more, got -1"},
		{"modules: {m: {kind: grpc, grpc: {bogus: 1}}}", `g.yaml:1: modules.m.grpc.bogus: unknown field "bogus" (allowed: service, method, request_hex, expect_messages, h2_window, h2_conn_window)`},
		{"modules: {m: {kind: grpc}}\ntargets: [{name: x, url: 'https://a/', module: m}]", `scheme "https" does not match module "m" (kind grpc takes grpc:// and grpcs:// targets)`},
		{"modules: {m: {kind: http}}\ntargets: [{name: x, url: 'grpc://a:1', module: m}]", `scheme "grpc" does not match module "m"`},
	} {
		_, err := Parse("g.yaml", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

// h2_window and h2_conn_window reach the probe options of http and grpc
// modules; windows the client would silently ignore are refused.
func TestH2WindowsConfig(t *testing.T) {
	c, err := Parse("w.yaml", []byte(`
modules:
  web: {kind: http, http: {h2_window: 16KiB, h2_conn_window: 1MiB}}
  rpc: {kind: grpc, grpc: {h2_window: 64KiB, h2_conn_window: 65535}}
  plain: {kind: http}
targets:
  - {name: w, url: "https://a.example.com/", module: web}
  - {name: r, url: "grpcs://b.example.com:443", module: rpc}
  - {name: p, url: "https://c.example.com/", module: plain}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		stream, conn int32
	}{{"w", 16 << 10, 1 << 20}, {"r", 64 << 10, 65535}, {"p", 0, 0}} {
		tg, _ := c.Target(tc.name)
		if tg.Options.H2Window != tc.stream || tg.Options.H2ConnWindow != tc.conn {
			t.Errorf("%s: windows %d/%d, want %d/%d", tc.name, tg.Options.H2Window, tg.Options.H2ConnWindow, tc.stream, tc.conn)
		}
	}
	for _, tc := range []struct{ yaml, want string }{
		{"modules: {m: {kind: http, http: {h2_conn_window: 64KiB}}}", "w.yaml:1: modules.m.http.h2_conn_window: want 131070 or more (the HTTP/2 client cannot announce a connection window below 131070 bytes: the 65,535-byte initial window plus at least as much again), got 64KiB"},
		{"modules: {m: {kind: grpc, grpc: {h2_window: 1000}}}", "w.yaml:1: modules.m.grpc.h2_window: want 65535 or more (grpc-go ignores HTTP/2 windows below 65535 bytes), got 1000"},
		{"modules: {m: {kind: http, http: {h2_window: 3GiB}}}", "w.yaml:1: modules.m.http.h2_window: 3GiB is above the HTTP/2 maximum of 2147483647 bytes"},
		{"modules: {m: {kind: http, http: {http2: off, h2_window: 1MiB}}}", "w.yaml:1: modules.m.http.h2_window: h2_window sets an HTTP/2 window, and http2: off rules HTTP/2 out"},
	} {
		_, err := Parse("w.yaml", []byte(tc.yaml))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.yaml, err, tc.want)
		}
	}
}
