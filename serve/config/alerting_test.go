package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/serve/alert"
)

func TestAlertingConfig(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"am.token", "hook.secret"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("s3cret-value\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	text := `
alerting:
  external_url: https://pathlens.example.com/
  alertmanagers: [{url: "http://127.0.0.1:9093", bearer_token_file: am.token}]
  webhooks: [{url: "https://127.0.0.1:8443/hook", secret_file: hook.secret}]
  resend_interval: 30s
  timeout: 5s
maintenance:
  - {targets: [api, "db-*"], cron: "0 2 * * 0", duration: 2h}
  - {targets: [web], start: "2026-03-01T22:00:00Z", end: "2026-03-01T23:00:00Z"}
memory_limit: 900MiB
remote_write: [{url: "http://127.0.0.1:9090/api/v1/write", bearer_token_file: am.token}]
defaults: {failures_before_down: 3, flap_window: 1h}
targets:
  - {name: api, url: "http://127.0.0.1:1/", labels: {team: shop}, slo: {objective: 99.9%, window: 30d, latency: 300ms}}
  - {name: web, url: "http://127.0.0.1:2/", successes_before_up: 2, slo: {objective: "0.99"}}
`
	c, err := Parse(filepath.Join(dir, "c.yaml"), []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if c.MemoryLimit != 900<<20 {
		t.Errorf("memory_limit = %d", c.MemoryLimit)
	}
	if len(c.RemoteWrite) != 1 || c.RemoteWrite[0].URL != "http://127.0.0.1:9090/api/v1/write" || c.RemoteWrite[0].BearerTokenFile != filepath.Join(dir, "am.token") {
		t.Errorf("remote_write %+v", c.RemoteWrite)
	}
	a := c.AlertConfig()
	if a.ExternalURL != "https://pathlens.example.com/" || len(a.Alertmanagers) != 1 || a.Alertmanagers[0].BearerTokenFile != filepath.Join(dir, "am.token") ||
		len(a.Webhooks) != 1 || a.Webhooks[0].SecretFile != filepath.Join(dir, "hook.secret") || a.ResendInterval != 30*time.Second || a.RequestTimeout != 5*time.Second {
		t.Errorf("alert config %+v", a)
	}
	if len(a.Maintenance) != 2 || a.Maintenance[0].Cron != "0 2 * * 0" || a.Maintenance[0].Duration != 2*time.Hour ||
		!a.Maintenance[1].End.Equal(time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)) || strings.Join(a.Maintenance[0].Targets, ",") != "api,db-*" {
		t.Errorf("maintenance %+v", a.Maintenance)
	}
	if want := (alert.Rules{FailuresBeforeDown: 3, FlapWindow: time.Hour}); a.Rules != want {
		t.Errorf("default rules %+v", a.Rules)
	}
	// Only the target whose thresholds differ from the defaults is listed;
	// it inherits the defaults it does not set.
	if len(a.TargetRules) != 1 || a.TargetRules["web"] != (alert.Rules{FailuresBeforeDown: 3, SuccessesBeforeUp: 2, FlapWindow: time.Hour}) {
		t.Errorf("target rules %+v", a.TargetRules)
	}
	if err := a.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	api, web := c.Targets[0], c.Targets[1]
	if api.SLO == nil || api.SLO.Objective != 0.999 || api.SLO.Window != 30*24*time.Hour || api.SLO.Latency != 300*time.Millisecond {
		t.Errorf("api slo %+v", api.SLO)
	}
	if web.SLO == nil || web.SLO.Objective != 0.99 || web.SLO.Window != DefaultSLOWindow || web.SLO.Latency != 0 {
		t.Errorf("web slo %+v", web.SLO)
	}
	if b := api.SLO.Budget(); b < 0.00099 || b > 0.00101 {
		t.Errorf("budget %v", b)
	}
}

// Each bad value gets one message naming the file, line and key, and
// never the content of a secret or a URL's password.
func TestAlertingConfigErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "empty"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for text, want := range map[string]string{
		"alerting:\n  alertmanagers: [{url: \"ftp://am:9093\"}]\n":                                         `c.yaml:2: alerting.alertmanagers[0].url: ftp://am:9093: want an http or https URL`,
		"alerting:\n  alertmanagers:\n    - {}\n":                                                          `c.yaml:3: alerting.alertmanagers[0].url: url is required`,
		"alerting:\n  alertmanagers: [{url: \"http://am\", bearer_token_file: nope}]\n":                    `c.yaml:2: alerting.alertmanagers[0].bearer_token_file: `,
		"alerting:\n  webhooks: [{url: \"https://u:hunter2@h/x\", secret_file: empty}]\n":                  `c.yaml:2: alerting.webhooks[0].secret_file: `,
		"alerting:\n  webhooks: [{url: \"https://u:hunter2@h/x#f\"}]\n":                                    `c.yaml:2: alerting.webhooks[0].url: `,
		"alerting:\n  min_locations: 2\n":                                                                  `c.yaml:2: alerting.min_locations: 2: this pathlens probes from one location`,
		"alerting:\n  timeout: 0s\n":                                                                       `c.yaml:2: alerting.timeout: want a positive duration, got 0s`,
		"maintenance:\n  - {targets: [a], cron: \"61 * * * *\", duration: 1h}\n":                           `c.yaml:2: maintenance[0].cron: "61 * * * *": `,
		"maintenance:\n  - {targets: [a], cron: \"@daily\"}\n":                                             `c.yaml:2: maintenance[0].duration: 0s: want more than 0`,
		"maintenance:\n  - {targets: [a], start: yesterday, end: \"2026-01-01T00:00:00Z\"}\n":              `c.yaml:2: maintenance[0].start: "yesterday" is not a time: want RFC 3339`,
		"maintenance:\n  - targets: [a]\n    start: 2026-01-02T00:00:00Z\n    end: 2026-01-01T00:00:00Z\n": `c.yaml:4: maintenance[0].end: 2026-01-01T00:00:00Z is not after start`,
		"maintenance:\n  - {cron: \"@daily\", duration: 1h}\n":                                             `c.yaml:2: maintenance[0].targets: name at least one target or pattern`,
		"maintenance:\n  - ~\n":                                                              `c.yaml:2: maintenance[0]: want a mapping with the keys targets, cron, duration, start, end, got nothing`,
		"defaults: {failures_before_down: 0}\n":                                              `c.yaml:1: defaults.failures_before_down: 0: want 1 to 100 runs`,
		"defaults:\n  warnings_before_degraded: 101\n":                                       `c.yaml:2: defaults.warnings_before_degraded: 101: want 1 to 100 runs`,
		"defaults: {flap_window: 1s}\n":                                                      `c.yaml:1: defaults.flap_window: 1s: want 1m0s to 24h0m0s`,
		"targets:\n  - {name: a, url: \"http://a/\", successes_before_up: -1}\n":             `c.yaml:2: targets[0].successes_before_up: -1: want 1 to 100 runs`,
		"targets:\n  - {name: a, url: \"http://a/\", slo: {objective: 100%}}\n":              `c.yaml:2: targets[0].slo.objective: "100%": want more than 0% and less than 100%`,
		"targets:\n  - {name: a, url: \"http://a/\", slo: {objective: lots}}\n":              `c.yaml:2: targets[0].slo.objective: "lots": want a percentage such as 99.9%`,
		"targets:\n  - name: a\n    url: \"http://a/\"\n    slo: {latency: 1s}\n":            `c.yaml:4: targets[0].slo.objective: objective is required`,
		"targets:\n  - {name: a, url: \"http://a/\", slo: {objective: 99%, window: 5m}}\n":   `c.yaml:2: targets[0].slo.window: 5m: want 1h to 90d`,
		"targets:\n  - {name: a, url: \"http://a/\", slo: {objective: 99%, window: soon}}\n": `c.yaml:2: targets[0].slo.window: bad duration "soon" (want e.g. 6h, 7d or 30d)`,
		"memory_limit: 1MiB\n":                                                               `c.yaml:1: memory_limit: 1MiB is below the minimum of 64MiB`,
		"remote_write:\n  - {url: \"ftp://h/w\"}\n":                                          `c.yaml:2: remote_write[0].url: ftp://h/w: want an http or https URL`,
		"remote_write:\n  - {url: \"https://u:hunter2@h/w\"}\n":                              `c.yaml:2: remote_write[0].url: https://xxxxx@h/w: put credentials in bearer_token_file`,
		"remote_write:\n  - url: \"https://h/w\"\n    bearer_token_file: nope\n":             `c.yaml:3: remote_write[0].bearer_token_file: `,
		"remote_write:\n  - {bearer_token_file: empty}\n":                                    `c.yaml:2: remote_write[0].url: url is required`,
	} {
		_, err := Parse(filepath.Join(dir, "c.yaml"), []byte(text))
		if err == nil {
			t.Errorf("Parse(%q): no error", text)
			continue
		}
		got := strings.TrimPrefix(err.Error(), dir+string(filepath.Separator))
		if !strings.HasPrefix(got, want) {
			t.Errorf("Parse(%q)\n got: %s\nwant: %s…", text, got, want)
		}
		if strings.Contains(got, "hunter2") || strings.Contains(got, "s3cret") || strings.Count(got, "\n") > 0 {
			t.Errorf("Parse(%q): %q shows a secret or spans lines", text, got)
		}
	}
}
