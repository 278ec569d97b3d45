package config

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/pathlens/pathlens/internal/optparse"
	"github.com/pathlens/pathlens/probe"
)

// optionKeys spells probe's neutral setting keys (probe.FieldError.Key)
// as paths under a module; "*" is the module's http or grpc section,
// whichever its kind reads the HTTP/2 windows from. quote shows the value
// quoted in messages. It is the only place the config names a setting's
// rules: probe.Options.Validate holds them.
var optionKeys = map[string]struct {
	path  string
	quote bool
}{
	"timeout":               {"timeout", false},
	"http.max_body":         {"http.max_body", false},
	"http.max_header_bytes": {"http.max_header_bytes", false},
	"http.max_redirects":    {"http.max_redirects", false},
	"http.valid_status":     {"http.valid_status", false},
	"h2.window":             {"*.h2_window", false},
	"h2.conn_window":        {"*.h2_conn_window", false},
	"icmp.count":            {"icmp.count", false},
	"icmp.interval":         {"icmp.interval", false},
	"grpc.method":           {"grpc.method", true},
	"grpc.expect_messages":  {"grpc.expect_messages", false},
	"ws.hold":               {"ws.hold", false},
	"ws.ping_interval":      {"ws.ping_interval", false},
	"ws.max_message":        {"ws.max_message", false},
	"ws.token_param":        {"ws.token_param", true},
	"ws.jwt.ttl":            {"ws.jwt.ttl", false},
}

// optionPath is the module-relative path of a neutral key in a module of
// kind ("" when the config has no such key).
func optionPath(key, kind string) (string, bool) {
	k, ok := optionKeys[key]
	if !ok {
		return "", false
	}
	if rest, ok := strings.CutPrefix(k.path, "*."); ok {
		section := "http"
		if kind == "grpc" {
			section = "grpc"
		}
		return section + "." + rest, k.quote
	}
	return k.path, k.quote
}

// checkOptions applies probe's rules for kind to o, the options built
// from the values of the module at path: a key written in the file counts
// as given (probe.Options.ValidateGiven). The first broken rule fails the
// load at that key's line, as "modules.NAME.KEY: RULE, got VALUE" with the
// value as written.
func (d *decoder) checkOptions(path, kind string, o *probe.Options) {
	given := func(key string) bool {
		p, _ := optionPath(key, kind)
		return p != "" && d.val(join(path, p)) != nil
	}
	err := o.ValidateGiven(kind, given)
	var fe probe.FieldErrors
	if !errors.As(err, &fe) {
		return
	}
	e := fe[0]
	p, quote := optionPath(e.Key, kind)
	if p == "" {
		d.failf(d.at(path), path, "%v", e)
	}
	at, got := d.val(join(path, p)), e.Got
	if at == nil {
		at = d.at(path)
	} else if at.Kind == yaml.ScalarNode {
		got = at.Value
		if quote {
			got = strconv.Quote(got)
		}
	}
	d.failf(at, join(path, p), "%s", (&probe.FieldError{Rule: e.Rule, Got: got}).Msg())
}

// optionError names the module field (e.g. "tls.ca_file") an option
// could not be built from.
type optionError struct {
	field string
	err   error
}

func (e *optionError) Error() string { return e.field + ": " + e.err.Error() }

// valueOptions are the probe options of the module's values, without
// the files (CA pool, client certificate) buildOptions loads.
func (m *Module) valueOptions() *probe.Options {
	o := &probe.Options{
		DNSServer:           m.DNS.Server,
		IPv4Only:            m.IPFamily == "ip4",
		IPv6Only:            m.IPFamily == "ip6",
		Insecure:            m.TLS.Insecure,
		ServerName:          m.TLS.ServerName,
		SkipResumptionCheck: !m.TLS.ResumptionCheck,
		Method:              m.HTTP.Method,
		MaxBody:             m.HTTP.MaxBody,
		MaxHeaderBytes:      m.HTTP.MaxHeaderBytes,
		MaxRedirects:        m.HTTP.MaxRedirects,
		NoRedirects:         m.HTTP.MaxRedirects == 0, // max_redirects: 0 follows none
		ValidStatus:         slices.Clone(m.HTTP.ValidStatus),
		ICMPCount:           m.ICMP.Count,
		ICMPInterval:        m.ICMP.Interval,
		GRPCService:         m.GRPC.Service,
		GRPCMethod:          m.GRPC.Method,
		GRPCRequest:         slices.Clone(m.GRPC.Request),
		ExpectMessages:      m.GRPC.ExpectMessages,
		WS:                  m.WS.wsOptions(),
	}
	w := m.HTTP.H2Windows
	if m.Kind == "grpc" {
		w = m.GRPC.H2Windows
	}
	o.H2Window, o.H2ConnWindow = w.Stream, w.Conn
	if m.Assert.Len() > 0 {
		o.Assertions = m.Assert
	}
	if m.HTTP.Body != "" {
		o.Body = []byte(m.HTTP.Body)
	}
	if len(m.HTTP.Headers) > 0 {
		o.Header = make(map[string][]string, len(m.HTTP.Headers))
		for k, v := range m.HTTP.Headers {
			o.Header.Set(k, v)
		}
	}
	switch m.HTTP.HTTP2 {
	case "off":
		o.HTTP1Only = true
	case "on":
		o.HTTP2Only = true
	case "h2c":
		o.H2C = true
	}
	return o
}

