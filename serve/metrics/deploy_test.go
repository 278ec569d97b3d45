package metrics

// Tests of /deploy: the Prometheus config, the alert rules and the Grafana
// dashboard must parse and must only query series that pathlens exports.
// With promtool on PATH they are also checked (and the rules unit-tested)
// by promtool itself.

import (
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"

	"github.com/pathlens/pathlens/probe"
)

const deployDir = "../../deploy"

func readDeploy(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exportedNames is every series name the Exporter (/metrics, without the
// opt-in per-target series: the deployment must work with the defaults)
// and BlackboxRegistry (/probe) expose, with _bucket/_sum/_count for
// histograms and summaries.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	add := func(mfs []*dto.MetricFamily) {
		for _, mf := range mfs {
			n := mf.GetName()
			names[n] = true
			switch mf.GetType() {
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				names[n+"_bucket"], names[n+"_sum"], names[n+"_count"] = true, true, true
			case dto.MetricType_SUMMARY:
				names[n+"_sum"], names[n+"_count"] = true, true
			}
		}
	}
	mfs, err := defaultExporter().gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	add(mfs)
	icmp := &probe.Result{Kind: "icmp", ICMP: &probe.ICMPInfo{}}
	for _, r := range []*probe.Result{redirectedHTTPS(), refusedHTTPS(), icmp} {
		mfs, err := BlackboxRegistry(r).Gather()
		if err != nil {
			t.Fatal(err)
		}
		add(mfs)
	}
	return names
}

var (
	quoted     = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	metricName = regexp.MustCompile(`\b(?:pathlens|probe)_[A-Za-z0-9_:]*`)
	// recordedName is a recording rule's name, level:metric:operations.
	recordedName = regexp.MustCompile(`\bpathlens:[A-Za-z0-9_:]*`)
)

// unknownNames returns the pathlens_/probe_ identifiers of a PromQL
// expression that are not exported. Quoted strings (label values such as
// job="pathlens_probe") are skipped.
func unknownNames(expr string, known map[string]bool) []string {
	var bad []string
	for _, n := range metricName.FindAllString(quoted.ReplaceAllString(expr, `""`), -1) {
		if !known[n] && !slices.Contains(bad, n) {
			bad = append(bad, n)
		}
	}
	return bad
}

func TestUnknownNamesChecker(t *testing.T) {
	known := map[string]bool{"pathlens_probe_success": true, "probe_success": true}
	if bad := unknownNames(`pathlens_probe_success{job="pathlens_probe"} == 0 or probe_success == 0`, known); len(bad) != 0 {
		t.Errorf("false positives: %v", bad)
	}
	if bad := unknownNames(`pathlens_probe_sucess == 0 and probe_succes`, known); len(bad) != 2 {
		t.Errorf("missed misspellings: %v", bad)
	}
}

func TestDeployPrometheusConfig(t *testing.T) {
	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string              `yaml:"job_name"`
			MetricsPath   string              `yaml:"metrics_path"`
			ScrapeTimeout string              `yaml:"scrape_timeout"`
			Params        map[string][]string `yaml:"params"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
			RelabelConfigs []struct {
				SourceLabels []string `yaml:"source_labels"`
				TargetLabel  string   `yaml:"target_label"`
				Replacement  string   `yaml:"replacement"`
			} `yaml:"relabel_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(readDeploy(t, "prometheus.yml"), &cfg); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(cfg.RuleFiles, "alerts.yml") {
		t.Errorf("rule_files %v lacks alerts.yml", cfg.RuleFiles)
	}
	var metrics, probeJob bool
	for _, sc := range cfg.ScrapeConfigs {
		switch sc.MetricsPath {
		case "", "/metrics":
			for _, s := range sc.StaticConfigs {
				if slices.Contains(s.Targets, "127.0.0.1:9116") {
					metrics = true
				}
			}
		case "/probe":
			probeJob = true
			if got := sc.Params["module"]; len(got) != 1 || got[0] != "web" {
				t.Errorf("%s: params.module = %v, want [web]", sc.JobName, got)
			}
			rl := map[string]string{}
			for _, r := range sc.RelabelConfigs {
				rl[r.TargetLabel] = strings.Join(r.SourceLabels, ",") + "→" + r.Replacement
			}
			want := map[string]string{"__param_target": "__address__→", "instance": "__param_target→", "__address__": "→127.0.0.1:9116"}
			for k, v := range want {
				if rl[k] != v {
					t.Errorf("%s: relabel to %s is %q, want %q", sc.JobName, k, rl[k], v)
				}
			}
		}
	}
	if !metrics || !probeJob {
		t.Errorf("want a /metrics job on 127.0.0.1:9116 (%v) and a /probe job (%v)", metrics, probeJob)
	}
}

