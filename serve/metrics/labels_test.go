package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A target's own labels are on every per-target series, in name order
// with target, module and the series' own labels; a reload that changes
// them changes the series, and a target without labels has none.
func TestTargetLabels(t *testing.T) {
	e := New()
	e.SetModuleOptions(map[string]ModuleMetrics{"web": {PerTargetHistograms: true}})
	e.SetTargetLabels(map[string]map[string]string{"api": {"team": "shop", "env": "prod", "zz": `a"b`}})
	e.Observe("api", "web", refusedHTTPS())
	e.Observe("other", "web", okHTTPS())
	text := scrape(t, e)
	for _, want := range []string{
		`pathlens_probe_success{env="prod",module="web",target="api",team="shop",zz="a\"b"} 0`,
		`pathlens_probe_errors_total{class="connect",env="prod",module="web",target="api",team="shop",zz="a\"b"} 1`,
		`pathlens_finding_active{env="prod",id="TCP_REFUSED",module="web",severity="critical",target="api",team="shop",zz="a\"b"} 1`,
		`pathlens_probe_duration_seconds_count{env="prod",module="web",target="api",team="shop",zz="a\"b"} 1`,
		`pathlens_probe_success{module="web",target="other"} 1`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("missing %s", want)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, `target="api"`) && !strings.Contains(line, `team="shop"`) {
			t.Errorf("a series of api without its labels: %s", line)
		}
	}
	// The exposition still parses, and lints.
	if _, err := testutil.GatherAndCount(e.gatherer()); err != nil {
		t.Fatal(err)
	}

	e.SetTargetLabels(map[string]map[string]string{"api": {"team": "ops"}})
	r := refusedHTTPS()
	r.StartedAt = r.StartedAt.Add(time.Minute)
	e.Observe("api", "web", r)
	text = scrape(t, e)
	if !strings.Contains(text, `pathlens_probe_success{module="web",target="api",team="ops"} 0`) || strings.Contains(text, `team="shop"`) {
		t.Errorf("after the labels changed:\n%s", grepLines(text, `target="api"`))
	}
}
