package cli

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pathlens/pathlens/internal/optparse"
	"github.com/pathlens/pathlens/probe"
	"github.com/spf13/pflag"
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
	asserts            multi

	fs    *pflag.FlagSet // the set the flags were parsed with (which were given, their text)
	built *probe.Options // what options built, for checkGRPCKind's Validate
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }
func (m *multi) Type() string       { return "strings" }

// The help groups of `check`, in the order --help lists them. Every flag
// carries one of them in its groupKey annotation (checkHelpText).
const (
	groupGeneral = "General"
	groupHTTP    = "HTTP"
	groupTLS     = "TLS"
	groupDNS     = "DNS"
	groupGRPC    = "gRPC"
	groupWS      = "WebSocket"
	groupICMP    = "ICMP"
	groupOutput  = "Output"
	groupKey     = "pathlens-group"
)

var checkGroups = []string{groupGeneral, groupHTTP, groupTLS, groupDNS, groupGRPC, groupWS, groupICMP, groupOutput}

// inGroup puts every flag of fs that has no group yet into group.
func inGroup(fs *pflag.FlagSet, group string) {
	fs.VisitAll(func(fl *pflag.Flag) {
		if _, ok := fl.Annotations[groupKey]; !ok {
			_ = fs.SetAnnotation(fl.Name, groupKey, []string{group})
		}
	})
}

