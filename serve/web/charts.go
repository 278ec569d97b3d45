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

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
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
}

type stackBar struct {
	X, W string
	Segs []stackSeg
}

type stackSeg struct {
	Y, H  string
	Class string
	Title string
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

// newStackedChart draws the p50 of every phase per bucket, stacked, with
// the total's p99 as a line.
// It stays long: scale, bars, p99 line and ticks share y, slot and bucketTime.
func newStackedChart(rep store.Report, loc *time.Location) *stackedChart {
	c := &stackedChart{
		W: num(chartW), H: num(chartH),
		PlotX: num(chartLeft), PlotY: num(chartTop), PlotX2: num(chartW - chartRight),
		PlotW: num(chartW - chartLeft - chartRight), PlotH: num(chartH - chartTop - chartBottom),
		Window: rep.Window, BucketWidthStr: rep.BucketWidth.String(),
	}
	n := rep.Buckets
	var phases []store.PhaseSeries
	var total *store.PhaseSeries
	for i := range rep.Phases {
		ps := rep.Phases[i]
		if ps.Phase == "total" {
			total = &rep.Phases[i]
			continue
		}
		phases = append(phases, ps)
		n = max(n, len(ps.Buckets))
		c.Legend = append(c.Legend, legendItem{Name: ps.Phase, Class: phaseClass(ps.Phase)})
	}
	if total != nil {
		n = max(n, len(total.Buckets))
	}
	if n == 0 || (len(phases) == 0 && total == nil) {
		c.Empty = true
		return c
	}
	sums := make([]float64, n)
	peak := 0.0
	for _, ps := range phases {
		for i, q := range ps.Buckets {
			if q.Count > 0 {
				sums[i] += q.P50
			}
		}
	}
	for _, v := range sums {
		peak = max(peak, v)
	}
	if total != nil {
		for _, q := range total.Buckets {
			if q.Count > 0 {
				peak = max(peak, q.P99)
			}
		}
	}
	if peak <= 0 {
		c.Empty = true
		return c
	}
	top := niceCeil(peak)
	plotW := chartW - chartLeft - chartRight
	plotH := chartH - chartTop - chartBottom
	slot := plotW / float64(n)
	barW := max(1, slot*0.8)
	y := func(ms float64) float64 { return chartTop + plotH - ms/top*plotH }

	bucketTime := func(i int) time.Time { return rep.From.Add(time.Duration(i) * rep.BucketWidth).In(loc) }
	timeFmt := "15:04"
	if rep.BucketWidth >= time.Hour {
		timeFmt = "Jan 2 15:04"
	}
	for i := 0; i < n; i++ {
		bar := stackBar{X: num(chartLeft + slot*float64(i) + (slot-barW)/2), W: num(barW)}
		base := 0.0
		for _, ps := range phases {
			if i >= len(ps.Buckets) || ps.Buckets[i].Count == 0 || ps.Buckets[i].P50 <= 0 {
				continue
			}
			q := ps.Buckets[i]
			y0, y1 := y(base), y(base+q.P50)
			bar.Segs = append(bar.Segs, stackSeg{
				Y: num(y1), H: num(max(0.5, y0-y1)), Class: phaseClass(ps.Phase),
				Title: fmt.Sprintf("%s  %s p50 %s (%d runs)", bucketTime(i).Format(timeFmt), ps.Phase, units.MS(q.P50), q.Count),
			})
			base += q.P50
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
	for k := 0; k <= 4; k++ {
		v := top * float64(k) / 4
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

// ---- waterfalls ----

// waterfall is one run drawn as a row of phase bars (small) or a row per
// phase (large).
type waterfall struct {
	W, H  string
	Segs  []wfSeg
	Rows  []wfRow // large form only
	Scale string  // what the full width stands for
}

type wfSeg struct {
	X, W       string
	Class      string
	Title      string
	Incomplete bool
}

type wfRow struct {
	Y, TextY   string
	Name       string
	Class      string
	X, W       string
	Duration   string
	Incomplete bool
	LabelX     string
	DurX       string
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
// run's own duration.
func newSmallWaterfall(r *probe.Result) *waterfall {
	scale := wfScale(r)
	wf := &waterfall{W: num(wfSmallW), H: num(wfSmallH), Scale: units.MS(scale)}
	for _, p := range r.Phases {
		x := p.StartMS / scale * wfSmallW
		w := max(1, p.DurationMS/scale*wfSmallW)
		x = min(x, wfSmallW-w)
		title := fmt.Sprintf("%s %s (from %s)", p.Name, units.MS(p.DurationMS), units.MS(p.StartMS))
		if p.Incomplete {
			title += ", still in flight"
		}
		wf.Segs = append(wf.Segs, wfSeg{X: num(x), W: num(w), Class: phaseClass(p.Name), Title: title, Incomplete: p.Incomplete})
	}
	return wf
}

const (
	wfBigW     = 760.0
	wfBigRowH  = 22.0
	wfBigLabel = 90.0
	wfBigDur   = 110.0
)

// newBigWaterfall draws r with one row per phase, labelled, like
// `pathlens check` does in text.
func newBigWaterfall(r *probe.Result) *waterfall {
	scale := wfScale(r)
	barW := wfBigW - wfBigLabel - wfBigDur
	wf := &waterfall{W: num(wfBigW), H: num(wfBigRowH*float64(len(r.Phases)) + 4), Scale: units.MS(scale)}
	for i, p := range r.Phases {
		y := 2 + wfBigRowH*float64(i)
		x := wfBigLabel + p.StartMS/scale*barW
		w := max(1, p.DurationMS/scale*barW)
		x = min(x, wfBigLabel+barW-w)
		d := units.MS(p.DurationMS)
		if p.Incomplete {
			d += " (in flight)"
		}
		wf.Rows = append(wf.Rows, wfRow{
			Y: num(y + 3), TextY: num(y + 15), Name: p.Name, Class: phaseClass(p.Name),
			X: num(x), W: num(w), Duration: d, Incomplete: p.Incomplete,
			LabelX: num(4), DurX: num(wfBigW - 4),
		})
	}
	return wf
}