// buildOptions builds m.base from the module's settings: the CA pool and
// the client certificate are loaded here, once. On error it returns the
// module-relative field name.
func (m *Module) buildOptions() (string, *optionError) {
	o := m.valueOptions()
	if m.TLS.CAFile != "" {
		pool, err := optparse.LoadCA(m.TLS.CAFile)
		if err != nil {
			return "tls.ca_file", &optionError{"tls.ca_file", err}
		}
		o.RootCAs, o.CAFile = pool, m.TLS.CAFile
	}
	switch {
	case m.TLS.CertFile != "" && m.TLS.KeyFile == "":
		return "tls.cert_file", &optionError{"tls.cert_file", errors.New("cert_file needs key_file (they go together)")}
	case m.TLS.CertFile == "" && m.TLS.KeyFile != "":
		return "tls.key_file", &optionError{"tls.key_file", errors.New("key_file needs cert_file (they go together)")}
	case m.TLS.CertFile != "":
		cert, err := optparse.LoadKeyPair(m.TLS.CertFile, m.TLS.KeyFile)
		if err != nil {
			return "tls.cert_file", &optionError{"tls.cert_file", err}
		}
		o.ClientCert = cert
	}
	m.base = o
	return "", nil
}

// options returns a copy of the module's options with timeout set; the
// CA pool and client certificate are shared, slices and maps are copied.
func (m *Module) options(timeout time.Duration) *probe.Options {
	o := *m.base
	o.Timeout = timeout
	o.Header = m.base.Header.Clone()
	o.Body = slices.Clone(m.base.Body)
	o.ValidStatus = slices.Clone(m.base.ValidStatus)
	o.GRPCRequest = slices.Clone(m.base.GRPCRequest)
	if m.base.WS != nil {
		w := *m.base.WS
		o.WS = &w
	}
	o.Resolve = nil
	o.Session = nil
	return &o
}

// shared returns the module's options for budget that its targets
// share, built on first use.
func (m *Module) shared(budget time.Duration) *probe.Options {
	if o := m.byBudget[budget]; o != nil {
		return o
	}
	if m.byBudget == nil {
		m.byBudget = map[time.Duration]*probe.Options{}
	}
	o := m.options(budget)
	m.byBudget[budget] = o
	return o
}

// ModuleOptions returns fresh probe options of the named module for
// GET /probe?module= ("" means the default module). The timeout is the
// module's, else defaults.timeout; a positive timeout argument (such as
// the scrape timeout) lowers it. The caller must also check the target
// with the module's Accepts.
func (c *Config) ModuleOptions(name string, timeout time.Duration) (*probe.Options, error) {
	if name == "" {
		name = DefaultModule
	}
	m, ok := c.Modules[name]
	if !ok {
		return nil, fmt.Errorf("unknown module %q (known: %s)", name, strings.Join(c.moduleNames(), ", "))
	}
	if m.base == nil {
		if _, err := m.buildOptions(); err != nil {
			return nil, fmt.Errorf("module %q: %v", name, err)
		}
	}
	eff := m.Timeout
	if eff <= 0 {
		eff = c.Defaults.Timeout
	}
	if eff <= 0 {
		eff = DefaultTimeout
	}
	eff += m.WS.Hold // a ws session holds on top of its timeout (cut to the scrape's budget below)
	if timeout > 0 && timeout < eff {
		eff = timeout
	}
	return m.options(eff), nil
}
