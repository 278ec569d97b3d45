package config

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/pathlens/pathlens/serve/alert"
)

// SLO defaults and limits (docs/alerting.md#slos).
const (
	DefaultSLOWindow = 30 * 24 * time.Hour
	MinSLOWindow     = time.Hour
	MaxSLOWindow     = 90 * 24 * time.Hour
)

// Alerting configures who is told when a target's state changes
// (docs/alerting.md): Alertmanagers, webhooks, and the link they carry.
type Alerting struct {
	// ExternalURL is where people reach this pathlens's UI; alerts and
	// webhook documents link to the target's page under it.
	ExternalURL    string
	Alertmanagers  []alert.AlertmanagerConfig
	Webhooks       []alert.WebhookConfig
	MinLocations   int
	ResendInterval time.Duration // 0: alert.DefaultResendInterval
	Timeout        time.Duration // 0: alert.DefaultRequestTimeout
}

// SLO is a target's service level objective: the share of runs that
// must succeed (within Latency, when set) over Window.
type SLO struct {
	Objective float64 // 0 < Objective < 1, e.g. 0.999
	Window    time.Duration
	Latency   time.Duration // 0: success alone makes a run good
}

// Budget is the error budget: the share of runs that may be bad.
func (s *SLO) Budget() float64 { return 1 - s.Objective }

type (
	rawAlerting struct {
		ExternalURL    str                `yaml:"external_url"`
		Alertmanagers  []*rawAlertmanager `yaml:"alertmanagers"`
		Webhooks       []*rawWebhook      `yaml:"webhooks"`
		MinLocations   integer            `yaml:"min_locations"`
		ResendInterval dur                `yaml:"resend_interval"`
		Timeout        dur                `yaml:"timeout"`
	}
	rawAlertmanager struct {
		URL             str `yaml:"url"`
		BearerTokenFile str `yaml:"bearer_token_file"`
	}
	rawWebhook struct {
		URL        str `yaml:"url"`
		SecretFile str `yaml:"secret_file"`
	}
	rawWindow struct {
		Targets  []str `yaml:"targets"`
		Cron     str   `yaml:"cron"`
		Duration dur   `yaml:"duration"`
		Start    str   `yaml:"start"`
		End      str   `yaml:"end"`
	}
	// rawRules are the state thresholds; defaults and targets take them.
	rawRules struct {
		FailuresBeforeDown     integer `yaml:"failures_before_down"`
		SuccessesBeforeUp      integer `yaml:"successes_before_up"`
		WarningsBeforeDegraded integer `yaml:"warnings_before_degraded"`
		FlapChanges            integer `yaml:"flap_changes"`
		FlapWindow             dur     `yaml:"flap_window"`
	}
	rawSLO struct {
		Objective str     `yaml:"objective"`
		Window    longDur `yaml:"window"`
		Latency   dur     `yaml:"latency"`
	}
	// longDur is a duration that also takes days, weeks and years
	// ("30d", "1w"), for windows.
	longDur struct{ scalar[time.Duration] }
)

func (d *longDur) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeError(n, "want a duration, got %s", describe(n))
	}
	s := strings.TrimSpace(n.Value)
	v, err := time.ParseDuration(s)
	if err != nil {
		m, merr := model.ParseDuration(s)
		if merr != nil {
			return typeError(n, "bad duration %q (want e.g. 6h, 7d or 30d)", n.Value)
		}
		v = time.Duration(m)
	}
	d.V, d.N = v, n
	return nil
}

// fieldNodes maps the alert package's field names ("alerting.webhooks[0].url",
// "maintenance[1].cron") to the nodes they came from, so that its errors
// point at a line.
type fieldNodes map[string]*yaml.Node

func (f fieldNodes) add(field string, n *yaml.Node) {
	if n != nil {
		f[field] = n
	}
}

