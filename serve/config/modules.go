package config

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/pathlens/pathlens/internal/optparse"
	"github.com/pathlens/pathlens/probe"
)

func applyModuleDefaults(m *Module) {
	m.HTTP = HTTPModule{
		Method:       "GET",
		HTTP2:        "auto",
		MaxBody:      probe.DefaultMaxBody,
		MaxRedirects: probe.DefaultMaxRedirects,
		ValidStatus:  slices.Clone(probe.DefaultValidStatus),
	}
	m.TLS.ResumptionCheck = true
	m.ICMP = ICMPModule{Count: DefaultICMPCount, Interval: DefaultICMPInterval}
}

// KindOf maps a target scheme to the name of the probe kind that takes
// it (https → http, grpcs → grpc, wss → ws; probe.KindFor), or to the
// scheme itself when no registered kind takes it.
func KindOf(scheme string) string {
	if k, ok := probe.KindFor(scheme); ok {
		return k.Name
	}
	return strings.ToLower(scheme)
}

// module stays one function: it reads each section (http, tls, dns, icmp; grpc and ws in their files) into m, then checks and builds the options from them; the tls nodes it keeps locate buildOptions errors.
func (d *decoder) module(name string, keyNode, n *yaml.Node, path string) *Module {
	mm := d.mapping(keyNode, n, path, moduleKeys)
	m := &Module{Name: name}
	applyModuleDefaults(m)

	kindNode := mm.str("kind", &m.Kind)
	m.Kind = strings.ToLower(strings.TrimSpace(m.Kind))
	kinds := probe.KindNames()
	_, known := probe.LookupKind(m.Kind)
	switch k, bySchema := probe.KindFor(m.Kind); {
	case kindNode == nil || m.Kind == "":
		at := kindNode
		if at == nil {
			at = mm.at
		}
		d.failf(at, mm.field("kind"), "kind is required (%s)", orList(kinds))
	case !known && bySchema:
		d.failf(kindNode, mm.field("kind"), "unknown kind %q (want %s; kind %s probes %s:// URLs too)", m.Kind, orList(kinds), k.Name, m.Kind)
	case !known:
		d.failf(kindNode, mm.field("kind"), "unknown kind %q (want %s)", m.Kind, orList(kinds))
	}
	mm.dur("timeout", &m.Timeout)
	if n := mm.str("ip_family", &m.IPFamily); n != nil {
		switch m.IPFamily {
		case "", "ip4", "ip6":
		default:
			d.failf(n, mm.field("ip_family"), "unknown ip_family %q (want ip4 or ip6)", m.IPFamily)
		}
	}

	// http
	h := d.mapping(mm.keyNode("http"), mm.get("http"), mm.field("http"), httpKeys)
	nodes := map[string]*yaml.Node{}
	m.HTTP.Method = ""
	if n := h.str("method", &m.HTTP.Method); n != nil {
		m.HTTP.Method = strings.ToUpper(strings.TrimSpace(m.HTTP.Method))
		if m.HTTP.Method != "" && !isToken(m.HTTP.Method) {
			d.failf(n, h.field("method"), "invalid method %q", m.HTTP.Method)
		}
	}
	for _, e := range h.strMap("headers") {
		field := join(h.field("headers"), e.name)
		if !isToken(e.name) {
			d.failf(e.key, field, "invalid header name %q", e.name)
		}
		if strings.ContainsAny(e.val.Value, "\r\n\x00") {
			d.failf(e.val, field, "the value holds a line break or NUL")
		}
		if m.HTTP.Headers == nil {
			m.HTTP.Headers = map[string]string{}
		}
		for k := range m.HTTP.Headers {
			if strings.EqualFold(k, e.name) {
				d.failf(e.key, field, "duplicate header %q (as %q)", e.name, k)
			}
		}
		m.HTTP.Headers[e.name] = e.val.Value
	}
	h.str("body", &m.HTTP.Body)
	if m.HTTP.Method == "" {
		m.HTTP.Method = "GET"
		if m.HTTP.Body != "" {
			m.HTTP.Method = "POST"
		}
	}
	if n := h.get("valid_status"); n != nil {
		var vs []probe.StatusRange
		parse := func(n *yaml.Node, field string) {
			if n.Kind != yaml.ScalarNode || isNull(n) {
				d.failf(n, field, "want a status or range such as 200-399 or 404, got %s", describe(n))
			}
			r, err := probe.ParseStatusRanges(n.Value)
			if err != nil {
				d.failf(n, field, "%v", err)
			}
			vs = append(vs, r...)
		}
		if n.Kind == yaml.SequenceNode {
			for i, c := range h.seq("valid_status") {
				parse(c, index(h.field("valid_status"), i))
			}
		} else {
			parse(n, h.field("valid_status"))
		}
		if len(vs) > 0 {
			m.HTTP.ValidStatus = vs
		}
	}
	if n := h.str("http2", &m.HTTP.HTTP2); n != nil {
		m.HTTP.HTTP2 = strings.ToLower(strings.TrimSpace(m.HTTP.HTTP2))
		switch m.HTTP.HTTP2 {
		case "auto", "off", "on", "h2c":
		default:
			d.failf(n, h.field("http2"), "unknown http2 mode %q (want auto, off, on or h2c)", n.Value)
		}
	}
	h.size("max_body", &m.HTTP.MaxBody)
	h.size("max_header_bytes", &m.HTTP.MaxHeaderBytes)
	h.integer("max_redirects", &m.HTTP.MaxRedirects)

	d.h2Windows(h, &m.HTTP.H2Windows)
	if m.HTTP.HTTP2 == "off" {
		for _, k := range []string{"h2_window", "h2_conn_window"} {
			if n := h.get(k); n != nil {
				d.failf(n, h.field(k), "%s sets an HTTP/2 window, and http2: off rules HTTP/2 out", k)
			}
		}
	}

	// tls
	t := d.mapping(mm.keyNode("tls"), mm.get("tls"), mm.field("tls"), tlsKeys)
	nodes["tls.ca_file"] = t.str("ca_file", &m.TLS.CAFile)
	nodes["tls.cert_file"] = t.str("cert_file", &m.TLS.CertFile)
	nodes["tls.key_file"] = t.str("key_file", &m.TLS.KeyFile)
	t.str("server_name", &m.TLS.ServerName)
	t.boolean("insecure", &m.TLS.Insecure)
	t.boolean("resumption_check", &m.TLS.ResumptionCheck)
	for _, f := range []*string{&m.TLS.CAFile, &m.TLS.CertFile, &m.TLS.KeyFile} {
		if *f != "" {
			*f = d.abs(*f)
		}
	}

	// dns
	dn := d.mapping(mm.keyNode("dns"), mm.get("dns"), mm.field("dns"), dnsKeys)
	if n := dn.str("server", &m.DNS.Server); n != nil && m.DNS.Server != "" {
		s, err := optparse.NormalizeHostPort(m.DNS.Server, "53")
		if err != nil {
			d.failf(n, dn.field("server"), "%q: %v", probe.RedactUserInfo(m.DNS.Server), err)
		}
		m.DNS.Server = s
	}

	// icmp
	ic := d.mapping(mm.keyNode("icmp"), mm.get("icmp"), mm.field("icmp"), icmpKeys)
	ic.integer("count", &m.ICMP.Count)
	ic.dur("interval", &m.ICMP.Interval)

	// grpc
	d.grpcModule(mm, m)

	// ws (ws.go)
	d.wsModule(mm, m)

	vo := m.valueOptions()
	vo.Timeout = m.Timeout
	d.checkOptions(mm, m.Kind, vo)
	if fe, err := m.buildOptions(); err != nil {
		at := nodes[fe]
		if at == nil {
			at = mm.at
		}
		d.failf(at, join(path, fe), "%v", err.err)
	}
	return m
}

