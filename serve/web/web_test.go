package web

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/config"
	"github.com/pathlens/pathlens/serve/store"
)

func TestHealthzAndHeaders(t *testing.T) {
	f := getFixture(t)
	c := newClient(t, newServer(t, f, f.cfg))
	r := c.get("/healthz")
	r.want(t, "/healthz", 200, "text/plain")
	if strings.TrimSpace(r.body) != "ok" {
		t.Fatalf("/healthz body %q", r.body)
	}
	for _, path := range []string{"/healthz", "/", "/api/v1/targets", "/targets/ok-http", "/findings", "/static/style.css", "/nope"} {
		r := c.get(path)
		h := r.header
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "style-src 'self'") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: security headers missing: %v", path, h)
		}
	}
	r = c.get("/static/style.css")
	r.want(t, "/static/style.css", 200, "text/css")
	if !strings.Contains(r.body, "prefers-color-scheme: dark") || !strings.Contains(r.body, "--ph-tls") {
		t.Error("style.css lacks the dark scheme or the phase colours")
	}
	c.get("/static/favicon.svg").want(t, "favicon", 200, "image/svg+xml")
	c.get("/nope").want(t, "/nope", 404, "text/html")
	c.get("/api/v1/nope").want(t, "/api/v1/nope", 404, "application/json")
	r = c.get("/metrics")
	r.want(t, "/metrics", 200, "")
	if !strings.Contains(r.body, "pathlens_probe_success") {
		t.Errorf("/metrics did not come from Deps.Metrics: %q", r.body)
	}
}

func TestAPITargets(t *testing.T) {
	f := getFixture(t)
	c := newClient(t, newServer(t, f, f.cfg))
	r := c.get("/api/v1/targets")
	r.want(t, "/api/v1/targets", 200, "application/json")
	var got []APITarget
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(fixtureScenarios) {
		t.Fatalf("%d targets, want %d", len(got), len(fixtureScenarios))
	}
	// Raw shape: the documented keys are there.
	var raw []map[string]any
	_ = json.Unmarshal([]byte(r.body), &raw)
	for _, k := range []string{"name", "url", "module", "interval", "labels", "state", "last"} {
		if _, ok := raw[0][k]; !ok {
			t.Errorf("target JSON lacks %q: %v", k, raw[0])
		}
	}
	last := raw[0]["last"].(map[string]any)
	for _, k := range []string{"started_at", "success", "total_ms", "error", "findings"} {
		if _, ok := last[k]; !ok {
			t.Errorf("last JSON lacks %q: %v", k, last)
		}
	}
	wantState := map[string]string{
		"ok-http": TargetUp, "ok-h2": TargetUp, "tls-expiring": TargetDegraded,
		"tls-incomplete-chain": TargetDown, "http-500": TargetDown, "tcp-refused": TargetDown, "dns-nxdomain": TargetDown,
	}
	for i, tg := range got {
		if tg.Name != fixtureScenarios[i].name {
			t.Errorf("target %d is %s, want config order (%s)", i, tg.Name, fixtureScenarios[i].name)
		}
		sc, _ := f.lab.Scenario(tg.Name)
		if tg.URL != sc.Target || tg.Interval != "15s" || tg.IntervalSeconds != 15 || tg.Labels["scenario"] != tg.Name {
			t.Errorf("%s: %+v", tg.Name, tg)
		}
		if tg.State != wantState[tg.Name] {
			t.Errorf("%s: state %s, want %s", tg.Name, tg.State, wantState[tg.Name])
		}
		if tg.Last == nil {
			t.Fatalf("%s: no last run", tg.Name)
		}
		runs := f.results[tg.Name]
		lr := runs[len(runs)-1]
		if !tg.Last.StartedAt.Equal(lr.StartedAt) || tg.Last.Success != lr.Success || tg.Last.TotalMS != lr.TotalMS {
			t.Errorf("%s: last %+v is not the latest run", tg.Name, tg.Last)
		}
		if (tg.Last.Error == nil) != lr.Success {
			t.Errorf("%s: error %v with success %v", tg.Name, tg.Last.Error, lr.Success)
		}
		var ids []string
		for _, fr := range tg.Last.Findings {
			ids = append(ids, fr.ID)
			if fr.Severity == "" {
				t.Errorf("%s: finding %s without severity", tg.Name, fr.ID)
			}
		}
		// The scenario's findings, plus at most timing findings a loaded
		// machine (-race) may add.
		for _, id := range f.expect[tg.Name] {
			if !slices.Contains(ids, id) {
				t.Errorf("%s: findings %v lack %s", tg.Name, ids, id)
			}
		}
		for _, id := range ids {
			if !slices.Contains(f.expect[tg.Name], id) && !timingFinding[id] {
				t.Errorf("%s: unexpected finding %s", tg.Name, id)
			}
		}
	}

	// One target; and a pending one (configured, never run).
	r = c.get("/api/v1/targets/tcp-refused")
	r.want(t, "one target", 200, "application/json")
	c.get("/api/v1/targets/no-such").want(t, "unknown target", 404, "application/json")

	cfg2 := *f.cfg
	cfg2.Targets = append(slices.Clone(f.cfg.Targets), &config.Target{Name: "never-run", URL: "http://127.0.0.1:1/", Module: "lab", Interval: time.Minute})
	c2 := newClient(t, newServer(t, f, &cfg2))
	var one APITarget
	r = c2.get("/api/v1/targets/never-run")
	r.want(t, "pending target", 200, "application/json")
	if err := json.Unmarshal([]byte(r.body), &one); err != nil || one.State != StatePending || one.Last != nil || one.Labels == nil {
		t.Errorf("pending target: %+v (%v); body %s", one, err, r.body)
	}
}