// alerting reads alerting: and maintenance: into c and checks them with
// the alert package's own rules (the same messages as its Validate).
func (d *decoder) alerting(c *Config, r *rawAlerting, windows []*rawWindow) {
	nodes := fieldNodes{}
	a := &c.Alerting
	nodes.add("alerting.external_url", r.ExternalURL.set(&a.ExternalURL))
	for i, am := range r.Alertmanagers {
		p := index("alerting.alertmanagers", i)
		if am == nil || am.URL.N == nil {
			d.failf(d.at(p), join(p, "url"), "url is required")
		}
		var ac alert.AlertmanagerConfig
		nodes.add(p+".url", am.URL.set(&ac.URL))
		if n := am.BearerTokenFile.set(&ac.BearerTokenFile); n != nil {
			ac.BearerTokenFile = d.abs(ac.BearerTokenFile)
			nodes.add(p+".bearer_token_file", n)
		}
		a.Alertmanagers = append(a.Alertmanagers, ac)
	}
	for i, w := range r.Webhooks {
		p := index("alerting.webhooks", i)
		if w == nil || w.URL.N == nil {
			d.failf(d.at(p), join(p, "url"), "url is required")
		}
		var wc alert.WebhookConfig
		nodes.add(p+".url", w.URL.set(&wc.URL))
		if n := w.SecretFile.set(&wc.SecretFile); n != nil {
			wc.SecretFile = d.abs(wc.SecretFile)
			nodes.add(p+".secret_file", n)
		}
		a.Webhooks = append(a.Webhooks, wc)
	}
	nodes.add("alerting.min_locations", r.MinLocations.set(&a.MinLocations))
	nodes.add("alerting.resend_interval", r.ResendInterval.set(&a.ResendInterval))
	if n := r.Timeout.set(&a.Timeout); n != nil {
		nodes.add("alerting.timeout", n)
		if a.Timeout <= 0 {
			d.failf(n, "alerting.timeout", "want a positive duration, got %s", fmtDur(a.Timeout))
		}
	}
	for i, w := range windows {
		p := index("maintenance", i)
		if w == nil {
			d.failf(d.at(p), p, "want a mapping with the keys %s, got nothing", keysOf(rawWindow{}))
		}
		var aw alert.Window
		for j := range w.Targets {
			nodes.add(index(p+".targets", j), w.Targets[j].N)
			aw.Targets = append(aw.Targets, strings.TrimSpace(w.Targets[j].V))
		}
		nodes.add(p+".targets", d.at(join(p, "targets")))
		nodes.add(p+".cron", w.Cron.set(&aw.Cron))
		nodes.add(p+".duration", w.Duration.set(&aw.Duration))
		for _, tm := range []struct {
			key string
			raw str
			dst *time.Time
		}{{"start", w.Start, &aw.Start}, {"end", w.End, &aw.End}} {
			if tm.raw.N == nil {
				continue
			}
			nodes.add(p+"."+tm.key, tm.raw.N)
			t, err := time.Parse(time.RFC3339, strings.TrimSpace(tm.raw.V))
			if err != nil {
				d.failf(tm.raw.N, join(p, tm.key), "%q is not a time: want RFC 3339, e.g. 2026-03-01T22:00:00Z", tm.raw.V)
			}
			*tm.dst = t
		}
		nodes.add(p, d.at(p))
		c.Maintenance = append(c.Maintenance, aw)
	}
	cfg := c.AlertConfig()
	cfg.TargetRules = nil // checked with each target
	if err := cfg.Validate(); err != nil {
		d.failAlert(err, nodes, d.at("alerting"))
	}
}

// failAlert fails with the first of the alert package's errors, at the
// node its field came from (else at orElse).
func (d *decoder) failAlert(err error, nodes fieldNodes, orElse *yaml.Node) {
	first := err
	if j, ok := err.(interface{ Unwrap() []error }); ok && len(j.Unwrap()) > 0 {
		first = j.Unwrap()[0]
	}
	var fe *alert.FieldError
	if !errors.As(first, &fe) {
		d.failf(orElse, "alerting", "%v", first)
	}
	n := nodes[fe.Field]
	for f := fe.Field; n == nil && f != ""; {
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
		n = nodes[f]
	}
	d.failf(orNode(n, orElse), fe.Field, "%v", fe.Err)
}

