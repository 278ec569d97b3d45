package web

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/config"
	"github.com/pathlens/pathlens/serve/store"
	"github.com/pathlens/pathlens/serve/web/webtest"
)

func res(at time.Time, ok bool, total float64, sev probe.Severity) *probe.Result {
	r := &probe.Result{Schema: probe.Schema, StartedAt: at, Success: ok, TotalMS: total, Phases: []probe.Phase{}, Findings: []probe.Finding{}}
	if !ok {
		r.Error = &probe.ErrorInfo{Class: probe.ClassConnect, Message: "refused"}
	}
	if sev != "" {
		r.Findings = append(r.Findings, probe.Finding{ID: "X", Severity: sev})
	}
	return r
}

func TestState(t *testing.T) {
	s := NewState()
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	if snap := s.get("a", now); snap.Last != nil || snap.Count != 0 || stateOf(snap.Last) != StatePending {
		t.Fatalf("empty state: %+v", snap)
	}
	// 100 runs a minute apart: only the last ringSize count; failures are
	// not latency samples.
	for i := range 100 {
		at := now.Add(time.Duration(i-99) * time.Minute)
		s.Record("a", "m", res(at, i%10 != 0, float64(i), ""), int64(i+1))
	}
	snap := s.get("a", now)
	if snap.Last == nil || snap.Last.id != 100 || snap.Module != "m" {
		t.Fatalf("last: %+v", snap)
	}
	// Runs 40..99 are kept (60 runs), minus the failed 40, 50, …, 90.
	if snap.Count != 60-6 {
		t.Errorf("count %d", snap.Count)
	}
	if snap.P50 < 65 || snap.P50 > 72 || snap.P99 != 99 {
		t.Errorf("p50 %v p99 %v", snap.P50, snap.P99)
	}
	if len(snap.Spark) != sparkPoints || snap.Spark[len(snap.Spark)-1].totalMS != 99 {
		t.Errorf("spark: %d points", len(snap.Spark))
	}
	// An older run arriving late does not replace the latest.
	s.Record("a", "m", res(now.Add(-30*time.Second), true, 5000, ""), 7)
	if snap := s.get("a", now); snap.Last.id != 100 {
		t.Errorf("late run replaced the latest: %d", snap.Last.id)
	}
	// 100 runs two minutes apart: only the last hour counts (69..99),
	// minus the failed 70, 80, 90.
	for i := range 100 {
		s.Record("c", "m", res(now.Add(time.Duration(i-99)*2*time.Minute), i%10 != 0, float64(i), ""), 0)
	}
	if snap := s.get("c", now); snap.Count != 31-3 || len(snap.Spark) != 31 {
		t.Errorf("two-minute runs: count %d, %d sparkline points", snap.Count, len(snap.Spark))
	}
	// States.
	for _, tc := range []struct {
		r    *probe.Result
		want string
	}{
		{res(now, true, 1, ""), StateOK},
		{res(now, true, 1, probe.SeverityInfo), StateOK},
		{res(now, true, 1, probe.SeverityWarning), StateWarning},
		{res(now, true, 1, probe.SeverityCritical), StateCritical},
		{res(now, false, 1, probe.SeverityWarning), StateFailing},
		{nil, StatePending},
	} {
		if got := resultState(tc.r); got != tc.want {
			t.Errorf("state of %+v: %s, want %s", tc.r, got, tc.want)
		}
	}
	s.Forget("a")
	if snap := s.get("a", now); snap.Last != nil {
		t.Error("Forget kept the target")
	}
	s.Record("b", "m", nil, 0) // ignored
	if snap := s.get("b", now); snap.Last != nil {
		t.Error("nil result recorded")
	}
}

func TestStateCap(t *testing.T) {
	s := NewState()
	now := time.Now()
	for i := range ringSize + 500 {
		s.Record("a", "m", res(now.Add(time.Duration(i)*time.Millisecond), true, 1, ""), 0)
	}
	s.mu.RLock()
	n := s.targets["a"].n
	s.mu.RUnlock()
	if n != ringSize {
		t.Errorf("%d samples kept, want %d", n, ringSize)
	}
}

func TestFormatting(t *testing.T) {
	for in, want := range map[float64]float64{0: 1, 0.7: 1, 3: 5, 7.2: 10, 12: 20, 101: 200, 5000: 5000} {
		if got := niceCeil(in); got != want {
			t.Errorf("niceCeil(%v) = %v, want %v", in, got, want)
		}
	}
	now := time.Now()
	if fmtAge(now, now.Add(-90*time.Second)) != "1m ago" || fmtAge(now, now.Add(-3*24*time.Hour)) != "3d ago" {
		t.Error("fmtAge")
	}
}

