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
	m.TLS.ResumptionEvery = probe.DefaultResumptionEvery
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

// module checks module r at path and builds it: its kind, then each
// section it sets, which the kind must read (probe.Kind.Sections), then
// probe's rules on the options built from them.
func (d *decoder) module(name, path string, r *rawModule) *Module {
	m := &Module{Name: name}
	applyModuleDefaults(m)
	d.moduleKind(path, r.Kind, m)
	kind, _ := probe.LookupKind(m.Kind)
	for _, s := range r.sections() {
		if !kind.Accepts(s) {
			var names []string
			for _, k := range probe.KindsWith(s) {
				names = append(names, k.Name)
			}
			d.failf(d.at(join(path, s)), join(path, s), "applies to %s modules only (kind is %s)", andList(names), m.Kind)
		}
	}
	if m.Kind == "ws" && r.HTTP != nil {
		// A ws module's upgrade request carries http.headers; the rest of
		// the http section is about HTTP exchanges it does not make.
		for _, k := range givenKeys(r.HTTP) {
			if k != "headers" {
				f := join(path, "http."+k)
				d.failf(d.at(f), f, "applies to http modules only (a ws module reads http.headers only)")
			}
		}
	}
	r.Timeout.set(&m.Timeout)
	r.Metrics.PerTargetHistograms.set(&m.Metrics.PerTargetHistograms)
	r.Metrics.PerTargetPhases.set(&m.Metrics.PerTargetPhases)
	r.Metrics.LastRunTimestamp.set(&m.Metrics.LastRunTimestamp)
	r.Metrics.TLSResumed.set(&m.Metrics.TLSResumed)
	if n := r.IPFamily.set(&m.IPFamily); n != nil {
		switch m.IPFamily {
		case "", "ip4", "ip6":
		default:
			d.failf(n, join(path, "ip_family"), "unknown ip_family %q (want ip4 or ip6)", m.IPFamily)
		}
	}
	d.httpModule(join(path, "http"), or(r.HTTP), &m.HTTP)
	tlsNodes := d.tlsModule(or(r.TLS), &m.TLS)
	if n := or(r.TLS).ResumptionEvery.N; n != nil && m.TLS.ResumptionEvery < 0 {
		d.failf(n, join(path, "tls.resumption_check_every"), "must be 0s (test on every run) or more, got %s", m.TLS.ResumptionEvery)
	}
	if n := or(r.DNS).Server.set(&m.DNS.Server); n != nil && m.DNS.Server != "" {
		s, err := optparse.NormalizeHostPort(m.DNS.Server, "53")
		if err != nil {
			d.failf(n, join(path, "dns.server"), "%q: %v", probe.RedactUserInfo(m.DNS.Server), err)
		}
		m.DNS.Server = s
	}
	ic := or(r.ICMP)
	ic.Count.set(&m.ICMP.Count)
	ic.Interval.set(&m.ICMP.Interval)
	d.grpcModule(join(path, "grpc"), or(r.GRPC), &m.GRPC)
	d.wsModule(path, or(r.WS), m)
	m.Assert = d.assertions(join(path, "assert"), r.Assert)

	vo := m.valueOptions()
	vo.Timeout = m.Timeout
	d.checkOptions(path, m.Kind, vo)
	if fe, err := m.buildOptions(); err != nil {
		at := tlsNodes[fe]
		if at == nil {
			at = d.at(path)
		}
		d.failf(at, join(path, fe), "%v", err.err)
	}
	return m
}

// moduleKind reads the kind of the module at path into m.Kind: required,
// and one of the registered kinds.
func (d *decoder) moduleKind(path string, k str, m *Module) {
	kindNode := k.set(&m.Kind)
	m.Kind = strings.ToLower(strings.TrimSpace(m.Kind))
	field := join(path, "kind")
	kinds := probe.KindNames()
	_, known := probe.LookupKind(m.Kind)
	switch sk, byScheme := probe.KindFor(m.Kind); {
	case kindNode == nil || m.Kind == "":
		at := kindNode
		if at == nil {
			at = d.at(path)
		}
		d.failf(at, field, "kind is required (%s)", orList(kinds))
	case !known && byScheme:
		d.failf(kindNode, field, "unknown kind %q (want %s; kind %s probes %s:// URLs too)", m.Kind, orList(kinds), sk.Name, m.Kind)
	case !known:
		d.failf(kindNode, field, "unknown kind %q (want %s)", m.Kind, orList(kinds))
	}
}

