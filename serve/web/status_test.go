package web

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/alert"
	"github.com/pathlens/pathlens/serve/config"
	"github.com/pathlens/pathlens/serve/store"
)

// statusYAML is the fixture's status page: two groups of some of its
// targets (tcp-refused and dns-nxdomain are in none), one of them in
// both.
const statusYAML = `status_page:
  enabled: true
  title: "Example <b>status</b>"
  groups:
    - {name: Shop, targets: [ok-http, "ok-*"]}
    - {name: "Edge & TLS", targets: ["tls-*", http-500, ok-h2]}
`

var statusMembers = []string{"ok-http", "ok-h2", "tls-incomplete-chain", "tls-expiring", "http-500"}

func parseFixtureConfig(t *testing.T, f *fixture, yml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse(filepath.Join(f.dir, "pathlens.yaml"), []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newStatusServer(t *testing.T, d Deps) *httptest.Server {
	t.Helper()
	if d.Logf == nil {
		d.Logf = t.Logf
	}
	srv := httptest.NewServer(New(d))
	t.Cleanup(srv.Close)
	return srv
}

// wantFromRun is the public state the fixture's latest run of name
// implies, without an alert manager.
func wantFromRun(f *fixture, name string) string {
	rs := f.results[name]
	switch resultState(rs[len(rs)-1]) {
	case StateOK:
		return psOperational
	case StateWarning, StateCritical:
		return psDegraded
	}
	return psOutage
}

// TestStatusPage: the status page shows the groups, their targets' states
// and uptime, and nothing internal: no URL, module, label, error or
// finding, no link into the UI. Its JSON twin says the same.
func TestStatusPage(t *testing.T) {
	f := getFixture(t)
	cfg := parseFixtureConfig(t, f, f.yaml+statusYAML)
	c := newClient(t, newStatusServer(t, Deps{Config: func() *config.Config { return cfg }, Store: f.store, State: f.state}))

	page := c.get("/status")
	page.want(t, "/status", 200, "text/html")
	js := c.get("/status.json")
	js.want(t, "/status.json", 200, "application/json")
	for _, r := range []response{page, js} {
		if cc := r.header.Get("Cache-Control"); cc != "public, max-age=30" {
			t.Errorf("Cache-Control %q", cc)
		}
		if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("CSP %q", csp)
		}
	}
	assertNothingInternal(t, f, cfg, "/status", page.body)
	assertNothingInternal(t, f, cfg, "/status.json", js.body)
	assertNoInlineStyleOrScript(t, "status", page.body)
	if strings.Contains(page.body, "<script") {
		t.Error("the status page loads a script")
	}

	var doc StatusDoc
	if err := json.Unmarshal([]byte(js.body), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Title != "Example <b>status</b>" || len(doc.Groups) != 2 || doc.Days.Count != 90 || len(doc.Groups[0].Targets) != 2 || len(doc.Groups[1].Targets) != 4 {
		t.Fatalf("doc %+v", doc)
	}
	if !strings.Contains(page.body, "<h1>Example &lt;b&gt;status&lt;/b&gt;</h1>") || !strings.Contains(page.body, "Edge &amp; TLS") {
		t.Error("the title or a group name is not there, escaped")
	}
	today := time.Now().UTC().Format(time.DateOnly)
	if doc.Days.To != today || doc.Days.From != time.Now().UTC().AddDate(0, 0, -89).Format(time.DateOnly) {
		t.Errorf("days %+v", doc.Days)
	}
	states := map[string]string{}
	for _, g := range doc.Groups {
		worst := psUnknown
		for _, tg := range g.Targets {
			if want := wantFromRun(f, tg.Name); tg.Status != want {
				t.Errorf("%s: status %s, want %s (from its last run)", tg.Name, tg.Status, want)
			}
			states[tg.Name] = tg.Status
			if psRank[tg.Status] > psRank[worst] {
				worst = tg.Status
			}
			// The fixture's runs are today's.
			if len(tg.Daily) != 90 || tg.Daily[89] == nil || tg.Daily[0] != nil || tg.Uptime == nil || *tg.Uptime != *tg.Daily[89] {
				t.Errorf("%s: daily %v uptime %v", tg.Name, tg.Daily, tg.Uptime)
				continue
			}
			// The page says the same: the state and the uptime in the
			// target's row, today's cell's share in its title.
			row := rowOf(t, page.body, tg.Name)
			for _, want := range []string{`ps-` + tg.Status + `">` + psLabels[tg.Status], fmtPct(*tg.Uptime) + " uptime", today + ": " + fmtPct(*tg.Daily[89])} {
				if !strings.Contains(row, want) {
					t.Errorf("%s: the page's row lacks %q:\n%s", tg.Name, want, row)
				}
			}
		}
		if g.Status != worst {
			t.Errorf("group %s: %s, want the worst of its targets' %s", g.Name, g.Status, worst)
		}
	}
	if len(states) != len(statusMembers) {
		t.Errorf("targets shown %v, want %v", states, statusMembers)
	}
	for _, name := range []string{"tcp-refused", "dns-nxdomain"} {
		if strings.Contains(page.body, name) || strings.Contains(js.body, name) {
			t.Errorf("%s is in no group but shown", name)
		}
	}
	if want := overallStatus(states); doc.Status != want || doc.Summary != ovSummaries[want] || !strings.Contains(page.body, ">"+ovSummaries[want]+"</p>") {
		t.Errorf("overall %s %q, want %s", doc.Status, doc.Summary, want)
	}
}

// rowOf is the status page's list item of target name.
func rowOf(t *testing.T, body, name string) string {
	t.Helper()
	i := strings.Index(body, `<span class="sname">`+name+`</span>`)
	if i < 0 {
		t.Fatalf("no row for %s", name)
	}
	end := strings.Index(body[i:], "</li>")
	return body[i : i+end]
}

var moduleWordRE = regexp.MustCompile(`\blab(tcp)?\b`)

// assertNothingInternal fails when body shows any URL, module, label,
// error or finding of cfg's targets, or links into the UI.
func assertNothingInternal(t *testing.T, f *fixture, cfg *config.Config, what, body string) {
	t.Helper()
	for _, tg := range cfg.Targets {
		bad := []string{tg.URL, tg.Parsed.Host}
		for k, v := range tg.Labels {
			bad = append(bad, k+"="+v, `"`+k+`"`)
		}
		for _, r := range f.results[tg.Name] {
			if r.Error != nil {
				bad = append(bad, r.Error.Message, r.Error.Summary())
			}
			for _, fd := range r.Findings {
				bad = append(bad, fd.ID, fd.Summary)
			}
		}
		for _, b := range bad {
			if b != "" && strings.Contains(body, b) {
				t.Errorf("%s shows %q (of %s)", what, b, tg.Name)
			}
		}
	}
	for _, b := range []string{"://", "127.0.0.1", "lab.test", "/targets/", "/api/", "/findings", "/login", "scenario", "module"} {
		if strings.Contains(body, b) {
			t.Errorf("%s shows %q", what, b)
		}
	}
	if m := moduleWordRE.FindString(body); m != "" {
		t.Errorf("%s shows the module %q", what, m)
	}
}

// TestStatusPageAccess: with a token configured the page and its JSON
// need none, and everything else still does; a Host the server does not
// know is refused as everywhere; a disabled page is not there, and not
// public either.
func TestStatusPageAccess(t *testing.T) {
	f := getFixture(t)
	on := parseFixtureConfig(t, f, f.authYAML+statusYAML)
	off := parseFixtureConfig(t, f, f.authYAML+strings.Replace(statusYAML, "enabled: true", "enabled: false", 1))
	cfg := on
	srv := newStatusServer(t, Deps{Config: func() *config.Config { return cfg }, Store: f.store, State: f.state, Events: NewEvents(f.state, nil)})
	c := newClient(t, srv)
	c.get("/status").want(t, "/status without a token", 200, "text/html")
	c.get("/status.json").want(t, "/status.json without a token", 200, "application/json")
	for _, p := range []string{"/", "/api/v1/targets", "/api/v1/events", "/targets/ok-http", "/status/", "/status.json/x", "/api/v1/status"} {
		if r := c.get(p); r.status != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d, want 401", p, r.status)
		}
	}
	for _, r := range *c.bodies {
		if strings.Contains(r, testToken) {
			t.Error("a response shows the token")
		}
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/status", nil)
	req.Host = "status.evil.example"
	res, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("/status for an unknown Host: %d, want 421", res.StatusCode)
	}

	cfg = off
	if r := c.get("/status"); r.status != http.StatusUnauthorized {
		t.Errorf("disabled /status without a token: %d, want 401", r.status)
	}
	c.header.Set("Authorization", "Bearer "+testToken)
	c.get("/status").want(t, "disabled /status", 404, "text/html")
	c.get("/status.json").want(t, "disabled /status.json", 404, "text/html")
}

// TestStatusStates: with an alert manager, the states with memory (and
// maintenance) decide; the overall status follows them.
func TestStatusStates(t *testing.T) {
	now := time.Now()
	m, err := alert.New(alert.Config{Maintenance: []alert.Window{{Targets: []string{"m-*"}, Start: now.Add(-time.Hour), End: now.Add(time.Hour)}}},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	run := func(name string, ok bool, findings ...probe.Finding) {
		for i := range 3 {
			r := &probe.Result{StartedAt: now.Add(time.Duration(i-3) * time.Second), Success: ok, Findings: findings}
			if !ok {
				r.Error = &probe.ErrorInfo{Class: "refused", Message: "connect: connection refused"}
			}
			m.Observe(name, "default", nil, r)
		}
	}
	run("up", true)
	run("down", false)
	run("slow", true, probe.Finding{ID: "HTTP_SERVER_SLOW", Severity: probe.SeverityWarning})
	run("m-down", false)
	var y strings.Builder
	y.WriteString("targets:\n")
	for _, n := range []string{"up", "down", "slow", "m-down", "new"} {
		fmt.Fprintf(&y, "  - {name: %s, url: \"http://127.0.0.1:9/%s\"}\n", n, n)
	}
	y.WriteString("status_page: {enabled: true, groups: [{name: All, targets: ['*']}, {name: Quiet, targets: [up, new]}]}\n")
	cfg, err := config.Parse("c.yaml", []byte(y.String()))
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, newStatusServer(t, Deps{Config: func() *config.Config { return cfg }, State: NewState(), Alerts: m}))
	var doc StatusDoc
	if err := json.Unmarshal([]byte(c.get("/status.json").body), &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"up": psOperational, "down": psOutage, "slow": psDegraded, "m-down": psMaintenance, "new": psUnknown}
	for _, tg := range doc.Groups[0].Targets {
		if tg.Status != want[tg.Name] {
			t.Errorf("%s: %s, want %s", tg.Name, tg.Status, want[tg.Name])
		}
		if tg.Uptime != nil || len(tg.Daily) != 90 || tg.Daily[89] != nil {
			t.Errorf("%s: uptime without a store: %v %v", tg.Name, tg.Uptime, tg.Daily)
		}
	}
	if doc.Title != "Status" || doc.Groups[0].Status != psOutage || doc.Groups[1].Status != psOperational {
		t.Errorf("title %q, groups %s %s", doc.Title, doc.Groups[0].Status, doc.Groups[1].Status)
	}
	// One down of three with a verdict: a partial outage.
	if doc.Status != ovPartial || doc.Summary != "Partial outage" {
		t.Errorf("overall %s %s", doc.Status, doc.Summary)
	}
	page := c.get("/status").body
	for _, want := range []string{"Partial outage", "Maintenance", "No data", "Outage", "Degraded", "Operational"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestOverallStatus(t *testing.T) {
	for _, tc := range []struct {
		states []string
		want   string
	}{
		{nil, ovUnknown},
		{[]string{psUnknown, psUnknown}, ovUnknown},
		{[]string{psMaintenance, psUnknown}, ovMaintenance},
		{[]string{psOperational, psUnknown, psMaintenance}, ovOperational},
		{[]string{psOperational, psDegraded}, ovDegraded},
		{[]string{psOperational, psOperational, psOutage, psDegraded}, ovPartial},
		{[]string{psOperational, psOutage}, ovPartial}, // half: partial
		{[]string{psOperational, psOutage, psOutage}, ovMajor},
		{[]string{psOutage, psMaintenance, psUnknown}, ovMajor},
	} {
		m := map[string]string{}
		for i, st := range tc.states {
			m[fmt.Sprint(i)] = st
		}
		if got := overallStatus(m); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.states, got, tc.want)
		}
	}
}

// TestStatusDayCells: alike days (every run succeeded, or none ran) make
// one cell; the others one each, with their day and share.
func TestStatusDayCells(t *testing.T) {
	r := func(v float64) *float64 { return &v }
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	got := dayCells([]*float64{nil, nil, r(1), r(1), r(1), r(0.995), r(0.5), r(1), r(0.96)}, from)
	want := []statusCell{
		{0, 5, "u-none", "2026-01-01 to 2026-01-02: no data"},
		{6, 8, "u-full", "2026-01-03 to 2026-01-05: 100 %"},
		{15, 2, "u-minor", "2026-01-06: 99.5 %"},
		{18, 2, "u-major", "2026-01-07: 50 %"},
		{21, 2, "u-full", "2026-01-08: 100 %"},
		{24, 2, "u-partial", "2026-01-09: 96 %"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("cells\n got %v\nwant %v", got, want)
	}
	// 90 alike days are one cell the width of the view box.
	if c := dayCells(make([]*float64, 90), from); len(c) != 1 || c[0].W != 90*cellW-1 {
		t.Errorf("90 empty days: %v", c)
	}
	if v := floorRatio(2879, 2880); *v != 0.999652 {
		t.Errorf("floorRatio %v", *v)
	}
}

// TestStatusDaily: the cells come from the store's days (90 of them,
// the first and the last here), and are reused for a minute: runs
// written since show after it.
func TestStatusDaily(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now().UTC()
	today := now.Truncate(24 * time.Hour)
	res := func(at time.Time, ok bool) store.Record {
		r := &probe.Result{Schema: probe.Schema, Target: "http://127.0.0.1:9/", Kind: "http", StartedAt: at, Success: ok, TotalMS: 5,
			Phases: []probe.Phase{{Name: probe.PhaseConnect, DurationMS: 5}}}
		if !ok {
			r.Error = &probe.ErrorInfo{Class: "refused", Phase: "connect", Message: "connection refused"}
		}
		return store.Record{Target: "api", Module: "default", Result: r}
	}
	var recs []store.Record
	first := today.AddDate(0, 0, -89)
	for i := range 4 {
		recs = append(recs, res(first.Add(time.Duration(i)*time.Hour), i != 0)) // 3 of 4
	}
	recs = append(recs, res(now.Add(-time.Minute), true))
	if err := st.Write(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("c.yaml", []byte("targets: [{name: api, url: \"http://127.0.0.1:9/\"}]\nstatus_page: {enabled: true, groups: [{name: API, targets: [api]}]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	clock := now
	c := newClient(t, newStatusServer(t, Deps{Config: func() *config.Config { return cfg }, Store: st, State: NewState(), Now: func() time.Time { return clock }}))
	get := func() StatusTargetDoc {
		t.Helper()
		var doc StatusDoc
		if err := json.Unmarshal([]byte(c.get("/status.json").body), &doc); err != nil {
			t.Fatal(err)
		}
		return doc.Groups[0].Targets[0]
	}
	tg := get()
	if tg.Daily[0] == nil || *tg.Daily[0] != 0.75 || tg.Daily[89] == nil || *tg.Daily[89] != 1 || *tg.Uptime != 0.8 {
		t.Fatalf("daily %v uptime %v", tg.Daily, *tg.Uptime)
	}
	for i := 1; i < 89; i++ {
		if tg.Daily[i] != nil {
			t.Errorf("day %d: %v", i, *tg.Daily[i])
		}
	}
	if page := c.get("/status").body; !strings.Contains(page, first.Format(time.DateOnly)+": 75 %") || !strings.Contains(page, "80 % uptime") {
		t.Errorf("page lacks the first day's cell or the uptime")
	}
	// A failed run now: the counts are a minute old until the minute is up.
	if err := st.Write(t.Context(), []store.Record{res(now.Add(-30*time.Second), false)}); err != nil {
		t.Fatal(err)
	}
	if tg := get(); *tg.Daily[89] != 1 {
		t.Errorf("the counts were not reused: today %v", *tg.Daily[89])
	}
	// The days before today are read once a day: a late run for the first
	// day shows tomorrow, today's failure after the minute.
	if err := st.Write(t.Context(), []store.Record{res(first.Add(5*time.Hour), false)}); err != nil {
		t.Fatal(err)
	}
	clock = now.Add(statusDaysTTL)
	if tg := get(); *tg.Daily[89] != 0.5 || *tg.Daily[0] != 0.75 {
		t.Errorf("after a minute, today %v (want 0.5), the first day %v (want 0.75 still)", *tg.Daily[89], *tg.Daily[0])
	}
	clock = now.Add(24 * time.Hour)
	if tg := get(); tg.Daily[0] != nil || *tg.Daily[88] != 0.5 || tg.Daily[89] != nil || *tg.Uptime != 0.5 {
		t.Errorf("a day later: %v, uptime %v", tg.Daily, *tg.Uptime)
	}
	clock = clock.Add(-23 * time.Hour)
	if tg := get(); tg.Daily[0] == nil || *tg.Daily[0] != 0.6 {
		t.Errorf("back on the day (the clock went back): first day %v, want 0.6 (read again)", tg.Daily[0])
	}
}
