package probe

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// FieldError is one invalid setting. Key names it neutrally, the way
// docs/config.md does without the module prefix: "http.max_redirects",
// "ws.hold", "icmp.count", "h2.window", "grpc.expect_messages",
// "timeout" …; each front end spells the key its own way (a flag on the
// command line, FILE:LINE: modules.NAME.KEY in the config) and shows the
// value as the user typed it, so the rule is kept apart from the value.
type FieldError struct {
	// Key is the neutral name of the setting.
	Key string
	// Rule is what the value breaks, without the value: "want 1 to 1000".
	Rule string
	// Got is the bad value as pathlens formats it ("2000000000", "1ns").
	Got string
}

// Msg is the rule with the bad value: "want 1 to 1000, got 2000000000".
func (e *FieldError) Msg() string {
	if e.Got == "" {
		return e.Rule
	}
	return e.Rule + ", got " + e.Got
}

// Error is "KEY: RULE, got VALUE".
func (e *FieldError) Error() string { return e.Key + ": " + e.Msg() }

// FieldErrors are the invalid settings of one Options, in the order the
// rules are checked (common rules first, then the kind's).
type FieldErrors []*FieldError

// Error joins the errors with "; ".
func (fe FieldErrors) Error() string {
	s := make([]string, len(fe))
	for i, e := range fe {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}

// Add appends a FieldError whose Rule is format applied to args.
func (fe *FieldErrors) Add(key, got, format string, args ...any) {
	*fe = append(*fe, &FieldError{Key: key, Rule: fmt.Sprintf(format, args...), Got: got})
}

// Validate checks o for a probe of kind — a kind name ("http") or a
// target scheme ("https") — against the rules every kind shares and the
// kind's own (Kind.Validate). It returns FieldErrors, or nil when o is
// valid. A zero field means its default and is valid; probe.Run calls
// Validate and turns its error into a config-class Result.
func (o *Options) Validate(kind string) error { return o.ValidateGiven(kind, nil) }

// ValidateGiven is Validate for a front end that knows which settings its
// user wrote: for a key where given reports true, a zero value is a value
// typed by the user (`--icmp-count 0`, `count: 0`), not "the default",
// and is checked like any other; so is the legacy negative MaxRedirects.
// given nil means nothing was typed.
func (o *Options) ValidateGiven(kind string, given func(key string) bool) error {
	if given == nil {
		given = func(string) bool { return false }
	}
	var fe FieldErrors
	if o.Timeout < 0 || (o.Timeout == 0 && given("timeout")) {
		fe.Add("timeout", o.Timeout.String(), "want a positive duration")
	}
	k, ok := LookupKind(kind)
	if !ok {
		k, ok = KindFor(kind)
	}
	if ok && k.Validate != nil {
		fe = append(fe, k.Validate(o, given)...)
	}
	if len(fe) == 0 {
		return nil
	}
	return fe
}

// optionCause is the ErrorInfo.Cause of the first invalid setting:
// CauseWindow for the HTTP/2 windows, CauseMethod for the gRPC method,
// else CauseOption.
func optionCause(fe FieldErrors) Cause {
	switch k := fe[0].Key; {
	case strings.HasPrefix(k, "h2."):
		return CauseWindow
	case k == "grpc.method":
		return CauseMethod
	}
	return CauseOption
}

// The rules of the kinds that share settings. Each returns the
// FieldErrors of its part of Options; the prober packages' Kind.Validate
// functions combine them.

// ValidateHTTP checks the http kind's settings: redirects, body and header
// caps, valid statuses and the HTTP/2 windows the client can announce.
func ValidateHTTP(o *Options, given func(string) bool) FieldErrors {
	var fe FieldErrors
	if o.MaxRedirects < 0 && given("http.max_redirects") {
		fe.Add("http.max_redirects", strconv.Itoa(o.MaxRedirects), "want 0 or more")
	}
	if o.MaxBody < 0 || (o.MaxBody == 0 && given("http.max_body")) {
		fe.Add("http.max_body", strconv.FormatInt(o.MaxBody, 10), "want a positive size")
	}
	if h := o.MaxHeaderBytes; h < 0 || (h == 0 && given("http.max_header_bytes")) || (h > 0 && (h < MinMaxHeader || h > MaxMaxHeader)) {
		fe.Add("http.max_header_bytes", strconv.FormatInt(h, 10), "want a size from 1KiB to 64MiB")
	}
	for _, r := range o.ValidStatus {
		if r.Lo < 100 || r.Hi > 599 || r.Lo > r.Hi {
			fe.Add("http.valid_status", r.String(), "want statuses from 100 to 599, the lower first")
		}
	}
	fe = append(fe, validateWindows(o, 1, MinH2ConnWindow,
		"want %d or more (the HTTP/2 client cannot announce a connection window below %d bytes: the 65,535-byte initial window plus at least as much again)")...)
	return fe
}

// ValidateGRPC checks the grpc kind's settings: the method's form, the
// expected message count and the windows grpc-go honours.
func ValidateGRPC(o *Options, _ func(string) bool) FieldErrors {
	var fe FieldErrors
	if o.ExpectMessages < 0 {
		fe.Add("grpc.expect_messages", strconv.Itoa(o.ExpectMessages), "want 0 or more")
	}
	if o.GRPCMethod != "" && !grpcMethodRE.MatchString(o.GRPCMethod) {
		fe.Add("grpc.method", strconv.Quote(o.GRPCMethod), "want /package.Service/Method")
	}
	return append(fe, validateWindows(o, MinGRPCWindow, MinGRPCWindow, "want %d or more (grpc-go ignores HTTP/2 windows below %d bytes)")...)
}

// grpcMethodRE is the form of a gRPC method: /package.Service/Method.
var grpcMethodRE = regexp.MustCompile(`^/[^/\s]+/[^/\s]+$`)

// validateWindows checks H2Window and H2ConnWindow: positive, and at
// least the minimums (0 leaves the client's default). below is the rule
// for a window under its minimum, formatted with the minimum twice.
func validateWindows(o *Options, minStream, minConn int32, below string) FieldErrors {
	var fe FieldErrors
	for _, w := range []struct {
		key string
		v   int32
		min int32
	}{{"h2.window", o.H2Window, minStream}, {"h2.conn_window", o.H2ConnWindow, minConn}} {
		switch {
		case w.v < 0:
			fe.Add(w.key, strconv.Itoa(int(w.v)), "want a positive size")
		case w.v > 0 && w.v < w.min:
			fe.Add(w.key, strconv.Itoa(int(w.v)), below, w.min, w.min)
		}
	}
	return fe
}

// Limits of an icmp probe: at most MaxICMPCount echo requests, at least
// MinICMPInterval apart, so that neither can turn a probe into a flood.
const (
	MaxICMPCount    = 1000
	MinICMPInterval = 10 * time.Millisecond
)

// ValidateICMP checks the icmp kind's echo count and interval.
func ValidateICMP(o *Options, given func(string) bool) FieldErrors {
	var fe FieldErrors
	if c := o.ICMPCount; c < 0 || c > MaxICMPCount || (c == 0 && given("icmp.count")) {
		fe.Add("icmp.count", strconv.Itoa(c), "want 1 to %d", MaxICMPCount)
	}
	if iv := o.ICMPInterval; iv < 0 || (iv > 0 && iv < MinICMPInterval) || (iv == 0 && given("icmp.interval")) {
		fe.Add("icmp.interval", iv.String(), "want %s or more", MinICMPInterval)
	}
	return fe
}

// ValidateWS checks the ws kind's settings (o.WS; nil has none).
func ValidateWS(o *Options, given func(string) bool) FieldErrors {
	w := o.WS
	if w == nil {
		return nil
	}
	var fe FieldErrors
	if w.Hold < 0 {
		fe.Add("ws.hold", w.Hold.String(), "want 0 or a positive duration")
	}
	if p := w.PingInterval; p < 0 || (p > 0 && p < MinWSPingInterval) {
		fe.Add("ws.ping_interval", p.String(), "want %s or more (0: no pings)", MinWSPingInterval)
	}
	if m := w.MaxMessage; m < 0 || m > MaxWSMaxMessage || (m == 0 && given("ws.max_message")) {
		fe.Add("ws.max_message", strconv.FormatInt(m, 10), "want a size from 1 byte to 1GiB")
	}
	if strings.ContainsFunc(w.TokenParam, func(r rune) bool { return r <= ' ' || r >= 0x7f || strings.ContainsRune("&=#?+%/", r) }) {
		fe.Add("ws.token_param", strconv.Quote(w.TokenParam), "want a query parameter name such as access_token")
	}
	if t := w.TokenTTL; t < 0 || (t == 0 && given("ws.jwt.ttl")) {
		fe.Add("ws.jwt.ttl", t.String(), "want a positive duration")
	}
	return fe
}