// newFlagSet is a pflag set for command cmd: GNU style, flags before or
// after the positional arguments, no output of its own (errors become
// one line through flagError, --help is the command's own text).
func newFlagSet(cmd string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(cmd, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SortFlags = false
	fs.SetInterspersed(true)
	return fs
}

// newCheckFlagSet declares the `check` flags (docs/cli.md). A flag whose
// name is one letter (-n, -H) is that letter as its own shorthand; the
// other shorthands (-4 -6 -k -X -d) are aliases of a long name. A
// back-quoted word in a usage text is the value's name in --help.
func newCheckFlagSet(f *checkFlags) *pflag.FlagSet {
	fs := newFlagSet("check")
	f.fs = fs
	fs.IntVarP(&f.n, "n", "n", 1, "run `N` probes, then p50/p90/p99/max per phase")
	fs.DurationVar(&f.interval, "interval", 0, "pause `D` between runs")
	fs.BoolVar(&f.reuse, "reuse", false, "with -n: reuse connections between runs")
	fs.DurationVar(&f.timeout, "timeout", probe.DefaultTimeout, "whole probe budget `D` (default 10s)")
	fs.BoolVarP(&f.ipv4, "ipv4", "4", false, "use IPv4 only")
	fs.BoolVarP(&f.ipv6, "ipv6", "6", false, "use IPv6 only")
	fs.BoolVar(&f.lab, "lab", false, "probe every lab scenario in-process (no TARGET)")
	fs.BoolVar(&f.labAll, "lab-hostile", false, "with --lab: also probe the hostile servers")
	fs.Var(&f.asserts, "assert", "the Result must meet CEL `EXPR` (repeatable)")
	inGroup(fs, groupGeneral)

	fs.StringVarP(&f.method, "method", "X", "", "HTTP method `M` (default GET; POST with --data)")
	fs.VarP(&f.headers, "H", "H", "request header `'K: V'` (repeatable)")
	fs.StringVarP(&f.data, "data", "d", "", "request body `S`, or @FILE to read a file")
	fs.BoolVar(&f.http11, "http1.1", false, "offer only HTTP/1.1")
	fs.BoolVar(&f.http2, "http2", false, "offer only HTTP/2 in ALPN")
	fs.BoolVar(&f.h2c, "h2c", false, "HTTP/2 over cleartext with prior knowledge")
	fs.StringVar(&f.maxBody, "max-body", "10MiB", "stop reading the body at `SIZE` (default 10MiB)")
	fs.StringVar(&f.maxHeader, "max-header", "", "header block cap `SIZE`, 1KiB-64MiB (default 1MiB)")
	fs.IntVar(&f.maxRedirects, "max-redirects", probe.DefaultMaxRedirects, "redirects to follow `N` (default 10; 0: none)")
	fs.StringVar(&f.validStatus, "valid-status", "200-399", "statuses `R` that succeed (default 200-399)")
	fs.StringVar(&f.h2Window, "h2-window", "", "initial HTTP/2 stream window `SIZE` (also gRPC)")
	fs.StringVar(&f.h2ConnWindow, "h2-conn-window", "", "initial HTTP/2 conn window `SIZE` (also gRPC)")
	inGroup(fs, groupHTTP)

	fs.StringVar(&f.ca, "ca", "", "trust the PEM roots in `FILE`, not the system's")
	fs.StringVar(&f.cert, "cert", "", "PEM client certificate `FILE` (with --key)")
	fs.StringVar(&f.key, "key", "", "PEM private key `FILE` of the client certificate")
	fs.BoolVarP(&f.insecure, "insecure", "k", false, "report certificate problems, do not fail on them")
	fs.StringVar(&f.serverName, "servername", "", "TLS server name `NAME` (SNI, the name verified)")
	fs.BoolVar(&f.noResumption, "no-resumption-check", false, "skip the second, resumption-testing connection")
	inGroup(fs, groupTLS)

	fs.Var(&f.resolve, "resolve", "dial by `HOST:PORT:ADDR`, skip DNS (repeatable)")
	fs.StringVar(&f.dnsServer, "dns-server", "", "ask DNS server `ADDR[:PORT]` for every name")
	inGroup(fs, groupDNS)

	fs.StringVar(&f.grpcService, "grpc-service", "", "service `NAME` the health Check asks about")
	fs.StringVar(&f.grpcMethod, "grpc-method", "", "call `/PKG.SVC/M`, not the health Check")
	fs.StringVar(&f.grpcRequestHex, "grpc-request-hex", "", "the request message as `HEX` protobuf bytes")
	fs.IntVar(&f.expectMessages, "expect-messages", 0, "the call must yield `N` messages or more")
	inGroup(fs, groupGRPC)

	f.ws.register(fs)
	inGroup(fs, groupWS)

	fs.IntVar(&f.icmpCount, "icmp-count", probe.DefaultICMPCount, "echo requests `N` to send, 1-1000 (default 3)")
	fs.DurationVar(&f.icmpInterval, "icmp-interval", probe.DefaultICMPInterval, "pause `D` between echoes, >= 10ms (default 200ms)")
	inGroup(fs, groupICMP)

	fs.BoolVar(&f.json, "json", false, "print the Result as JSON (docs/result.md) only")
	fs.StringVar(&f.color, "color", "auto", "colour `WHEN`: auto (on a terminal), always, never")
	fs.BoolVar(&f.frames, "frames", false, "print the HTTP/2 frames (--json always has them)")
	inGroup(fs, groupOutput)
	return fs
}

// flagSpelling is how --help and messages spell fl: -n for a one-letter
// name, --name otherwise.
func flagSpelling(fl *pflag.Flag) string {
	if len(fl.Name) == 1 {
		return "-" + fl.Name
	}
	return "--" + fl.Name
}

// checkHelpText is `check --help`: the header, then the flags of fs group
// by group, each once with its alias.
func checkHelpText(fs *pflag.FlagSet) string {
	var b strings.Builder
	b.WriteString(checkHelp)
	type line struct{ left, usage string }
	width := 0
	byGroup := map[string][]line{}
	fs.VisitAll(func(fl *pflag.Flag) {
		name, usage := pflag.UnquoteUsage(fl)
		left := "    " + flagSpelling(fl)
		switch {
		case fl.Shorthand == fl.Name:
			left = flagSpelling(fl)
		case fl.Shorthand != "":
			left = "-" + fl.Shorthand + ", " + flagSpelling(fl)
		}
		if name != "" {
			left += " " + name
		}
		width = max(width, len(left))
		g := fl.Annotations[groupKey][0]
		byGroup[g] = append(byGroup[g], line{left, usage})
	})
	for _, g := range checkGroups {
		fmt.Fprintf(&b, "%s:\n", g)
		for _, l := range byGroup[g] {
			fmt.Fprintf(&b, "  %-*s  %s\n", width, l.left, l.usage)
		}
	}
	return b.String()
}

// parseArgs parses args with fs (flags may come before or after the
// positional arguments, as users type them: `check URL --json`; `--`
// ends the flags) and returns the positional arguments.
func parseArgs(fs *pflag.FlagSet, args []string) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return fs.Args(), nil
}

