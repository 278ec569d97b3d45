package config

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"

	// The probe kinds a config can name are those registered with probe.
	"github.com/pathlens/pathlens/internal/optparse"
	"github.com/pathlens/pathlens/probe"
	_ "github.com/pathlens/pathlens/probe/kinds"
)

// Keys each mapping accepts, in the order error messages list them.
var (
	topKeys     = []string{"listen", "allowed_hosts", "auth", "storage", "defaults", "modules", "targets", "probe_endpoint"}
	authKeys    = []string{"token_file", "open_endpoints"}
	storageKeys = []string{"path", "retention"}
	defaultKeys = []string{"interval", "timeout", "concurrency"}
	moduleKeys  = []string{"kind", "timeout", "ip_family", "http", "tls", "dns", "icmp", "grpc", "ws"}
	httpKeys    = []string{"method", "headers", "body", "valid_status", "http2", "max_body", "max_header_bytes", "max_redirects", "h2_window", "h2_conn_window"}
	tlsKeys     = []string{"ca_file", "cert_file", "key_file", "server_name", "insecure", "resumption_check"}
	dnsKeys     = []string{"server"}
	icmpKeys    = []string{"count", "interval"}
	grpcKeys    = []string{"service", "method", "request_hex", "expect_messages", "h2_window", "h2_conn_window"}
	targetKeys  = []string{"name", "url", "module", "interval", "timeout", "labels"}
	probeKeys   = []string{"allow", "modules", "open", "deny_networks", "max_concurrent", "queue_timeout"}
)

// maxConfigSize bounds the config file and maxTokenSize the token file.
const (
	maxConfigSize = 16 << 20
	maxTokenSize  = 4 << 10
)

// Load reads and parses the config file at path. Every error starts with
// the path (and, for errors inside the file, the line and field).
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: path, Msg: "cannot read config: " + optparse.UnwrapPathErr(err).Error()}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1)) // one byte more than Parse takes
	if err != nil {
		return nil, &Error{File: path, Msg: "cannot read config: " + optparse.UnwrapPathErr(err).Error()}
	}
	return Parse(path, data)
}

// Parse parses and validates a config whose text is data; path names the
// file in errors and relative file names in the config (token_file,
// ca_file, cert_file, key_file, storage.path) are resolved against its
// directory. The error, if any, is an *Error. A config larger than 16 MiB,
// or one whose aliases and merge keys expand it past 100000 nodes, is
// refused before it is decoded, so that a small file cannot hold a load.
func Parse(path string, data []byte) (*Config, error) {
	name, dir := path, filepath.Dir(path)
	if path == "" {
		name, dir = "config", "."
	}
	c, err := parse(name, dir, data)
	if err != nil {
		return nil, err
	}
	c.Path = path
	return c, nil
}

func parse(name, dir string, data []byte) (c *Config, err error) {
	d := &decoder{file: name, dir: dir}
	if len(data) > maxConfigSize {
		return nil, &Error{File: name, Msg: fmt.Sprintf("config is larger than %d MiB", maxConfigSize>>20)}
	}
	root, yerr := parseYAML(data)
	if yerr != nil {
		return nil, d.syntaxError(data, yerr)
	}
	if aerr := d.checkAliases(root); aerr != nil {
		return nil, aerr
	}
	defer func() {
		if r := recover(); r != nil {
			b, ok := r.(bail)
			if !ok {
				panic(r)
			}
			c, err = nil, b.err
		}
	}()
	return d.config(root), nil
}

