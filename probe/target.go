package probe

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Target is a parsed probe target: a URL of one of the kinds below.
type Target struct {
	Raw  string
	Kind string   // http, https, tcp, tls, dns, icmp, grpc, grpcs, ws, wss
	URL  *url.URL // the parsed URL (http, https, grpc, ws kinds)
	Host string   // host name or IP literal, without brackets
	Port int      // 0 for kinds without ports (icmp, dns system resolver)

	// DNS probes: the server to ask ("" = system resolver), the name (FQDN)
	// and the query type.
	DNSServer string
	QName     string
	QType     uint16
}

var defaultPorts = map[string]int{
	"http": 80, "https": 443, "tls": 443, "grpc": 80, "grpcs": 443, "ws": 80, "wss": 443, "dns": 53,
}

// TLSKind reports whether the kind starts with a TLS handshake.
func (t Target) TLSKind() bool {
	switch t.Kind {
	case "https", "tls", "grpcs", "wss":
		return true
	}
	return false
}

// HostPort is host:port with IPv6 literals bracketed.
func (t Target) HostPort() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) }

// errUserInfo is why a target with user-info is refused, whatever its kind.
const errUserInfo = "credentials in the URL are not supported; use -H 'Authorization: …'"

// ParseTarget parses and validates a target string. Errors name what is
// wrong and are of class config; they show the target with any password
// replaced by "xxxxx", even when the string is not a valid URL.
func ParseTarget(raw string) (Target, error) {
	shown := RedactUserInfo(raw) // never echo a password
	bad := func(format string, args ...any) (Target, error) {
		return Target{}, &PhaseError{Class: ClassConfig, Cause: CauseTarget, Err: fmt.Errorf("target %q: "+format, append([]any{shown}, args...)...)}
	}
	if strings.TrimSpace(raw) == "" {
		return bad("empty")
	}
	if !strings.Contains(raw, "://") {
		return bad("no scheme; write it as a URL such as https://%s", shown)
	}
	u, err := url.Parse(raw)
	if err != nil {
		if shown == raw {
			return bad("%v", unwrapURLError(err))
		}
		// url.Parse's reason may quote a piece of the password (a bad
		// escape, or a "port" cut from a password holding '/'): give the
		// reason the redacted string fails for instead, and when only the
		// user-info was at fault, the user-info rule.
		if _, rerr := url.Parse(shown); rerr != nil {
			return bad("%v", unwrapURLError(rerr))
		}
		return bad(errUserInfo)
	}
	shown = u.Redacted()
	if u.User != nil {
		// Refused for every kind; a user name alone can be a token
		// (https://TOKEN@host/), so none of the user-info is shown.
		hidden := *u
		hidden.User = url.User("xxxxx")
		shown = hidden.String()
		return bad(errUserInfo)
	}
	t := Target{Raw: raw, Kind: strings.ToLower(u.Scheme), URL: u}
	switch t.Kind {
	case "http", "https", "tcp", "tls", "grpc", "grpcs", "ws", "wss", "icmp":
	case "dns":
		return parseDNSTarget(t, u, bad)
	default:
		return bad("unknown scheme %q (want http, https, tcp, tls, dns, icmp, grpc, grpcs, ws or wss)", u.Scheme)
	}
	t.Host = u.Hostname()
	if t.Host == "" {
		return bad("no host")
	}
	if strings.ContainsAny(t.Host, " \t%") {
		return bad("invalid host %q", t.Host)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return bad("port %q out of range 1-65535", p)
		}
		t.Port = n
	} else if t.Kind == "icmp" {
		// no port
	} else if d, ok := defaultPorts[t.Kind]; ok {
		t.Port = d
	} else {
		return bad("%s targets need a port, e.g. %s://%s:5432", t.Kind, t.Kind, t.Host)
	}
	if t.Kind == "icmp" && u.Port() != "" {
		return bad("icmp targets take no port")
	}
	if (t.Kind == "tcp" || t.Kind == "tls" || t.Kind == "icmp") && u.Path != "" && u.Path != "/" {
		return bad("%s targets take no path", t.Kind)
	}
	return t, nil
}

func parseDNSTarget(t Target, u *url.URL, bad func(string, ...any) (Target, error)) (Target, error) {
	if u.Host != "" {
		host, port := u.Hostname(), u.Port()
		if port == "" {
			port = "53"
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return bad("port %q out of range 1-65535", port)
		}
		t.Host = host
		t.Port, _ = strconv.Atoi(port)
		t.DNSServer = net.JoinHostPort(host, port)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		return bad("no name to query; write dns://SERVER/NAME or dns:///NAME")
	}
	if _, ok := dns.IsDomainName(name); !ok {
		return bad("%q is not a domain name", name)
	}
	t.QName = dns.Fqdn(name)
	t.QType = dns.TypeA
	q := u.Query()
	for k := range q {
		if k != "type" {
			return bad("unknown parameter %q (only type=)", k)
		}
	}
	if ty := q.Get("type"); ty != "" {
		qt, ok := dns.StringToType[strings.ToUpper(ty)]
		if !ok {
			return bad("unknown query type %q", ty)
		}
		t.QType = qt
	}
	return t, nil
}

// RedactUserInfo returns raw with the password of its user-info replaced
// by "xxxxx", in the form url.URL.Redacted uses ("https://user:xxxxx@host/"),
// without parsing it, so that it also works on strings url.Parse refuses.
// Because such a string's authority cannot be trusted to end at the first
// '/', '?' or '#' (a password may hold them), the user-info runs from
// after "://" (or from the start, with no scheme) to the last '@'.
// A string without '@', or whose user-info has no ':', comes back as is.
func RedactUserInfo(raw string) string {
	start := 0
	if i := strings.Index(raw, "://"); i >= 0 {
		start = i + len("://")
	}
	rest := raw[start:]
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return raw
	}
	user, _, hasPassword := strings.Cut(rest[:at], ":")
	if !hasPassword {
		return raw
	}
	return raw[:start] + user + ":xxxxx" + rest[at:]
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
