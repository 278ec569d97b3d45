package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/pathlens/pathlens/internal/optparse"

	// The probe kinds a config can name are those registered with probe.
	_ "github.com/pathlens/pathlens/probe/kinds"
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
	return d.config(d.decode(root, data)), nil
}

// config checks the decoded file and builds the Config from it. The
// sections run in a fixed order: auth before listen (which needs to know
// of a token), modules before targets and probe_endpoint (which name
// them).
func (d *decoder) config(r *rawConfig) *Config {
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
	d.auth(c, &r.Auth)
	if n := r.Listen.set(&c.Listen); n != nil {
		c.Listen = strings.TrimSpace(c.Listen)
		if err := CheckListen(c.Listen, c.Auth.TokenFile != ""); err != nil {
			d.failf(n, "listen", "%v", err)
		}
	}
	d.storage(c, &r.Storage)
	d.defaults(c, &r.Defaults)
	d.modules(c, r.Modules)
	first := map[string]int{}
	for i, t := range r.Targets {
		c.Targets = append(c.Targets, d.target(c, t, index("targets", i), first))
	}
	for i := range r.AllowedHosts {
		field := index("allowed_hosts", i)
		n := &r.AllowedHosts[i]
		h, err := parseAllowedHost(d.listString(n, field, "a host name"))
		if err != nil {
			d.failf(n, field, "%v", err)
		}
		c.AllowedHosts = append(c.AllowedHosts, h)
	}
	d.probeEndpoint(c, &r.ProbeEndpoint)
	d.statusPage(c, &r.StatusPage)
	d.alerting(c, &r.Alerting, r.Maintenance)
	d.remoteWrite(c, r.RemoteWrite)
	if n := r.MemoryLimit.set(&c.MemoryLimit); n != nil && c.MemoryLimit < 64<<20 {
		d.failf(n, "memory_limit", "%s is below the minimum of 64MiB", n.Value)
	}
	return c
}

func (d *decoder) auth(c *Config, a *rawAuth) {
	tokNode := a.TokenFile.set(&c.Auth.TokenFile)
	a.OpenEndpoints.set(&c.Auth.OpenEndpoints)
	if c.Auth.TokenFile != "" {
		c.Auth.TokenFile = d.abs(c.Auth.TokenFile)
		tok, err := readToken(c.Auth.TokenFile)
		if err != nil {
			d.failf(tokNode, "auth.token_file", "%v", err)
		}
		c.Auth.Token = tok
	}
}

func (d *decoder) storage(c *Config, s *rawStorage) {
	if s.Path.set(&c.Storage.Path) != nil && strings.TrimSpace(c.Storage.Path) == "" {
		c.Storage.Path = DefaultStorage
	}
	c.Storage.Path = d.abs(c.Storage.Path)
	if n := s.Retention.set(&c.Storage.Retention); n != nil && c.Storage.Retention < MinRetention {
		d.failf(n, "storage.retention", "retention %s is below the minimum of %s", fmtDur(c.Storage.Retention), fmtDur(MinRetention))
	}
}

func (d *decoder) defaults(c *Config, r *rawDefaults) {
	df := &c.Defaults
	dInt := r.Interval.set(&df.Interval)
	dTO := r.Timeout.set(&df.Timeout)
	if n := r.Concurrency.set(&df.Concurrency); n != nil && df.Concurrency < 1 {
		d.failf(n, "defaults.concurrency", "want 1 or more, got %d", df.Concurrency)
	}
	d.rules("defaults", &r.rawRules, &df.Rules)
	if dTO != nil && df.Timeout <= 0 {
		d.failf(dTO, "defaults.timeout", "want a positive duration, got %s", fmtDur(df.Timeout))
	}
	if dInt != nil && df.Interval < MinInterval {
		d.failf(dInt, "defaults.interval", "interval %s is below the minimum of %s", fmtDur(df.Interval), fmtDur(MinInterval))
	}
	if df.Interval < df.Timeout {
		at, field := dInt, "defaults.interval"
		if at == nil {
			at, field = dTO, "defaults.timeout"
		}
		d.failf(at, field, "interval %s is shorter than timeout %s", fmtDur(df.Interval), fmtDur(df.Timeout))
	}
}

// modules builds the built-in module and the file's, in file order.
func (d *decoder) modules(c *Config, mods map[string]*rawModule) {
	def := &Module{Name: DefaultModule}
	applyModuleDefaults(def)
	if _, err := def.buildOptions(); err != nil {
		panic(err) // no files: cannot fail
	}
	c.Modules[DefaultModule] = def
	for _, e := range d.entries("modules") {
		field := join("modules", e.name)
		if e.name == DefaultModule {
			d.failf(e.key, field, "the module name %q is reserved for the built-in module (kind from the URL scheme)", DefaultModule)
		}
		if !moduleNameRE.MatchString(e.name) {
			d.failf(e.key, field, "module name %q: use letters, digits, '.', '_' and '-'", e.name)
		}
		c.Modules[e.name] = d.module(e.name, field, or(mods[e.name]))
	}
}

// or is p, or a new zero T when p is nil (a section left out or null).
func or[T any](p *T) *T {
	if p == nil {
		return new(T)
	}
	return p
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

// orList and andList join names for messages: "a, b or c", "a and b".
func orList(xs []string) string  { return listOf(xs, " or ") }
func andList(xs []string) string { return listOf(xs, " and ") }

func listOf(xs []string, last string) string {
	if len(xs) < 2 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + last + xs[len(xs)-1]
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