// h2Windows reads h2_window and h2_conn_window of section s into w. The
// minimums are probe's rules (checkOptions); only a size that does not
// fit an HTTP/2 window at all is refused here.
func (d *decoder) h2Windows(s *mapping, w *H2Windows) {
	for _, f := range []struct {
		key string
		dst *int32
	}{{"h2_window", &w.Stream}, {"h2_conn_window", &w.Conn}} {
		var v int64
		n := s.size(f.key, &v)
		if n == nil {
			continue
		}
		if v > math.MaxInt32 {
			d.failf(n, s.field(f.key), "%s is above the HTTP/2 maximum of 2147483647 bytes", n.Value)
		}
		*f.dst = int32(v)
	}
}

// Accepts reports whether the module can probe t: its kind must match the
// target's scheme (kind http takes http:// and https://). The built-in
// default module takes any available kind.
func (m *Module) Accepts(t probe.Target) error {
	k, ok := probe.KindFor(t.Kind)
	if !ok {
		return fmt.Errorf("probe kind %s is not available in this build", KindOf(t.Kind))
	}
	if m.Kind == "" || m.Kind == k.Name {
		return nil
	}
	mk, _ := probe.LookupKind(m.Kind)
	return fmt.Errorf("scheme %q does not match module %q (kind %s takes %s targets)", t.Kind, m.Name, m.Kind, mk.SchemeList())
}

func (c *Config) moduleNames() []string {
	names := make([]string, 0, len(c.Modules))
	for n := range c.Modules {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// isToken reports whether s is an HTTP token (method, header name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || c <= ' ' || c == 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
