package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults for Options fields left at their zero value.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultMaxBody      = 10 << 20 // 10 MiB, docs/findings.md#http_body_too_large
	DefaultMaxRedirects = 10
	DefaultMaxHeader    = 1 << 20 // response header block cap (MaxHeaderBytes)
)

// MinMaxHeader and MaxMaxHeader bound MaxHeaderBytes: below 1 KiB no real
// server's headers fit, above 64 MiB the cap no longer protects anything.
const (
	MinMaxHeader = 1 << 10
	MaxMaxHeader = 64 << 20
)

// Defaults of the icmp probe's ICMPCount and ICMPInterval.
const (
	DefaultICMPCount    = 3
	DefaultICMPInterval = 200 * time.Millisecond
)

// Options are the knobs every probe kind understands, plus the HTTP ones.
// The zero value probes with the defaults above, the system resolver and
// the system trust store.
type Options struct {
	// Timeout is the whole probe's budget (default 10 s).
	Timeout time.Duration
	// Resolve pins host:port to addresses, like curl's --resolve; a pinned
	// name has no dns phase.
	Resolve []ResolveEntry
	// DNSServer ("addr:port") answers every name lookup; "" = system resolver.
	DNSServer string
	// IPv4Only / IPv6Only restrict the address family.
	IPv4Only, IPv6Only bool
	// DenyNetworks lists address ranges the probe never connects to: every
	// resolved (or pinned, or literal) address of every hop is checked
	// before any connection; a denied address is skipped, and when no
	// address is left the probe fails in phase connect with class
	// "connect", cause "address_denied", naming the denied addresses.
	// Addresses are compared unmapped (::ffff:127.0.0.1 is 127.0.0.1).
	DenyNetworks []netip.Prefix

	// RootCAs is the trust store; nil = the system roots. CAFile names it
	// in the Result.
	RootCAs *x509.CertPool
	CAFile  string
	// ClientCert is presented when the server asks for one.
	ClientCert *tls.Certificate
	// Insecure records verification problems but does not fail on them.
	Insecure bool
	// ServerName overrides SNI and the name verified.
	ServerName string
	// SkipResumptionCheck skips the second TLS connection that tests
	// session resumption (TLS_NO_RESUMPTION).
	SkipResumptionCheck bool
	// Resumption, when set, carries the resumption check's verdict between
	// runs of one target and runs the check only when it is due (see
	// ResumptionMemory). nil: every probe runs it.
	Resumption *ResumptionMemory
	// VerifyCache, when set, reuses the verdict of the certificate checks
	// on a chain already verified for the same name and trust store
	// (bounded in time and size; see VerifyCache). serve sets one.
	VerifyCache *VerifyCache

	// HTTP.
	Method    string      // default GET (POST when Body is set)
	Header    http.Header // extra request headers; a redirect to another origin drops them (see httpx)
	Body      []byte
	HTTP1Only bool // offer only http/1.1 in ALPN
	HTTP2Only bool // offer only h2 in ALPN
	H2C       bool // HTTP/2 over cleartext with prior knowledge
	MaxBody   int64
	// KeepBody keeps the final HTTP response's body, up to MaxBody, in
	// Result.Body (never serialised) for the caller of Run to read;
	// Assertions that read the body imply it (EffectiveKeepBody), and
	// engine.Check drops the body once they ran. Without it the body is
	// counted and discarded as it streams.
	KeepBody bool
	// MaxRedirects is how many redirects are followed (0: the default,
	// 10). NoRedirects follows none: the first answer is final. A front
	// end whose users write "0 follows none" sets NoRedirects for 0. A
	// negative MaxRedirects also follows none; it is the older spelling
	// of NoRedirects, kept for existing callers.
	MaxRedirects int
	NoRedirects  bool
	// MaxHeaderBytes caps the response header block (0: DefaultMaxHeader;
	// MinMaxHeader to MaxMaxHeader); a larger one fails the probe.
	MaxHeaderBytes int64
	ValidStatus    []StatusRange
	// CheckRedirect, when set, is asked before a redirect is followed,
	// with the next hop's URL (already resolved against the current one).
	// A non-nil error ends the probe before anything is sent to that hop —
	// no DNS lookup, no connection: the error has phase "wait", class
	// "http", cause "redirect_refused", and its message says which URL was
	// refused and why (the error's text).
	CheckRedirect func(next *url.URL) error

	// ICMPCount is how many echo requests an icmp probe sends (default 3,
	// at most MaxICMPCount).
	ICMPCount int
	// ICMPInterval is the pause between echo requests (default 200 ms, at
	// least MinICMPInterval).
	ICMPInterval time.Duration

	// gRPC (grpc, grpcs). GRPCMethod "" runs a grpc.health.v1 Check of
	// GRPCService ("" = the whole server); otherwise "/pkg.Svc/Method" is
	// called with GRPCRequest as the raw request message bytes.
	GRPCService string
	GRPCMethod  string
	GRPCRequest []byte
	// ExpectMessages is how many response messages the call must yield
	// (0 = no expectation; negative is invalid).
	ExpectMessages int
	// H2Window and H2ConnWindow set the client's initial HTTP/2 stream and
	// connection windows in bytes on every HTTP/2 probe (https with h2,
	// h2c, grpc); 0 leaves the client's default (for gRPC: BDP estimation
	// on). Validate refuses what the client would silently ignore: HTTP
	// probes need H2ConnWindow ≥ MinH2ConnWindow, gRPC probes both windows
	// ≥ MinGRPCWindow.
	H2Window, H2ConnWindow int32

	// WS configures ws and wss probes (types in ws.go); nil = defaults.
	WS *WSOptions

	// Session carries state between runs (connection reuse with --reuse);
	// nil means every run starts fresh.
	Session *Session

	// Assertions are the caller's own checks on every Result (package
	// assert compiles them from CEL expressions); engine.Check runs them
	// after the diagnosis. nil: none. They are read-only and may be
	// shared by any number of Options.
	Assertions Assertions
}

