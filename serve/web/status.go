package web

import (
	"bytes"
	"context"
	"encoding/json"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pathlens/pathlens/serve/alert"
	"github.com/pathlens/pathlens/serve/config"
	"github.com/pathlens/pathlens/serve/store"
)

// The public status page: GET /status (HTML) and GET /status.json (the
// same content), when status_page.enabled. It shows the config's groups
// and, for each of their targets, its name, its state and one cell per
// UTC day of the last statusDays days coloured by the day's share of
// successful runs, and nothing else: no URL, module, label, error or
// finding. It needs no token and may be cached by anyone for
// statusMaxAge seconds.
const (
	statusDays    = 90
	statusDaysTTL = time.Minute // how long today's count is reused
	statusMaxAge  = 30          // Cache-Control max-age, seconds
	// statusQueryTimeout bounds a refresh of the per-day counts, which
	// goes on when the request that started it goes away (the next one
	// wants it too).
	statusQueryTimeout = 30 * time.Second
)

// Public states of a target and a group on the status page.
const (
	psOperational = "operational"
	psDegraded    = "degraded"
	psOutage      = "outage"
	psMaintenance = "maintenance"
	psUnknown     = "unknown" // no verdict yet
)

var psLabels = map[string]string{psOperational: "Operational", psDegraded: "Degraded", psOutage: "Outage",
	psMaintenance: "Maintenance", psUnknown: "No data"}

// psRank orders the states for a group's: the worst of its targets'.
var psRank = map[string]int{psUnknown: 0, psOperational: 1, psMaintenance: 2, psDegraded: 3, psOutage: 4}

// The overall status and its banner.
const (
	ovOperational = "operational"
	ovDegraded    = "degraded"
	ovPartial     = "partial_outage"
	ovMajor       = "major_outage"
	ovMaintenance = "maintenance"
	ovUnknown     = "unknown"
)

var ovSummaries = map[string]string{ovOperational: "All systems operational", ovDegraded: "Degraded performance",
	ovPartial: "Partial outage", ovMajor: "Major outage", ovMaintenance: "Scheduled maintenance", ovUnknown: "No data yet"}

// StatusDoc is GET /status.json, and what GET /status shows.
type StatusDoc struct {
	Title string `json:"title"`
	// Status is operational, degraded, partial_outage, major_outage,
	// maintenance or unknown; Summary says it in words.
	Status    string           `json:"status"`
	Summary   string           `json:"summary"`
	UpdatedAt time.Time        `json:"updated_at"`
	Days      StatusDays       `json:"days"`
	Groups    []StatusGroupDoc `json:"groups"`
}

// StatusDays are the UTC days of the daily cells: From to To (today),
// Count of them.
type StatusDays struct {
	From  string `json:"from"` // YYYY-MM-DD
	To    string `json:"to"`
	Count int    `json:"count"`
}

// StatusGroupDoc is one group: its state is the worst of its targets'.
type StatusGroupDoc struct {
	Name    string            `json:"name"`
	Status  string            `json:"status"`
	Targets []StatusTargetDoc `json:"targets"`
}

// StatusTargetDoc is one target of a group.
type StatusTargetDoc struct {
	Name string `json:"name"`
	// Status is operational, degraded, outage, maintenance or unknown.
	Status string `json:"status"`
	// Uptime is the share of successful runs over the days (null without
	// runs) and Daily each day's, oldest first; rounded down to 6
	// decimals, so that only a day without a failed run reads 1.
	Uptime *float64   `json:"uptime"`
	Daily  []*float64 `json:"daily"`
}

// statusCache keeps the per-day counts of the status page's targets: a
// public page must not cost a store query per target and day on every
// request. A target's days before today are read once a day (90 days of
// a target is a query of a millisecond or so, over 2,160 hour roll-ups);
// today's count, which grows with each run, again once it is
// statusDaysTTL old (a query of one day). Its mutex makes concurrent
// requests share one refresh.
type statusCache struct {
	mu      sync.Mutex
	targets map[string]*statusDaysEntry
}

type statusDaysEntry struct {
	day   time.Time // the UTC day days ends with
	days  []store.Day
	today time.Time // when today's count was read
}

// daily returns the per-day counts of names at now (statusDays of them
// each, oldest first), from the cache where it is fresh, else from the
// store.
func (c *statusCache) daily(ctx context.Context, st *store.Store, names []string, now time.Time) (map[string][]store.Day, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statusQueryTimeout)
	defer cancel()
	today := now.UTC().Truncate(24 * time.Hour)
	kept := make(map[string]*statusDaysEntry, len(names))
	out := make(map[string][]store.Day, len(names))
	for _, n := range names {
		e := c.targets[n]
		switch {
		case e == nil || !e.day.Equal(today):
			d, err := st.Daily(ctx, n, statusDays, now)
			if err != nil {
				return nil, err
			}
			e = &statusDaysEntry{day: today, days: d, today: now}
		case now.Sub(e.today) >= statusDaysTTL || now.Before(e.today):
			d, err := st.Daily(ctx, n, 1, now)
			if err != nil {
				return nil, err
			}
			days := slices.Clone(e.days) // a page being built may hold the old slice
			days[len(days)-1] = d[0]
			e = &statusDaysEntry{day: today, days: days, today: now}
		}
		kept[n] = e
		out[n] = e.days
	}
	c.targets = kept // the targets no longer shown go
	return out, nil
}

