package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/pathlens/pathlens/internal/optparse"

	// The probe kinds a config can name are those registered with probe.
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

// config stays one function: its sections run in a fixed order (auth before listen, defaults before targets) best read top to bottom.
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

// abs resolves a file name in the config against the config's directory.
func (d *decoder) abs(p string) string {
	if p == "" || filepath.IsAbs(p) || d.dir == "" {
		return p
	}
	return filepath.Join(d.dir, p)
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
