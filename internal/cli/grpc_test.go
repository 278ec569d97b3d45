package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pathlens/pathlens/lab"
	"go.uber.org/goleak"
)

func TestGRPCFlagErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--grpc-method", "pkg.Svc/M"}, "--grpc-method \"pkg.Svc/M\": want /package.Service/Method"},
		{[]string{"--grpc-method", "/pkg.Svc/M/x"}, "want /package.Service/Method"},
		{[]string{"--grpc-method", "/pkg.Svc"}, "want /package.Service/Method"},
		{[]string{"--grpc-request-hex", "0a00"}, "--grpc-request-hex needs --grpc-method"},
		{[]string{"--grpc-method", "/a.B/C", "--grpc-request-hex", "0g"}, "--grpc-request-hex: not hex"},
		{[]string{"--grpc-method", "/a.B/C", "--grpc-service", "x"}, "exclude each other"},
		{[]string{"--expect-messages", "-1"}, "--expect-messages -1"},
		{[]string{"--h2-window", "lots"}, "--h2-window \"lots\""},
		{[]string{"--h2-conn-window", "4GiB"}, "--h2-conn-window \"4GiB\""},
		{[]string{"--h2-window", "1000"}, "grpc-go ignores HTTP/2 windows below 65535"},
		{[]string{"--h2-conn-window", "32KiB"}, "--h2-conn-window 32KiB"},
	} {
		args := append(append([]string{"check"}, c.args...), "grpc://127.0.0.1:1")
		var out, errb bytes.Buffer
		if code := Run(args, &out, &errb); code != ExitUsage {
			t.Errorf("%v: exit %d, want 3 (stderr %q)", c.args, code, errb.String())
			continue
		}
		if !strings.Contains(errb.String(), c.want) || out.Len() != 0 {
			t.Errorf("%v: stderr %q (want %q), stdout %q", c.args, errb.String(), c.want, out.String())
		}
	}
	// gRPC flags on a target of another kind.
	for _, flag := range [][]string{{"--grpc-method", "/a.B/C"}, {"--expect-messages", "3"}, {"--grpc-service", "x"}} {
		var out, errb bytes.Buffer
		args := append(append([]string{"check"}, flag...), "https://127.0.0.1:1/")
		if code := Run(args, &out, &errb); code != ExitUsage || !strings.Contains(errb.String(), "applies to grpc:// and grpcs:// targets only") {
			t.Errorf("%v: exit %d, stderr %q", flag, code, errb.String())
		}
	}
}

// The HTTP/2 window flags apply to every HTTP/2 probe and are refused,
// with the reason, where no HTTP/2 connection is made or the HTTP/2
// client could not announce the value.
func TestH2WindowFlagKinds(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string // "" = accepted
	}{
		{[]string{"--h2-window", "16KiB", "https://127.0.0.1:1/"}, ""},
		{[]string{"--h2-conn-window", "1MiB", "https://127.0.0.1:1/"}, ""},
		{[]string{"--h2c", "--h2-window", "16KiB", "http://127.0.0.1:1/"}, ""},
		{[]string{"--h2-window", "16KiB", "http://127.0.0.1:1/"}, "add --h2c for cleartext HTTP/2"},
		{[]string{"--http1.1", "--h2-window", "16KiB", "https://127.0.0.1:1/"}, "--http1.1 rules HTTP/2 out"},
		{[]string{"--h2-conn-window", "100000", "https://127.0.0.1:1/"}, "below 131070 bytes"},
		{[]string{"--h2-window", "16KiB", "tcp://127.0.0.1:1"}, "applies to HTTP/2 targets only"},
		{[]string{"--h2-window", "16KiB", "wss://127.0.0.1:1/"}, "applies to HTTP/2 targets only"},
	} {
		var f checkFlags
		fs := newCheckFlagSet(&f)
		pos, err := parseArgs(fs, c.args)
		if err != nil {
			t.Fatal(err)
		}
		kind := strings.SplitN(pos[0], ":", 2)[0]
		_, err = f.options()
		if err == nil {
			err = f.checkGRPCKind(kind)
		}
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: refused: %v", c.args, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v: error %v, want one containing %q", c.args, err, c.want)
		}
	}
}

