package config

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestProbeEndpointDefaults(t *testing.T) {
	c, err := Parse("", nil)
	if err != nil {
		t.Fatal(err)
	}
	p := c.ProbeEndpoint
	if p.MaxConcurrent != DefaultProbeMaxConcurrent || p.QueueTimeout != DefaultProbeQueueTimeout || p.Open ||
		len(p.Modules) != 0 || len(p.DenyNetworks) != 0 || len(p.Allow) != 0 || len(c.AllowedHosts) != 0 {
		t.Errorf("defaults: %+v, allowed_hosts %v", p, c.AllowedHosts)
	}
	if p.MaxConcurrent != 16 || p.QueueTimeout != time.Second {
		t.Errorf("max_concurrent %d, queue_timeout %v; want 16, 1s", p.MaxConcurrent, p.QueueTimeout)
	}
	if !p.ModuleAllowed("") || !p.ModuleAllowed(DefaultModule) || p.ModuleAllowed("web") {
		t.Error("with no modules listed, /probe should take the default module only")
	}
}

func TestProbeEndpointKeys(t *testing.T) {
	text := `
allowed_hosts: [Pathlens.Example.COM, "*.mon.example", "mon.example.", 192.0.2.7, "[2001:DB8::1]", "2001:db8::2"]
modules:
  web: {kind: http}
  secret: {kind: http, http: {headers: {Authorization: Bearer x}}}
probe_endpoint:
  allow: ["https://*.example.com/*"]
  modules: [web]
  open: true
  deny_networks: [loopback, 10.1.2.3/8, 192.0.2.1, "::ffff:172.16.0.0/108", cgnat, "FD00::/8"]
  max_concurrent: 10000
  queue_timeout: 1m
`
	c, err := Parse("p.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	p := c.ProbeEndpoint
	if !p.Open || p.MaxConcurrent != 10000 || p.QueueTimeout != time.Minute || !slices.Equal(p.Modules, []string{"web"}) {
		t.Errorf("ProbeEndpoint = %+v", p)
	}
	for name, want := range map[string]bool{"": true, DefaultModule: true, "web": true, "secret": false, "nope": false} {
		if got := p.ModuleAllowed(name); got != want {
			t.Errorf("ModuleAllowed(%q) = %v, want %v", name, got, want)
		}
	}
	var nets []string
	for _, n := range p.DenyNetworks {
		nets = append(nets, n.String())
	}
	want := []string{"127.0.0.0/8", "::1/128", "10.0.0.0/8", "192.0.2.1/32", "172.16.0.0/12", "100.64.0.0/10", "fd00::/8"}
	if !slices.Equal(nets, want) {
		t.Errorf("DenyNetworks = %v, want %v", nets, want)
	}
	hosts := []string{"pathlens.example.com", "*.mon.example", "mon.example", "192.0.2.7", "2001:db8::1", "2001:db8::2"}
	if !slices.Equal(c.AllowedHosts, hosts) {
		t.Errorf("AllowedHosts = %v, want %v", c.AllowedHosts, hosts)
	}
}

func TestParseNetworkNames(t *testing.T) {
	for name, want := range map[string][]string{
		"loopback":    {"127.0.0.0/8", "::1/128"},
		"link-local":  {"169.254.0.0/16", "fe80::/10"},
		"private":     {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"},
		"unspecified": {"0.0.0.0/32", "::/128"},
		"cgnat":       {"100.64.0.0/10"},
		"Loopback":    {"127.0.0.0/8", "::1/128"},
		"::":          {"::/128"},
		"0.0.0.0/0":   {"0.0.0.0/0"},
	} {
		got, err := parseNetwork(name)
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		if err != nil || !slices.Equal(s, want) {
			t.Errorf("parseNetwork(%q) = %v, %v; want %v", name, s, err, want)
		}
	}
	// The named lists are not shared with the results.
	got, _ := parseNetwork("loopback")
	got[0] = netip.MustParsePrefix("1.2.3.4/32")
	if again, _ := parseNetwork("loopback"); again[0].String() != "127.0.0.0/8" {
		t.Error("parseNetwork returns the named list itself")
	}
	for _, bad := range []string{"", "intranet", "10.0.0.0/33", "10.0.0", "10.0.0.0/8/8", "example.com", "fe80::1%eth0"} {
		if _, err := parseNetwork(bad); err == nil {
			t.Errorf("parseNetwork(%q) accepted", bad)
		}
	}
}

func TestParseAllowedHost(t *testing.T) {
	for in, want := range map[string]string{
		"pathlens.example.com": "pathlens.example.com", "PathLens.Example.com.": "pathlens.example.com",
		"*.example.com": "*.example.com", "host_1": "host_1", "10.0.0.1": "10.0.0.1", "[::1]": "::1", "::1": "::1",
		"2001:DB8::1": "2001:db8::1",
	} {
		if got, err := parseAllowedHost(in); err != nil || got != want {
			t.Errorf("parseAllowedHost(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{
		"":                        "empty host name",
		"  ":                      "empty host name",
		"*":                       "is not a host name",
		"*.":                      "is not a host name",
		"a.*.example.com":         "is not a host name",
		"-a.example.com":          "is not a host name",
		"a..example.com":          "is not a host name",
		"ex ample.com":            "is not a host name",
		strings.Repeat("a", 64):   "is not a host name",
		"example.com:9116":        "without a port",
		"[::1]:9116":              "want an IPv6 address in brackets, without a port",
		"[10.0.0.1]":              "want an IPv6 address in brackets",
		"fe80::1%eth0":            "leave the zone out",
		"http://example.com":      "not a URL",
		"example.com/x":           "not a URL",
		"user:S3CRET@example.com": `"user:xxxxx@example.com": want a host name alone`,
	} {
		_, err := parseAllowedHost(in)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("parseAllowedHost(%q) = %v, want an error with %q", in, err, msg)
		}
	}
}
