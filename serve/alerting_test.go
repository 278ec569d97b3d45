package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pathlens/pathlens/lab"
	"github.com/pathlens/pathlens/serve/alert"
	"github.com/pathlens/pathlens/serve/web/webtest"
)

// A target that keeps failing turns down after failures_before_down runs,
// not at its first failure: the webhook gets one signed document for the
// change (pending → down), the API and the target page show the state,
// and a healthy target with an objective has its pathlens_slo_ series.
func TestServeAlerting(t *testing.T) {
	l, err := lab.Start(context.Background(), lab.Options{Dir: t.TempDir(), Only: []string{"ok-http", "tcp-refused"}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	okS, _ := l.Scenario("ok-http")
	badS, _ := l.Scenario("tcp-refused")

	secret := []byte("hook-secret-value")
	var mu sync.Mutex
	var events []alert.Event
	var sigErrs []error
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		err := alert.VerifySignature(secret, body, r.Header.Get(alert.HeaderTimestamp), r.Header.Get(alert.HeaderSignature), time.Now(), time.Minute)
		var ev alert.Event
		if jerr := json.Unmarshal(body, &ev); jerr != nil && err == nil {
			err = jerr
		}
		mu.Lock()
		events = append(events, ev)
		if err != nil {
			sigErrs = append(sigErrs, err)
		}
		mu.Unlock()
	}))
	defer hook.Close()
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "hook.secret")
	if err := os.WriteFile(secretFile, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	defer func(d time.Duration) { budgetEvery = d }(budgetEvery)
	budgetEvery = 300 * time.Millisecond
	base := startServe(t, fmt.Sprintf(`defaults: {interval: 1s, timeout: 500ms, failures_before_down: 3}
alerting:
  external_url: http://pathlens.test
  webhooks: [{url: %q, secret_file: %q}]
targets:
  - {name: good, url: %q, labels: {team: shop}, slo: {objective: 99%%, latency: 5s}}
  - {name: bad, url: %q, labels: {team: shop}}
`, hook.URL+"/hook", secretFile, okS.Target, badS.Target))

	type apiT struct {
		Alert struct {
			State               string `json:"state"`
			ConsecutiveFailures int    `json:"consecutive_failures"`
		} `json:"alert"`
	}
	target := func(name string) apiT {
		_, body := get(t, base+"/api/v1/targets/"+url.PathEscape(name))
		var a apiT
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		return a
	}
	// The first two failures leave it pending (no verdict on a first
	// failure) and then not yet down: 3 are needed.
	eventually(t, "bad failed once", func() bool { return target("bad").Alert.ConsecutiveFailures >= 1 })
	if a := target("bad"); a.Alert.ConsecutiveFailures < 3 && a.Alert.State == "down" {
		t.Errorf("down after %d failures, want 3", a.Alert.ConsecutiveFailures)
	}
	eventually(t, "bad down", func() bool { return target("bad").Alert.State == "down" })
	if a := target("bad"); a.Alert.ConsecutiveFailures < 3 {
		t.Errorf("down after %d failures, want 3", a.Alert.ConsecutiveFailures)
	}
	eventually(t, "good up", func() bool { return target("good").Alert.State == "up" })
	eventually(t, "the webhook told", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) > 0
	})
	time.Sleep(1500 * time.Millisecond) // a run more: no second document for the same state
	mu.Lock()
	if len(sigErrs) > 0 {
		t.Errorf("bad signatures: %v", sigErrs)
	}
	if len(events) != 1 {
		t.Errorf("%d documents, want 1 (pending → down of bad): %+v", len(events), events)
	} else if ev := events[0]; ev.Target != "bad" || ev.From != alert.StatePending || ev.To != alert.StateDown ||
		ev.Labels["team"] != "shop" || ev.Error == nil || ev.Link != "http://pathlens.test/targets/bad" {
		t.Errorf("document %+v", ev)
	}
	mu.Unlock()

	// The error budget comes from the stored runs: once some are stored,
	// good has spent none of it.
	eventually(t, "good's error budget", func() bool {
		_, m := get(t, base+"/metrics")
		return strings.Contains(m, `pathlens_slo_error_budget_remaining_ratio{module="default",target="good"} 1`)
	})
	var api struct {
		Uptime struct {
			Windows map[string]*float64 `json:"windows"`
			SLO     *struct {
				Objective       float64  `json:"objective"`
				GoodRuns        int64    `json:"good_runs"`
				BudgetRemaining *float64 `json:"error_budget_remaining"`
			} `json:"slo"`
		} `json:"uptime"`
	}
	_, body := get(t, base+"/api/v1/targets/good")
	if err := json.Unmarshal([]byte(body), &api); err != nil {
		t.Fatal(err)
	}
	if w := api.Uptime.Windows["24h"]; w == nil || *w != 1 || api.Uptime.SLO == nil || api.Uptime.SLO.Objective != 0.99 ||
		api.Uptime.SLO.GoodRuns < 1 || api.Uptime.SLO.BudgetRemaining == nil || *api.Uptime.SLO.BudgetRemaining != 1 {
		t.Errorf("good's uptime: %s", body)
	}
	_, body = get(t, base+"/api/v1/targets/bad")
	api.Uptime.SLO = nil // absent from bad's: must stay nil
	if err := json.Unmarshal([]byte(body), &api); err != nil {
		t.Fatal(err)
	}
	if w := api.Uptime.Windows["24h"]; w == nil || *w != 0 || api.Uptime.SLO != nil {
		t.Errorf("bad's uptime: %s", body)
	}
	_, page := get(t, base+"/targets/good")
	for _, want := range []string{"<dt>Uptime</dt>", "100 %", "<dt>Objective</dt>", "99 % of runs good over 30d (succeeded within 5s)", "error budget left"} {
		if !strings.Contains(page, want) {
			t.Errorf("good's page lacks %q", want)
		}
	}
	_, page = get(t, base+"/targets/bad")
	for _, want := range []string{`<span class="badge st-down">down</span> since`, "Notifications", "delivered"} {
		if !strings.Contains(page, want) {
			t.Errorf("target page lacks %q", want)
		}
	}
	if strings.Contains(page, string(secret)) {
		t.Error("the target page shows the webhook secret")
	}
	// What a person reads in a browser: the state, the delivery, and on
	// the healthy target its uptime and objective.
	if webtest.HaveChromium() && !testing.Short() {
		text := webtest.VisibleText(webtest.Chromium(t, base+"/targets/bad", webtest.ArtifactPath(t, "serve-target-down-alerting.png")))
		for _, want := range []string{"down since", "Notifications", "pending → down", "delivered", "Uptime", "0 %"} {
			if !strings.Contains(text, want) {
				t.Errorf("rendered page of bad lacks %q", want)
			}
		}
		text = webtest.VisibleText(webtest.Chromium(t, base+"/targets/good", webtest.ArtifactPath(t, "serve-target-slo.png")))
		for _, want := range []string{"Objective", "99 % of runs good over 30d", "error budget left 100 %", "burn rate (1 h) 0.0×"} {
			if !strings.Contains(text, want) {
				t.Errorf("rendered page of good lacks %q", want)
			}
		}
	} else {
		t.Log("no chromium (or -short): the rendered pages are not checked")
	}
	_, metrics := get(t, base+"/metrics")
	for _, want := range []string{
		`pathlens_webhooks_sent_total 1`,
		`pathlens_alert_errors_total{receiver="webhook"} 0`,
		`pathlens_slo_objective_ratio{module="default",target="good"} 0.99`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	var runs, good float64
	for _, line := range strings.Split(metrics, "\n") {
		if _, err := fmt.Sscanf(line, `pathlens_slo_runs_total{module="default",target="good"} %g`, &runs); err == nil {
			continue
		}
		fmt.Sscanf(line, `pathlens_slo_good_runs_total{module="default",target="good"} %g`, &good)
	}
	if runs < 1 || good != runs {
		t.Errorf("slo runs %v good %v: every run of good is good", runs, good)
	}
	if strings.Contains(metrics, `pathlens_slo_runs_total{module="default",target="bad"}`) {
		t.Error("bad has no objective but has SLO series")
	}
}