func TestAPIResults(t *testing.T) {
	f := getFixture(t)
	c := newClient(t, newServer(t, f, f.cfg))
	var got []APIResult
	r := c.get("/api/v1/targets/ok-h2/results")
	r.want(t, "results", 200, "application/json")
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 25 {
		t.Fatalf("%d results, want 25", len(got))
	}
	for i, g := range got {
		if g.ID <= 0 || g.Name != "ok-h2" || g.Module != "lab" || g.Result == nil || g.Schema != probe.Schema || len(g.Phases) == 0 {
			t.Fatalf("result %d: %+v", i, g)
		}
		if i > 0 && g.StartedAt.After(got[i-1].StartedAt) {
			t.Fatalf("results not newest first at %d", i)
		}
	}
	var raw []map[string]any
	_ = json.Unmarshal([]byte(r.body), &raw)
	for _, k := range []string{"id", "name", "module", "schema", "target", "kind", "started_at", "success", "error", "total_ms", "phases", "tls", "http", "findings"} {
		if _, ok := raw[0][k]; !ok {
			t.Errorf("result JSON lacks %q", k)
		}
	}

	r = c.get("/api/v1/targets/ok-h2/results?limit=5")
	r.want(t, "limit=5", 200, "application/json")
	got = nil
	_ = json.Unmarshal([]byte(r.body), &got)
	if len(got) != 5 {
		t.Errorf("limit=5 gave %d", len(got))
	}
	since := f.results["ok-h2"][20].StartedAt
	r = c.get("/api/v1/targets/ok-h2/results?since=" + url.QueryEscape(since.Format(time.RFC3339Nano)))
	got = nil
	_ = json.Unmarshal([]byte(r.body), &got)
	if len(got) != 5 {
		t.Errorf("since the 21st run gave %d results, want 5", len(got))
	}
	r = c.get("/api/v1/targets/ok-h2/results?since=" + url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339)))
	r.want(t, "future since", 200, "application/json")
	if strings.TrimSpace(r.body) != "[]" {
		t.Errorf("future since: %s", r.body)
	}
	for _, bad := range []string{"limit=0", "limit=1001", "limit=abc", "limit=", "since=yesterday", "since=2026-01-02", "since="} {
		c.get("/api/v1/targets/ok-h2/results?"+bad).want(t, bad, 400, "application/json")
	}
	c.get("/api/v1/targets/ok-h2/results?limit=1000").want(t, "limit=1000", 200, "application/json")
	c.get("/api/v1/targets/no-such/results").want(t, "unknown target", 404, "application/json")

	// One run by id.
	id := got0(t, c, "tls-incomplete-chain").ID
	r = c.get("/api/v1/runs/" + strconv.FormatInt(id, 10))
	r.want(t, "run", 200, "application/json")
	var one APIResult
	if err := json.Unmarshal([]byte(r.body), &one); err != nil || one.ID != id || one.Name != "tls-incomplete-chain" || one.TLS == nil {
		t.Errorf("run %d: %+v %v", id, one, err)
	}
	for _, bad := range []string{"999999999", "0", "-1", "abc"} {
		c.get("/api/v1/runs/"+bad).want(t, "run "+bad, 404, "application/json")
	}
}

