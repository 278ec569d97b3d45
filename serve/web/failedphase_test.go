package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pathlens/pathlens/engine"
	"github.com/pathlens/pathlens/internal/units"
	"github.com/pathlens/pathlens/lab"
	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/config"
	"github.com/pathlens/pathlens/serve/store"
)

// stallFixture is the lab's tls-stall scenario (a server that takes the
// TCP connection and never answers the ClientHello) probed for real with
// its 2 s budget, three times, two minutes apart; and "mixed", three real
// runs of ok-http and one of those timed-out runs, for the shared scale.
type stallFixture struct {
	srv    *httptest.Server
	st     *store.Store
	stalls []*probe.Result // oldest first
	now    time.Time
}

func newStallFixture(t *testing.T) *stallFixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	l, err := lab.Start(ctx, lab.Options{Dir: filepath.Join(dir, "lab"), Only: []string{"tls-stall", "ok-http"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	stall, _ := l.Scenario("tls-stall")
	ok, _ := l.Scenario("ok-http")
	yml := fmt.Sprintf("modules:\n  stall: {kind: http, timeout: 2s, tls: {ca_file: %q}}\ntargets:\n"+
		"  - {name: tls-stall, url: %q, module: stall}\n  - {name: mixed, url: %q, module: stall}\n", l.Manifest().CAFile, stall.Target, ok.Target)
	cfg, err := config.Parse(filepath.Join(dir, "p.yaml"), []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	f := &stallFixture{now: time.Now().UTC()}
	if f.st, err = store.Open(filepath.Join(dir, "h.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.st.Close() })
	stallT, _ := cfg.Target("tls-stall")
	mixedT, _ := cfg.Target("mixed")
	opts := &probe.Options{RootCAs: l.CAPool(), Timeout: 2 * time.Second}
	f.stalls = make([]*probe.Result, 3)
	var wg sync.WaitGroup
	for i := range f.stalls {
		wg.Go(func() { f.stalls[i] = engine.Check(ctx, stallT.Parsed, opts) })
	}
	wg.Wait()
	state := NewState()
	var recs []store.Record
	for i, r := range f.stalls {
		if r.Success || r.Error == nil || r.Error.Class != probe.ClassTimeout || r.Error.Phase != "tls" {
			t.Fatalf("tls-stall run %d did not time out in tls: %+v", i, r.Error)
		}
		r.StartedAt = r.StartedAt.Add(-time.Duration(len(f.stalls)-i) * 2 * time.Minute)
		recs = append(recs, store.Record{Target: "tls-stall", Module: "stall", Result: r})
		state.Record("tls-stall", "stall", r, 0)
	}
	var copyOf probe.Result
	b, _ := json.Marshal(f.stalls[0])
	if err := json.Unmarshal(b, &copyOf); err != nil {
		t.Fatal(err)
	}
	copyOf.StartedAt = f.now.Add(-5 * time.Minute)
	recs = append(recs, store.Record{Target: "mixed", Module: "stall", Result: &copyOf})
	for i := range 3 {
		r := engine.Check(ctx, mixedT.Parsed, opts)
		if !r.Success {
			t.Fatalf("ok-http: %+v", r.Error)
		}
		r.StartedAt = r.StartedAt.Add(-time.Duration(3-i) * time.Minute)
		recs = append(recs, store.Record{Target: "mixed", Module: "stall", Result: r})
		state.Record("mixed", "stall", r, 0)
	}
	if err := f.st.Write(ctx, recs); err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(New(Deps{Config: func() *config.Config { return cfg }, Store: f.st, State: state, Logf: t.Logf}))
	t.Cleanup(f.srv.Close)
	return f
}

var (
	attrRE   = regexp.MustCompile(`(\w[\w-]*)="([^"]*)"`)
	wfSmalRE = regexp.MustCompile(`(?s)<svg class="wf" [^>]*aria-label="([^"]*)">(.*?)</svg>`)
	rectRE   = regexp.MustCompile(`<rect [^>]*>`)
)

// attrs are the attributes of one tag.
func attrs(tag string) map[string]string {
	out := map[string]string{}
	for _, m := range attrRE.FindAllStringSubmatch(tag, -1) {
		out[m[1]] = m[2]
	}
	return out
}

func fnum(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return f
}

// TestTimedOutTarget: the lab's tls-stall target, whose runs time out in
// the TLS handshake after 2 s, shows a hatched tls segment of about the
// timeout with how the runs ended in its stacked chart, its percentile
// table, each run's waterfall and the run page, whose label sits under
// the bar, never on it.
func TestTimedOutTarget(t *testing.T) {
	f := newStallFixture(t)
	c := newClient(t, f.srv)
	r := c.get("/targets/tls-stall")
	r.want(t, "tls-stall page", 200, "text/html")
	assertNoInlineStyleOrScript(t, "tls-stall", r.body)
	if n := strings.Count(r.body, `<pattern id="hatch"`); n != 1 {
		t.Errorf("%d hatch patterns on the page, want 1", n)
	}

	// The stacked chart: on top of the 0.2 ms connect, a hatched tls
	// segment of about 2 s, on an axis that holds it.
	chart := r.body[strings.Index(r.body, `<svg class="stacked"`):]
	chart = chart[:strings.Index(chart, "</figure>")]
	plotH := chartH - chartTop - chartBottom
	var tallest float64
	hatched := 0
	for _, tag := range rectRE.FindAllString(chart, -1) {
		a := attrs(tag)
		switch a["class"] {
		case "ph-tls failed":
			tallest = max(tallest, fnum(t, a["height"]))
		case "hatch":
			hatched++
			if a["fill"] != "url(#hatch)" {
				t.Errorf("hatch without the pattern: %s", tag)
			}
		}
	}
	if tallest < 0.75*plotH || hatched == 0 {
		t.Errorf("tallest hatched tls segment %.1f of %.0f, %d hatched", tallest, plotH, hatched)
	}
	for _, want := range []string{`>2500 ms</text>`, `<span class="swatch hatch-swatch"></span>failed runs`} {
		if !strings.Contains(chart, want) {
			t.Errorf("stacked chart lacks %q", want)
		}
	}
	// (A loaded machine may take 2.1 s to give up.)
	for _, want := range []string{`Failed runs in the last 1h: 3 runs timed out after 2\.\d s in tls\.`, `  1 run timed out after 2\.\d s in tls</title>`} {
		if !regexp.MustCompile(want).MatchString(chart) {
			t.Errorf("stacked chart lacks %q", want)
		}
	}
	if strings.Contains(chart, ">0.50 ms</text>") || strings.Contains(chart, ">1.00 ms</text>") {
		t.Error("the chart's axis is the connect's, not the timeout's")
	}

	// The percentile table: a hatched tls row of the three runs' time in
	// it, and what runs each row covers.
	m := regexp.MustCompile(`<tr class="row-failed"><td><span class="swatch ph-tls hatch-swatch"></span>tls <span class="muted">· runs that timed out in it</span></td>` +
		`<td class="num">3</td><td class="num">(\d+) ms</td>`).FindStringSubmatch(r.body)
	if m == nil {
		t.Errorf("no failed tls row in the phase table")
	} else if p50 := fnum(t, m[1]); p50 < 1900 || p50 > 2300 {
		t.Errorf("failed tls row p50 %v ms", p50)
	}
	for _, want := range []string{`Phase rows: every run that completed the phase, failed runs included up to where they stopped. total: the 0 successful runs only, of 3 in the window.`,
		"Hatched rows: the 3 runs that failed, their time in the phase they failed in until the failure or the timeout."} {
		if !strings.Contains(r.body, want) {
			t.Errorf("phase table lacks the note %q", want)
		}
	}

	// Each run's waterfall: the tls segment hatched across nearly the
	// whole row, and how the run ended under it.
	runs := r.body[strings.Index(r.body, `<section id="runs">`):]
	if n := len(regexp.MustCompile(`<div class="wf-fail">timed out after 2\.\d s in tls</div>`).FindAllString(runs, -1)); n != 3 {
		t.Errorf("%d runs labelled as timed out, want 3", n)
	}
	wfs := wfSmalRE.FindAllStringSubmatch(runs, -1)
	if len(wfs) != 3 {
		t.Fatalf("%d waterfalls", len(wfs))
	}
	for _, wf := range wfs {
		if !regexp.MustCompile(`, timed out after 2\.\d s in tls$`).MatchString(wf[1]) {
			t.Errorf("waterfall label %q", wf[1])
		}
		var w float64
		for _, tag := range rectRE.FindAllString(wf[2], -1) {
			if a := attrs(tag); a["class"] == "hatch" {
				w = fnum(t, a["width"])
			}
		}
		if w < 0.95*wfSmallW {
			t.Errorf("hatched tls segment %.1f of %.0f wide", w, wfSmallW)
		}
	}
	if !strings.Contains(runs, `<span class="swatch hatch-swatch"></span>the phase a run failed in`) {
		t.Error("the runs' legend does not explain the hatching")
	}

	// The run page: the tls row hatched, its label on a line of its own.
	var res []APIResult
	if err := json.Unmarshal([]byte(c.get("/api/v1/targets/tls-stall/results").body), &res); err != nil || len(res) != 3 {
		t.Fatalf("results: %d (%v)", len(res), err)
	}
	r = c.get("/runs/" + itoa(res[0].ID))
	r.want(t, "run page", 200, "text/html")
	assertNoInlineStyleOrScript(t, "run", r.body)
	big := r.body[strings.Index(r.body, `<svg class="wf-big"`):]
	big = big[:strings.Index(big, "</svg>")]
	if strings.Contains(big, "in flight") {
		t.Error("the run page still says in flight next to the bar")
	}
	noteRE := regexp.MustCompile(`<text class="wf-note" x="([\d.]+)" y="([\d.]+)" text-anchor="(start|end)">timed out after 2\.\d s in tls</text>`)
	if !noteRE.MatchString(big) || !strings.Contains(big, `<rect class="ph-tls failed"`) || !strings.Contains(big, `<rect class="hatch" fill="url(#hatch)"`) {
		t.Errorf("run page waterfall:\n%s", big)
	}
	// Geometry: the note is below the bar and inside the picture; the
	// duration is right of the bar.
	wf := newBigWaterfall(res[0].Result)
	var row *wfRow
	for i := range wf.Rows {
		if wf.Rows[i].Failed {
			row = &wf.Rows[i]
		}
	}
	if row == nil || row.Name != "tls" || !regexp.MustCompile(`^timed out after 2\.\d s in tls$`).MatchString(row.Note) || wf.Fail != row.Note {
		t.Fatalf("failed row %+v", row)
	}
	barTop, barEnd := fnum(t, row.Y), fnum(t, row.X)+fnum(t, row.W)
	noteTop := fnum(t, row.NoteY) - 11 // 11 px text above its baseline
	noteW := float64(len(row.Note)) * wfCharW
	noteX0 := fnum(t, row.NoteX)
	if row.NoteAnch == "end" {
		noteX0 -= noteW
	}
	if noteTop < barTop+16 || noteX0 < 0 || noteX0+noteW > wfBigW || fnum(t, row.NoteY) > fnum(t, wf.H) {
		t.Errorf("note at (%v, %v) %v wide, anchor %s; bar %v–%v; picture %s high", row.NoteX, row.NoteY, noteW, row.NoteAnch, barTop, barTop+16, wf.H)
	}
	if durX0 := fnum(t, row.DurX) - float64(len(row.Duration))*wfCharW; durX0 < barEnd {
		t.Errorf("duration %q from x %v overlaps the bar ending at %v", row.Duration, durX0, barEnd)
	}
}

// TestSharedScale: scale=shared draws every run of a target on the
// slowest one's axis (a 0.3 ms run is a sliver beside a 2 s timeout), the
// default each on its own; the link toggles it and the window links keep
// it.
func TestSharedScale(t *testing.T) {
	f := newStallFixture(t)
	c := newClient(t, f.srv)
	// Each waterfall: its label's full width, and for the ok runs where
	// their phases end.
	type drawn struct {
		full   float64 // ms the full width stands for
		right  float64 // where an ok run's last phase ends (0 for the timed out one)
		failed bool
	}
	waterfalls := func(body string) (out []drawn) {
		runs := body[strings.Index(body, `<section id="runs">`):]
		for _, wf := range wfSmalRE.FindAllStringSubmatch(runs, -1) {
			d := drawn{failed: strings.Contains(wf[1], "timed out")}
			full, _, _ := strings.Cut(fullWidth(t, wf[1]), " ms")
			d.full = fnum(t, full)
			for _, tag := range rectRE.FindAllString(wf[2], -1) {
				if a := attrs(tag); strings.HasPrefix(a["class"], "ph-") && !d.failed {
					d.right = max(d.right, fnum(t, a["x"])+fnum(t, a["width"]))
				}
			}
			out = append(out, d)
		}
		if len(out) != 4 {
			t.Fatalf("%d waterfalls", len(out))
		}
		return out
	}
	r := c.get("/targets/mixed")
	r.want(t, "mixed", 200, "text/html")
	own := waterfalls(r.body)
	var slowest float64
	for _, d := range own {
		slowest = max(slowest, d.full)
	}
	for _, d := range own {
		if !d.failed && (d.full > slowest/100 || d.right < wfSmallW/10) {
			t.Errorf("own scale: an ok run on %v ms (the slowest %v) ends at %v of %v", d.full, slowest, d.right, wfSmallW)
		}
	}
	if !strings.Contains(r.body, `each bar is scaled to its own run's total · <a href="/targets/mixed?window=1h&amp;scale=shared#runs">one axis for all</a>`) {
		t.Error("no link to the shared scale")
	}

	r = c.get("/targets/mixed?scale=shared")
	r.want(t, "mixed shared", 200, "text/html")
	for i, d := range waterfalls(r.body) {
		if d.full != slowest {
			t.Errorf("shared scale: run %d on %v ms, want the slowest's %v", i, d.full, slowest)
		}
		// The same phases, shrunk by the ratio of the scales (segments
		// are at least 1 unit wide).
		if want := own[i].right * own[i].full / slowest; !d.failed && d.right > want+1.5 {
			t.Errorf("shared scale: an ok run ends at %v of %v, want about %v", d.right, wfSmallW, want)
		}
	}
	for _, want := range []string{"every bar on one axis, the slowest run's: full width " + units.MS(slowest),
		`<a href="/targets/mixed?window=1h#runs">scale each to its own run</a>`, `href="/targets/mixed?window=24h&amp;scale=shared"`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("shared page lacks %q", want)
		}
	}
	r = c.get("/targets/mixed?scale=log")
	r.want(t, "bad scale", 400, "text/html")
	if !strings.Contains(r.body, "The scale must be shared") {
		t.Errorf("bad scale: %.300s", r.body)
	}
}

// fullWidth is the "full width" of a waterfall's label.
func fullWidth(t *testing.T, label string) string {
	t.Helper()
	_, after, ok := strings.Cut(label, "full width ")
	if !ok {
		t.Fatalf("label %q", label)
	}
	w, _, _ := strings.Cut(after, ",")
	return w
}

// TestStackedChartFailures: a bucket's runs that timed out with their
// phase in flight add a hatched segment of their median time in it on
// top of the bar; runs that failed in a phase they completed (a refused
// connect: its time is in the p50 already) hatch that phase's segment
// and add nothing.
func TestStackedChartFailures(t *testing.T) {
	from := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	rep := store.Report{Window: "1h", From: from, BucketWidth: time.Minute, Buckets: 60, Runs: 6}
	connect := store.PhaseSeries{Phase: "connect", Buckets: make([]store.Quantiles, 60)}
	for _, i := range []int{5, 20} {
		connect.Buckets[i] = store.Quantiles{Count: 3, P50: 1}
	}
	rep.Phases = []store.PhaseSeries{connect}
	var runs []store.FailedRun
	for k, d := range []float64{1990, 2000, 2010} { // bucket 5: timed out in tls
		runs = append(runs, store.FailedRun{StartedAt: from.Add(5*time.Minute + time.Duration(k)*time.Second), TotalMS: d + 1, ErrClass: probe.ClassTimeout, ErrPhase: "tls",
			Phases: []probe.Phase{{Name: "connect", DurationMS: 1}, {Name: "tls", StartMS: 1, DurationMS: d, Incomplete: true}}})
	}
	for k := range 3 { // bucket 20: refused
		runs = append(runs, store.FailedRun{StartedAt: from.Add(20*time.Minute + time.Duration(k)*time.Second), TotalMS: 1.1, ErrClass: probe.ClassConnect, ErrPhase: "connect",
			Phases: []probe.Phase{{Name: "connect", DurationMS: 1}}})
	}
	fs := newFailStats(&rep, runs, false)
	c := newStackedChart(rep, time.UTC, fs)
	if len(c.Bars) != 2 || c.ClipNote != "" {
		t.Fatalf("bars %+v, clip %q", c.Bars, c.ClipNote)
	}
	plotH := chartH - chartTop - chartBottom
	stall, refused := c.Bars[0].Segs, c.Bars[1].Segs
	if len(stall) != 2 || stall[0].Failed || stall[1].Class != "ph-tls" || !stall[1].Failed ||
		!strings.Contains(stall[1].Title, "09:05  3 runs timed out after 2.0 s in tls (median)") || fnum(t, stall[1].H) < 0.79*plotH {
		t.Errorf("timed-out bucket %+v", stall)
	}
	if len(refused) != 1 || !refused[0].Failed || refused[0].Class != "ph-connect" || !strings.Contains(refused[0].Title, "3 runs failed in connect after 1.00 ms") {
		t.Errorf("refused bucket %+v", refused)
	}
	if got := strings.Join(c.Failed, "; "); got != "3 runs failed in connect after 1.00 ms; 3 runs timed out after 2.0 s in tls" {
		t.Errorf("caption %q", got)
	}
	rows := withFailRows([]phaseRow{{Phase: "connect", Class: "ph-connect"}, {Phase: "total (successful runs)", Class: "ph-total"}}, fs)
	if len(rows) != 4 || rows[1].Phase != "connect" || rows[1].Note != "runs that failed in it" || rows[2].Phase != "tls" || rows[2].Count != 3 ||
		rows[2].P50 != "2000 ms" || rows[3].Class != "ph-total" {
		t.Errorf("phase rows %+v", rows)
	}
}

// TestStackedChartSpike: one 190 ms bucket among 20 ms ones is clipped
// with a marker instead of setting the axis (which would squash the
// others to a tenth of the height); spikes that are a pattern (a sixth
// of the buckets) set it.
func TestStackedChartSpike(t *testing.T) {
	from := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	report := func(spikes ...int) store.Report {
		rep := store.Report{Window: "1h", From: from, BucketWidth: time.Minute, Buckets: 60}
		dns := store.PhaseSeries{Phase: "dns", Buckets: make([]store.Quantiles, 60)}
		wait := store.PhaseSeries{Phase: "wait", Buckets: make([]store.Quantiles, 60)}
		total := store.PhaseSeries{Phase: "total", Buckets: make([]store.Quantiles, 60)}
		for i := range 60 {
			dns.Buckets[i] = store.Quantiles{Count: 4, P50: 5}
			wait.Buckets[i] = store.Quantiles{Count: 4, P50: 15}
			total.Buckets[i] = store.Quantiles{Count: 4, P50: 20, P99: 24}
		}
		for _, i := range spikes {
			wait.Buckets[i].P50 = 185
			total.Buckets[i].P99 = 190
		}
		rep.Phases = []store.PhaseSeries{dns, wait, total}
		return rep
	}
	plotH := chartH - chartTop - chartBottom
	barH := func(c *stackedChart, i int) (h, top float64) {
		top = chartH
		for _, s := range c.Bars[i].Segs {
			h += fnum(t, s.H)
			top = min(top, fnum(t, s.Y))
		}
		return h, top
	}
	c := newStackedChart(report(30), time.UTC, nil)
	if got := c.YTicks[len(c.YTicks)-1].Label; got != "25.0 ms" {
		t.Errorf("top tick %q, want 25.0 ms", got)
	}
	if h, _ := barH(c, 0); h < 0.75*plotH {
		t.Errorf("an ordinary bar is %.1f of %.0f high", h, plotH)
	}
	if _, top := barH(c, 30); top < chartTop {
		t.Errorf("the spike's bar starts at y %v, above the plot (%v)", top, chartTop)
	}
	for _, p := range strings.Fields(c.P99) {
		if _, y, _ := strings.Cut(p, ","); fnum(t, y) < chartTop {
			t.Errorf("p99 point %s above the plot", p)
		}
	}
	if len(c.Clipped) != 1 || !strings.Contains(c.Clipped[0].Title, "09:30  off the scale: bar 190 ms, p99 190 ms") ||
		c.ClipNote != "▲ 1 bucket past the top of the axis (up to 190 ms), clipped" {
		t.Errorf("clipped %+v, note %q", c.Clipped, c.ClipNote)
	}
	// Two spikes are still spikes; ten (a sixth of the buckets) set the
	// axis.
	if c := newStackedChart(report(3, 40), time.UTC, nil); len(c.Clipped) != 2 || c.YTicks[len(c.YTicks)-1].Label != "25.0 ms" {
		t.Errorf("two spikes: %d clipped, top %s", len(c.Clipped), c.YTicks[len(c.YTicks)-1].Label)
	}
	c = newStackedChart(report(0, 6, 12, 18, 24, 30, 36, 42, 48, 54), time.UTC, nil)
	if len(c.Clipped) != 0 || c.ClipNote != "" || c.YTicks[len(c.YTicks)-1].Label != "200 ms" {
		t.Errorf("ten spikes: %d clipped, top %s", len(c.Clipped), c.YTicks[len(c.YTicks)-1].Label)
	}
	// A few buckets are enough to tell a spike: three of about a
	// millisecond and one timed out.
	few := store.Report{Window: "1h", From: from, BucketWidth: time.Minute, Buckets: 60, Runs: 4}
	conn := store.PhaseSeries{Phase: "connect", Buckets: make([]store.Quantiles, 60)}
	tot := store.PhaseSeries{Phase: "total", Buckets: make([]store.Quantiles, 60)}
	for _, i := range []int{50, 55, 59} {
		conn.Buckets[i] = store.Quantiles{Count: 1, P50: 0.3}
		tot.Buckets[i] = store.Quantiles{Count: 1, P50: 0.8, P99: 0.8}
	}
	few.Phases = []store.PhaseSeries{conn, tot}
	fs := newFailStats(&few, []store.FailedRun{{StartedAt: from.Add(53 * time.Minute), TotalMS: 2001, ErrClass: probe.ClassTimeout, ErrPhase: "tls",
		Phases: []probe.Phase{{Name: "connect", DurationMS: 0.3}, {Name: "tls", StartMS: 0.3, DurationMS: 2000, Incomplete: true}}}}, false)
	if c := newStackedChart(few, time.UTC, fs); len(c.Clipped) != 1 || c.YTicks[len(c.YTicks)-1].Label != "1.00 ms" ||
		!strings.Contains(c.Clipped[0].Title, "09:53  off the scale: bar 2000 ms") {
		t.Errorf("a timeout among 3 quick runs: %+v, top %s", c.Clipped, c.YTicks[len(c.YTicks)-1].Label)
	}
	// The page says so under the chart.
	p := &targetPage{Chart: newStackedChart(report(30), time.UTC, nil)}
	var b strings.Builder
	if err := parsePages()["target"].ExecuteTemplate(&b, "stacked", p.Chart); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `<polygon class="clip-mark"`) || !strings.Contains(b.String(), "so that one spike does not flatten them") {
		t.Errorf("rendered chart:\n%s", b.String())
	}
}
