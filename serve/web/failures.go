package web

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/pathlens/pathlens/internal/stats"
	"github.com/pathlens/pathlens/internal/units"
	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/store"
)

// Failed runs, drawn truthfully. A run that failed or timed out did so in
// a phase: the one its error names, else the one still in flight when it
// ended. Every chart and table of the target and run pages shows that
// phase, hatched, with how long the run spent in it: the store's
// roll-ups count only completed phases (and the successful runs'
// totals), so without this a run that hung for the whole budget in the
// TLS handshake left only its 0.2 ms connect behind.

// failedPhase is the index in r.Phases of the phase r failed in: the last
// one its error names, else the last one still in flight; -1 when r
// succeeded or no phase is to blame.
func failedPhase(r *probe.Result) int {
	if r == nil || r.Success {
		return -1
	}
	return failedIn(r.Phases, r.Error)
}

func failedIn(phases []probe.Phase, e *probe.ErrorInfo) int {
	if e != nil && e.Phase != "" {
		for i := len(phases) - 1; i >= 0; i-- {
			if phases[i].Name == e.Phase {
				return i
			}
		}
	}
	for i := len(phases) - 1; i >= 0; i-- {
		if phases[i].Incomplete {
			return i
		}
	}
	return -1
}

// spanText formats a time for a failure's label: seconds with one
// decimal from a second up ("2.0 s"), milliseconds below ("0.24 ms").
func spanText(ms float64) string {
	if ms >= 1000 {
		return strconv.FormatFloat(ms/1000, 'f', 1, 64) + " s"
	}
	return units.MS(ms)
}

// failText says how a run ended: "timed out after 2.0 s in tls" (the
// budget's time: the run's total) or "failed in connect after 0.24 ms"
// (the time in the phase); phase "" when no phase is to blame.
func failText(timeout bool, phase string, phaseMS, totalMS float64) string {
	switch {
	case timeout && phase != "":
		return "timed out after " + spanText(totalMS) + " in " + phase
	case timeout:
		return "timed out after " + spanText(totalMS)
	case phase != "":
		return "failed in " + phase + " after " + spanText(phaseMS)
	}
	return "failed after " + spanText(totalMS)
}

// failLabel is failText of r; "" when r succeeded.
func failLabel(r *probe.Result) string {
	if r == nil || r.Success {
		return ""
	}
	timeout := r.Error != nil && r.Error.Class == probe.ClassTimeout
	if i := failedPhase(r); i >= 0 {
		return failText(timeout, r.Phases[i].Name, r.Phases[i].DurationMS, r.TotalMS)
	}
	return failText(timeout, "", 0, r.TotalMS)
}

// ---- a window's failed runs ----

// failGroup is the failed runs (of a bucket or a whole window) that failed
// in one phase.
type failGroup struct {
	phase string // "" when no phase is to blame
	runs  []failRun
}

// failRun is one failed run of a group.
type failRun struct {
	dur, total float64 // time in the phase, and the run's total, ms
	timeout    bool
	// open: the phase was still in flight (the roll-ups left it out);
	// else the run completed it (it is in the phase's percentiles).
	open bool
}

func (g *failGroup) add(fr store.FailedRun, i int) {
	r := failRun{total: fr.TotalMS, timeout: fr.ErrClass == probe.ClassTimeout}
	if i >= 0 {
		r.dur, r.open = fr.Phases[i].DurationMS, fr.Phases[i].Incomplete
	}
	g.runs = append(g.runs, r)
}

// only is the group of g's runs that were still in flight in the phase
// (open) or had completed it (!open).
func (g *failGroup) only(open bool) *failGroup {
	o := &failGroup{phase: g.phase}
	for _, r := range g.runs {
		if r.open == open {
			o.runs = append(o.runs, r)
		}
	}
	return o
}

// durs are the runs' times in the phase; totals their totals.
func (g *failGroup) durs() (durs, totals []float64) {
	for _, r := range g.runs {
		durs, totals = append(durs, r.dur), append(totals, r.total)
	}
	return durs, totals
}

// label says how the group's runs ended, with the median times.
func (g *failGroup) label() string {
	durs, totals := g.durs()
	dur, total := median(durs), median(totals)
	timeouts := 0
	for _, r := range g.runs {
		if r.timeout {
			timeouts++
		}
	}
	switch timeouts {
	case len(g.runs):
		return failText(true, g.phase, dur, total)
	case 0:
		return failText(false, g.phase, dur, total)
	}
	return failText(false, g.phase, dur, total) + " (" + strconv.Itoa(timeouts) + " timed out)"
}

// runs is "1 run" or "N runs".
func runsText(n int) string {
	if n == 1 {
		return "1 run"
	}
	return strconv.Itoa(n) + " runs"
}

// median of xs (not sorted; 0 when empty).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	return stats.Percentile(s, 50)
}

// failStats are the failed runs of a percentile report's window, by the
// phase they failed in: over the whole window and per bucket.
type failStats struct {
	runs    int  // failed runs read
	more    bool // the window holds more than were read (the newest were)
	groups  []*failGroup
	buckets [][]*failGroup // per bucket of the report, each in phase order
}