func (d *decoder) config(root *yaml.Node) *Config {
	if root != nil && resolve(root).Kind != yaml.MappingNode && !isNull(root) {
		d.failf(root, "", "the config must be a mapping with the keys %s, got %s", strings.Join(topKeys, ", "), describe(root))
	}
	top := d.mapping(nil, root, "", topKeys)
	c := &Config{
		Listen:   DefaultListen,
		Auth:     Auth{OpenEndpoints: true},
		Storage:  Storage{Path: DefaultStorage, Retention: DefaultRetention},
		Defaults: Defaults{Interval: DefaultInterval, Timeout: DefaultTimeout, Concurrency: DefaultConcurrency},
		Modules:  map[string]*Module{},
		ProbeEndpoint: ProbeEndpoint{
			MaxConcurrent: DefaultProbeMaxConcurrent,
			QueueTimeout:  DefaultProbeQueueTimeout,
		},
	}

	// auth (before listen, which depends on it)
	auth := d.mapping(top.keyNode("auth"), top.get("auth"), "auth", authKeys)
	tokNode := auth.str("token_file", &c.Auth.TokenFile)
	auth.boolean("open_endpoints", &c.Auth.OpenEndpoints)
	if c.Auth.TokenFile != "" {
		c.Auth.TokenFile = d.abs(c.Auth.TokenFile)
		tok, err := readToken(c.Auth.TokenFile)
		if err != nil {
			d.failf(tokNode, auth.field("token_file"), "%v", err)
		}
		c.Auth.Token = tok
	}

	// listen
	if n := top.str("listen", &c.Listen); n != nil {
		c.Listen = strings.TrimSpace(c.Listen)
		if err := CheckListen(c.Listen, c.Auth.TokenFile != ""); err != nil {
			d.failf(n, "listen", "%v", err)
		}
	}

	// storage
	st := d.mapping(top.keyNode("storage"), top.get("storage"), "storage", storageKeys)
	if st.str("path", &c.Storage.Path) != nil && strings.TrimSpace(c.Storage.Path) == "" {
		c.Storage.Path = DefaultStorage
	}
	c.Storage.Path = d.abs(c.Storage.Path)
	if n := st.dur("retention", &c.Storage.Retention); n != nil && c.Storage.Retention < MinRetention {
		d.failf(n, st.field("retention"), "retention %s is below the minimum of %s", fmtDur(c.Storage.Retention), fmtDur(MinRetention))
	}

	// defaults
	df := d.mapping(top.keyNode("defaults"), top.get("defaults"), "defaults", defaultKeys)
	dInt := df.dur("interval", &c.Defaults.Interval)
	dTO := df.dur("timeout", &c.Defaults.Timeout)
	if n := df.integer("concurrency", &c.Defaults.Concurrency); n != nil && c.Defaults.Concurrency < 1 {
		d.failf(n, df.field("concurrency"), "want 1 or more, got %d", c.Defaults.Concurrency)
	}
	if dTO != nil && c.Defaults.Timeout <= 0 {
		d.failf(dTO, df.field("timeout"), "want a positive duration, got %s", fmtDur(c.Defaults.Timeout))
	}
	if dInt != nil && c.Defaults.Interval < MinInterval {
		d.failf(dInt, df.field("interval"), "interval %s is below the minimum of %s", fmtDur(c.Defaults.Interval), fmtDur(MinInterval))
	}
	if c.Defaults.Interval < c.Defaults.Timeout {
		at, field := dInt, df.field("interval")
		if at == nil {
			at, field = dTO, df.field("timeout")
		}
		d.failf(at, field, "interval %s is shorter than timeout %s", fmtDur(c.Defaults.Interval), fmtDur(c.Defaults.Timeout))
	}

	// modules
	def := &Module{Name: DefaultModule}
	applyModuleDefaults(def)
	if _, err := def.buildOptions(); err != nil {
		panic(err) // no files: cannot fail
	}
	c.Modules[DefaultModule] = def
	mods := d.mapping(top.keyNode("modules"), top.get("modules"), "modules", nil)
	for _, e := range mods.entries {
		field := mods.field(e.name)
		if e.name == DefaultModule {
			d.failf(e.key, field, "the module name %q is reserved for the built-in module (kind from the URL scheme)", DefaultModule)
		}
		if !moduleNameRE.MatchString(e.name) {
			d.failf(e.key, field, "module name %q: use letters, digits, '.', '_' and '-'", e.name)
		}
		c.Modules[e.name] = d.module(e.name, e.key, e.val, field)
	}

	// targets
	first := map[string]int{}
	for i, n := range top.seq("targets") {
		t := d.target(c, n, index("targets", i), first)
		c.Targets = append(c.Targets, t)
	}

	// allowed_hosts
	for i, n := range top.seq("allowed_hosts") {
		field := index("allowed_hosts", i)
		h, err := parseAllowedHost(d.listString(n, field, "a host name"))
		if err != nil {
			d.failf(n, field, "%v", err)
		}
		c.AllowedHosts = append(c.AllowedHosts, h)
	}

	d.probeEndpoint(c, top)
	return c
}

