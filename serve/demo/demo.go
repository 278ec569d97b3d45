// Package demo builds the config of `serve --demo` from a running lab's
// manifest: one target per lab scenario, its flags turned into modules.
package demo

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/pathlens/pathlens/lab"
	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/config"
)

// Allow is the probe_endpoint.allow list of the demo config.
var Allow = []string{"http://127.0.0.1:*", "https://*.lab.test:*", "tcp://127.0.0.1:*", "tls://*.lab.test:*", "dns://*",
	"grpc://127.0.0.1:*", "grpcs://*.lab.test:*", "ws://127.0.0.1:*", "wss://*.lab.test:*"}

// ProbeModules are the demo modules GET /probe may use
// (probe_endpoint.modules): they trust the lab CA and ask the lab DNS
// server, and carry no credentials.
var ProbeModules = []string{"lab", "lab-tcp", "lab-tls", "lab-dns"}

// Interval is how often the demo probes each lab scenario.
const Interval = 15 * time.Second

// MustConfig is the built-in config of `serve --demo`: Config's result. It
// panics if the config does not validate, which means the lab manifest
// and this package disagree (a bug, caught by the tests).
func MustConfig(m lab.Manifest) *config.Config {
	c, err := Config(m)
	if err != nil {
		panic("config: demo config: " + err.Error())
	}
	return c
}

// Config builds the demo config for a running lab: modules lab (http),
// lab-tcp, lab-tls and lab-dns trusting the lab CA and asking the lab DNS
// server (plus lab-h2c for scenarios run with --h2c), one target per
// non-hostile scenario named after it, probed every 15 s, with the
// scenario's --timeout. It is written as YAML and parsed, so it passes
// exactly the checks a file does. Storage.Path is "" (the caller decides)
// and Path is "". Scenarios of kinds this build cannot probe are left out.
func Config(m lab.Manifest) (*config.Config, error) {
	y, err := build(m)
	if err != nil {
		return nil, err
	}
	text, err := yaml.Marshal(y)
	if err != nil {
		return nil, err
	}
	c, err := config.ParseBuiltin("(demo)", text)
	if err != nil {
		return nil, err
	}
	c.Path = ""
	c.Storage.Path = ""
	return c, nil
}

// The demo config as YAML: only the keys the demo sets.
type (
	yTLS struct {
		CAFile string `yaml:"ca_file,omitempty"`
	}
	yDNS struct {
		Server string `yaml:"server,omitempty"`
	}
	yHTTP struct {
		HTTP2 string `yaml:"http2,omitempty"`
		Body  string `yaml:"body,omitempty"`
	}
	yGRPC struct {
		Service        string `yaml:"service,omitempty"`
		Method         string `yaml:"method,omitempty"`
		RequestHex     string `yaml:"request_hex,omitempty"`
		ExpectMessages int    `yaml:"expect_messages,omitempty"`
	}
	yJWT struct {
		SecretFile string `yaml:"secret_file,omitempty"`
		KeyFile    string `yaml:"key_file,omitempty"`
		Claims     string `yaml:"claims,omitempty"`
		TTL        string `yaml:"ttl,omitempty"`
	}
	yWS struct {
		Send         string `yaml:"send,omitempty"`
		PingInterval string `yaml:"ping_interval,omitempty"`
		Hold         string `yaml:"hold,omitempty"`
		BearerFile   string `yaml:"bearer_file,omitempty"`
		TokenParam   string `yaml:"token_param,omitempty"`
		JWT          *yJWT  `yaml:"jwt,omitempty"`
	}
	yModule struct {
		Kind string `yaml:"kind"`
		GRPC *yGRPC `yaml:"grpc,omitempty"`
		WS   *yWS   `yaml:"ws,omitempty"`
		HTTP *yHTTP `yaml:"http,omitempty"`
		TLS  yTLS   `yaml:"tls,omitempty"`
		DNS  yDNS   `yaml:"dns,omitempty"`
	}
	yTarget struct {
		Name     string `yaml:"name"`
		URL      string `yaml:"url"`
		Module   string `yaml:"module"`
		Interval string `yaml:"interval"`
		Timeout  string `yaml:"timeout,omitempty"`
	}
	yProbe struct {
		Allow   []string `yaml:"allow"`
		Modules []string `yaml:"modules"`
	}
	yConfig struct {
		Listen        string              `yaml:"listen"`
		Modules       map[string]*yModule `yaml:"modules"`
		Targets       []yTarget           `yaml:"targets"`
		ProbeEndpoint yProbe              `yaml:"probe_endpoint"`
	}
)

