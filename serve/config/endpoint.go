package config

import (
	"fmt"
	"net/netip"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/pathlens/pathlens/probe"
)

// probeEndpoint reads the probe_endpoint section into c.ProbeEndpoint;
// c.Modules must be read already.
func (d *decoder) probeEndpoint(c *Config, r *rawProbeEndpoint) {
	const path = "probe_endpoint"
	p := &c.ProbeEndpoint
	for i := range r.Allow {
		n, field := &r.Allow[i], index(join(path, "allow"), i)
		if isNull(n) {
			d.failf(n, field, "empty pattern")
		}
		s := d.listString(n, field, "a string")
		if _, err := compilePattern(s); err != nil {
			d.failf(n, field, "%v", err)
		}
		p.Allow = append(p.Allow, s)
	}

	first := map[string]int{}
	for i := range r.Modules {
		n, field := &r.Modules[i], index(join(path, "modules"), i)
		name := d.listString(n, field, "a module name")
		if _, ok := c.Modules[name]; !ok {
			d.failf(n, field, "unknown module %q (known: %s)", name, strings.Join(c.moduleNames(), ", "))
		}
		if line, dup := first[name]; dup {
			d.failf(n, field, "module %q is listed twice (first at line %d)", name, line)
		}
		first[name] = n.Line
		p.Modules = append(p.Modules, name)
	}

	r.Open.set(&p.Open)

	for i := range r.DenyNetworks {
		n, field := &r.DenyNetworks[i], index(join(path, "deny_networks"), i)
		nets, err := parseNetwork(d.listString(n, field, "a network"))
		if err != nil {
			d.failf(n, field, "%v", err)
		}
		p.DenyNetworks = append(p.DenyNetworks, nets...)
	}

	if n := r.MaxConcurrent.set(&p.MaxConcurrent); n != nil && (p.MaxConcurrent < 1 || p.MaxConcurrent > MaxProbeMaxConcurrent) {
		d.failf(n, join(path, "max_concurrent"), "want 1 to %d, got %d", MaxProbeMaxConcurrent, p.MaxConcurrent)
	}
	if n := r.QueueTimeout.set(&p.QueueTimeout); n != nil {
		switch {
		case p.QueueTimeout <= 0:
			d.failf(n, join(path, "queue_timeout"), "want a positive duration, got %s", fmtDur(p.QueueTimeout))
		case p.QueueTimeout > MaxProbeQueueTimeout:
			d.failf(n, join(path, "queue_timeout"), "queue_timeout %s is above the maximum of %s", fmtDur(p.QueueTimeout), fmtDur(MaxProbeQueueTimeout))
		}
	}
}

// listString returns the string a list item n holds, failing when it is
// not a string (what names the expected value, e.g. "a module name").
func (d *decoder) listString(n *yaml.Node, field, what string) string {
	n = resolve(n)
	if isNull(n) || n.Kind != yaml.ScalarNode {
		d.failf(n, field, "want %s, got %s", what, describe(n))
	}
	return n.Value
}

// namedNetworks are the names deny_networks accepts besides CIDRs and
// addresses, in the order messages list them.
var namedNetworks = []struct {
	name     string
	prefixes []netip.Prefix
}{
	{"loopback", prefixes("127.0.0.0/8", "::1/128")},
	{"link-local", prefixes("169.254.0.0/16", "fe80::/10")},
	{"private", prefixes("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")},
	{"unspecified", prefixes("0.0.0.0/32", "::/128")},
	{"cgnat", prefixes("100.64.0.0/10")},
}

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// parseNetwork reads a deny_networks entry: a CIDR ("10.0.0.0/8", host
// bits dropped), an address (as /32 or /128) or one of namedNetworks.
// An IPv4-mapped IPv6 range becomes the IPv4 range, since addresses are
// compared unmapped.
func parseNetwork(s string) ([]netip.Prefix, error) {
	t := strings.TrimSpace(s)
	for _, n := range namedNetworks {
		if strings.EqualFold(t, n.name) {
			return append([]netip.Prefix(nil), n.prefixes...), nil
		}
	}
	var p netip.Prefix
	if strings.Contains(t, "/") {
		var err error
		if p, err = netip.ParsePrefix(t); err != nil {
			return nil, badNetwork(s)
		}
	} else {
		a, err := netip.ParseAddr(t)
		if err != nil {
			return nil, badNetwork(s)
		}
		if a.Zone() != "" {
			return nil, fmt.Errorf("%q: an address with a zone (%%%s) is not a network; leave the zone out", s, a.Zone())
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return []netip.Prefix{p.Masked()}, nil
}

func badNetwork(s string) error {
	names := make([]string, len(namedNetworks))
	for i, n := range namedNetworks {
		names[i] = n.name
	}
	return fmt.Errorf("%q is not a CIDR (such as 10.0.0.0/8 or fd00::/8), an address or one of %s", s, orList(names))
}

// parseAllowedHost reads an allowed_hosts entry: a host name, lower-cased
// and without a trailing dot, optionally starting with "*." (any name
// below the rest), or an IP literal (returned without brackets). Ports,
// schemes, paths and user-info are refused.
func parseAllowedHost(s string) (string, error) {
	shown := probe.RedactUserInfo(s)
	h := strings.ToLower(strings.TrimSpace(s))
	if h == "" {
		return "", fmt.Errorf("empty host name")
	}
	if strings.Contains(h, "://") || strings.ContainsAny(h, "/?#@") {
		return "", fmt.Errorf("%q: want a host name alone, not a URL (no scheme, path or user-info)", shown)
	}
	if inner, ok := strings.CutPrefix(h, "["); ok {
		inner, ok = strings.CutSuffix(inner, "]")
		if a, err := netip.ParseAddr(inner); ok && err == nil && a.Is6() && a.Zone() == "" {
			return a.String(), nil
		}
		return "", fmt.Errorf("%q: want an IPv6 address in brackets, without a port", shown)
	}
	if a, err := netip.ParseAddr(h); err == nil {
		if a.Zone() != "" {
			return "", fmt.Errorf("%q: leave the zone out", shown)
		}
		return a.String(), nil
	}
	if strings.Contains(h, ":") {
		return "", fmt.Errorf("%q: want the host name without a port", shown)
	}
	h = strings.TrimSuffix(h, ".")
	if !isHostName(strings.TrimPrefix(h, "*.")) {
		return "", fmt.Errorf("%q is not a host name (letters, digits, '-', '_' and '.', with an optional leading \"*.\")", shown)
	}
	return h, nil
}

// isHostName reports whether s (lower case) is a DNS host name: dot-separated
// labels of 1 to 63 letters, digits, '-' or '_', not starting or ending
// with '-', 253 characters at most.
func isHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