// rules reads state thresholds at path into *dst (fields left out keep
// their value) and checks the result.
func (d *decoder) rules(path string, r *rawRules, dst *alert.Rules) {
	nodes := fieldNodes{}
	nodes.add(join(path, "failures_before_down"), r.FailuresBeforeDown.set(&dst.FailuresBeforeDown))
	nodes.add(join(path, "successes_before_up"), r.SuccessesBeforeUp.set(&dst.SuccessesBeforeUp))
	nodes.add(join(path, "warnings_before_degraded"), r.WarningsBeforeDegraded.set(&dst.WarningsBeforeDegraded))
	nodes.add(join(path, "flap_changes"), r.FlapChanges.set(&dst.FlapChanges))
	nodes.add(join(path, "flap_window"), r.FlapWindow.set(&dst.FlapWindow))
	for _, f := range []string{"failures_before_down", "successes_before_up", "warnings_before_degraded"} {
		if n := nodes[join(path, f)]; n != nil && n.Value == "0" {
			d.failf(n, join(path, f), "0: want 1 to %d runs", alert.MaxRunsThreshold)
		}
	}
	if err := dst.Validate(); err != nil {
		var fe *alert.FieldError
		if errors.As(err, &fe) {
			fe = &alert.FieldError{Field: join(path, fe.Field), Err: fe.Err}
			err = fe
		}
		d.failAlert(err, nodes, d.at(path))
	}
}

// slo reads a target's slo: (at path).
func (d *decoder) slo(path string, r *rawSLO) *SLO {
	s := &SLO{Window: DefaultSLOWindow}
	on := r.Objective.N
	if on == nil {
		d.failf(d.at(path), join(path, "objective"), "objective is required (e.g. 99.9%%)")
	}
	v, err := parseObjective(r.Objective.V)
	if err != nil {
		d.failf(on, join(path, "objective"), "%v", err)
	}
	s.Objective = v
	if n := r.Window.set(&s.Window); n != nil && (s.Window < MinSLOWindow || s.Window > MaxSLOWindow) {
		d.failf(n, join(path, "window"), "%s: want %s to %s", model.Duration(s.Window), model.Duration(MinSLOWindow), model.Duration(MaxSLOWindow))
	}
	if n := r.Latency.set(&s.Latency); n != nil && s.Latency <= 0 {
		d.failf(n, join(path, "latency"), "want a positive duration, got %s", fmtDur(s.Latency))
	}
	return s
}

// parseObjective reads "99.9%" or "0.999".
func parseObjective(s string) (float64, error) {
	s = strings.TrimSpace(s)
	num, pct := strings.CutSuffix(s, "%")
	num = strings.TrimSpace(num)
	if strings.ContainsAny(num, "eExXpP_") {
		num = "" // a plain decimal number only
	}
	if pct {
		num += "e-2" // 99.9e-2 is the float nearest 0.999; 99.9/100 is not
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, errors.New(strconv.Quote(s) + ": want a percentage such as 99.9% (or a ratio such as 0.999)")
	}
	if v <= 0 || v >= 1 {
		return 0, errors.New(strconv.Quote(s) + ": want more than 0% and less than 100%")
	}
	return v, nil
}

// AlertConfig is the alert.Config of c: its alerting, maintenance and
// state thresholds (defaults, and each target's where they differ).
func (c *Config) AlertConfig() alert.Config {
	a := alert.Config{
		ExternalURL:    c.Alerting.ExternalURL,
		Alertmanagers:  c.Alerting.Alertmanagers,
		Webhooks:       c.Alerting.Webhooks,
		MinLocations:   c.Alerting.MinLocations,
		Maintenance:    c.Maintenance,
		Rules:          c.Defaults.Rules,
		ResendInterval: c.Alerting.ResendInterval,
		RequestTimeout: c.Alerting.Timeout,
	}
	for _, t := range c.Targets {
		if t.Rules != c.Defaults.Rules {
			if a.TargetRules == nil {
				a.TargetRules = map[string]alert.Rules{}
			}
			a.TargetRules[t.Name] = t.Rules
		}
	}
	return a
}
