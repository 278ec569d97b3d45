package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/pathlens/pathlens/probe"
)

// schemeDefaultPort is the port a URL of the scheme has when it names none.
var schemeDefaultPort = map[string]int{
	"http": 80, "https": 443, "tls": 443, "dns": 53, "grpc": 80, "grpcs": 443, "ws": 80, "wss": 443,
}

var patternSchemes = []string{"http", "https", "tcp", "tls", "dns", "icmp", "grpc", "grpcs", "ws", "wss"}

// pattern is a compiled probe_endpoint.allow entry.
type pattern struct {
	scheme    string
	authority string // glob over host[:port], lower case
	path      string // glob over path[?query]
	anyPath   bool   // the pattern has no path: any path and query
}

// compilePattern parses SCHEME://AUTHORITY[/PATH]. Its errors show the
// pattern with any password redacted.
func compilePattern(s string) (pattern, error) {
	if strings.TrimSpace(s) == "" {
		return pattern{}, fmt.Errorf("empty pattern")
	}
	shown := probe.RedactUserInfo(s)
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return pattern{}, fmt.Errorf("pattern %q has no scheme (write e.g. https://*.example.com/*)", shown)
	}
	p := pattern{scheme: strings.ToLower(scheme)}
	if !slices.Contains(patternSchemes, p.scheme) {
		return pattern{}, fmt.Errorf("pattern %q: unknown scheme %q (want %s)", shown, scheme, orList(patternSchemes))
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		p.authority, p.path = rest[:i], rest[i:]
	} else {
		p.authority, p.anyPath = rest, true
	}
	if strings.ContainsAny(p.authority, "@?# ") {
		return pattern{}, fmt.Errorf("pattern %q: the host part must not hold '@', '?', '#' or spaces", shown)
	}
	if strings.Contains(p.path, "#") {
		return pattern{}, fmt.Errorf("pattern %q: fragments (#) are never part of a probe target", shown)
	}
	p.authority = strings.ToLower(p.authority)
	return p, nil
}

// Allowed reports whether GET /probe may probe target. The target is
// parsed (probe.ParseTarget; an invalid one is refused) and matched
// against each pattern SCHEME://AUTHORITY[/PATH] part by part:
//
//   - the scheme exactly (case-insensitive, no wildcard);
//   - AUTHORITY against the target's host (lower case, IPv6 in brackets)
//     followed by ":PORT" only when the URL states a port other than the
//     scheme's default; '*' matches any run of characters, and the match
//     is anchored at both ends, so https://*.example.com/* allows
//     a.example.com and a.b.example.com on port 443 but not example.com,
//     example.com.evil.com or a.example.com:8443;
//   - PATH, when the pattern has one, against the target's escaped path
//     ("/" when empty) plus "?QUERY" when it has a query, '*' matching any
//     run of characters including '/'; a pattern without a path allows
//     any path and query.
//
// A pattern with a path never matches a target whose path a server could
// resolve to somewhere else than the pattern sees: one holding a "." or
// ".." segment, plain or percent-encoded ("/public/%2e%2e/admin"; also
// "..;", which some servers read as ".."), an encoded '/' or '\' (%2F,
// %5C, either case) or a bare '\'. Such targets are refused rather than
// normalised because the probe sends the URL as written, so what is
// matched must be what is sent. Dots within a segment ("/public/a.b",
// "/public/..a") and other escapes ("/public/%41") are fine.
//
// Because the target is parsed before matching, a '*' in the authority can
// never reach into the path, query, fragment or user-info of the target.
func (p ProbeEndpoint) Allowed(target string) bool {
	t, err := probe.ParseTarget(target)
	if err != nil || t.URL == nil {
		return false
	}
	if t.URL.Fragment != "" || t.URL.User != nil {
		return false
	}
	authority := strings.ToLower(t.Host)
	if strings.Contains(authority, ":") {
		authority = "[" + authority + "]"
	}
	if t.URL.Port() != "" && t.Port != schemeDefaultPort[t.Kind] {
		authority = net.JoinHostPort(strings.Trim(authority, "[]"), strconv.Itoa(t.Port))
	}
	path := t.URL.EscapedPath()
	if t.URL.Opaque != "" {
		return false
	}
	if path == "" {
		path = "/"
	}
	pathSafe := !ambiguousPath(path)
	if t.URL.RawQuery != "" || t.URL.ForceQuery {
		path += "?" + t.URL.RawQuery
	}
	for _, s := range p.Allow {
		pat, err := compilePattern(s)
		if err != nil || pat.scheme != t.Kind {
			continue
		}
		if !glob(pat.authority, authority) {
			continue
		}
		if pat.anyPath || (pathSafe && glob(pat.path, path)) {
			return true
		}
	}
	return false
}

// ambiguousPath reports whether an escaped URL path is one whose meaning
// depends on how the server normalises it: it holds a dot segment ("." or
// "..", plainly or percent-encoded, with or without ";PARAMS"), an
// encoded '/' or '\' (%2F, %5C), a bare '\', or an invalid escape.
func ambiguousPath(escaped string) bool {
	lower := strings.ToLower(escaped)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") || strings.ContainsRune(escaped, '\\') {
		return true
	}
	for _, seg := range strings.Split(escaped, "/") {
		seg, _, _ = strings.Cut(seg, ";")
		dec, err := url.PathUnescape(seg)
		if err != nil || dec == "." || dec == ".." {
			return true
		}
	}
	return false
}

// glob matches name against pattern, where '*' matches any run of
// characters (including none) and every other byte matches itself; the
// match covers the whole name.
func glob(pattern, name string) bool {
	px, nx := 0, 0
	nextPx, nextNx := 0, 0
	for px < len(pattern) || nx < len(name) {
		if px < len(pattern) {
			c := pattern[px]
			if c == '*' {
				nextPx, nextNx = px, nx+1
				px++
				continue
			}
			if nx < len(name) && name[nx] == c {
				px++
				nx++
				continue
			}
		}
		if 0 < nextNx && nextNx <= len(name) {
			px, nx = nextPx, nextNx
			continue
		}
		return false
	}
	return true
}