// Assertions are checks a caller adds to every probe's Result. probe
// declares the interface so that the options can carry them without
// importing the package that builds them (assert).
type Assertions interface {
	// NeedsBody reports whether the checks read the response body: the
	// http prober keeps it (Result.Body) only then.
	NeedsBody() bool
	// Check evaluates the checks against r and returns the findings of
	// the failed ones (none when all hold).
	Check(ctx context.Context, r *Result) []Finding
}

// SameOrigin reports whether a and b have the same origin: scheme, host
// and port, a missing port being the scheme's default (http 80, https
// 443). Host names compare case-insensitively, IP literals as addresses.
// A redirect that changes origin — a scheme change on the same host
// included — is followed without the caller's credentials.
func SameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && originHost(a) == originHost(b) && originPort(a) == originPort(b)
}

func originHost(u *url.URL) string {
	h := u.Hostname()
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.Unmap().String()
	}
	return strings.ToLower(h)
}

func originPort(u *url.URL) int {
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return -1
		}
		return n
	}
	return defaultPorts[strings.ToLower(u.Scheme)]
}

// ResolveEntry pins Host:Port to Addrs.
type ResolveEntry struct {
	Host  string
	Port  int
	Addrs []netip.Addr
}

// ParseResolve parses curl's host:port:addr[,addr…] form.
func ParseResolve(s string) (ResolveEntry, error) {
	host, rest, ok := strings.Cut(s, ":")
	if !ok || host == "" {
		return ResolveEntry{}, fmt.Errorf("--resolve %q: want host:port:addr", s)
	}
	portStr, addrs, ok := strings.Cut(rest, ":")
	if !ok {
		return ResolveEntry{}, fmt.Errorf("--resolve %q: want host:port:addr", s)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return ResolveEntry{}, fmt.Errorf("--resolve %q: bad port %q", s, portStr)
	}
	e := ResolveEntry{Host: strings.ToLower(host), Port: port}
	for _, a := range strings.Split(addrs, ",") {
		a = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(a), "["), "]")
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return ResolveEntry{}, fmt.Errorf("--resolve %q: bad address %q", s, a)
		}
		e.Addrs = append(e.Addrs, ip.Unmap())
	}
	return e, nil
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Lo, Hi int }

func (r StatusRange) String() string {
	if r.Lo == r.Hi {
		return strconv.Itoa(r.Lo)
	}
	return strconv.Itoa(r.Lo) + "-" + strconv.Itoa(r.Hi)
}

// ParseStatusRanges parses "200-399,404" into ranges.
func ParseStatusRanges(s string) ([]StatusRange, error) {
	var out []StatusRange
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 100 || b > 599 || a > b {
			return nil, fmt.Errorf("bad status range %q (want e.g. 200-399 or 404)", part)
		}
		out = append(out, StatusRange{a, b})
	}
	return out, nil
}

// DefaultValidStatus is 200-399, as in blackbox_exporter's 2xx plus redirects.
var DefaultValidStatus = []StatusRange{{200, 399}}

func (o *Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultTimeout
}

func (o *Options) maxBody() int64 {
	if o.MaxBody > 0 {
		return o.MaxBody
	}
	return DefaultMaxBody
}

func (o *Options) maxRedirects() int {
	switch {
	case o.NoRedirects || o.MaxRedirects < 0:
		return 0
	case o.MaxRedirects == 0:
		return DefaultMaxRedirects
	}
	return o.MaxRedirects
}

// EffectiveTimeout, EffectiveMaxBody and EffectiveMaxRedirects apply the defaults.
func (o *Options) EffectiveTimeout() time.Duration { return o.timeout() }

// EffectiveMaxBody is MaxBody or its default.
func (o *Options) EffectiveMaxBody() int64 { return o.maxBody() }

// EffectiveMaxRedirects is MaxRedirects or its default (0 when redirects are off).
func (o *Options) EffectiveMaxRedirects() int { return o.maxRedirects() }

// EffectiveKeepBody reports whether the prober keeps the response body:
// KeepBody is set, or an assertion reads the body.
func (o *Options) EffectiveKeepBody() bool {
	return o.KeepBody || (o.Assertions != nil && o.Assertions.NeedsBody())
}

// EffectiveMaxHeader is MaxHeaderBytes or DefaultMaxHeader.
func (o *Options) EffectiveMaxHeader() int64 {
	if o.MaxHeaderBytes > 0 {
		return o.MaxHeaderBytes
	}
	return DefaultMaxHeader
}

// EffectiveValidStatus is ValidStatus or 200-399.
func (o *Options) EffectiveValidStatus() []StatusRange {
	if len(o.ValidStatus) > 0 {
		return o.ValidStatus
	}
	return DefaultValidStatus
}

// The smallest HTTP/2 windows a probe can announce. grpc-go ignores
// windows below 64 KiB; x/net's HTTP client keeps the 65,535-byte initial
// connection window and adds at least as much again with its first
// WINDOW_UPDATE, and replaces smaller values by its 1 GiB default. pathlens
// refuses what would be silently ignored.
const (
	MinGRPCWindow   = 65535
	MinH2ConnWindow = 2 * 65535
)