// newFailStats sorts a window's failed runs (store.FailedRuns over rep's
// window) into rep's buckets.
func newFailStats(rep *store.Report, runs []store.FailedRun, more bool) *failStats {
	fs := &failStats{runs: len(runs), more: more, buckets: make([][]*failGroup, max(rep.Buckets, 1))}
	all := map[string]*failGroup{}
	for _, fr := range runs {
		i := failedIn(fr.Phases, &probe.ErrorInfo{Class: fr.ErrClass, Phase: fr.ErrPhase})
		phase := ""
		if i >= 0 {
			phase = fr.Phases[i].Name
		}
		groupIn(&fs.groups, all, phase).add(fr, i)
		b := 0
		if rep.BucketWidth > 0 {
			b = int(fr.StartedAt.Sub(rep.From) / rep.BucketWidth)
		}
		b = min(max(b, 0), len(fs.buckets)-1)
		groupIn(&fs.buckets[b], nil, phase).add(fr, i)
	}
	order := func(a, b *failGroup) int { return phaseOrder(a.phase) - phaseOrder(b.phase) }
	slices.SortStableFunc(fs.groups, order)
	for _, gs := range fs.buckets {
		slices.SortStableFunc(gs, order)
	}
	return fs
}

// groupIn returns the group of phase in gs (indexed by idx when not nil),
// adding it when missing.
func groupIn(gs *[]*failGroup, idx map[string]*failGroup, phase string) *failGroup {
	if idx != nil {
		if g := idx[phase]; g != nil {
			return g
		}
	} else {
		for _, g := range *gs {
			if g.phase == phase {
				return g
			}
		}
	}
	g := &failGroup{phase: phase}
	*gs = append(*gs, g)
	if idx != nil {
		idx[phase] = g
	}
	return g
}

// failRows are the percentile table's rows of the failed runs: per phase
// they failed in, their time in it.
func (fs *failStats) failRows() []phaseRow {
	if fs == nil {
		return nil
	}
	var rows []phaseRow
	for _, g := range fs.groups {
		row := phaseRow{Phase: g.phase, Class: phaseClass(g.phase), Count: len(g.runs), P50: "—", P90: "—", P99: "—", Failed: true}
		timeouts := 0
		for _, r := range g.runs {
			if r.timeout {
				timeouts++
			}
		}
		switch {
		case g.phase == "":
			row.Phase, row.Class = "no phase", "ph-other"
			row.Note = "failed runs, before a phase began"
		case timeouts == len(g.runs):
			row.Note = "runs that timed out in it"
		case timeouts == 0:
			row.Note = "runs that failed in it"
		default:
			row.Note = fmt.Sprintf("runs that failed in it (%d timed out)", timeouts)
		}
		if durs, _ := g.durs(); g.phase != "" {
			slices.Sort(durs)
			row.P50, row.P90, row.P99 = units.MS(stats.Percentile(durs, 50)), units.MS(stats.Percentile(durs, 90)), units.MS(stats.Percentile(durs, 99))
		}
		rows = append(rows, row)
	}
	return rows
}

// phaseNote says which runs the percentile table covers.
func phaseNote(rep *store.Report, fs *failStats) string {
	if rep.Runs == 0 {
		return ""
	}
	note := "Phase rows: every run that completed the phase, failed runs included up to where they stopped. total: the " +
		strconv.Itoa(rep.Successes) + " successful runs only, of " + strconv.Itoa(rep.Runs) + " in the window."
	if fs != nil && fs.runs > 0 {
		note += " Hatched rows: the " + runsText(fs.runs) + " that failed, their time in the phase they failed in until the failure or the timeout"
		if fs.more {
			note += " (the newest " + strconv.Itoa(fs.runs) + " failed runs of the window)"
		}
		note += "."
	}
	return note
}

// failCaption lists, under the stacked chart, how the window's failed
// runs ended ("240 runs timed out after 2.0 s in tls").
func (fs *failStats) failCaption() []string {
	if fs == nil {
		return nil
	}
	var out []string
	for _, g := range fs.groups {
		out = append(out, runsText(len(g.runs))+" "+g.label())
	}
	if fs.more && len(out) > 0 {
		out = append(out, "of the newest "+strconv.Itoa(fs.runs)+" failed runs")
	}
	return out
}

// ---- the target page's runs: scale ----

// Waterfall scales of the target page's runs (scale=).
const (
	scaleRun    = ""       // each run on its own axis
	scaleShared = "shared" // every run on the slowest's
)

// scaleLinks makes the window links keep scale and returns the link that
// toggles it, for the target page of name at window.
func scaleLinks(p *targetPage, name, window, scale string) {
	if scale == scaleShared {
		for i := range p.Windows {
			p.Windows[i].Link += "&scale=" + scaleShared
		}
	}
	p.Scale = scale
	p.ScaleLink = targetLink(name) + "?window=" + window
	if scale != scaleShared {
		p.ScaleLink += "&scale=" + scaleShared
	}
	p.ScaleLink += "#runs"
}

// sharedScale is the slowest of runs: the width every waterfall stands
// for on a shared scale.
func sharedScale(runs []store.StoredResult) float64 {
	scale := 0.0
	for _, sr := range runs {
		if sr.Result != nil {
			scale = max(scale, wfScale(sr.Result))
		}
	}
	return scale
}

// withFailRows puts the failed runs' rows of fs into the percentile
// table rows, before the total's.
func withFailRows(rows []phaseRow, fs *failStats) []phaseRow {
	fr := fs.failRows()
	if len(fr) == 0 {
		return rows
	}
	i := len(rows)
	if i > 0 && rows[i-1].Class == phaseClass(store.TotalPhase) {
		i--
	}
	return slices.Concat(rows[:i], fr, rows[i:])
}
