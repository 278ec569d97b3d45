package config

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
)

// DemoAllow is the probe_endpoint.allow list of the demo config.
var DemoAllow = []string{"http://127.0.0.1:*", "https://*.lab.test:*", "tcp://127.0.0.1:*", "tls://*.lab.test:*", "dns://*",
	"grpc://127.0.0.1:*", "grpcs://*.lab.test:*", "ws://127.0.0.1:*", "wss://*.lab.test:*"}

// DemoProbeModules are the demo modules GET /probe may use
// (probe_endpoint.modules): they trust the lab CA and ask the lab DNS
// server, and carry no credentials.
var DemoProbeModules = []string{"lab", "lab-tcp", "lab-tls", "lab-dns"}

// DemoInterval is how often the demo probes each lab scenario.
const DemoInterval = 15 * time.Second

// Demo is the built-in config of `serve --demo`: DemoConfig's result. It
// panics if the config does not validate, which means the lab manifest
// and this package disagree (a bug, caught by the tests).
func Demo(m lab.Manifest) *Config {
	c, err := DemoConfig(m)
	if err != nil {
		panic("config: demo config: " + err.Error())
	}
	return c
}

// DemoConfig builds the demo config for a running lab: modules lab (http),
// lab-tcp, lab-tls and lab-dns trusting the lab CA and asking the lab DNS
// server (plus lab-h2c for scenarios run with --h2c), one target per
// non-hostile scenario named after it, probed every 15 s, with the
// scenario's --timeout. It is written as YAML and parsed, so it passes
// exactly the checks a file does. Storage.Path is "" (the caller decides)
// and Path is "". Scenarios of kinds this build cannot probe are left out.
func DemoConfig(m lab.Manifest) (*Config, error) {
	type yTLS struct {
		CAFile string `yaml:"ca_file,omitempty"`
	}
	type yDNS struct {
		Server string `yaml:"server,omitempty"`
	}
	type yHTTP struct {
		HTTP2 string `yaml:"http2,omitempty"`
		Body  string `yaml:"body,omitempty"`
	}
	type yGRPC struct {
		Service        string `yaml:"service,omitempty"`
		Method         string `yaml:"method,omitempty"`
		RequestHex     string `yaml:"request_hex,omitempty"`
		ExpectMessages int    `yaml:"expect_messages,omitempty"`
	}
	type yJWT struct {
		SecretFile string `yaml:"secret_file,omitempty"`
		KeyFile    string `yaml:"key_file,omitempty"`
		Claims     string `yaml:"claims,omitempty"`
		TTL        string `yaml:"ttl,omitempty"`
	}
	type yWS struct {
		Send         string `yaml:"send,omitempty"`
		PingInterval string `yaml:"ping_interval,omitempty"`
		Hold         string `yaml:"hold,omitempty"`
		BearerFile   string `yaml:"bearer_file,omitempty"`
		TokenParam   string `yaml:"token_param,omitempty"`
		JWT          *yJWT  `yaml:"jwt,omitempty"`
	}
	type yModule struct {
		Kind string `yaml:"kind"`
		GRPC *yGRPC `yaml:"grpc,omitempty"`
		WS   *yWS   `yaml:"ws,omitempty"`
		HTTP *yHTTP `yaml:"http,omitempty"`
		TLS  yTLS   `yaml:"tls,omitempty"`
		DNS  yDNS   `yaml:"dns,omitempty"`
	}
	type yTarget struct {
		Name     string `yaml:"name"`
		URL      string `yaml:"url"`
		Module   string `yaml:"module"`
		Interval string `yaml:"interval"`
		Timeout  string `yaml:"timeout,omitempty"`
	}
	type yProbe struct {
		Allow   []string `yaml:"allow"`
		Modules []string `yaml:"modules"`
	}
	type yConfig struct {
		Listen        string              `yaml:"listen"`
		Modules       map[string]*yModule `yaml:"modules"`
		Targets       []yTarget           `yaml:"targets"`
		ProbeEndpoint yProbe              `yaml:"probe_endpoint"`
	}
	mod := func(kind string) *yModule {
		return &yModule{Kind: kind, TLS: yTLS{CAFile: m.CAFile}, DNS: yDNS{Server: m.DNSServer}}
	}
	y := yConfig{
		Listen: DefaultListen,
		Modules: map[string]*yModule{
			"lab": mod("http"), "lab-tcp": mod("tcp"), "lab-tls": mod("tls"), "lab-dns": mod("dns"),
		},
		ProbeEndpoint: yProbe{Allow: slices.Clone(DemoAllow), Modules: slices.Clone(DemoProbeModules)},
	}
	for _, s := range m.Scenarios {
		if s.Hostile {
			continue
		}
		scheme, _, ok := strings.Cut(s.Target, "://")
		if !ok {
			return nil, fmt.Errorf("scenario %s: target %q has no scheme", s.Name, probe.RedactUserInfo(s.Target))
		}
		kind := KindOf(scheme)
		if slices.Contains(pendingKinds, kind) {
			continue // not probed by this build
		}
		t := yTarget{Name: s.Name, URL: s.Target, Module: "lab", Interval: DemoInterval.String()}
		var g yGRPC // a scenario's gRPC flags make a module of its own
		var ws yWS  // and so do its WebSocket flags
		var jwt yJWT
		var body string // --data (h2-upload-stall): a module with the body inline
		if kind != "http" {
			t.Module = "lab-" + kind
		}
		for i := 0; i < len(s.Args); i++ {
			a := s.Args[i]
			switch {
			case a == "--timeout" && i+1 < len(s.Args):
				i++
				t.Timeout = s.Args[i]
			case strings.HasPrefix(a, "--timeout="):
				t.Timeout = strings.TrimPrefix(a, "--timeout=")
			case a == "--h2c":
				t.Module = "lab-h2c"
			case (a == "--data" || a == "-d") && i+1 < len(s.Args):
				i++
				b, err := demoData(s.Args[i])
				if err != nil {
					return nil, fmt.Errorf("scenario %s: --data: %v", s.Name, err)
				}
				body = b
			case a == "--grpc-method" && i+1 < len(s.Args):
				i++
				g.Method = s.Args[i]
			case a == "--grpc-service" && i+1 < len(s.Args):
				i++
				g.Service = s.Args[i]
			case a == "--grpc-request-hex" && i+1 < len(s.Args):
				i++
				g.RequestHex = s.Args[i]
			case a == "--expect-messages" && i+1 < len(s.Args):
				i++
				n, err := strconv.Atoi(s.Args[i])
				if err != nil {
					return nil, fmt.Errorf("scenario %s: --expect-messages %q: %v", s.Name, s.Args[i], err)
				}
				g.ExpectMessages = n
			case kind == "ws" && i+1 < len(s.Args) && wsArg(a, s.Args[i+1], &ws.Send, &ws.PingInterval, &ws.Hold,
				&ws.BearerFile, &ws.TokenParam, &jwt.SecretFile, &jwt.KeyFile, &jwt.Claims, &jwt.TTL):
				i++
			default:
				return nil, fmt.Errorf("scenario %s: argument %q has no config equivalent", s.Name, a)
			}
		}
		if t.Timeout != "" {
			// A scenario timeout beyond the demo interval stretches the interval.
			if d, err := time.ParseDuration(t.Timeout); err == nil && d > DemoInterval {
				t.Interval = d.String()
			}
		}
		if jwt != (yJWT{}) {
			ws.JWT = &jwt
		}
		if ws != (yWS{}) {
			t.Module = "lab-" + s.Name
			y.Modules[t.Module] = mod("ws")
			y.Modules[t.Module].WS = &ws
		}
		if body != "" {
			t.Module = "lab-" + s.Name
			y.Modules[t.Module] = mod("http")
			y.Modules[t.Module].HTTP = &yHTTP{Body: body}
		}
		if g != (yGRPC{}) {
			t.Module = "lab-" + s.Name
			y.Modules[t.Module] = mod("grpc")
			y.Modules[t.Module].GRPC = &g
		}
		if t.Module == "lab-h2c" && y.Modules["lab-h2c"] == nil {
			y.Modules["lab-h2c"] = mod("http")
			y.Modules["lab-h2c"].HTTP = &yHTTP{HTTP2: "h2c"}
		}
		if _, ok := y.Modules[t.Module]; !ok {
			y.Modules[t.Module] = mod(kind)
		}
		y.Targets = append(y.Targets, t)
	}
	text, err := yaml.Marshal(&y)
	if err != nil {
		return nil, err
	}
	c, err := parse("(demo)", "", text)
	if err != nil {
		return nil, err
	}
	c.Path = ""
	c.Storage.Path = ""
	return c, nil
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
