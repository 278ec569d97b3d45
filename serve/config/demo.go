package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/pathlens/pathlens/lab"
)

// DemoAllow is the probe_endpoint.allow list of the demo config.
var DemoAllow = []string{"http://127.0.0.1:*", "https://*.lab.test:*", "tcp://127.0.0.1:*", "tls://*.lab.test:*", "dns://*"}

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
	}
	type yModule struct {
		Kind string `yaml:"kind"`
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
		Allow []string `yaml:"allow"`
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
		ProbeEndpoint: yProbe{Allow: slices.Clone(DemoAllow)},
	}
	for _, s := range m.Scenarios {
		if s.Hostile {
			continue
		}
		scheme, _, ok := strings.Cut(s.Target, "://")
		if !ok {
			return nil, fmt.Errorf("scenario %s: target %q has no scheme", s.Name, s.Target)
		}
		kind := KindOf(scheme)
		if slices.Contains(pendingKinds, kind) {
			continue // not probed by this build
		}
		t := yTarget{Name: s.Name, URL: s.Target, Module: "lab", Interval: DemoInterval.String()}
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
