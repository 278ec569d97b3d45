package web

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pathlens/pathlens/internal/units"
	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/store"
)

// Charts are computed here as plain geometry (numbers formatted as
// strings) and drawn by the templates, so every text in an SVG goes
// through html/template. Phase colours come from CSS classes ph-<phase>,
// the same on every page.

// phaseClass is the CSS class that colours a phase: every phase of
// probe.Phases has its own (ui/static), anything else is ph-other.
func phaseClass(name string) string {
	if slices.Contains(probe.Phases, name) {
		return "ph-" + name
	}
	if name == "total" {
		return "ph-total"
	}
	return "ph-other"
}

// num formats a coordinate.
func num(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "0"
	}
	return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64)
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten (2.5 so
// that a 2 s timeout is not drawn on a 5 s axis).
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v*0.999999 {
			return m * p
		}
	}
	return 10 * p
}

// ---- sparkline (overview) ----

type sparkline struct {
	W, H   string
	Points string // polyline of the totals
	Fails  []point
	Title  string
}

type point struct{ X, Y string }

const (
	sparkW = 120.0
	sparkH = 28.0
)

// newSparkline draws the totals of the last runs; failed runs are dots on
// the baseline. nil when there is nothing to draw.
func newSparkline(samples []sample) *sparkline {
	if len(samples) == 0 {
		return nil
	}
	peak := 0.0
	for _, s := range samples {
		if s.ok {
			peak = max(peak, float64(s.totalMS))
		}
	}
	if peak <= 0 {
		peak = 1
	}
	// Points spread over the width, newest at the right edge; fewer than
	// ten runs do not stretch across the whole line.
	step := sparkW / float64(max(9, len(samples)-1))
	x0 := sparkW - step*float64(len(samples)-1)
	sp := &sparkline{W: num(sparkW), H: num(sparkH)}
	var pts []string
	var okCount int
	for i, s := range samples {
		x := x0 + step*float64(i)
		if !s.ok {
			sp.Fails = append(sp.Fails, point{X: num(x), Y: num(sparkH - 2.5)})
			continue
		}
		okCount++
		y := sparkH - 2 - (float64(s.totalMS)/peak)*(sparkH-4)
		pts = append(pts, num(x)+","+num(y))
	}
	if len(pts) == 1 { // a single point: draw a short flat line
		x, y, _ := strings.Cut(pts[0], ",")
		xf, _ := strconv.ParseFloat(x, 64)
		pts = append([]string{num(xf-3) + "," + y}, num(xf)+","+y)
	}
	sp.Points = strings.Join(pts, " ")
	sp.Title = fmt.Sprintf("last %d runs (%d failed), peak %s", len(samples), len(samples)-okCount, units.MS(peak))
	return sp
}

// ---- stacked phase chart (target page) ----

type stackedChart struct {
	W, H           string
	PlotX, PlotY   string // plot area origin
	PlotX2         string // plot area right edge
	PlotW, PlotH   string
	Bars           []stackBar
	YTicks         []tick
	XTicks         []tick
	P99            string // polyline of total p99, "" when none
	Legend         []legendItem
	Empty          bool
	Window         string
	BucketWidthStr string
	// Clipped marks the buckets whose bar or p99 goes past the top of the
	// axis (a spike); ClipNote says so under the chart, "" when none does.
	Clipped  []clipMark
	ClipNote string
	// Failed is how the window's failed runs ended, drawn hatched.
	Failed []string
}

type stackBar struct {
	X, W string
	Segs []stackSeg
}

type stackSeg struct {
	Y, H   string
	Class  string
	Title  string
	Failed bool // hatched: failed runs' time in the phase they failed in
}

// clipMark is a marker at the top of the plot over a bucket past the axis.
type clipMark struct {
	Points string // a small triangle
	Title  string
}

type tick struct {
	X, Y   string
	Label  string
	Anchor string // text-anchor: start, middle or end
}

type legendItem struct {
	Name  string
	Class string
}

const (
	chartW      = 760.0
	chartH      = 260.0
	chartLeft   = 58.0
	chartRight  = 12.0
	chartTop    = 12.0
	chartBottom = 26.0
)

// Spikes. One slow bucket must not flatten every other bar into a strip
// at the bottom, so the axis is cut: when the highest value (a bar or the
// p99 line) is more than clipRatio times the reference, the clipRank-th
// of the values drawn in ascending order (always below the highest), the
// axis ends at the highest value within clipRatio of it, and what goes
// past is clipped at the top with a marker saying how high it went
// (docs/serve.md, Charts). A log axis would keep the spike but make the
// stacked segments' heights meaningless, and a second axis for p50 would
// not help when the spike is a p50 bar. Fewer than clipMin values are
// never cut.
const (
	clipRatio = 3.0
	clipRank  = 0.9
	clipMin   = 5
)