// builder holds the demo config being built and the lab it is for.
type builder struct {
	m lab.Manifest
	y *yConfig
}

// mod is a module of kind asking the lab DNS server and, when the kind
// makes TLS connections, trusting the lab CA.
func (b *builder) mod(kind string) *yModule {
	m := &yModule{Kind: kind, DNS: yDNS{Server: b.m.DNSServer}}
	if k, ok := probe.LookupKind(kind); ok && k.Accepts("tls") {
		m.TLS = yTLS{CAFile: b.m.CAFile}
	}
	return m
}

// build is the demo config of m: the shared modules, then one target per
// non-hostile scenario this build can probe.
func build(m lab.Manifest) (*yConfig, error) {
	b := &builder{m: m}
	b.y = &yConfig{
		Listen: config.DefaultListen,
		Modules: map[string]*yModule{
			"lab": b.mod("http"), "lab-tcp": b.mod("tcp"), "lab-tls": b.mod("tls"), "lab-dns": b.mod("dns"),
		},
		ProbeEndpoint: yProbe{Allow: slices.Clone(Allow), Modules: slices.Clone(ProbeModules)},
	}
	for _, s := range m.Scenarios {
		if s.Hostile {
			continue
		}
		if err := b.scenario(s); err != nil {
			return nil, err
		}
	}
	return b.y, nil
}

// scenarioFlags are the config equivalents of a scenario's flags.
type scenarioFlags struct {
	h2c  bool
	g    yGRPC // a scenario's gRPC flags make a module of its own
	ws   yWS   // and so do its WebSocket flags
	jwt  yJWT
	body string // --data (h2-upload-stall): a module with the body inline
}

// scenario adds the target of s, and the module of its own its flags may
// need.
func (b *builder) scenario(s lab.Scenario) error {
	scheme, _, ok := strings.Cut(s.Target, "://")
	if !ok {
		return fmt.Errorf("scenario %s: target %q has no scheme", s.Name, probe.RedactUserInfo(s.Target))
	}
	kind := config.KindOf(scheme)
	if config.KindPending(kind) {
		return nil // not probed by this build
	}
	t := yTarget{Name: s.Name, URL: s.Target, Module: "lab", Interval: Interval.String()}
	if kind != "http" {
		t.Module = "lab-" + kind
	}
	f, err := parseArgs(s, kind, &t)
	if err != nil {
		return err
	}
	if f.h2c {
		t.Module = "lab-h2c"
	}
	if t.Timeout != "" {
		// A scenario timeout beyond the demo interval stretches the interval.
		if d, err := time.ParseDuration(t.Timeout); err == nil && d > Interval {
			t.Interval = d.String()
		}
	}
	b.addModules(s, kind, &t, f)
	b.y.Targets = append(b.y.Targets, t)
	return nil
}