// valueRules is what a value of a pflag type must look like, by the
// type's name (pflag.Value.Type): pflag's causes are the strconv and time
// errors, whose text is Go's ("time: missing unit in duration \"5\"").
// It is the one mapping of error text the CLI keeps; pflag's own errors
// are matched by type in flagError.
var valueRules = map[string]string{
	"duration": "want a duration such as 5s or 500ms",
	"int":      "not a number",
	"bool":     "want true or false",
}

// flagError turns pflag's parse error into one clear line for command
// cmd (`check: --timeout 5: want a duration such as 5s or 500ms`).
func flagError(cmd string, fs *pflag.FlagSet, err error) error {
	var (
		notExist *pflag.NotExistError
		required *pflag.ValueRequiredError
		invalid  *pflag.InvalidValueError
		syntax   *pflag.InvalidSyntaxError
	)
	switch {
	case errors.As(err, &notExist):
		shorts := notExist.GetSpecifiedShortnames()
		if shorts == "" {
			return usagef("%s: unknown flag --%s", cmd, notExist.GetSpecifiedName())
		}
		// -json: a Go-flag style long flag, read as the shorthands j, s, o, n.
		long, _, _ := strings.Cut(shorts, "=")
		if len(long) > 1 && fs.Lookup(long) != nil {
			return usagef("%s: unknown flag -%s (long flags take two dashes: --%s)", cmd, long, long)
		}
		return usagef("%s: unknown flag -%s", cmd, notExist.GetSpecifiedName())
	case errors.As(err, &required):
		return usagef("%s: %s needs a value", cmd, flagSpelling(required.GetFlag()))
	case errors.As(err, &invalid):
		fl := invalid.GetFlag()
		rule, ok := valueRules[fl.Value.Type()]
		var ne *strconv.NumError
		if errors.As(invalid, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			rule, ok = "out of range", true
		}
		if !ok {
			rule = invalid.Unwrap().Error()
		}
		return usagef("%s: %s %s: %s", cmd, flagSpelling(fl), invalid.GetValue(), rule)
	case errors.As(err, &syntax):
		return usagef("%s: bad flag syntax %s", cmd, syntax.GetSpecifiedFlag())
	}
	return usagef("%s: %v", cmd, err)
}