var (
	moduleNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	labelNameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// reservedLabels are the label names pathlens' own metrics carry.
var reservedLabels = []string{"target", "module", "phase", "id", "severity", "result", "subject"}

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

// nodeAt is the value node at path (dotted keys) under module mapping mm,
// nil when absent.
func (d *decoder) nodeAt(mm *mapping, path string) *yaml.Node {
	keys := strings.Split(path, ".")
	m := mm
	for _, k := range keys[:len(keys)-1] {
		m = d.mapping(nil, m.get(k), "", nil)
	}
	return m.get(keys[len(keys)-1])
}

// checkOptions applies probe's rules for kind to o, the options built
// from module mm's values: a key written in the file counts as given
// (probe.Options.ValidateGiven). The first broken rule fails the load at
// that key's line, as "modules.NAME.KEY: RULE, got VALUE" with the value
// as written.
func (d *decoder) checkOptions(mm *mapping, kind string, o *probe.Options) {
	given := func(key string) bool {
		p, _ := optionPath(key, kind)
		return p != "" && d.nodeAt(mm, p) != nil
	}
	err := o.ValidateGiven(kind, given)
	var fe probe.FieldErrors
	if !errors.As(err, &fe) {
		return
	}
	e := fe[0]
	p, quote := optionPath(e.Key, kind)
	if p == "" {
		d.failf(mm.at, mm.path, "%v", e)
	}
	at, got := d.nodeAt(mm, p), e.Got
	if at == nil {
		at = mm.at
	} else if at.Kind == yaml.ScalarNode {
		got = at.Value
		if quote {
			got = strconv.Quote(got)
		}
	}
	d.failf(at, mm.field(p), "%s", (&probe.FieldError{Rule: e.Rule, Got: got}).Msg())
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

func (d *decoder) target(c *Config, n *yaml.Node, path string, first map[string]int) *Target {
	if isNull(n) || n.Kind != yaml.MappingNode {
		d.failf(n, path, "want a mapping with the keys %s, got %s", strings.Join(targetKeys, ", "), describe(n))
	}
	tm := d.mapping(nil, n, path, targetKeys)
	t := &Target{}

	// name
	nameNode := tm.str("name", &t.Name)
	switch {
	case nameNode == nil || strings.TrimSpace(t.Name) == "":
		at := nameNode
		if at == nil {
			at = n
		}
		d.failf(at, tm.field("name"), "name is required")
	case t.Name != strings.TrimSpace(t.Name):
		d.failf(nameNode, tm.field("name"), "name %q starts or ends with a space", t.Name)
	case strings.ContainsFunc(t.Name, func(r rune) bool { return r == '/' || unicode.IsControl(r) }):
		d.failf(nameNode, tm.field("name"), "name %q must not contain '/' or control characters", t.Name)
	}
	if line, dup := first[t.Name]; dup {
		d.failf(nameNode, tm.field("name"), "duplicate target name %q (first at line %d)", t.Name, line)
	}
	first[t.Name] = nameNode.Line

	// url
	urlNode := tm.str("url", &t.URL)
	if urlNode == nil || strings.TrimSpace(t.URL) == "" {
		at := urlNode
		if at == nil {
			at = n
		}
		d.failf(at, tm.field("url"), "url is required")
	}
	parsed, err := probe.ParseTarget(t.URL)
	if err != nil {
		var pe *probe.PhaseError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		d.failf(urlNode, tm.field("url"), "%v", err)
	}
	t.Parsed = parsed
	kind := KindOf(parsed.Kind)
	if _, ok := probe.LookupKind(kind); !ok {
		d.failf(urlNode, tm.field("url"), "probe kind %s is not available in this build", kind)
	}

	// module
	t.Module = DefaultModule
	modNode := tm.str("module", &t.Module)
	if t.Module == "" {
		t.Module = DefaultModule
	}
	m, ok := c.Modules[t.Module]
	if !ok {
		d.failf(modNode, tm.field("module"), "unknown module %q (known: %s)", t.Module, strings.Join(c.moduleNames(), ", "))
	}
	if err := m.Accepts(parsed); err != nil {
		d.failf(urlNode, tm.field("url"), "%v", err)
	}

	// interval and timeout
	intNode := tm.dur("interval", &t.Interval)
	toNode := tm.dur("timeout", &t.Timeout)
	if toNode != nil && t.Timeout <= 0 {
		d.failf(toNode, tm.field("timeout"), "want a positive duration, got %s", fmtDur(t.Timeout))
	}
	if intNode != nil && t.Interval < MinInterval {
		d.failf(intNode, tm.field("interval"), "interval %s is below the minimum of %s", fmtDur(t.Interval), fmtDur(MinInterval))
	}
	var notes []string
	if intNode == nil {
		t.Interval = c.Defaults.Interval
		notes = append(notes, "interval from defaults.interval")
	}
	if toNode == nil {
		if m.Timeout > 0 {
			t.Timeout = m.Timeout
			notes = append(notes, fmt.Sprintf("timeout from modules.%s.timeout", m.Name))
		} else {
			t.Timeout = c.Defaults.Timeout
			notes = append(notes, "timeout from defaults.timeout")
		}
	}
	if t.Interval < t.Timeout {
		at, field := intNode, tm.field("interval")
		switch {
		case at != nil:
		case toNode != nil:
			at, field = toNode, tm.field("timeout")
		default:
			at, field = n, path
		}
		msg := fmt.Sprintf("interval %s is shorter than timeout %s", fmtDur(t.Interval), fmtDur(t.Timeout))
		if len(notes) > 0 {
			msg += " (" + strings.Join(notes, ", ") + ")"
		}
		d.failf(at, field, "%s", msg)
	}

	// labels
	for _, e := range tm.strMap("labels") {
		field := join(tm.field("labels"), e.name)
		switch {
		case !labelNameRE.MatchString(e.name) || strings.HasPrefix(e.name, "__"):
			d.failf(e.key, field, "label name %q: use letters, digits and '_', not starting with a digit or \"__\"", e.name)
		case slices.Contains(reservedLabels, e.name):
			d.failf(e.key, field, "label name %q is reserved (pathlens metrics use %s)", e.name, strings.Join(reservedLabels, ", "))
		}
		if t.Labels == nil {
			t.Labels = map[string]string{}
		}
		t.Labels[e.name] = e.val.Value
	}

	// A ws target holds its session for up to its interval: its budget is
	// the timeout plus the hold, capped at the interval (ws.go).
	budget := t.Timeout
	if kind == "ws" && m.WS.Hold > 0 {
		if m.WS.Hold > t.Interval {
			at, field := intNode, tm.field("interval")
			if at == nil {
				at, field = modNode, tm.field("module")
			}
			d.failf(at, field, "interval %s is shorter than modules.%s.ws.hold %s (a ws target holds its session for up to its interval)",
				fmtDur(t.Interval), m.Name, fmtDur(m.WS.Hold))
		}
		budget = wsBudget(t.Timeout, m.WS.Hold, t.Interval)
	}
	t.Options = m.options(budget)
	return t
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

func (c *Config) moduleNames() []string {
	names := make([]string, 0, len(c.Modules))
	for n := range c.Modules {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Target returns the target named name.
func (c *Config) Target(name string) (*Target, bool) {
	for _, t := range c.Targets {
		if t.Name == name {
			return t, true
		}
	}
	return nil, false
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

// CheckListen validates a listen address: host:port with a numeric port,
// and a loopback host unless a token protects the server (hasToken).
// serve applies it to --listen too.
func CheckListen(addr string, hasToken bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (e.g. %s)", addr, DefaultListen)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	if !hasToken && !isLoopback(host) {
		return fmt.Errorf("binding %s beyond loopback needs auth.token_file", addr)
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// readToken reads the bearer token: one line, no spaces. Its content never
// appears in an error.
func readToken(path string) (string, error) {
	b, err := optparse.ReadSmallFile(path, maxTokenSize)
	if err != nil {
		if strings.Contains(err.Error(), "is larger than") {
			return "", fmt.Errorf("%s is larger than %d KiB; it must hold only the token", path, maxTokenSize>>10)
		}
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	if strings.ContainsFunc(tok, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return "", fmt.Errorf("%s must hold the token alone on one line (no spaces)", path)
	}
	return tok, nil
}

// abs resolves a file name in the config against the config's directory.
func (d *decoder) abs(p string) string {
	if p == "" || filepath.IsAbs(p) || d.dir == "" {
		return p
	}
	return filepath.Join(d.dir, p)
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

func orList(xs []string) string {
	if len(xs) < 2 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}

// fmtDur formats a duration without trailing zero units: 1h, 30m, 1m30s.
func fmtDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
