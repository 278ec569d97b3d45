package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pathlens/pathlens/internal/optparse"
	"github.com/pathlens/pathlens/probe"
)

// checkFlags are the parsed `check` flags before they become probe.Options.
type checkFlags struct {
	json               bool
	n                  int
	interval           time.Duration
	timeout            time.Duration
	resolve            multi
	dnsServer          string
	ipv4, ipv6         bool
	ca, cert, key      string
	insecure           bool
	serverName         string
	method             string
	headers            multi
	data               string
	http11, http2, h2c bool
	maxBody            string
	maxHeader          string
	maxRedirects       int
	validStatus        string
	reuse              bool
	noResumption       bool
	icmpCount          int
	icmpInterval       time.Duration
	grpcService        string
	grpcMethod         string
	grpcRequestHex     string
	expectMessages     int
	h2Window           string
	h2ConnWindow       string
	ws                 wsFlags // WebSocket flags (ws.go)
	color              string
	lab                bool
	labAll             bool
	frames             bool // print the HTTP/2 frame timeline

	fs    *flag.FlagSet  // the set the flags were parsed with (which were given, their text)
	built *probe.Options // what options built, for checkGRPCKind's Validate
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func newCheckFlagSet(f *checkFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.fs = fs
	fs.BoolVar(&f.json, "json", false, "print the Result as JSON (docs/result.md) and nothing else on stdout")
	fs.IntVar(&f.n, "n", 1, "run the probe N times, then print p50/p90/p99/max per phase")
	fs.DurationVar(&f.interval, "interval", 0, "pause between repeated runs")
	fs.DurationVar(&f.timeout, "timeout", probe.DefaultTimeout, "whole probe budget")
	fs.Var(&f.resolve, "resolve", "host:port:addr — use addr for host:port, skipping DNS (repeatable)")
	fs.StringVar(&f.dnsServer, "dns-server", "", "addr:port of the DNS server for every name lookup")
	fs.BoolVar(&f.ipv4, "ipv4", false, "use IPv4 only")
	fs.BoolVar(&f.ipv6, "ipv6", false, "use IPv6 only")
	fs.BoolVar(&f.ipv4, "4", false, "same as --ipv4")
	fs.BoolVar(&f.ipv6, "6", false, "same as --ipv6")
	fs.StringVar(&f.ca, "ca", "", "PEM file of CA certificates to trust instead of the system roots")
	fs.StringVar(&f.cert, "cert", "", "PEM client certificate (with --key)")
	fs.StringVar(&f.key, "key", "", "PEM private key of the client certificate")
	fs.BoolVar(&f.insecure, "insecure", false, "report certificate problems but do not fail on them")
	fs.BoolVar(&f.insecure, "k", false, "same as --insecure")
	fs.StringVar(&f.serverName, "servername", "", "TLS server name (SNI) and the name verified")
	fs.StringVar(&f.method, "method", "", "HTTP method (default GET, POST with --data)")
	fs.StringVar(&f.method, "X", "", "same as --method")
	fs.Var(&f.headers, "H", "request header 'Key: Value' (repeatable)")
	fs.StringVar(&f.data, "data", "", "request body; @FILE reads it from a file")
	fs.StringVar(&f.data, "d", "", "same as --data")
	fs.BoolVar(&f.http11, "http1.1", false, "offer only HTTP/1.1")
	fs.BoolVar(&f.http2, "http2", false, "offer only HTTP/2 in ALPN")
	fs.BoolVar(&f.h2c, "h2c", false, "HTTP/2 over cleartext with prior knowledge")
	fs.StringVar(&f.maxBody, "max-body", "10MiB", "stop reading the body after this many bytes (e.g. 512KiB, 10MiB, 1000)")
	fs.StringVar(&f.maxHeader, "max-header", "", "stop reading the response headers after this many bytes (default 1MiB; 1KiB to 64MiB)")
	fs.IntVar(&f.maxRedirects, "max-redirects", probe.DefaultMaxRedirects, "redirects to follow (0: none)")
	fs.StringVar(&f.validStatus, "valid-status", "200-399", "HTTP statuses that count as success, e.g. 200-299,404")
	fs.BoolVar(&f.reuse, "reuse", false, "with -n: reuse connections between runs (default: every run is fresh)")
	fs.BoolVar(&f.noResumption, "no-resumption-check", false, "skip the second TLS connection that tests session resumption")
	fs.IntVar(&f.icmpCount, "icmp-count", probe.DefaultICMPCount, "icmp: echo requests to send (1-1000)")
	fs.DurationVar(&f.icmpInterval, "icmp-interval", probe.DefaultICMPInterval, "icmp: pause between echo requests (10ms or more)")
	fs.StringVar(&f.grpcService, "grpc-service", "", "grpc: service name for the grpc.health.v1 Check (default \"\": the whole server)")
	fs.StringVar(&f.grpcMethod, "grpc-method", "", "grpc: call /pkg.Service/Method (unary or server-streaming) instead of the health Check")
	fs.StringVar(&f.grpcRequestHex, "grpc-request-hex", "", "grpc: request message as hex-encoded protobuf bytes (default: the empty message)")
	fs.IntVar(&f.expectMessages, "expect-messages", 0, "grpc: the call must yield at least N response messages")
	fs.StringVar(&f.h2Window, "h2-window", "", "HTTP/2 initial stream window the client announces, e.g. 64KiB (default: the client's own, BDP estimation for gRPC)")
	fs.StringVar(&f.h2ConnWindow, "h2-conn-window", "", "HTTP/2 initial connection window the client announces, e.g. 1MiB")
	f.ws.register(fs)
	fs.StringVar(&f.color, "color", "auto", "colour: auto (on a terminal), always, never")
	fs.BoolVar(&f.frames, "frames", false, "print the HTTP/2 frame timeline (time, direction, frame, stream, key fields); --json always carries it under h2")
	fs.BoolVar(&f.lab, "lab", false, "start the lab and probe each of its scenarios (no TARGET)")
	fs.BoolVar(&f.labAll, "lab-hostile", false, "with --lab: also probe the hostile servers")
	return fs
}

// parseInterspersed parses flags that may come before or after the
// positional arguments, as users type them (`check URL --json`).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// flagError turns the flag package's error into one clear line.
func flagError(err error) error {
	msg := err.Error()
	msg = strings.Replace(msg, "flag provided but not defined: -", "unknown flag --", 1)
	if strings.HasPrefix(msg, "invalid value") {
		// invalid value "x" for flag -timeout: parse error
		if i := strings.Index(msg, "for flag -"); i >= 0 {
			rest := msg[i+len("for flag -"):]
			name, why, _ := strings.Cut(rest, ": ")
			val := strings.TrimSuffix(strings.TrimPrefix(msg[:i], "invalid value "), " ")
			msg = fmt.Sprintf("--%s: invalid value %s (%s)", name, val, simplifyParseErr(why))
		}
	}
	if strings.HasPrefix(msg, "flag needs an argument: -") {
		msg = "--" + strings.TrimPrefix(msg, "flag needs an argument: -") + " needs a value"
	}
	return usagef("check: %s", msg)
}

func simplifyParseErr(why string) string {
	switch {
	case strings.Contains(why, "parse error"):
		return "not a number"
	case strings.Contains(why, "invalid duration"), strings.Contains(why, "time: "):
		return "want a duration such as 500ms, 10s or 1m"
	}
	return why
}

// options validates the flags and builds probe.Options. Every error names
// the flag.
func (f *checkFlags) options() (*probe.Options, error) {
	o := &probe.Options{}
	if f.n < 1 {
		return nil, usagef("check: -n %d: want 1 or more runs", f.n)
	}
	if f.interval < 0 {
		return nil, usagef("check: --interval %s: want a positive duration", f.interval)
	}
	o.Timeout = f.timeout
	for _, r := range f.resolve {
		e, err := probe.ParseResolve(r)
		if err != nil {
			return nil, usagef("check: %v", err)
		}
		o.Resolve = append(o.Resolve, e)
	}
	if f.dnsServer != "" {
		s, err := optparse.NormalizeHostPort(f.dnsServer, "53")
		if err != nil {
			return nil, usagef("check: --dns-server %q: %v", f.dnsServer, err)
		}
		o.DNSServer = s
	}
	if f.ipv4 && f.ipv6 {
		return nil, usagef("check: --ipv4 and --ipv6 exclude each other")
	}
	o.IPv4Only, o.IPv6Only = f.ipv4, f.ipv6
	if f.ca != "" {
		pool, err := optparse.LoadCA(f.ca)
		if err != nil {
			return nil, usagef("check: --ca: %v", err)
		}
		o.RootCAs, o.CAFile = pool, f.ca
	}
	if (f.cert == "") != (f.key == "") {
		return nil, usagef("check: --cert and --key go together")
	}
	if f.cert != "" {
		c, err := optparse.LoadKeyPair(f.cert, f.key)
		if err != nil {
			return nil, usagef("check: --cert/--key: %v", err)
		}
		o.ClientCert = c
	}
	o.Insecure = f.insecure
	o.ServerName = f.serverName
	o.Method = strings.ToUpper(f.method)
	if len(f.headers) > 0 {
		o.Header = http.Header{}
		for _, h := range f.headers {
			k, v, ok := strings.Cut(h, ":")
			k = strings.TrimSpace(k)
			if !ok || k == "" || strings.ContainsAny(k, " \t\r\n") {
				return nil, usagef("check: -H %q: want 'Key: Value'", redactHeader(h))
			}
			o.Header.Add(k, strings.TrimSpace(v))
		}
	}
	if f.data != "" {
		if strings.HasPrefix(f.data, "@") {
			b, err := os.ReadFile(f.data[1:])
			if err != nil {
				return nil, usagef("check: --data %s: %v", f.data, optparse.UnwrapPathErr(err))
			}
			o.Body = b
		} else {
			o.Body = []byte(f.data)
		}
	}
	n := 0
	for _, b := range []bool{f.http11, f.http2, f.h2c} {
		if b {
			n++
		}
	}
	if n > 1 {
		return nil, usagef("check: --http1.1, --http2 and --h2c exclude each other")
	}
	o.HTTP1Only, o.HTTP2Only, o.H2C = f.http11, f.http2, f.h2c
	mb, err := optparse.ParseSize(f.maxBody)
	if err != nil {
		return nil, usagef("check: --max-body %q: %v", f.maxBody, err)
	}
	o.MaxBody = mb
	if f.maxHeader != "" {
		if o.MaxHeaderBytes, err = optparse.ParseSize(f.maxHeader); err != nil {
			return nil, usagef("check: --max-header %q: %v", f.maxHeader, err)
		}
	}
	o.MaxRedirects, o.NoRedirects = f.maxRedirects, f.maxRedirects == 0 // --max-redirects 0 follows none
	vs, err := probe.ParseStatusRanges(f.validStatus)
	if err != nil {
		return nil, usagef("check: --valid-status: %v", err)
	}
	o.ValidStatus = vs
	o.SkipResumptionCheck = f.noResumption
	o.ICMPCount, o.ICMPInterval = f.icmpCount, f.icmpInterval
	if err := f.grpcOptions(o); err != nil {
		return nil, err
	}
	if err := f.ws.apply(o, func(p *probe.Options) error { return f.validate("ws", p) }); err != nil {
		return nil, err
	}
	switch f.color {
	case "auto", "always", "never":
	default:
		return nil, usagef("check: --color %q: want auto, always or never", f.color)
	}
	f.built = o
	return o, nil
}

// optionFlags spells probe's neutral setting keys (probe.FieldError.Key)
// as `check` flags; quote shows the flag's text quoted in messages. It is
// the only place the CLI names a setting's rules: probe.Options.Validate
// holds them.
var optionFlags = map[string]struct {
	flag  string
	quote bool
}{
	"timeout":               {"--timeout", false},
	"http.max_body":         {"--max-body", true},
	"http.max_header_bytes": {"--max-header", true},
	"http.max_redirects":    {"--max-redirects", false},
	"http.valid_status":     {"--valid-status", true},
	"h2.window":             {"--h2-window", false},
	"h2.conn_window":        {"--h2-conn-window", false},
	"icmp.count":            {"--icmp-count", false},
	"icmp.interval":         {"--icmp-interval", false},
	"grpc.method":           {"--grpc-method", true},
	"grpc.expect_messages":  {"--expect-messages", false},
	"ws.hold":               {"--hold", false},
	"ws.ping_interval":      {"--ping-interval", false},
	"ws.max_message":        {"--ws-max-message", true},
	"ws.token_param":        {"--token-param", true},
	"ws.jwt.ttl":            {"--jwt-ttl", false},
}

// validate checks o with probe's rules for kind (a kind or a scheme) and
// reports the first broken one as `check: FLAG VALUE: RULE`, VALUE being
// the flag as given.
func (f *checkFlags) validate(kind string, o *probe.Options) error {
	given := map[string]bool{}
	if f.fs != nil {
		f.fs.Visit(func(fl *flag.Flag) { given["--"+fl.Name] = true })
	}
	err := o.ValidateGiven(kind, func(key string) bool { return given[optionFlags[key].flag] })
	var fe probe.FieldErrors
	if !errors.As(err, &fe) {
		return err
	}
	e := fe[0]
	spell, ok := optionFlags[e.Key]
	if !ok {
		return usagef("check: %v", e)
	}
	v := e.Got
	if fl := f.fs.Lookup(strings.TrimPrefix(spell.flag, "--")); f.fs != nil && fl != nil {
		v = fl.Value.String()
	}
	if spell.quote {
		v = strconv.Quote(v)
	}
	return usagef("check: %s %s: %s", spell.flag, v, e.Rule)
}

// redactHeader hides a header's value in messages (it may hold a token).
func redactHeader(h string) string {
	if k, _, ok := strings.Cut(h, ":"); ok {
		return k + ": …"
	}
	if len(h) > 20 {
		return h[:8] + "…"
	}
	return h
}