// options validates the flags and builds probe.Options. Every error names
// the flag; the flags are checked in the order below, so the first bad
// one is reported.
func (f *checkFlags) options() (*probe.Options, error) {
	o := &probe.Options{}
	if f.n < 1 {
		return nil, usagef("check: -n %d: want 1 or more runs", f.n)
	}
	if f.interval < 0 {
		return nil, usagef("check: --interval %s: want a positive duration", f.interval)
	}
	o.Timeout = f.timeout
	if err := f.dnsOptions(o); err != nil {
		return nil, err
	}
	if err := f.tlsOptions(o); err != nil {
		return nil, err
	}
	if err := f.requestOptions(o); err != nil {
		return nil, err
	}
	if err := f.httpOptions(o); err != nil {
		return nil, err
	}
	o.SkipResumptionCheck = f.noResumption
	o.ICMPCount, o.ICMPInterval = f.icmpCount, f.icmpInterval
	if err := f.grpcOptions(o); err != nil {
		return nil, err
	}
	if err := f.ws.apply(o, func(p *probe.Options) error { return f.validate("ws", p) }); err != nil {
		return nil, err
	}
	if err := f.assertOptions(o); err != nil {
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

// dnsOptions reads the name resolution flags into o: --resolve,
// --dns-server, --ipv4 and --ipv6.
func (f *checkFlags) dnsOptions(o *probe.Options) error {
	for _, r := range f.resolve {
		e, err := probe.ParseResolve(r)
		if err != nil {
			return usagef("check: %v", err)
		}
		o.Resolve = append(o.Resolve, e)
	}
	if f.dnsServer != "" {
		s, err := optparse.NormalizeHostPort(f.dnsServer, "53")
		if err != nil {
			return usagef("check: --dns-server %q: %v", f.dnsServer, err)
		}
		o.DNSServer = s
	}
	if f.ipv4 && f.ipv6 {
		return usagef("check: --ipv4 and --ipv6 exclude each other")
	}
	o.IPv4Only, o.IPv6Only = f.ipv4, f.ipv6
	return nil
}

// tlsOptions reads the TLS flags into o: --ca, --cert and --key,
// --insecure and --servername.
func (f *checkFlags) tlsOptions(o *probe.Options) error {
	if f.ca != "" {
		pool, err := optparse.LoadCA(f.ca)
		if err != nil {
			return usagef("check: --ca: %v", err)
		}
		o.RootCAs, o.CAFile = pool, f.ca
	}
	if (f.cert == "") != (f.key == "") {
		return usagef("check: --cert and --key go together")
	}
	if f.cert != "" {
		c, err := optparse.LoadKeyPair(f.cert, f.key)
		if err != nil {
			return usagef("check: --cert/--key: %v", err)
		}
		o.ClientCert = c
	}
	o.Insecure = f.insecure
	o.ServerName = f.serverName
	return nil
}

// requestOptions reads the HTTP request flags into o: -X, -H and --data
// (a body, or @FILE).
func (f *checkFlags) requestOptions(o *probe.Options) error {
	o.Method = strings.ToUpper(f.method)
	if len(f.headers) > 0 {
		o.Header = http.Header{}
		for _, h := range f.headers {
			k, v, ok := strings.Cut(h, ":")
			k = strings.TrimSpace(k)
			if !ok || k == "" || strings.ContainsAny(k, " \t\r\n") {
				return usagef("check: -H %q: want 'Key: Value'", redactHeader(h))
			}
			o.Header.Add(k, strings.TrimSpace(v))
		}
	}
	if f.data != "" {
		if strings.HasPrefix(f.data, "@") {
			b, err := os.ReadFile(f.data[1:])
			if err != nil {
				return usagef("check: --data %s: %v", f.data, optparse.UnwrapPathErr(err))
			}
			o.Body = b
		} else {
			o.Body = []byte(f.data)
		}
	}
	return nil
}

// httpOptions reads the HTTP protocol and response flags into o: the
// protocol choice (--http1.1, --http2, --h2c), --max-body, --max-header,
// --max-redirects and --valid-status.
func (f *checkFlags) httpOptions(o *probe.Options) error {
	n := 0
	for _, b := range []bool{f.http11, f.http2, f.h2c} {
		if b {
			n++
		}
	}
	if n > 1 {
		return usagef("check: --http1.1, --http2 and --h2c exclude each other")
	}
	o.HTTP1Only, o.HTTP2Only, o.H2C = f.http11, f.http2, f.h2c
	mb, err := optparse.ParseSize(f.maxBody)
	if err != nil {
		return usagef("check: --max-body %q: %v", f.maxBody, err)
	}
	o.MaxBody = mb
	if f.maxHeader != "" {
		if o.MaxHeaderBytes, err = optparse.ParseSize(f.maxHeader); err != nil {
			return usagef("check: --max-header %q: %v", f.maxHeader, err)
		}
	}
	o.MaxRedirects, o.NoRedirects = f.maxRedirects, f.maxRedirects == 0 // --max-redirects 0 follows none
	vs, err := probe.ParseStatusRanges(f.validStatus)
	if err != nil {
		return usagef("check: --valid-status: %v", err)
	}
	o.ValidStatus = vs
	return nil
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
		f.fs.Visit(func(fl *pflag.Flag) { given["--"+fl.Name] = true })
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
