package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pathlens/pathlens/serve/config"
)

// TestValidateParity: every setting that both `check` and a `serve`
// module accept is refused, for the same bad value, with the same rule
// text by both front ends: the CLI through its real flag parsing
// (`check: FLAG VALUE: RULE`), the config through Parse
// (`FILE:LINE: modules.m.KEY: RULE, got VALUE`). The rules live in
// probe.Options.Validate; a front end that grows a check of its own, with
// its own words, fails here. The old drifts are among the cases: the JWT
// TTL (`< 0` in one, `<= 0` in the other), the icmp limits, the HTTP/2
// window minimums and max_redirects.
func TestValidateParity(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string // check flags and target
		flag string
		yaml string // the module m
		key  string // its path under modules.m
		rule string
	}{
		{"timeout", []string{"--timeout", "-1s", "http://a/"}, "--timeout",
			"{kind: http, timeout: -1s}", "timeout", "want a positive duration"},
		{"timeout zero", []string{"--timeout", "0s", "http://a/"}, "--timeout",
			"{kind: http, timeout: 0s}", "timeout", "want a positive duration"},
		{"icmp count", []string{"--icmp-count", "2000000000", "icmp://127.0.0.1"}, "--icmp-count",
			"{kind: icmp, icmp: {count: 2000000000}}", "icmp.count", "want 1 to 1000"},
		{"icmp count zero", []string{"--icmp-count", "0", "icmp://127.0.0.1"}, "--icmp-count",
			"{kind: icmp, icmp: {count: 0}}", "icmp.count", "want 1 to 1000"},
		{"icmp interval", []string{"--icmp-interval", "1ns", "icmp://127.0.0.1"}, "--icmp-interval",
			"{kind: icmp, icmp: {interval: 1ns}}", "icmp.interval", "want 10ms or more"},
		{"max redirects", []string{"--max-redirects", "-1", "http://a/"}, "--max-redirects",
			"{kind: http, http: {max_redirects: -1}}", "http.max_redirects", "want 0 or more"},
		{"max header small", []string{"--max-header", "512", "http://a/"}, "--max-header",
			"{kind: http, http: {max_header_bytes: 512}}", "http.max_header_bytes", "want a size from 1KiB to 64MiB"},
		{"max header big", []string{"--max-header", "128MiB", "http://a/"}, "--max-header",
			"{kind: http, http: {max_header_bytes: 128MiB}}", "http.max_header_bytes", "want a size from 1KiB to 64MiB"},
		{"http conn window", []string{"--h2-conn-window", "100000", "https://a/"}, "--h2-conn-window",
			"{kind: http, http: {h2_conn_window: 100000}}", "http.h2_conn_window",
			"want 131070 or more (the HTTP/2 client cannot announce a connection window below 131070 bytes: the 65,535-byte initial window plus at least as much again)"},
		{"grpc window", []string{"--h2-window", "1000", "grpc://a:1"}, "--h2-window",
			"{kind: grpc, grpc: {h2_window: 1000}}", "grpc.h2_window", "want 65535 or more (grpc-go ignores HTTP/2 windows below 65535 bytes)"},
		{"grpc conn window", []string{"--h2-conn-window", "32KiB", "grpc://a:1"}, "--h2-conn-window",
			"{kind: grpc, grpc: {h2_conn_window: 32KiB}}", "grpc.h2_conn_window", "want 65535 or more (grpc-go ignores HTTP/2 windows below 65535 bytes)"},
		{"expect messages", []string{"--expect-messages", "-1", "grpc://a:1"}, "--expect-messages",
			"{kind: grpc, grpc: {expect_messages: -1}}", "grpc.expect_messages", "want 0 or more"},
		{"grpc method", []string{"--grpc-method", "pkg.Svc/M", "grpc://a:1"}, "--grpc-method",
			"{kind: grpc, grpc: {method: pkg.Svc/M}}", "grpc.method", "want /package.Service/Method"},
		{"ws hold", []string{"--hold", "-1s", "ws://a/"}, "--hold",
			"{kind: ws, ws: {hold: -1s}}", "ws.hold", "want 0 or a positive duration"},
		{"ws ping interval", []string{"--ping-interval", "5ms", "ws://a/"}, "--ping-interval",
			"{kind: ws, ws: {ping_interval: 5ms}}", "ws.ping_interval", "want 10ms or more (0: no pings)"},
		{"ws max message", []string{"--ws-max-message", "2GiB", "ws://a/"}, "--ws-max-message",
			"{kind: ws, ws: {max_message: 2GiB}}", "ws.max_message", "want a size from 1 byte to 1GiB"},
		{"ws token param", []string{"--bearer", "x", "--token-param", "a&b", "ws://a/"}, "--token-param",
			"{kind: ws, ws: {token_param: a&b}}", "ws.token_param", "want a query parameter name such as access_token"},
		{"jwt ttl", []string{"--jwt-secret", "no-such-file", "--jwt-ttl", "-1m", "ws://a/"}, "--jwt-ttl",
			"{kind: ws, ws: {jwt: {secret_file: no-such-file, ttl: -1m}}}", "ws.jwt.ttl", "want a positive duration"},
		{"jwt ttl zero", []string{"--jwt-secret", "no-such-file", "--jwt-ttl", "0s", "ws://a/"}, "--jwt-ttl",
			"{kind: ws, ws: {jwt: {secret_file: no-such-file, ttl: 0s}}}", "ws.jwt.ttl", "want a positive duration"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Run(append([]string{"check"}, c.args...), &out, &errb)
			msg := strings.TrimSpace(errb.String())
			_, cliRule, ok := strings.Cut(msg, "check: "+c.flag+" ")
			if ok {
				_, cliRule, ok = strings.Cut(cliRule, ": ")
			}
			if code != ExitUsage || !ok {
				t.Fatalf("check: exit %d, stderr %q; want exit %d naming %s", code, msg, ExitUsage, c.flag)
			}

			_, err := config.Parse("c.yaml", []byte("modules: {m: "+c.yaml+"}\n"))
			if err == nil {
				t.Fatalf("config: no error")
			}
			_, cfgRule, ok := strings.Cut(err.Error(), ": modules.m."+c.key+": ")
			if i := strings.LastIndex(cfgRule, ", got "); ok && i >= 0 {
				cfgRule = cfgRule[:i]
			}
			if !ok {
				t.Fatalf("config: %v; want it to name modules.m.%s", err, c.key)
			}

			if cliRule != c.rule || cfgRule != c.rule {
				t.Errorf("rules differ:\n check:  %s\n config: %s\n want:   %s", cliRule, cfgRule, c.rule)
			}
		})
	}
}