// stackValue is one bucket's stacked value: the bar's top (phase p50s
// and the failed runs' segments) and the total's p99.
type stackValue struct {
	bar, p99 float64
	hasP99   bool
}

// axisTop is the top of the stacked chart's axis for vals: niceCeil of
// the highest value, or, when that is a spike (see clipRatio), of the
// highest value that is not.
func axisTop(vals []stackValue) (top float64, clipped bool) {
	var all []float64
	for _, v := range vals {
		if v.bar > 0 {
			all = append(all, v.bar)
		}
		if v.hasP99 && v.p99 > 0 {
			all = append(all, v.p99)
		}
	}
	if len(all) == 0 {
		return 0, false
	}
	slices.Sort(all)
	peak := all[len(all)-1]
	limit := clipRatio * all[int(clipRank*float64(len(all)-1))]
	if peak <= limit || len(all) < clipMin {
		return niceCeil(peak), false
	}
	i, _ := slices.BinarySearch(all, limit*1.000001)
	return niceCeil(all[max(i-1, 0)]), true
}

// newStackedChart draws the p50 of every phase per bucket, stacked, with
// the total's p99 as a line, and the failed runs of fs (nil: none known)
// hatched: on top of the bar, the median time of the runs still in
// flight in the phase they failed in (the roll-ups left it out); the
// phase's own segment hatched where they had completed it (its time is in
// the p50 already). Spikes are clipped (clipRatio).
// It stays long: scale, bars, p99 line and ticks share y, slot and bucketTime.
func newStackedChart(rep store.Report, loc *time.Location, fs *failStats) *stackedChart {
	c := &stackedChart{
		W: num(chartW), H: num(chartH),
		PlotX: num(chartLeft), PlotY: num(chartTop), PlotX2: num(chartW - chartRight),
		PlotW: num(chartW - chartLeft - chartRight), PlotH: num(chartH - chartTop - chartBottom),
		Window: rep.Window, BucketWidthStr: rep.BucketWidth.String(),
	}
	n := rep.Buckets
	var phases []store.PhaseSeries
	var total *store.PhaseSeries
	seen := map[string]bool{}
	for i := range rep.Phases {
		ps := rep.Phases[i]
		if ps.Phase == "total" {
			total = &rep.Phases[i]
			continue
		}
		phases = append(phases, ps)
		n = max(n, len(ps.Buckets))
		seen[ps.Phase] = true
		c.Legend = append(c.Legend, legendItem{Name: ps.Phase, Class: phaseClass(ps.Phase)})
	}
	if total != nil {
		n = max(n, len(total.Buckets))
	}
	failedIn := func(i int) []*failGroup {
		if fs == nil || i >= len(fs.buckets) {
			return nil
		}
		return fs.buckets[i]
	}
	if fs != nil {
		for _, g := range fs.groups {
			if g.phase != "" && !seen[g.phase] {
				seen[g.phase] = true
				c.Legend = append(c.Legend, legendItem{Name: g.phase, Class: phaseClass(g.phase)})
			}
		}
		if len(fs.groups) > 0 {
			c.Legend = append(c.Legend, legendItem{Name: "failed runs", Class: "hatch-swatch"})
			c.Failed = fs.failCaption()
		}
	}
	if n == 0 || (len(phases) == 0 && total == nil && (fs == nil || fs.runs == 0)) {
		c.Empty = true
		return c
	}
	vals := make([]stackValue, n)
	for _, ps := range phases {
		for i, q := range ps.Buckets {
			if q.Count > 0 {
				vals[i].bar += q.P50
			}
		}
	}
	for i := range vals {
		for _, g := range failedIn(i) {
			open, _ := g.only(true).durs()
			vals[i].bar += median(open)
		}
	}
	if total != nil {
		for i, q := range total.Buckets {
			if q.Count > 0 && i < n {
				vals[i].p99, vals[i].hasP99 = q.P99, true
			}
		}
	}
	top, clipped := axisTop(vals)
	if top <= 0 {
		c.Empty = true
		return c
	}
	plotW := chartW - chartLeft - chartRight
	plotH := chartH - chartTop - chartBottom
	slot := plotW / float64(n)
	barW := max(1, slot*0.8)
	y := func(ms float64) float64 { return chartTop + plotH - min(ms, top)/top*plotH }

	bucketTime := func(i int) time.Time { return rep.From.Add(time.Duration(i) * rep.BucketWidth).In(loc) }
	timeFmt := "15:04"
	if rep.BucketWidth >= time.Hour {
		timeFmt = "Jan 2 15:04"
	}
	for i := 0; i < n; i++ {
		bar := stackBar{X: num(chartLeft + slot*float64(i) + (slot-barW)/2), W: num(barW)}
		base := 0.0
		groups := failedIn(i)
		seg := func(ms float64, class, title string, failed bool) {
			if base >= top {
				base += ms
				return // clipped away: the marker says so
			}
			y0, y1 := y(base), y(base+ms)
			bar.Segs = append(bar.Segs, stackSeg{Y: num(y1), H: num(max(0.5, y0-y1)), Class: class, Title: title, Failed: failed})
			base += ms
		}
		for _, ps := range phases {
			if i >= len(ps.Buckets) || ps.Buckets[i].Count == 0 || ps.Buckets[i].P50 <= 0 {
				continue
			}
			q := ps.Buckets[i]
			title := fmt.Sprintf("%s  %s p50 %s (%d runs)", bucketTime(i).Format(timeFmt), ps.Phase, units.MS(q.P50), q.Count)
			failed := false
			for _, g := range groups {
				if done := g.only(false); g.phase == ps.Phase && len(done.runs) > 0 {
					failed = true
					title += "; " + runsText(len(done.runs)) + " " + done.label()
				}
			}
			seg(q.P50, phaseClass(ps.Phase), title, failed)
		}
		for _, g := range groups {
			open := g.only(true)
			if len(open.runs) == 0 {
				continue
			}
			durs, _ := open.durs()
			title := fmt.Sprintf("%s  %s %s", bucketTime(i).Format(timeFmt), runsText(len(open.runs)), open.label())
			if len(open.runs) > 1 {
				title += " (median)"
			}
			seg(median(durs), phaseClass(g.phase), title, true)
		}
		if len(bar.Segs) > 0 {
			c.Bars = append(c.Bars, bar)
		}
	}
	if total != nil {
		var pts []string
		for i, q := range total.Buckets {
			if q.Count > 0 {
				pts = append(pts, num(chartLeft+slot*(float64(i)+0.5))+","+num(y(q.P99)))
			}
		}
		if len(pts) > 1 {
			c.P99 = strings.Join(pts, " ")
		}
	}
	if clipped {
		over, highest := 0, 0.0
		for i, v := range vals {
			if v.bar <= top && (!v.hasP99 || v.p99 <= top) {
				continue
			}
			over++
			var what []string
			if v.bar > top {
				what = append(what, "bar "+units.MS(v.bar))
				highest = max(highest, v.bar)
			}
			if v.hasP99 && v.p99 > top {
				what = append(what, "p99 "+units.MS(v.p99))
				highest = max(highest, v.p99)
			}
			x := chartLeft + slot*(float64(i)+0.5)
			c.Clipped = append(c.Clipped, clipMark{
				Points: num(x-4) + "," + num(chartTop+6) + " " + num(x+4) + "," + num(chartTop+6) + " " + num(x) + "," + num(chartTop),
				Title:  bucketTime(i).Format(timeFmt) + "  off the scale: " + strings.Join(what, ", "),
			})
		}
		c.ClipNote = fmt.Sprintf("▲ %d bucket%s past the top of the axis (up to %s), clipped", over, plural(over), units.MS(highest))
	}
	div := 4 // quarters; fifths of a 2.5 (500 ms steps up to 2500 ms)
	if m := top / math.Pow(10, math.Floor(math.Log10(top))); math.Abs(m-2.5) < 1e-9 {
		div = 5
	}
	for k := 0; k <= div; k++ {
		v := top * float64(k) / float64(div)
		c.YTicks = append(c.YTicks, tick{X: num(chartLeft - 6), Y: num(y(v)), Label: units.MS(v), Anchor: "end"})
	}
	for k := 0; k <= 4; k++ {
		i := k * n / 4
		x := chartLeft + slot*float64(i)
		anchor := "middle"
		switch k {
		case 0:
			anchor = "start"
		case 4:
			anchor = "end"
		}
		c.XTicks = append(c.XTicks, tick{X: num(x), Y: num(chartH - 8), Label: bucketTime(i).Format(timeFmt), Anchor: anchor})
	}
	return c
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// ---- waterfalls ----

// waterfall is one run drawn as a row of phase bars (small) or a row per
// phase (large).
type waterfall struct {
	W, H  string
	Segs  []wfSeg
	Rows  []wfRow // large form only
	Scale string  // what the full width stands for
	// Fail says how the run ended when it failed ("timed out after 2.0 s
	// in tls"); the phase it failed in is drawn hatched.
	Fail string
}

type wfSeg struct {
	X, W       string
	Class      string
	Title      string
	Incomplete bool
	Failed     bool
}

type wfRow struct {
	Y, TextY   string
	Name       string
	Class      string
	X, W       string
	Duration   string
	Incomplete bool
	Failed     bool
	LabelX     string
	DurX       string
	// Note is drawn on a line of its own under the bar ("timed out after
	// 2.0 s in tls"), so it never covers it; "" for none.
	Note                   string
	NoteX, NoteY, NoteAnch string
}

const (
	wfSmallW = 400.0
	wfSmallH = 14.0
)

func wfScale(r *probe.Result) float64 {
	scale := r.TotalMS
	for _, p := range r.Phases {
		scale = max(scale, p.StartMS+p.DurationMS)
	}
	if scale <= 0 {
		scale = 1
	}
	return scale
}

// newSmallWaterfall draws r's phases on one 400-unit row, scaled to the
// run's own duration, or to scale ms when scale is more than that (the
// shared scale of a target's runs). The phase r failed in is hatched.
func newSmallWaterfall(r *probe.Result, scale float64) *waterfall {
	scale = max(scale, wfScale(r))
	wf := &waterfall{W: num(wfSmallW), H: num(wfSmallH), Scale: units.MS(scale), Fail: failLabel(r)}
	failed := failedPhase(r)
	for i, p := range r.Phases {
		x := p.StartMS / scale * wfSmallW
		w := max(1, p.DurationMS/scale*wfSmallW)
		x = min(x, wfSmallW-w)
		title := fmt.Sprintf("%s %s (from %s)", p.Name, units.MS(p.DurationMS), units.MS(p.StartMS))
		switch {
		case i == failed:
			title += ": " + wf.Fail
		case p.Incomplete:
			title += ", still in flight"
		}
		wf.Segs = append(wf.Segs, wfSeg{X: num(x), W: num(w), Class: phaseClass(p.Name), Title: title, Incomplete: p.Incomplete, Failed: i == failed})
	}
	return wf
}

const (
	wfBigW     = 760.0
	wfBigRowH  = 22.0
	wfBigNoteH = 16.0 // the line under a failed phase's bar
	wfBigLabel = 90.0
	wfBigDur   = 110.0
	// wfCharW is the width of a character of the labels (12 px
	// monospace, about 0.6 em), to keep a note inside the picture.
	wfCharW = 7.3
)

// newBigWaterfall draws r with one row per phase, labelled, like
// `pathlens check` does in text. The phase r failed in is hatched and has
// a line of its own under its bar saying how the run ended; a phase still
// in flight is noted there too.
func newBigWaterfall(r *probe.Result) *waterfall {
	scale := wfScale(r)
	barW := wfBigW - wfBigLabel - wfBigDur
	wf := &waterfall{W: num(wfBigW), Scale: units.MS(scale), Fail: failLabel(r)}
	failed := failedPhase(r)
	y := 2.0
	for i, p := range r.Phases {
		x := wfBigLabel + p.StartMS/scale*barW
		w := max(1, p.DurationMS/scale*barW)
		x = min(x, wfBigLabel+barW-w)
		row := wfRow{
			Y: num(y + 3), TextY: num(y + 15), Name: p.Name, Class: phaseClass(p.Name),
			X: num(x), W: num(w), Duration: units.MS(p.DurationMS), Incomplete: p.Incomplete, Failed: i == failed,
			LabelX: num(4), DurX: num(wfBigW - 4),
		}
		switch {
		case i == failed:
			row.Note = wf.Fail
		case p.Incomplete:
			row.Note = "still in flight when the run ended"
		}
		y += wfBigRowH
		if row.Note != "" {
			// Under the bar (which ends at y-3), from where it starts, or
			// ending at the right edge when it would run past it.
			nw := float64(len([]rune(row.Note))) * wfCharW
			row.NoteY, row.NoteX, row.NoteAnch = num(y+9), num(x), "start"
			if x+nw > wfBigW-4 {
				row.NoteX, row.NoteAnch = num(wfBigW-4), "end"
			}
			y += wfBigNoteH
		}
		wf.Rows = append(wf.Rows, row)
	}
	wf.H = num(y + 2)
	return wf
}
