package web

import (
	"context"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/pathlens/pathlens/serve/config"
	"github.com/pathlens/pathlens/serve/store"
)

// uptimeWindows are the availability windows a target page shows.
var uptimeWindows = []struct {
	name string
	d    time.Duration
}{{"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour}}

// burnWindow is the window of the burn rate the page shows.
const burnWindow = time.Hour

// uptimeView is a target's availability and objective on its page.
type uptimeView struct {
	Windows []uptimeCell
	SLO     *sloView
}

type uptimeCell struct {
	Name, Pct string // Pct "" when the window has no runs
	Kept      string // the history the window can see when it is shorter ("7d"), else ""
}

type sloView struct {
	Objective, Window, Latency string
	Good                       string // good share over the window
	Budget                     string // budget left, e.g. "62 %" or "−40 % (overspent)"
	BudgetLow, Overspent       bool
	Burn                       string // over the last hour
	Runs, Bad                  int64
}

// APIUptime is a target's availability in the JSON API: the share of
// successful runs per window (null when a window has no runs), and its
// objective when it has one.
type APIUptime struct {
	Windows map[string]*float64 `json:"windows"`
	SLO     *APISLO             `json:"slo,omitempty"`
}

// APISLO is a target's objective and where it stands.
type APISLO struct {
	Objective       float64  `json:"objective"`
	WindowSeconds   float64  `json:"window_seconds"`
	LatencyMS       float64  `json:"latency_ms,omitempty"`
	Runs            int64    `json:"runs"`
	GoodRuns        int64    `json:"good_runs"`
	GoodRatio       *float64 `json:"good_ratio"`
	BudgetRemaining *float64 `json:"error_budget_remaining"`
	BurnRate1h      *float64 `json:"burn_rate_1h"`
}

// uptime reads target t's availability over the page's windows, its SLO
// window and the burn window in one query.
func uptime(ctx context.Context, st *store.Store, t *config.Target, now time.Time) (*APIUptime, error) {
	ws := []time.Duration{}
	for _, w := range uptimeWindows {
		ws = append(ws, w.d)
	}
	var latency time.Duration
	if t.SLO != nil {
		latency = t.SLO.Latency
		ws = append(ws, t.SLO.Window, burnWindow)
	}
	av, err := st.Availability(ctx, t.Name, ws, latency, now)
	if err != nil {
		return nil, err
	}
	ratio := func(a store.Availability, good bool) *float64 {
		if a.Runs == 0 {
			return nil
		}
		v := a.Ratio()
		if good {
			v = a.GoodRatio()
		}
		return &v
	}
	out := &APIUptime{Windows: map[string]*float64{}}
	for i, w := range uptimeWindows {
		out.Windows[w.name] = ratio(av[i], false)
	}
	if t.SLO != nil {
		win, burn := av[len(uptimeWindows)], av[len(uptimeWindows)+1]
		s := &APISLO{Objective: t.SLO.Objective, WindowSeconds: t.SLO.Window.Seconds(),
			LatencyMS: float64(t.SLO.Latency) / float64(time.Millisecond), Runs: win.Runs, GoodRuns: win.Good,
			GoodRatio: ratio(win, true)}
		if g := s.GoodRatio; g != nil {
			v := 1 - (1-*g)/t.SLO.Budget()
			s.BudgetRemaining = &v
		}
		if g := ratio(burn, true); g != nil {
			v := (1 - *g) / t.SLO.Budget()
			s.BurnRate1h = &v
		}
		out.SLO = s
	}
	return out, nil
}

// newUptimeView is the page's form of u; retention is the store's (a
// target with a longer objective window keeps that much of its roll-ups).
func newUptimeView(u *APIUptime, t *config.Target, retention time.Duration) *uptimeView {
	v := &uptimeView{}
	kept := retention
	if t.SLO != nil {
		kept = max(kept, t.SLO.Window)
	}
	for _, w := range uptimeWindows {
		c := uptimeCell{Name: w.name}
		if kept < w.d {
			c.Kept = fmtWindow(kept)
		}
		if r := u.Windows[w.name]; r != nil {
			c.Pct = fmtPct(*r)
		}
		v.Windows = append(v.Windows, c)
	}
	if s := u.SLO; s != nil {
		sv := &sloView{Objective: fmtPct(s.Objective), Window: fmtWindow(t.SLO.Window), Runs: s.Runs, Bad: s.Runs - s.GoodRuns}
		if t.SLO.Latency > 0 {
			sv.Latency = t.SLO.Latency.String()
		}
		if s.GoodRatio != nil {
			sv.Good = fmtPct(*s.GoodRatio)
		}
		if b := s.BudgetRemaining; b != nil {
			sv.Budget = strconv.FormatFloat(*b*100, 'f', 0, 64) + " %"
			sv.Overspent, sv.BudgetLow = *b < 0, *b < 0.25
		}
		if b := s.BurnRate1h; b != nil {
			sv.Burn = strconv.FormatFloat(*b, 'f', 1, 64) + "×"
		}
		v.SLO = sv
	}
	return v
}

// fmtPct is a ratio as a percentage: up to three decimals above 99 %,
// where the nines matter, rounded down so that 99.9996 % never reads as
// 100 %; one decimal below ("87.3 %").
func fmtPct(r float64) string {
	p := r * 100
	var s string
	switch {
	case p >= 100:
		s = "100"
	case p >= 99:
		s = strconv.FormatFloat(math.Floor(p*1000+1e-6)/1000, 'f', -1, 64)
	default:
		s = strings.TrimSuffix(strconv.FormatFloat(p, 'f', 1, 64), ".0")
	}
	return s + " %"
}

// fmtWindow is a window in days when it is a whole number of them.
func fmtWindow(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}