// got0 returns the newest stored run of target through the API.
func got0(t *testing.T, c *client, target string) APIResult {
	t.Helper()
	var got []APIResult
	r := c.get("/api/v1/targets/" + target + "/results?limit=1")
	r.want(t, "results of "+target, 200, "application/json")
	if err := json.Unmarshal([]byte(r.body), &got); err != nil || len(got) != 1 {
		t.Fatalf("results of %s: %v %s", target, err, r.body)
	}
	return got[0]
}

func TestAPIPercentiles(t *testing.T) {
	f := getFixture(t)
	c := newClient(t, newServer(t, f, f.cfg))
	for _, w := range []string{"1h", "24h", "7d", ""} {
		q := ""
		if w != "" {
			q = "?window=" + w
		}
		r := c.get("/api/v1/targets/ok-h2/percentiles" + q)
		r.want(t, "window "+w, 200, "application/json")
		var rep store.Report
		if err := json.Unmarshal([]byte(r.body), &rep); err != nil {
			t.Fatal(err)
		}
		want := w
		if want == "" {
			want = "1h"
		}
		if rep.Window != want || rep.Buckets != 60 || rep.Runs != 25 || rep.Successes != 25 || rep.Target != "ok-h2" {
			t.Errorf("window %s: %+v", w, rep)
		}
		var phases []string
		for _, ps := range rep.Phases {
			phases = append(phases, ps.Phase)
			if len(ps.Buckets) != 60 {
				t.Errorf("%s: %d buckets", ps.Phase, len(ps.Buckets))
			}
		}
		for _, p := range []string{"dns", "connect", "tls", "wait", "total"} {
			if !slices.Contains(phases, p) {
				t.Errorf("window %s: phases %v lack %s", w, phases, p)
			}
		}
		var raw map[string]any
		_ = json.Unmarshal([]byte(r.body), &raw)
		for _, k := range []string{"target", "window", "from", "to", "bucket_width_ns", "buckets", "phases", "runs", "successes", "success_ratio"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("report JSON lacks %q", k)
			}
		}
	}
	for _, bad := range []string{"2h", "1d", "abc", ""} {
		c.get("/api/v1/targets/ok-h2/percentiles?window="+bad).want(t, "window="+bad, 400, "application/json")
	}
	c.get("/api/v1/targets/no-such/percentiles?window=1h").want(t, "unknown target", 404, "application/json")
}

func TestAPIFindings(t *testing.T) {
	f := getFixture(t)
	c := newClient(t, newServer(t, f, f.cfg))
	r := c.get("/api/v1/findings")
	r.want(t, "findings", 200, "application/json")
	var spans []store.FindingSpan
	if err := json.Unmarshal([]byte(r.body), &spans); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, sp := range spans {
		seen[sp.Target+"/"+sp.Finding.ID] = true
		if i > 0 && sp.Active && !spans[i-1].Active {
			t.Errorf("active span %d after an inactive one", i)
		}
		if i > 0 && sp.Active && sp.Finding.Severity.Rank() > spans[i-1].Finding.Severity.Rank() {
			t.Errorf("span %d (%s) is worse than the one before", i, sp.Finding.Severity)
		}
		if sp.FirstSeen.IsZero() || sp.LastSeen.Before(sp.FirstSeen) || sp.Runs < 1 || sp.Finding.Summary == "" || sp.Finding.Advice == "" {
			t.Errorf("span %+v", sp)
		}
	}
	for name, ids := range f.expect {
		for _, id := range ids {
			if !seen[name+"/"+id] {
				t.Errorf("no span for %s %s", name, id)
			}
		}
	}
	if last := spans[len(spans)-1]; last.Active || last.Target != "ok-http" || last.Finding.ID != "HTTP_SERVER_SLOW" {
		t.Errorf("the resolved span is not last: %+v", last)
	}
	var raw []map[string]any
	_ = json.Unmarshal([]byte(r.body), &raw)
	for _, k := range []string{"target", "finding", "first_seen", "last_seen", "active", "runs"} {
		if _, ok := raw[0][k]; !ok {
			t.Errorf("span JSON lacks %q", k)
		}
	}
}