func TestNeedsAuth(t *testing.T) {
	for _, tc := range []struct {
		path            string
		open, openProbe bool
		want            bool
	}{
		{"/", true, true, true}, {"/api/v1/targets", true, true, true}, {"/runs/1", true, true, true},
		{"/healthz", true, false, false}, {"/metrics", true, false, false},
		// Opening the scrape endpoints does not open /probe: it reaches out
		// with the modules' credentials, so it is opened on its own.
		{"/probe", true, false, true}, {"/probe", false, true, false}, {"/probe", true, true, false},
		{"/healthz", false, true, true}, {"/metrics", false, true, true}, {"/probe", false, false, true},
		{"/static/style.css", false, false, false}, {"/login", false, false, false},
	} {
		if got := needsAuth(tc.path, tc.open, tc.openProbe); got != tc.want {
			t.Errorf("needsAuth(%s, open_endpoints=%v, probe_endpoint.open=%v) = %v", tc.path, tc.open, tc.openProbe, got)
		}
	}
}

func TestSparkline(t *testing.T) {
	if newSparkline(nil) != nil {
		t.Error("sparkline of nothing")
	}
	sp := newSparkline([]sample{{ok: true, totalMS: 5}})
	if sp == nil || strings.Count(sp.Points, ",") != 2 {
		t.Errorf("single point: %+v", sp)
	}
	var ss []sample
	for i := range 60 {
		ss = append(ss, sample{ok: i != 7, totalMS: float32(i)})
	}
	sp = newSparkline(ss)
	if len(sp.Fails) != 1 || strings.Count(sp.Points, ",") != 59 || !strings.HasSuffix(sp.Points, "120,2") {
		t.Errorf("60 points: fails %d, points %q", len(sp.Fails), sp.Points)
	}
}

func TestStackedChartGeometry(t *testing.T) {
	from := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	rep := store.Report{Window: "1h", From: from, BucketWidth: time.Minute, Buckets: 60}
	if c := newStackedChart(rep, time.UTC, nil); !c.Empty {
		t.Error("a report without phases is not empty")
	}
	dns := store.PhaseSeries{Phase: "dns", Buckets: make([]store.Quantiles, 60)}
	wait := store.PhaseSeries{Phase: "wait", Buckets: make([]store.Quantiles, 60)}
	total := store.PhaseSeries{Phase: "total", Buckets: make([]store.Quantiles, 60)}
	for _, i := range []int{0, 10, 59} {
		dns.Buckets[i] = store.Quantiles{Count: 2, P50: 10, P90: 12, P99: 15}
		wait.Buckets[i] = store.Quantiles{Count: 2, P50: 30, P90: 35, P99: 40}
		total.Buckets[i] = store.Quantiles{Count: 2, P50: 40, P90: 60, P99: 72}
	}
	rep.Phases = []store.PhaseSeries{dns, wait, total}
	c := newStackedChart(rep, time.UTC, nil)
	if c.Empty || len(c.Bars) != 3 || len(c.Bars[0].Segs) != 2 || len(c.Legend) != 2 {
		t.Fatalf("chart: %+v", c)
	}
	if c.YTicks[4].Label != "100 ms" { // max(40 stacked, 72 p99) → 100
		t.Errorf("top tick %q", c.YTicks[4].Label)
	}
	if strings.Count(c.P99, ",") != 3 {
		t.Errorf("p99 line %q", c.P99)
	}
	if c.XTicks[0].Label != "09:00" || c.XTicks[4].Anchor != "end" {
		t.Errorf("x ticks %+v", c.XTicks)
	}
	// Stacked: wait sits on top of dns.
	if c.Bars[0].Segs[0].Class != "ph-dns" || c.Bars[0].Segs[1].Class != "ph-wait" {
		t.Errorf("segment classes %+v", c.Bars[0].Segs)
	}
	if !strings.Contains(c.Bars[1].Segs[1].Title, "09:10") {
		t.Errorf("segment title %q", c.Bars[1].Segs[1].Title)
	}
}