func TestGRPCFlagsToOptions(t *testing.T) {
	var f checkFlags
	fs := newCheckFlagSet(&f)
	if _, err := parseArgs(fs, []string{"--grpc-method", "/a.B/C", "--grpc-request-hex", "0a 03 61 62 63",
		"--expect-messages", "7", "--h2-window", "1MiB", "--h2-conn-window", "65535", "grpc://x:1"}); err != nil {
		t.Fatal(err)
	}
	o, err := f.options()
	if err != nil {
		t.Fatal(err)
	}
	if o.GRPCMethod != "/a.B/C" || string(o.GRPCRequest) != "\x0a\x03abc" || o.ExpectMessages != 7 ||
		o.H2Window != 1<<20 || o.H2ConnWindow != 65535 || o.GRPCService != "" {
		t.Errorf("options = %+v", o)
	}
	if err := f.checkGRPCKind("grpcs"); err != nil {
		t.Error(err)
	}
}

// `check --json` of a gRPC scenario carries the grpc block of the
// contract; the human view has its grpc line.
func TestGRPCCheckOutput(t *testing.T) {
	defer goleak.VerifyNone(t)
	l, err := lab.Start(context.Background(), lab.Options{Dir: t.TempDir(), Only: []string{"grpc-slow-stream", "grpc-stream-truncated"}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := l.Manifest()
	s, _ := l.Scenario("grpc-slow-stream")
	var out, errb bytes.Buffer
	args := append(append([]string{"check", "--json", "--ca", m.CAFile, "--dns-server", m.DNSServer}, s.Args...), s.Target)
	if code := Run(args, &out, &errb); code != ExitOK {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	var raw map[string]any
	if err := json.Unmarshal(out.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	g, ok := raw["grpc"].(map[string]any)
	if !ok {
		t.Fatalf("no grpc block in %s", out.String())
	}
	for _, k := range []string{"status_code", "messages", "bytes", "gaps_ms"} {
		if _, ok := g[k]; !ok {
			t.Errorf("grpc block lacks %q: %v", k, g)
		}
	}
	if g["status_code"] != 0.0 || g["messages"] != 10.0 || len(g["gaps_ms"].([]any)) != 9 {
		t.Errorf("grpc = %v", g)
	}
	var names []string
	for _, p := range raw["phases"].([]any) {
		names = append(names, p.(map[string]any)["name"].(string))
	}
	if strings.Join(names, " ") != "connect request wait stream" {
		t.Errorf("phases %v", names)
	}

	s, _ = l.Scenario("grpc-stream-truncated")
	out.Reset()
	args = append(append([]string{"check", "--color", "never", "--ca", m.CAFile, "--dns-server", m.DNSServer}, s.Args...), s.Target)
	if code := Run(args, &out, &errb); code != ExitFailed {
		t.Fatalf("exit %d, want 2", code)
	}
	for _, want := range []string{"grpc  /pathlens.lab.Stream/Messages", "46/100 messages", "RESET INTERNAL_ERROR", "GRPC_STREAM_TRUNCATED"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("human output lacks %q:\n%s", want, out.String())
		}
	}
}

// --ws-max-message reaches the WebSocket options.
func TestWSMaxMessageFlag(t *testing.T) {
	var f checkFlags
	fs := newCheckFlagSet(&f)
	if _, err := parseArgs(fs, []string{"--ws-max-message", "16MiB", "wss://x:1/"}); err != nil {
		t.Fatal(err)
	}
	o, err := f.options()
	if err != nil {
		t.Fatal(err)
	}
	if o.WS == nil || o.WS.MaxMessage != 16<<20 {
		t.Errorf("ws options %+v", o.WS)
	}
}