// parseArgs maps the flags of s to their config equivalents: --timeout
// onto t, the rest into the returned flags. A flag with no equivalent is
// an error.
func parseArgs(s lab.Scenario, kind string, t *yTarget) (*scenarioFlags, error) {
	f := &scenarioFlags{}
	for i := 0; i < len(s.Args); i++ {
		a := s.Args[i]
		switch {
		case a == "--timeout" && i+1 < len(s.Args):
			i++
			t.Timeout = s.Args[i]
		case strings.HasPrefix(a, "--timeout="):
			t.Timeout = strings.TrimPrefix(a, "--timeout=")
		case a == "--h2c":
			f.h2c = true
		case (a == "--data" || a == "-d") && i+1 < len(s.Args):
			i++
			b, err := demoData(s.Args[i])
			if err != nil {
				return nil, fmt.Errorf("scenario %s: --data: %v", s.Name, err)
			}
			f.body = b
		case a == "--grpc-method" && i+1 < len(s.Args):
			i++
			f.g.Method = s.Args[i]
		case a == "--grpc-service" && i+1 < len(s.Args):
			i++
			f.g.Service = s.Args[i]
		case a == "--grpc-request-hex" && i+1 < len(s.Args):
			i++
			f.g.RequestHex = s.Args[i]
		case a == "--expect-messages" && i+1 < len(s.Args):
			i++
			n, err := strconv.Atoi(s.Args[i])
			if err != nil {
				return nil, fmt.Errorf("scenario %s: --expect-messages %q: %v", s.Name, s.Args[i], err)
			}
			f.g.ExpectMessages = n
		case kind == "ws" && i+1 < len(s.Args) && wsArg(a, s.Args[i+1], &f.ws.Send, &f.ws.PingInterval, &f.ws.Hold,
			&f.ws.BearerFile, &f.ws.TokenParam, &f.jwt.SecretFile, &f.jwt.KeyFile, &f.jwt.Claims, &f.jwt.TTL):
			i++
		default:
			return nil, fmt.Errorf("scenario %s: argument %q has no config equivalent", s.Name, a)
		}
	}
	return f, nil
}

// addModules points t at a module of its own when the flags of s need one
// (ws, --data, gRPC), and adds the module t names if it is still missing.
func (b *builder) addModules(s lab.Scenario, kind string, t *yTarget, f *scenarioFlags) {
	y := b.y
	if f.jwt != (yJWT{}) {
		f.ws.JWT = &f.jwt
	}
	if f.ws != (yWS{}) {
		t.Module = "lab-" + s.Name
		y.Modules[t.Module] = b.mod("ws")
		y.Modules[t.Module].WS = &f.ws
	}
	if f.body != "" {
		t.Module = "lab-" + s.Name
		y.Modules[t.Module] = b.mod("http")
		y.Modules[t.Module].HTTP = &yHTTP{Body: f.body}
	}
	if f.g != (yGRPC{}) {
		t.Module = "lab-" + s.Name
		y.Modules[t.Module] = b.mod("grpc")
		y.Modules[t.Module].GRPC = &f.g
	}
	if t.Module == "lab-h2c" && y.Modules["lab-h2c"] == nil {
		y.Modules["lab-h2c"] = b.mod("http")
		y.Modules["lab-h2c"].HTTP = &yHTTP{HTTP2: "h2c"}
	}
	if _, ok := y.Modules[t.Module]; !ok {
		y.Modules[t.Module] = b.mod(kind)
	}
}

// wsArg maps one WebSocket flag of a lab scenario and its value to the
// ws: module key it stands for (--bearer only in its @FILE form); it
// reports whether a is such a flag.
func wsArg(a, v string, send, ping, hold, bearerFile, tokenParam, secret, key, claims, ttl *string) bool {
	dst := map[string]*string{
		"--send": send, "--ping-interval": ping, "--hold": hold, "--token-param": tokenParam,
		"--jwt-secret": secret, "--jwt-key": key, "--jwt-claims": claims, "--jwt-ttl": ttl,
	}[a]
	if a == "--bearer" && strings.HasPrefix(v, "@") {
		dst, v = bearerFile, v[1:]
	}
	if dst == nil {
		return false
	}
	*dst = v
	return true
}

// demoData is the body a scenario's --data names: the text itself, or the
// content of @FILE (a file the lab wrote in its directory).
func demoData(v string) (string, error) {
	name, ok := strings.CutPrefix(v, "@")
	if !ok {
		return v, nil
	}
	b, err := os.ReadFile(name)
	return string(b), err
}