func TestDeployAlerts(t *testing.T) {
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Record      string            `yaml:"record"`
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(readDeploy(t, "alerts.yml"), &rules); err != nil {
		t.Fatal(err)
	}
	known := exportedNames(t)
	exprs := map[string]string{}
	// Recording rules (pathlens:…) export no alert; alerts may use them.
	recorded := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = true
			}
		}
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				if r.Expr == "" {
					t.Errorf("group %s: recording rule %s without expr", g.Name, r.Record)
				}
				if bad := unknownNames(r.Expr, known); len(bad) > 0 {
					t.Errorf("%s: expr %q uses series pathlens does not export: %v", r.Record, r.Expr, bad)
				}
				continue
			}
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("group %s: rule without alert name or expr: %+v", g.Name, r)
				continue
			}
			exprs[r.Alert] = r.Expr
			if bad := unknownNames(r.Expr, known); len(bad) > 0 {
				t.Errorf("%s: expr %q uses series pathlens does not export: %v", r.Alert, r.Expr, bad)
			}
			for _, n := range recordedName.FindAllString(quoted.ReplaceAllString(r.Expr, `""`), -1) {
				if !recorded[n] {
					t.Errorf("%s: expr uses %s, which no rule records", r.Alert, n)
				}
			}
			for _, a := range []string{"summary", "description"} {
				if !strings.Contains(r.Annotations[a], "$labels.") {
					t.Errorf("%s: annotation %s %q names no label", r.Alert, a, r.Annotations[a])
				}
			}
			if r.Labels["severity"] == "" {
				t.Errorf("%s: no severity label", r.Alert)
			}
		}
	}
	// The alerts the deployment promises.
	for _, want := range []string{
		"pathlens_probe_success == 0",
		"pathlens_tls_cert_not_after_timestamp_seconds - time() < 14 * 86400",
		`pathlens_finding_active{severity="critical"} == 1`,
		"probe_success == 0",
	} {
		found := false
		for _, e := range exprs {
			found = found || strings.TrimSpace(e) == want
		}
		if !found {
			t.Errorf("no alert with expr %q (have %v)", want, exprs)
		}
	}
	for _, want := range []string{"PathlensSLOBurnRateFast", "PathlensSLOBurnRateSlow", "PathlensErrorBudgetExhausted"} {
		if exprs[want] == "" {
			t.Errorf("no alert %s", want)
		}
	}
}

func TestDeployGrafana(t *testing.T) {
	var dash map[string]any
	if err := json.Unmarshal(readDeploy(t, "grafana/pathlens.json"), &dash); err != nil {
		t.Fatal(err)
	}
	if v, _ := dash["schemaVersion"].(float64); v < 36 {
		t.Errorf("schemaVersion %v < 36", dash["schemaVersion"])
	}
	known := exportedNames(t)

	// The datasource is the variable ${DS_PROMETHEUS}.
	dsVar := false
	tmpl, _ := dash["templating"].(map[string]any)
	vars, _ := tmpl["list"].([]any)
	for _, v := range vars {
		m := v.(map[string]any)
		if m["name"] == "DS_PROMETHEUS" && m["type"] == "datasource" && m["query"] == "prometheus" {
			dsVar = true
		}
		if q, ok := m["query"].(map[string]any); ok {
			if bad := unknownNames(q["query"].(string), known); len(bad) > 0 {
				t.Errorf("variable %v: query uses unknown series %v", m["name"], bad)
			}
		}
	}
	if !dsVar {
		t.Error("no datasource variable DS_PROMETHEUS")
	}

	var exprs []string
	panels, _ := dash["panels"].([]any)
	titles := map[string]bool{}
	for _, p := range panels {
		pm := p.(map[string]any)
		titles[pm["title"].(string)] = true
		if ds, _ := pm["datasource"].(map[string]any); ds["uid"] != "${DS_PROMETHEUS}" {
			t.Errorf("panel %q: datasource %v, want uid ${DS_PROMETHEUS}", pm["title"], pm["datasource"])
		}
		targets, _ := pm["targets"].([]any)
		if len(targets) == 0 {
			t.Errorf("panel %q has no queries", pm["title"])
		}
		for _, tg := range targets {
			tm := tg.(map[string]any)
			if ds, _ := tm["datasource"].(map[string]any); ds["uid"] != "${DS_PROMETHEUS}" {
				t.Errorf("panel %q: query datasource %v", pm["title"], tm["datasource"])
			}
			e, _ := tm["expr"].(string)
			exprs = append(exprs, e)
			// A panel may show an opt-in series when its description
			// names the option that turns it on.
			desc, _ := pm["description"].(string)
			k := known
			if strings.Contains(desc, "per_target_phases") {
				k = maps.Clone(known)
				k[NameProbeLastPhaseDuration] = true
			}
			if bad := unknownNames(e, k); len(bad) > 0 {
				t.Errorf("panel %q: expr %q uses series pathlens does not export: %v", pm["title"], e, bad)
			}
		}
	}
	all := strings.Join(exprs, "\n")
	for _, want := range []string{
		"pathlens_probe_success{",
		"histogram_quantile(0.5, sum by (module, le) (rate(pathlens_module_probe_duration_seconds_bucket",
		"histogram_quantile(0.99, sum by (module, le) (rate(pathlens_module_probe_duration_seconds_bucket",
		"pathlens_module_phase_duration_seconds_sum",
		"pathlens_probe_last_duration_seconds{",
		"pathlens_module_probe_errors_total{",
		"pathlens_finding_active{",
		"pathlens_tls_cert_not_after_timestamp_seconds{",
		"pathlens_probe_last_phase_duration_seconds{",
		"pathlens_slo_error_budget_remaining_ratio{",
		"pathlens_slo_good_runs_total{",
		"pathlens_alerts_firing",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no panel queries %q", want)
		}
	}
	keys := make([]string, 0, len(titles))
	for k := range titles {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	t.Logf("panels: %v", keys)
}

func TestDeployPromtool(t *testing.T) {
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not on PATH (Debian: apt-get install prometheus)")
	}
	for _, args := range [][]string{
		{"check", "config", "prometheus.yml"},
		{"check", "rules", "alerts.yml"},
		{"test", "rules", "alerts_test.yml"},
	} {
		cmd := exec.Command(path, args...)
		cmd.Dir = deployDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