// statusDoc builds the status page of cfg at now.
func (s *server) statusDoc(ctx context.Context, cfg *config.Config, now time.Time) (*StatusDoc, error) {
	sp := cfg.StatusPage
	var names []string
	seen := map[string]bool{}
	for _, g := range sp.Groups {
		for _, n := range g.Members {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	var days map[string][]store.Day
	if s.d.Store != nil {
		var err error
		if days, err = s.status.daily(ctx, s.d.Store, names, now); err != nil {
			return nil, err
		}
	}
	today := now.UTC().Truncate(24 * time.Hour)
	doc := &StatusDoc{Title: sp.Title, UpdatedAt: now.UTC().Truncate(time.Second), Groups: []StatusGroupDoc{},
		Days: StatusDays{From: today.AddDate(0, 0, 1-statusDays).Format(time.DateOnly), To: today.Format(time.DateOnly), Count: statusDays}}
	states := make(map[string]string, len(names))
	for _, n := range names {
		states[n] = s.publicState(n)
	}
	for _, g := range sp.Groups {
		gd := StatusGroupDoc{Name: g.Name, Status: psUnknown, Targets: []StatusTargetDoc{}}
		for _, n := range g.Members {
			td := StatusTargetDoc{Name: n, Status: states[n], Daily: make([]*float64, statusDays)}
			var runs, successes int64
			for i, d := range days[n] {
				if i < statusDays && d.Runs > 0 {
					td.Daily[i] = floorRatio(d.Successes, d.Runs)
					runs += d.Runs
					successes += d.Successes
				}
			}
			if runs > 0 {
				td.Uptime = floorRatio(successes, runs)
			}
			if psRank[td.Status] > psRank[gd.Status] {
				gd.Status = td.Status
			}
			gd.Targets = append(gd.Targets, td)
		}
		doc.Groups = append(doc.Groups, gd)
	}
	doc.Status = overallStatus(states)
	doc.Summary = ovSummaries[doc.Status]
	return doc, nil
}

// floorRatio is n/of rounded down to 6 decimals.
func floorRatio(n, of int64) *float64 {
	v := math.Floor(float64(n)/float64(of)*1e6) / 1e6
	return &v
}

// publicState is target's state on the status page: from its state with
// memory, or without an alert manager from its latest run.
func (s *server) publicState(target string) string {
	if a := s.d.Alerts; a != nil {
		if _, in := a.InMaintenance(target); in {
			return psMaintenance
		}
		switch a.State(target) {
		case alert.StateUp:
			return psOperational
		case alert.StateDegraded, alert.StateFlapping:
			return psDegraded
		case alert.StateDown:
			return psOutage
		}
		return psUnknown
	}
	switch s.d.State.lastState(target) {
	case StateOK:
		return psOperational
	case StateWarning, StateCritical:
		return psDegraded
	case StateFailing:
		return psOutage
	}
	return psUnknown
}

// overallStatus sums up the targets' states: a major outage when more
// than half of those with a verdict are down, a partial one when any is;
// degraded when any is; maintenance or unknown when no target has a
// verdict; else operational. A target in maintenance or without a
// verdict counts for neither side.
func overallStatus(states map[string]string) string {
	n := map[string]int{}
	for _, st := range states {
		n[st]++
	}
	known := n[psOperational] + n[psDegraded] + n[psOutage]
	switch {
	case known == 0 && n[psMaintenance] > 0:
		return ovMaintenance
	case known == 0:
		return ovUnknown
	case 2*n[psOutage] > known:
		return ovMajor
	case n[psOutage] > 0:
		return ovPartial
	case n[psDegraded] > 0:
		return ovDegraded
	}
	return ovOperational
}

// statusPublic reports whether path is the status page (or its JSON)
// while it is enabled: it needs no token.
func statusPublic(cfg *config.Config, path string) bool {
	return cfg.StatusPage.Enabled && (path == "/status" || path == "/status.json")
}

// statusHeaders are the status page's own cache headers.
func statusHeaders(w http.ResponseWriter, contentType string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(statusMaxAge))
}

// statusUnavailable answers when the store cannot: a line of text, for
// the page is public and the server log has the details.
func statusUnavailable(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Retry-After", "30")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte("503 the status is not available right now; try again shortly\n"))
}

func (s *server) statusRequest(w http.ResponseWriter, r *http.Request) (*StatusDoc, bool) {
	cfg := s.cfg()
	if !cfg.StatusPage.Enabled {
		s.pageError(w, r, http.StatusNotFound, "Not found", "There is no page at this address.")
		return nil, false
	}
	doc, err := s.statusDoc(r.Context(), cfg, s.d.Now())
	if err != nil {
		s.d.Logf("web: %s %s: store: %v", r.Method, r.URL.Path, err)
		statusUnavailable(w)
		return nil, false
	}
	return doc, true
}

// pageStatus serves GET /status.
func (s *server) pageStatus(w http.ResponseWriter, r *http.Request) {
	doc, ok := s.statusRequest(w, r)
	if !ok {
		return
	}
	var b bytes.Buffer
	if err := statusTemplate.ExecuteTemplate(&b, "status", newStatusView(doc)); err != nil {
		s.d.Logf("web: %s %s: render status: %v", r.Method, r.URL.Path, err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	statusHeaders(w, "text/html; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

// apiStatus serves GET /status.json.
func (s *server) apiStatus(w http.ResponseWriter, r *http.Request) {
	doc, ok := s.statusRequest(w, r)
	if !ok {
		return
	}
	b, err := json.Marshal(doc)
	if err != nil {
		s.d.Logf("web: encode status: %v", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	statusHeaders(w, "application/json; charset=utf-8")
	_, _ = w.Write(append(b, '\n'))
}

// ---- the page ----

var statusTemplate = template.Must(template.New("status").ParseFS(uiFS, "ui/templates/status.html"))

// The day cells: each cellW wide with a gap of 1, cellH high.
const (
	cellW = 3
	cellH = 20
)

// statusGaps draws the gaps between the day cells over merged cells.
var statusGaps = func() string {
	var b strings.Builder
	for i := range statusDays - 1 {
		b.WriteString("M" + strconv.FormatFloat(float64(i*cellW+cellW-1)+0.5, 'f', -1, 64) + " 0v" + strconv.Itoa(cellH))
	}
	return b.String()
}()

type statusView struct {
	*StatusDoc
	Updated  string
	Width    int // of the cells' view box
	Height   int
	Gaps     string
	GroupsV  []statusGroupView
	FirstDay string
}

type statusGroupView struct {
	Name, State, Label string
	Targets            []statusTargetView
}

type statusTargetView struct {
	Name, State, Label string
	Uptime             string // over the days, "" without runs
	Cells              []statusCell
}

// statusCell is one day's cell, or several days' when they are alike
// (every run succeeded, or none ran): a page of many targets stays small.
type statusCell struct {
	X, W  int
	Class string // u-full, u-minor, u-partial, u-major, u-none
	Title string
}

func newStatusView(doc *StatusDoc) *statusView {
	v := &statusView{StatusDoc: doc, Updated: doc.UpdatedAt.Format("2006-01-02 15:04 UTC"),
		Width: statusDays*cellW - 1, Height: cellH, Gaps: statusGaps, FirstDay: doc.Days.From}
	from, _ := time.Parse(time.DateOnly, doc.Days.From)
	for _, g := range doc.Groups {
		gv := statusGroupView{Name: g.Name, State: g.Status, Label: psLabels[g.Status]}
		for _, t := range g.Targets {
			tv := statusTargetView{Name: t.Name, State: t.Status, Label: psLabels[t.Status], Cells: dayCells(t.Daily, from)}
			if t.Uptime != nil {
				tv.Uptime = fmtPct(*t.Uptime)
			}
			gv.Targets = append(gv.Targets, tv)
		}
		v.GroupsV = append(v.GroupsV, gv)
	}
	return v
}

// dayClass colours a day by its share of successful runs.
func dayClass(r *float64) string {
	switch {
	case r == nil:
		return "u-none"
	case *r >= 1:
		return "u-full"
	case *r >= 0.99:
		return "u-minor"
	case *r >= 0.95:
		return "u-partial"
	}
	return "u-major"
}

// dayCells are the cells of daily (from's day first), runs of full and
// of empty days merged.
func dayCells(daily []*float64, from time.Time) []statusCell {
	var out []statusCell
	for i := 0; i < len(daily); {
		class := dayClass(daily[i])
		j := i + 1
		if class == "u-full" || class == "u-none" {
			for j < len(daily) && dayClass(daily[j]) == class {
				j++
			}
		}
		what := "no data"
		if daily[i] != nil {
			what = fmtPct(*daily[i])
		}
		title := from.AddDate(0, 0, i).Format(time.DateOnly)
		if j-i > 1 {
			title += " to " + from.AddDate(0, 0, j-1).Format(time.DateOnly)
		}
		out = append(out, statusCell{X: i * cellW, W: (j-i)*cellW - 1, Class: class, Title: title + ": " + what})
		i = j
	}
	return out
}