// TestProbeEndpoint runs /probe against lab targets for real.
func TestProbeEndpoint(t *testing.T) {
	f := getFixture(t)
	c := newClient(t, newServer(t, f, f.cfg))
	okHTTP, _ := f.lab.Scenario("ok-http")
	okH2, _ := f.lab.Scenario("ok-h2")

	r := c.get("/probe?target=" + url.QueryEscape(okHTTP.Target))
	r.want(t, "probe ok-http", 200, "text/plain")
	if !regexp.MustCompile(`(?m)^probe_success 1$`).MatchString(r.body) {
		t.Errorf("probe ok-http: no probe_success 1 line:\n%s", r.body)
	}

	// An https lab target through the module that trusts the lab CA; a
	// scraper asking for protobuf still gets text.
	r = c.do(http.MethodGet, "/probe?module=lab&target="+url.QueryEscape(okH2.Target), nil,
		http.Header{"Accept": {"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"}})
	r.want(t, "probe ok-h2", 200, "text/plain")
	for _, want := range []string{`probe_http_duration_seconds{phase="tls"}`, "probe_ssl_earliest_cert_expiry", "probe_success 1", "probe_http_status_code 200"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("probe ok-h2 lacks %s:\n%s", want, r.body)
		}
	}

	// A failing lab target: 200 with probe_success 0 and the finding.
	inc, _ := f.lab.Scenario("tls-incomplete-chain")
	r = c.get("/probe?module=lab&target=" + url.QueryEscape(inc.Target))
	r.want(t, "probe tls-incomplete-chain", 200, "text/plain")
	if !strings.Contains(r.body, "probe_success 0") || !strings.Contains(r.body, `id="TLS_CHAIN_INCOMPLETE"`) {
		t.Errorf("probe tls-incomplete-chain:\n%s", r.body)
	}

	// Refusals.
	r = c.get("/probe?target=" + url.QueryEscape("https://example.com/"))
	r.want(t, "not allowed", 403, "text/plain")
	if !strings.Contains(r.body, "probe_endpoint.allow") {
		t.Errorf("403 does not explain the allowlist: %s", r.body)
	}
	c.get("/probe?target="+url.QueryEscape("tcp://127.0.0.1:1")).want(t, "tcp not allowed", 403, "text/plain")
	c.get("/probe").want(t, "no target", 400, "text/plain")
	c.get("/probe?target=").want(t, "empty target", 400, "text/plain")
	c.get("/probe?target="+url.QueryEscape("http://127.0.0.1:99999/")).want(t, "bad port", 400, "text/plain")
	c.get("/probe?module=nope&target="+url.QueryEscape(okHTTP.Target)).want(t, "unknown module", 400, "text/plain")
	c.get("/probe?module=labtcp&target="+url.QueryEscape(okHTTP.Target)).want(t, "module of another kind", 400, "text/plain")
	c.do(http.MethodGet, "/probe?target="+url.QueryEscape(okHTTP.Target), nil,
		http.Header{"X-Prometheus-Scrape-Timeout-Seconds": {"soon"}}).want(t, "bad scrape timeout", 400, "text/plain")
}

// TestProbeBudget checks the deadline /probe gives the probe: the
// module's timeout, cut to the scrape timeout less 0.5 s.
func TestProbeBudget(t *testing.T) {
	f := getFixture(t)
	var mu sync.Mutex
	var got time.Duration
	cfg := f.cfg
	h := New(Deps{
		Config: func() *config.Config { return cfg },
		Probe: func(ctx context.Context, target, module string) (*probe.Result, error) {
			dl, ok := ctx.Deadline()
			mu.Lock()
			defer mu.Unlock()
			got = -1
			if ok {
				got = time.Until(dl)
			}
			return &probe.Result{Schema: probe.Schema, Target: target, Kind: "http", Success: true, Phases: []probe.Phase{}, Findings: []probe.Finding{}}, nil
		},
	})
	c := &client{t: t, header: http.Header{}, bodies: new([]string)}
	srv := newTestServer(t, h)
	c.base = srv
	okHTTP, _ := f.lab.Scenario("ok-http")
	cases := []struct {
		module, header string
		want           time.Duration
	}{
		{"lab", "", 5 * time.Second},          // the module's timeout
		{"lab", "3", 2500 * time.Millisecond}, // header − 0.5 s
		{"lab", "30", 5 * time.Second},        // the module's is shorter
		{"", "", 10 * time.Second},            // defaults.timeout
		{"", "4.5", 4 * time.Second},
	}
	for _, tc := range cases {
		hdr := http.Header{}
		if tc.header != "" {
			hdr.Set("X-Prometheus-Scrape-Timeout-Seconds", tc.header)
		}
		r := c.do(http.MethodGet, "/probe?module="+tc.module+"&target="+url.QueryEscape(okHTTP.Target), nil, hdr)
		r.want(t, "probe budget", 200, "text/plain")
		mu.Lock()
		d := got
		mu.Unlock()
		if d > tc.want || d < tc.want-time.Second {
			t.Errorf("module %q header %q: budget %v, want about %v", tc.module, tc.header, d, tc.want)
		}
	}
}

func newTestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// ---- pages ----

func TestPages(t *testing.T) {
	f := getFixture(t)
	c := newClient(t, newServer(t, f, f.cfg))

	r := c.get("/")
	r.want(t, "overview", 200, "text/html")
	for _, fs := range fixtureScenarios {
		if !strings.Contains(r.body, `href="/targets/`+fs.name+`"`) {
			t.Errorf("overview lacks a link to %s", fs.name)
		}
	}
	for _, id := range []string{"TLS_CHAIN_INCOMPLETE", "TLS_CERT_EXPIRING", "HTTP_STATUS", "TCP_REFUSED", "DNS_FAILED"} {
		if !strings.Contains(r.body, id) {
			t.Errorf("overview lacks finding %s", id)
		}
	}
	counts := regexp.MustCompile(`<span class="n">(\d+)</span> (\w+)`).FindAllStringSubmatch(r.body, -1)
	gotCounts := map[string]string{}
	for _, m := range counts {
		gotCounts[m[2]] = m[1]
	}
	if gotCounts["up"] != "2" || gotCounts["degraded"] != "1" || gotCounts["down"] != "4" {
		t.Errorf("overview counts %v", gotCounts)
	}
	if n := strings.Count(r.body, `<svg class="spark"`); n != len(fixtureScenarios) {
		t.Errorf("overview has %d sparklines, want %d", n, len(fixtureScenarios))
	}
	if !strings.Contains(r.body, `<meta name="viewport"`) || !strings.Contains(r.body, `http-equiv="refresh"`) {
		t.Error("overview lacks the viewport or refresh meta")
	}
	assertNoInlineStyleOrScript(t, "overview", r.body)

	// The incomplete-chain target page: finding with advice, chain table.
	r = c.get("/targets/tls-incomplete-chain")
	r.want(t, "target page", 200, "text/html")
	inc := f.results["tls-incomplete-chain"]
	var adv string
	for _, fd := range inc[len(inc)-1].Findings {
		if fd.ID == "TLS_CHAIN_INCOMPLETE" {
			adv = fd.Advice
		}
	}
	if adv == "" || !strings.Contains(html.UnescapeString(r.body), adv) {
		t.Errorf("tls-incomplete-chain page lacks the advice %q", adv)
	}
	for _, want := range []string{"TLS_CHAIN_INCOMPLETE", "first seen", "TLS certificate chain", "Days left", `<svg class="stacked"`, "p99"} {
		if want == "" || !strings.Contains(r.body, want) {
			t.Errorf("tls-incomplete-chain page lacks %q", want)
		}
	}
	if n := strings.Count(r.body, `<svg class="wf"`); n != 3 {
		t.Errorf("tls-incomplete-chain page has %d waterfalls, want 3", n)
	}
	if !strings.Contains(r.body, `class="run-failed"`) {
		t.Error("failed runs are not marked")
	}
	assertNoInlineStyleOrScript(t, "target", r.body)

	// Expiring certificate: days to expiry, in red.
	r = c.get("/targets/tls-expiring")
	r.want(t, "tls-expiring page", 200, "text/html")
	if !regexp.MustCompile(`class="num days-soon">[45] days<`).MatchString(r.body) {
		t.Errorf("tls-expiring page lacks the red days-to-expiry cell")
	}
	if !regexp.MustCompile(`class="num days-ok">\d+ days<`).MatchString(r.body) {
		t.Errorf("tls-expiring page lacks the intermediate's days to expiry")
	}

	// 25 runs stored, 20 drawn, each linking its raw Result.
	r = c.get("/targets/ok-h2?window=24h")
	r.want(t, "ok-h2 page", 200, "text/html")
	if n := strings.Count(r.body, `<svg class="wf"`); n != 20 {
		t.Errorf("ok-h2 page draws %d waterfalls, want 20", n)
	}
	if n := len(regexp.MustCompile(`href="/runs/\d+"`).FindAllString(r.body, -1)); n < 20 {
		t.Errorf("ok-h2 page links %d runs, want 20", n)
	}
	if n := len(regexp.MustCompile(`href="/api/v1/runs/\d+"`).FindAllString(r.body, -1)); n != 20 {
		t.Errorf("ok-h2 page links %d raw results, want 20", n)
	}
	for _, ph := range []string{"ph-dns", "ph-connect", "ph-tls", "ph-wait"} {
		if !strings.Contains(r.body, `class="`+ph+`"`) {
			t.Errorf("ok-h2 page has no %s bar", ph)
		}
	}
	if !strings.Contains(r.body, `aria-current="true" class="active">24h<`) {
		t.Error("window 24h is not marked active")
	}
	for _, w := range []string{"1h", "7d"} {
		c.get("/targets/ok-h2?window="+w).want(t, "window "+w, 200, "text/html")
	}
	c.get("/targets/ok-h2?window=2h").want(t, "bad window", 400, "text/html")
	c.get("/targets/no-such").want(t, "unknown target", 404, "text/html")

	// A run page: pretty JSON (escaped) and its waterfall.
	run := got0(t, c, "tls-incomplete-chain")
	r = c.get("/runs/" + strconv.FormatInt(run.ID, 10))
	r.want(t, "run page", 200, "text/html")
	for _, want := range []string{`<pre class="json">`, `&#34;schema&#34;: &#34;pathlens/v1&#34;`, `<svg class="wf-big"`, "TLS_CHAIN_INCOMPLETE", `href="/targets/tls-incomplete-chain"`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("run page lacks %q", want)
		}
	}
	c.get("/runs/999999999").want(t, "unknown run", 404, "text/html")
	c.get("/runs/abc").want(t, "bad run id", 404, "text/html")

	// Findings: active ones worst first, and the catalogue.
	r = c.get("/findings")
	r.want(t, "findings page", 200, "text/html")
	for name, ids := range f.expect {
		for _, id := range ids {
			if !strings.Contains(r.body, id) || !strings.Contains(r.body, `href="/targets/`+name+`"`) {
				t.Errorf("findings page lacks %s of %s", id, name)
			}
		}
	}
	resolved := r.body[strings.Index(r.body, "Resolved in the last 7 days"):]
	if !strings.Contains(resolved, "HTTP_SERVER_SLOW") || !strings.Contains(resolved, `href="/targets/ok-http"`) {
		t.Error("findings page does not list the resolved HTTP_SERVER_SLOW of ok-http")
	}
	if !strings.Contains(r.body, "Finding catalogue") || !strings.Contains(r.body, "PROBE_TIMEOUT") {
		t.Error("findings page lacks the catalogue")
	}
	crit := strings.Index(r.body, `<tr class="frow sev-critical`)
	warn := strings.Index(r.body, `<tr class="frow sev-warning`)
	if crit < 0 || warn < 0 || warn < crit {
		t.Errorf("findings not worst first (critical at %d, warning at %d)", crit, warn)
	}
}