func TestWaterfalls(t *testing.T) {
	r := &probe.Result{TotalMS: 10, Phases: []probe.Phase{
		{Name: "dns", StartMS: 0, DurationMS: 1}, {Name: "connect", StartMS: 1, DurationMS: 2},
		{Name: "tls", StartMS: 3, DurationMS: 7, Incomplete: true}, {Name: "weird", StartMS: 10, DurationMS: 0},
	}}
	wf := newSmallWaterfall(r, 0)
	if len(wf.Segs) != 4 || wf.Segs[1].X != "40" || wf.Segs[1].W != "80" || !wf.Segs[2].Incomplete || wf.Segs[3].Class != "ph-other" {
		t.Errorf("small: %+v", wf.Segs)
	}
	if wf.Segs[3].X != "399" { // a zero-length phase at the end stays inside
		t.Errorf("last segment x %s", wf.Segs[3].X)
	}
	big := newBigWaterfall(r)
	if len(big.Rows) != 4 || big.Rows[2].Note != "failed in tls after 7.00 ms" || strings.Contains(big.Rows[2].Duration, " (") {
		t.Errorf("big: %+v", big.Rows)
	}
}

// TestHistoryChart stores an hour of synthetic runs (phase times varying
// over the hour, some failures) and checks the target page's chart has a
// bar per populated minute and the p99 line; with Chromium it saves a
// screenshot of a realistic chart.
func TestHistoryChart(t *testing.T) {
	cfg, err := config.Parse("", []byte("targets:\n  - {name: api, url: \"https://api.example.test/health\", labels: {team: core}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now().UTC()
	state := NewState()
	var recs []store.Record
	for i := range 240 { // every 15 s for an hour
		at := now.Add(-time.Hour + time.Duration(i)*15*time.Second + time.Second)
		x := float64(i) / 240
		dns := 1 + 0.5*math.Sin(x*7)
		conn := 8 + 2*math.Sin(x*13)
		tlsd := 20 + 6*math.Cos(x*5)
		wait := 35 + 25*math.Max(0, math.Sin(x*math.Pi*3))
		if i%37 == 0 {
			wait += 180 // spikes for p99
		}
		ph := []probe.Phase{}
		start := 0.0
		for _, p := range []struct {
			n string
			d float64
		}{{"dns", dns}, {"connect", conn}, {"tls", tlsd}, {"request", 0.2}, {"wait", wait}, {"transfer", 1.5}} {
			ph = append(ph, probe.Phase{Name: p.n, StartMS: start, DurationMS: p.d})
			start += p.d
		}
		r := &probe.Result{Schema: probe.Schema, Target: "https://api.example.test/health", Kind: "https", StartedAt: at,
			Success: true, TotalMS: start, Phases: ph, Findings: []probe.Finding{}}
		if i%45 == 44 {
			r.Success = false
			r.Error = &probe.ErrorInfo{Class: probe.ClassTimeout, Phase: "wait", Message: "probe timed out"}
			r.Phases[4].Incomplete = true
			r.Findings = []probe.Finding{{ID: "PROBE_TIMEOUT", Severity: probe.SeverityCritical, Phase: "wait", Summary: "the budget ran out in wait", Advice: "look at the server"}}
		}
		recs = append(recs, store.Record{Target: "api", Module: "default", Result: r})
		state.Record("api", "default", r, 0)
	}
	if err := st.Write(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(Deps{Config: func() *config.Config { return cfg }, Store: st, State: state, Logf: t.Logf}))
	t.Cleanup(srv.Close)
	c := &client{t: t, base: srv.URL, header: http.Header{}, bodies: new([]string)}
	r := c.get("/targets/api")
	r.want(t, "history page", 200, "text/html")
	bars := strings.Count(r.body, "<g><rect")
	if bars < 58 || bars > 61 {
		t.Errorf("%d bars, want one per minute (about 60)", bars)
	}
	if !strings.Contains(r.body, `<polyline class="p99-line"`) {
		t.Error("no p99 line")
	}
	if n := len(regexp.MustCompile(`<tr class="run-failed">`).FindAllString(r.body, -1)); n != 1 {
		t.Errorf("%d failed runs among the last 20, want 1", n)
	}
	c.get("/").want(t, "overview", 200, "text/html")
	if webtest.HaveChromium() && !testing.Short() {
		dom := webtest.Chromium(t, srv.URL+"/targets/api", webtest.ArtifactPath(t, "web-target-history.png"))
		if !strings.Contains(webtest.VisibleText(dom), "PROBE_TIMEOUT") {
			t.Error("rendered history page lacks PROBE_TIMEOUT")
		}
		if runs, err := st.Results(context.Background(), "api", time.Time{}, 1); err == nil && len(runs) == 1 {
			webtest.Chromium(t, fmt.Sprintf("%s/runs/%d", srv.URL, runs[0].ID), webtest.ArtifactPath(t, "web-run.png"))
		}
	}
}