// httpModule reads a module's http section (at path) into h.
func (d *decoder) httpModule(path string, r *rawHTTP, h *HTTPModule) {
	h.Method = ""
	if n := r.Method.set(&h.Method); n != nil {
		h.Method = strings.ToUpper(strings.TrimSpace(h.Method))
		if h.Method != "" && !isToken(h.Method) {
			d.failf(n, join(path, "method"), "invalid method %q", h.Method)
		}
	}
	for _, e := range d.entries(join(path, "headers")) {
		field := join(join(path, "headers"), e.name)
		v := r.Headers[e.name].V
		if !isToken(e.name) {
			d.failf(e.key, field, "invalid header name %q", e.name)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			d.failf(r.Headers[e.name].N, field, "the value holds a line break or NUL")
		}
		if h.Headers == nil {
			h.Headers = map[string]string{}
		}
		for k := range h.Headers {
			if strings.EqualFold(k, e.name) {
				d.failf(e.key, field, "duplicate header %q (as %q)", e.name, k)
			}
		}
		h.Headers[e.name] = v
	}
	r.Body.set(&h.Body)
	if h.Method == "" {
		h.Method = "GET"
		if h.Body != "" {
			h.Method = "POST"
		}
	}
	d.validStatus(join(path, "valid_status"), &r.ValidStatus, h)
	if n := r.HTTP2.set(&h.HTTP2); n != nil {
		h.HTTP2 = strings.ToLower(strings.TrimSpace(h.HTTP2))
		switch h.HTTP2 {
		case "auto", "off", "on", "h2c":
		default:
			d.failf(n, join(path, "http2"), "unknown http2 mode %q (want auto, off, on or h2c)", n.Value)
		}
	}
	r.MaxBody.set(&h.MaxBody)
	r.MaxHeaderBytes.set(&h.MaxHeaderBytes)
	r.MaxRedirects.set(&h.MaxRedirects)
	d.h2Windows(path, r.H2Window, r.H2ConnWindow, &h.H2Windows)
	if h.HTTP2 == "off" {
		for _, w := range []struct {
			key string
			n   *yaml.Node
		}{{"h2_window", r.H2Window.N}, {"h2_conn_window", r.H2ConnWindow.N}} {
			if w.n != nil {
				d.failf(w.n, join(path, w.key), "%s sets an HTTP/2 window, and http2: off rules HTTP/2 out", w.key)
			}
		}
	}
}

// validStatus reads valid_status (at path): a status or range, or a list
// of them.
func (d *decoder) validStatus(path string, n *yaml.Node, h *HTTPModule) {
	n = present(n)
	if n == nil {
		return
	}
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
		for i, c := range n.Content {
			parse(resolve(c), index(path, i))
		}
	} else {
		parse(n, path)
	}
	if len(vs) > 0 {
		h.ValidStatus = vs
	}
}

// tlsModule reads a module's tls section into t, file names resolved. It
// returns the file names' nodes by field, which buildOptions errors name.
func (d *decoder) tlsModule(r *rawTLS, t *TLSModule) map[string]*yaml.Node {
	nodes := map[string]*yaml.Node{
		"tls.ca_file":   r.CAFile.set(&t.CAFile),
		"tls.cert_file": r.CertFile.set(&t.CertFile),
		"tls.key_file":  r.KeyFile.set(&t.KeyFile),
	}
	r.ServerName.set(&t.ServerName)
	r.Insecure.set(&t.Insecure)
	r.ResumptionCheck.set(&t.ResumptionCheck)
	r.ResumptionEvery.set(&t.ResumptionEvery)
	for _, f := range []*string{&t.CAFile, &t.CertFile, &t.KeyFile} {
		if *f != "" {
			*f = d.abs(*f)
		}
	}
	return nodes
}

// h2Windows reads the HTTP/2 windows of the section at path into w. The
// minimums are probe's rules (checkOptions); only a size that does not
// fit an HTTP/2 window at all is refused here.
func (d *decoder) h2Windows(path string, stream, conn size, w *H2Windows) {
	for _, f := range []struct {
		key string
		v   size
		dst *int32
	}{{"h2_window", stream, &w.Stream}, {"h2_conn_window", conn, &w.Conn}} {
		if f.v.N == nil {
			continue
		}
		if f.v.V > math.MaxInt32 {
			d.failf(f.v.N, join(path, f.key), "%s is above the HTTP/2 maximum of 2147483647 bytes", f.v.N.Value)
		}
		*f.dst = int32(f.v.V)
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
