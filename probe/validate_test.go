package probe_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	_ "github.com/pathlens/pathlens/engine" // registers every kind
	"github.com/pathlens/pathlens/probe"
)

func TestKindRegistry(t *testing.T) {
	if got, want := probe.KindNames(), []string{"dns", "grpc", "http", "icmp", "tcp", "tls", "ws"}; !slices.Equal(got, want) {
		t.Errorf("KindNames = %v, want %v", got, want)
	}
	for scheme, name := range map[string]string{"http": "http", "HTTPS": "http", "grpcs": "grpc", "wss": "ws", "icmp": "icmp", "dns": "dns"} {
		k, ok := probe.KindFor(scheme)
		if !ok || k.Name != name || k.Prober == nil || len(k.Phases) == 0 {
			t.Errorf("KindFor(%q) = %+v, %v; want kind %s", scheme, k, ok, name)
		}
	}
	if _, ok := probe.KindFor("gopher"); ok {
		t.Error("KindFor(gopher) found a kind")
	}
	if k, _ := probe.LookupKind("ws"); k.SchemeList() != "ws:// and wss://" {
		t.Errorf("ws SchemeList = %q", k.SchemeList())
	}
	if !slices.Contains(probe.Kinds(), "grpcs") {
		t.Errorf("Kinds = %v, want the schemes", probe.Kinds())
	}
}

func TestValidate(t *testing.T) {
	given := func(keys ...string) func(string) bool {
		return func(k string) bool { return slices.Contains(keys, k) }
	}
	for _, c := range []struct {
		name  string
		kind  string
		o     probe.Options
		given func(string) bool
		want  string // the first FieldError, "" = valid
	}{
		{"zero is valid", "http", probe.Options{}, nil, ""},
		{"zero icmp is valid", "icmp", probe.Options{}, nil, ""},
		{"icmp count", "icmp", probe.Options{ICMPCount: 1001}, nil, "icmp.count: want 1 to 1000, got 1001"},
		{"icmp count typed 0", "icmp", probe.Options{}, given("icmp.count"), "icmp.count: want 1 to 1000, got 0"},
		{"icmp bounds", "icmp", probe.Options{ICMPCount: 1000, ICMPInterval: 10 * time.Millisecond}, nil, ""},
		{"icmp interval", "icmp", probe.Options{ICMPInterval: time.Nanosecond}, nil, "icmp.interval: want 10ms or more, got 1ns"},
		{"icmp rules only for icmp", "tcp", probe.Options{ICMPCount: 5000}, nil, ""},
		{"timeout", "tcp", probe.Options{Timeout: -time.Second}, nil, "timeout: want a positive duration, got -1s"},
		{"timeout typed 0", "tcp", probe.Options{}, given("timeout"), "timeout: want a positive duration, got 0s"},
		{"legacy negative redirects", "https", probe.Options{MaxRedirects: -1}, nil, ""},
		{"typed negative redirects", "https", probe.Options{MaxRedirects: -1}, given("http.max_redirects"), "http.max_redirects: want 0 or more, got -1"},
		{"max header", "http", probe.Options{MaxHeaderBytes: 100}, nil, "http.max_header_bytes: want a size from 1KiB to 64MiB, got 100"},
		{"status range", "http", probe.Options{ValidStatus: []probe.StatusRange{{Lo: 300, Hi: 200}}}, nil,
			"http.valid_status: want statuses from 100 to 599, the lower first, got 300-200"},
		{"http conn window", "http", probe.Options{H2ConnWindow: 65535}, nil, "h2.conn_window: want 131070 or more"},
		{"grpc conn window", "grpc", probe.Options{H2ConnWindow: 65535}, nil, ""},
		{"grpc window", "grpcs", probe.Options{H2Window: 1}, nil, "h2.window: want 65535 or more"},
		{"negative window", "http", probe.Options{H2Window: -1}, nil, "h2.window: want a positive size, got -1"},
		{"grpc method", "grpc", probe.Options{GRPCMethod: "/a.B"}, nil, `grpc.method: want /package.Service/Method, got "/a.B"`},
		{"expect messages", "grpc", probe.Options{ExpectMessages: -2}, nil, "grpc.expect_messages: want 0 or more, got -2"},
		{"ws hold", "ws", probe.Options{WS: &probe.WSOptions{Hold: -time.Second}}, nil, "ws.hold: want 0 or a positive duration, got -1s"},
		{"ws ping", "wss", probe.Options{WS: &probe.WSOptions{PingInterval: time.Millisecond}}, nil, "ws.ping_interval: want 10ms or more (0: no pings), got 1ms"},
		{"ws max message", "ws", probe.Options{WS: &probe.WSOptions{MaxMessage: 2 << 30}}, nil, "ws.max_message: want a size from 1 byte to 1GiB, got 2147483648"},
		{"ws token param", "ws", probe.Options{WS: &probe.WSOptions{TokenParam: "a b"}}, nil, `ws.token_param: want a query parameter name such as access_token, got "a b"`},
		{"jwt ttl", "ws", probe.Options{WS: &probe.WSOptions{TokenTTL: -time.Minute}}, nil, "ws.jwt.ttl: want a positive duration, got -1m0s"},
		{"jwt ttl typed 0", "ws", probe.Options{WS: &probe.WSOptions{}}, given("ws.jwt.ttl"), "ws.jwt.ttl: want a positive duration, got 0s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.o.ValidateGiven(c.kind, c.given)
			if c.want == "" {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				return
			}
			var fe probe.FieldErrors
			if !errors.As(err, &fe) || len(fe) == 0 {
				t.Fatalf("error %v, want FieldErrors", err)
			}
			if got := fe[0].Error(); len(got) < len(c.want) || got[:len(c.want)] != c.want {
				t.Errorf("first error %q, want it to start with %q", got, c.want)
			}
		})
	}
}

// Library callers get Validate's errors from Run as a config-class Result,
// before anything is dialed.
func TestRunRefusesInvalidOptions(t *testing.T) {
	tg, err := probe.ParseTarget("icmp://127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	r := probe.Run(context.Background(), tg, &probe.Options{ICMPCount: 2000000000})
	if r.Success || r.Error == nil || r.Error.Class != probe.ClassConfig || r.Error.Cause != probe.CauseOption ||
		r.Error.Message != "icmp.count: want 1 to 1000, got 2000000000" || len(r.Phases) != 0 {
		t.Errorf("Result = %+v, error %+v", r, r.Error)
	}
	tg, _ = probe.ParseTarget("https://127.0.0.1:1/")
	r = probe.Run(context.Background(), tg, &probe.Options{H2ConnWindow: 100})
	if r.Error == nil || r.Error.Cause != probe.CauseWindow {
		t.Errorf("window: error %+v, want cause window", r.Error)
	}
}