// assertNoInlineStyleOrScript: the CSP forbids both, so a page using them
// would render wrong. The one script a page may load is the static
// live.js, with nothing inline.
func assertNoInlineStyleOrScript(t *testing.T, what, body string) {
	t.Helper()
	lower := strings.ReplaceAll(strings.ToLower(body), `<script src="/static/live.js" defer></script>`, "")
	for _, bad := range []string{"<script", " style=", "<style", "javascript:", " onclick=", " onload="} {
		if strings.Contains(lower, bad) {
			t.Errorf("%s page contains %q", what, bad)
		}
	}
}

// TestRunsAndResultsAgree checks the target page draws what the API returns.
func TestRunsAndResultsAgree(t *testing.T) {
	f := getFixture(t)
	c := newClient(t, newServer(t, f, f.cfg))
	var got []APIResult
	r := c.get("/api/v1/targets/http-500/results?limit=20")
	_ = json.Unmarshal([]byte(r.body), &got)
	page := c.get("/targets/http-500").body
	for _, g := range got {
		if !strings.Contains(page, fmt.Sprintf(`href="/runs/%d"`, g.ID)) {
			t.Errorf("target page does not link run %d", g.ID)
		}
	}
}

// timingFinding are findings a slow (loaded, -race) test machine may add
// to any scenario.
var timingFinding = map[string]bool{"TLS_HANDSHAKE_SLOW": true, "DNS_SLOW": true, "HTTP_SERVER_SLOW": true}
