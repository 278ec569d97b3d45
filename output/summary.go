package output

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"

	"github.com/pathlens/pathlens/internal/stats"
	"github.com/pathlens/pathlens/internal/units"
	"github.com/pathlens/pathlens/probe"
)

// Summary describes N runs of the same check (check -n).
type Summary struct {
	Runs      int            `json:"runs"`
	Succeeded int            `json:"succeeded"`
	Failed    int            `json:"failed"`
	Phases    []PhaseStats   `json:"phases"`
	Total     PhaseStats     `json:"total"`
	Findings  []FindingCount `json:"findings"`
}

// PhaseStats holds the distribution of one phase's duration (or of the
// total) in milliseconds over the runs where it was present. Percentiles
// use the nearest-rank method: the smallest value with at least p % of the
// values at or below it. Mean is rounded to 0.001 ms.
type PhaseStats struct {
	Name  string  `json:"name"`
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
	Min   float64 `json:"min_ms"`
	Mean  float64 `json:"mean_ms"`
}

// FindingCount says how many runs showed a finding, with the worst
// severity it had in any of them.
type FindingCount struct {
	ID       string         `json:"id"`
	Severity probe.Severity `json:"severity"`
	Runs     int            `json:"runs"`
}

// Summarize computes the Summary of rs (nil entries are skipped). Phases
// are listed in the order they first appear; a phase's stats cover the
// runs where it is present (its first occurrence in each run); the total
// covers every run. Findings are counted once per run and ordered by
// severity (critical first), then by how many runs had them, then by ID.
func Summarize(rs []*probe.Result) Summary {
	var s Summary
	var order []string
	durs := map[string][]float64{}
	var totals []float64
	counts := map[string]*FindingCount{}
	for _, r := range rs {
		if r == nil {
			continue
		}
		s.Runs++
		if r.Success {
			s.Succeeded++
		} else {
			s.Failed++
		}
		totals = append(totals, r.TotalMS)
		seen := map[string]bool{}
		for _, p := range r.Phases {
			if seen[p.Name] {
				continue
			}
			seen[p.Name] = true
			if _, ok := durs[p.Name]; !ok {
				order = append(order, p.Name)
			}
			durs[p.Name] = append(durs[p.Name], p.DurationMS)
		}
		seenF := map[string]bool{}
		for _, f := range r.Findings {
			c := counts[f.ID]
			if c == nil {
				c = &FindingCount{ID: f.ID, Severity: f.Severity}
				counts[f.ID] = c
			}
			if f.Severity.Rank() > c.Severity.Rank() {
				c.Severity = f.Severity
			}
			if !seenF[f.ID] {
				seenF[f.ID] = true
				c.Runs++
			}
		}
	}
	s.Phases = make([]PhaseStats, 0, len(order))
	for _, name := range order {
		s.Phases = append(s.Phases, phaseStats(name, durs[name]))
	}
	s.Total = phaseStats("total", totals)
	s.Findings = make([]FindingCount, 0, len(counts))
	for _, c := range counts {
		s.Findings = append(s.Findings, *c)
	}
	sort.Slice(s.Findings, func(i, j int) bool {
		a, b := s.Findings[i], s.Findings[j]
		if a.Severity.Rank() != b.Severity.Rank() {
			return a.Severity.Rank() > b.Severity.Rank()
		}
		if a.Runs != b.Runs {
			return a.Runs > b.Runs
		}
		return a.ID < b.ID
	})
	return s
}

func phaseStats(name string, vs []float64) PhaseStats {
	st := PhaseStats{Name: name, Count: len(vs)}
	if len(vs) == 0 {
		return st
	}
	sorted := append([]float64(nil), vs...)
	sort.Float64s(sorted)
	sum := 0.0
	for _, v := range sorted {
		sum += v
	}
	st.P50 = stats.Percentile(sorted, 50)
	st.P90 = stats.Percentile(sorted, 90)
	st.P99 = stats.Percentile(sorted, 99)
	st.Min = sorted[0]
	st.Max = sorted[len(sorted)-1]
	st.Mean = math.Round(sum/float64(len(sorted))*1000) / 1000
	return st
}

// normalize makes the lists non-nil for JSON.
func (s Summary) normalize() Summary {
	if s.Phases == nil {
		s.Phases = []PhaseStats{}
	}
	if s.Findings == nil {
		s.Findings = []FindingCount{}
	}
	return s
}

// HumanSummary writes a Summary as a table (phase, n, p50, p90, p99, max
// in ms), the total, then each finding with the number of runs that had it.
func HumanSummary(w io.Writer, s Summary, st Style) error {
	var b bytes.Buffer
	status := fmt.Sprintf("%d run%s: %d ok", s.Runs, plural(s.Runs), s.Succeeded)
	failed := fmt.Sprintf("%d failed", s.Failed)
	if s.Failed > 0 {
		failed = st.paint(ansiRed, failed)
	}
	b.WriteString(status + ", " + failed + "\n")

	nw := len("transfer")
	for _, p := range s.Phases {
		nw = max(nw, len([]rune(clean(p.Name))))
	}
	const col = 9
	row := func(name string, n int, vals ...string) {
		b.WriteString("  " + pad(name, nw) + lpad(n2s(n), 5))
		for _, v := range vals {
			b.WriteString(lpad(v, col))
		}
		b.WriteString("\n")
	}
	b.WriteString(st.paint(ansiDim, "  "+pad("phase", nw)+lpad("n", 5)+
		lpad("p50", col)+lpad("p90", col)+lpad("p99", col)+lpad("max", col)+"  (ms)") + "\n")
	for _, p := range s.Phases {
		row(clean(p.Name), p.Count, units.Num(p.P50), units.Num(p.P90), units.Num(p.P99), units.Num(p.Max))
	}
	t := s.Total
	row("total", t.Count, units.Num(t.P50), units.Num(t.P90), units.Num(t.P99), units.Num(t.Max))

	if len(s.Findings) == 0 {
		b.WriteString("findings: none\n")
	} else {
		b.WriteString("findings:\n")
		iw := 0
		for _, f := range s.Findings {
			iw = max(iw, len([]rune(clean(f.ID))))
		}
		for _, f := range s.Findings {
			b.WriteString("  " + st.paint(severityColor(f.Severity), pad(clean(string(f.Severity)), 8)) +
				" " + pad(clean(f.ID), iw) + fmt.Sprintf("  ×%d of %d", f.Runs, s.Runs) + "\n")
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

func n2s(n int) string { return strconv.Itoa(n) }
