package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/pathlens/pathlens/internal/units"
	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/config"
	"github.com/pathlens/pathlens/serve/store"
)

// Page-level limits.
const (
	waterfallRuns   = 20                 // runs drawn on a target page
	expiryWarnDays  = 14                 // certificates closer than this are red
	recentInactive  = 7 * 24 * time.Hour // resolved findings listed on /findings
	maxInactiveRows = 100
)

var pageNames = []string{"overview", "target", "run", "findings", "login", "error"}

// parsePages parses each page with the shared layout and chart templates.
func parsePages() map[string]*template.Template {
	funcs := template.FuncMap{
		"ms":    units.MS,
		"phase": phaseClass,
		"sev":   func(s probe.Severity) string { return "sev-" + string(s) },
	}
	out := make(map[string]*template.Template, len(pageNames))
	for _, p := range pageNames {
		t := template.Must(template.New(p).Funcs(funcs).ParseFS(uiFS,
			"ui/templates/layout.html", "ui/templates/parts.html", "ui/templates/"+p+".html"))
		out[p] = t
	}
	return out
}

// base is what the layout needs.
type base struct {
	Title   string
	Nav     string // overview | findings | ""
	Version string
	Refresh int // seconds; 0 = no auto-refresh
	AuthOn  bool
	Now     string
}

func (s *server) base(title, nav string) base {
	v := s.d.Version
	if v == "" {
		v = "dev"
	}
	return base{Title: title, Nav: nav, Version: v, AuthOn: s.cfg().Auth.Token != "", Now: fmtTime(s.d.Now())}
}

type errorPage struct {
	base
	Status  int
	Message string
}

type loginPage struct {
	base
	Required bool // shown because a protected page was asked for
	Failed   bool // a wrong token was given
}

// ---- formatting ----

const timeLayout = "2006-01-02 15:04:05 UTC"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format(timeLayout)
}

// fmtAge says how long ago t was, roughly.
func fmtAge(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h ago"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + "d ago"
}

// errorText is a one-line description of a failed run.
func errorText(e *probe.ErrorInfo) string {
	return e.Summary()
}

// worstFinding returns the most serious finding (first among equals).
func worstFinding(fs []probe.Finding) *probe.Finding {
	var w *probe.Finding
	for i := range fs {
		if w == nil || fs[i].Severity.Rank() > w.Severity.Rank() {
			w = &fs[i]
		}
	}
	return w
}

// ---- overview ----

type overviewPage struct {
	base
	Counts  []countItem
	Rows    []overviewRow
	Empty   bool // no target is configured
	Filter  filterForm
	Pager   pager
	Samples int // runs the percentiles cover at most
}

// countItem is one count above a list, linking to the list filtered by it.
type countItem struct {
	State  string
	Class  string
	Label  string
	N      int
	Link   string
	Active bool // the list is filtered by it (Link then clears the filter)
}

type overviewRow struct {
	Name, Link, URL, Module string
	State                   string
	LastMS                  string
	LastAge                 string
	LastTime                string
	Error                   string
	P50, P99                string
	Spark                   *sparkline
	Bar                     *uptimeBar // last 24 h by hour; nil without a store or past maxBarRows
	Worst                   *probe.Finding
	More                    int // further findings besides Worst
}

// stateLabels are the overview's names for the target states.
var stateLabels = map[string]string{TargetUp: "up", TargetDegraded: "degraded", TargetDown: "down", TargetFlapping: "flapping", TargetPending: "pending"}

func (s *server) pageOverview(w http.ResponseWriter, r *http.Request) {
	q, msg := s.listQuery(r, defaultPageLimit)
	if msg != "" {
		s.pageError(w, r, http.StatusBadRequest, "Bad filter", msg)
		return
	}
	cfg, now := s.cfg(), s.d.Now()
	p := &overviewPage{base: s.base("Targets", "overview"), Empty: len(cfg.Targets) == 0, Samples: ringSize}
	p.Refresh = 15
	counts, modules := map[string]int{}, map[string]bool{}
	var page []*config.Target
	total := 0
	s.d.State.each(cfg.Targets, func(t *config.Target, l *lastRun) {
		counts[s.targetState(t.Name, l)]++
		modules[t.Module] = true
		if !q.matchTarget(t, l) || (q.Severity != "" && !l.hasSeverity(q.Severity)) {
			return
		}
		if q.onPage(total) {
			page = append(page, t)
		}
		total++
	})
	for _, t := range page {
		snap := s.d.State.get(t.Name, now)
		row := newOverviewRow(t, snap, now)
		row.State = s.targetState(t.Name, snap.Last)
		if s.d.Store != nil && len(p.Rows) < maxBarRows {
			bar, err := newUptimeBar(r.Context(), s.d.Store, t.Name, now)
			if err != nil {
				s.storeError(w, r, err, false)
				return
			}
			row.Bar = bar
		}
		p.Rows = append(p.Rows, row)
	}
	for _, st := range targetStates {
		if n := counts[st]; n > 0 || (st != TargetPending && st != TargetFlapping) {
			c := countItem{State: st, Class: "st-" + st, Label: stateLabels[st], N: n, Active: q.State == st}
			c.Link = stateLink(q, "/", st)
			p.Counts = append(p.Counts, c)
		}
	}
	p.Filter = newFilterForm(q, "/", modules)
	p.Pager = newPager(q, "/", total)
	s.render(w, r, http.StatusOK, "overview", p)
}

// newOverviewRow is target t's row, from its snapshot.
func newOverviewRow(t *config.Target, snap snapshot, now time.Time) overviewRow {
	row := overviewRow{Name: t.Name, Link: targetLink(t.Name), URL: t.URL, Module: t.Module, State: runTargetState(snap.Last), P50: "—", P99: "—"}
	if l := snap.Last; l != nil {
		row.LastMS = units.MS(l.totalMS)
		row.LastAge = fmtAge(now, l.startedAt())
		row.LastTime = fmtTime(l.startedAt())
		row.Error = errorText(l.err)
		if f, ok := l.worst(); ok {
			row.Worst = &probe.Finding{ID: f.id, Severity: f.severity, Summary: l.summary}
			row.More = len(l.findings) - 1
		}
	}
	if snap.Count > 0 {
		row.P50, row.P99 = units.MS(snap.P50), units.MS(snap.P99)
	}
	row.Spark = newSparkline(snap.Spark)
	return row
}

// stateLink links a count to page 1 of the list at path filtered by state
// st; the count the list is already filtered by links to the list without
// that filter.
func stateLink(q listQuery, path, st string) string {
	if q.State == st {
		st = ""
	}
	q.State = st
	return q.link(path, 1)
}

// severityLink is stateLink for a severity filter.
func severityLink(q listQuery, path string, sv probe.Severity) string {
	if q.Severity == sv {
		sv = ""
	}
	q.Severity = sv
	return q.link(path, 1)
}

// filterForm is the filter form above a list.
type filterForm struct {
	Action     string
	States     []option
	Severities []option
	Modules    []option
	Q          string
	Limit      string // the limit asked for; "" for the default
	Filtered   bool
}

// option is one choice of a select.
type option struct {
	Value, Label string
	Selected     bool
}

// newFilterForm is the form showing q, for the list at action; modules are
// the configured targets' modules.
func newFilterForm(q listQuery, action string, modules map[string]bool) filterForm {
	f := filterForm{Action: action, Q: q.Q, Filtered: q.filtered()}
	if q.Limit != q.defLimit {
		f.Limit = strconv.Itoa(q.Limit)
	}
	f.States = []option{{Label: "any", Selected: q.State == ""}}
	for _, st := range targetStates {
		f.States = append(f.States, option{Value: st, Label: stateLabels[st], Selected: q.State == st})
	}
	f.Severities = []option{{Label: "any", Selected: q.Severity == ""}}
	for _, sv := range severities {
		f.Severities = append(f.Severities, option{Value: string(sv), Label: string(sv), Selected: q.Severity == sv})
	}
	if q.Module != "" {
		modules[q.Module] = true // shown even when no target has it
	}
	names := slices.Sorted(maps.Keys(modules))
	f.Modules = []option{{Label: "any", Selected: q.Module == ""}}
	for _, m := range names {
		f.Modules = append(f.Modules, option{Value: m, Label: m, Selected: q.Module == m})
	}
	return f
}

// ---- target page ----

type targetPage struct {
	base
	Name, URL, Module, Interval string
	APILink                     string
	Labels                      []kv
	State                       string
	Latest                      *runSummary
	Window                      string
	Windows                     []windowLink
	Chart                       *stackedChart
	PhaseRows                   []phaseRow
	Runs                        int
	SuccessPct                  string
	Waterfalls                  []runRow
	WfLegend                    []legendItem
	PhaseNote                   string // which runs the percentile table covers
	Scale                       string // scaleRun or scaleShared: how the waterfalls are scaled
	ScaleLink                   string // the page with the other scale
	SharedScale                 string // what the full width stands for on the shared scale
	Findings                    []findingView
	Chain                       *chainView
	GRPC                        *grpcView   // the latest run's gRPC call
	H2                          *h2View     // the latest run's HTTP/2 frame timeline
	WS                          *wsView     // the latest run's WebSocket session (ws.go)
	Alert                       *alertView  // state with memory, maintenance, deliveries (alerts.go)
	Uptime                      *uptimeView // availability over 24 h, 7 d, 30 d and the objective (uptime.go)
	// DetailsFrom is the run the sections above come from when it is not
	// the latest (which is not stored yet); nil when they are the latest's.
	DetailsFrom    *runSummary
	DetailsNotKept bool // the store kept only part of the run the details come from
}

type kv struct{ K, V string }

type windowLink struct {
	Name, Link string
	Active     bool
}

type phaseRow struct {
	Phase, Class  string
	Count         int
	P50, P90, P99 string
	Failed        bool   // a row of the failed runs' time in the phase they failed in (hatched)
	Note          string // what the row counts, when it is not the phase's own timings
}

// runSummary is the headline of one run.
type runSummary struct {
	ID       int64
	Link     string // /runs/{id}, "" when not stored yet
	JSONLink string
	Time     string
	Age      string
	Success  bool
	Total    string
	Error    string
}

// runRow is one run in the list of waterfalls.
type runRow struct {
	runSummary
	Waterfall *waterfall
	Findings  []probe.Finding
}

type findingView struct {
	probe.Finding
	Target     string
	TargetLink string
	FirstSeen  string
	LastSeen   string
	LastAge    string
	Active     bool
	Runs       int
	Unstored   bool // no stored run has it yet
	Evidence   []kv
}

type chainView struct {
	RunLink     string
	Time        string
	Version     string
	Cipher      string
	ALPN        string
	SNI         string
	Verified    bool
	VerifyError string
	TrustStore  string
	Certs       []certRow
}

type certRow struct {
	Index      int
	Subject    string
	Issuer     string
	NotAfter   string
	Days       string
	DaysClass  string // expired | soon | ok
	IsCA       bool
	SelfSigned bool
	SHA256     string
}

func summarize(id int64, r *probe.Result, now time.Time) runSummary {
	return newRunSummary(id, r.StartedAt, r.Success, r.TotalMS, r.Error, now)
}

// newRunSummary is the headline of the run with store id id (0 when not
// stored yet) started at at.
func newRunSummary(id int64, at time.Time, success bool, totalMS float64, e *probe.ErrorInfo, now time.Time) runSummary {
	rs := runSummary{ID: id, Time: fmtTime(at), Age: fmtAge(now, at), Success: success, Total: units.MS(totalMS), Error: errorText(e)}
	if id > 0 {
		rs.Link = "/runs/" + strconv.FormatInt(id, 10)
		rs.JSONLink = "/api/v1/runs/" + strconv.FormatInt(id, 10)
	}
	return rs
}

// newFindingView is the card of a finding span; one with no stored run
// (the run is not stored yet) says nothing of when it was seen.
func newFindingView(sp store.FindingSpan, now time.Time) findingView {
	fv := findingView{
		Finding: sp.Finding, Target: sp.Target, TargetLink: targetLink(sp.Target),
		Active: sp.Active, Runs: sp.Runs, Evidence: evidence(sp.Finding.Evidence),
	}
	if sp.Runs > 0 {
		fv.FirstSeen, fv.LastSeen, fv.LastAge = fmtTime(sp.FirstSeen), fmtTime(sp.LastSeen), fmtAge(now, sp.LastSeen)
	} else {
		fv.Unstored = true
	}
	return fv
}

// evidence lists a finding's evidence sorted by key, values as text.
func evidence(m map[string]any) []kv {
	out := make([]kv, 0, len(m))
	for k, v := range m {
		var text string
		switch v := v.(type) {
		case string:
			text = v
		default:
			b, err := json.Marshal(v)
			if err != nil {
				text = fmt.Sprint(v)
			} else {
				text = string(b)
			}
		}
		out = append(out, kv{K: k, V: text})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].K < out[j].K })
	return out
}

// newChainView describes the certificates of r as the server sent them.
func newChainView(id int64, r *probe.Result, now time.Time) *chainView {
	t := r.TLS
	if t == nil || len(t.Chain) == 0 {
		return nil
	}
	cv := &chainView{
		Time: fmtTime(r.StartedAt), Version: t.Version, Cipher: t.Cipher, ALPN: t.ALPN, SNI: t.SNI,
		Verified: t.Verified, VerifyError: t.VerifyError, TrustStore: t.TrustStore,
	}
	if id > 0 {
		cv.RunLink = "/runs/" + strconv.FormatInt(id, 10)
	}
	for i, c := range t.Chain {
		days := c.NotAfter.Sub(now).Hours() / 24
		row := certRow{
			Index: i, Subject: c.Subject, Issuer: c.Issuer, NotAfter: fmtTime(c.NotAfter),
			IsCA: c.IsCA, SelfSigned: c.SelfSigned, SHA256: c.SHA256,
		}
		switch {
		case days < 0:
			row.Days = fmt.Sprintf("expired %d days ago", int(math.Ceil(-days)))
			row.DaysClass = "expired"
		case days < expiryWarnDays:
			row.Days = fmt.Sprintf("%d days", int(math.Floor(days)))
			row.DaysClass = "soon"
		default:
			row.Days = fmt.Sprintf("%d days", int(math.Floor(days)))
			row.DaysClass = "ok"
		}
		if len(row.SHA256) > 16 {
			row.SHA256 = row.SHA256[:16] + "…"
		}
		cv.Certs = append(cv.Certs, row)
	}
	return cv
}

func (s *server) pageTarget(w http.ResponseWriter, r *http.Request) {
	cfg, now := s.cfg(), s.d.Now()
	t := findTarget(cfg, r.PathValue("name"))
	if t == nil {
		s.pageError(w, r, http.StatusNotFound, "Unknown target", "No target of that name is configured.")
		return
	}
	window := r.URL.Query().Get("window")
	if window == "" {
		window = "1h"
	}
	if _, ok := store.Windows[window]; !ok {
		s.pageError(w, r, http.StatusBadRequest, "Bad window", "The window must be 1h, 24h or 7d.")
		return
	}
	scale := r.URL.Query().Get("scale")
	if scale != scaleRun && scale != scaleShared {
		s.pageError(w, r, http.StatusBadRequest, "Bad scale", "The scale must be shared (every run on the slowest's axis) or left out (each run on its own).")
		return
	}
	p := s.newTargetPage(t, window)
	scaleLinks(p, t.Name, window, scale)
	p.Alert = s.newAlertView(t.Name, now)

	snap := s.d.State.get(t.Name, now)
	var runs []store.StoredResult
	if s.d.Store != nil {
		ctx := r.Context()
		rep, err := s.percentiles(r, t.Name, window)
		if err != nil {
			s.storeError(w, r, err, false)
			return
		}
		failed, more, err := s.d.Store.FailedRuns(ctx, t.Name, rep.From, rep.To, 0)
		if err != nil {
			s.storeError(w, r, err, false)
			return
		}
		fails := newFailStats(&rep, failed, more)
		runs, err = s.d.Store.Results(ctx, t.Name, time.Time{}, waterfallRuns)
		if err != nil {
			s.storeError(w, r, err, false)
			return
		}
		spans, err := s.d.Store.Findings(ctx, t.Name)
		if err != nil {
			s.storeError(w, r, err, false)
			return
		}
		up, err := uptime(ctx, s.d.Store, t, now)
		if err != nil {
			s.storeError(w, r, err, false)
			return
		}
		p.Uptime = newUptimeView(up, t, cfg.Storage.Retention)
		p.Chart = newStackedChart(rep, time.UTC, fails)
		p.Runs = rep.Runs
		if rep.Runs > 0 {
			p.SuccessPct = strconv.FormatFloat(rep.SuccessRatio*100, 'f', 1, 64) + " %"
		}
		p.PhaseRows = withFailRows(newPhaseRows(&rep), fails)
		p.PhaseNote = phaseNote(&rep, fails)
		var shared float64
		if scale == scaleShared {
			shared = sharedScale(runs)
			p.SharedScale = units.MS(shared)
		}
		p.Waterfalls = newRunRows(runs, now, shared)
		p.WfLegend = runsLegend(runs)
		sortSpans(spans)
		for _, sp := range spans {
			fv := newFindingView(sp, now)
			fv.Target = "" // this page is the target's own
			p.Findings = append(p.Findings, fv)
		}
	}
	p.State = s.targetState(t.Name, snap.Last)
	if lr := pickLatest(snap, runs, now); lr != nil {
		if s.d.Alerts == nil && snap.Last == nil {
			p.State = runTargetState(&lastRun{state: lr.state}) // the latest is stored, not in memory yet
		}
		p.setLatest(lr, runs, now)
	}
	s.render(w, r, http.StatusOK, "target", p)
}

// newTargetPage is the target page's header: the target's settings,
// labels and window links.
func (s *server) newTargetPage(t *config.Target, window string) *targetPage {
	p := &targetPage{
		base: s.base(t.Name, ""),
		Name: t.Name, URL: t.URL, Module: t.Module, Interval: t.Interval.String(),
		APILink: "/api/v1/targets/" + url.PathEscape(t.Name) + "/results",
		Window:  window,
	}
	p.Refresh = 30
	keys := make([]string, 0, len(t.Labels))
	for k := range t.Labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p.Labels = append(p.Labels, kv{K: k, V: t.Labels[k]})
	}
	for _, wn := range []string{"1h", "24h", "7d"} {
		p.Windows = append(p.Windows, windowLink{Name: wn, Link: targetLink(t.Name) + "?window=" + wn, Active: wn == window})
	}
	return p
}

// newPhaseRows is the percentile table of a report.
func newPhaseRows(rep *store.Report) []phaseRow {
	var rows []phaseRow
	for _, ps := range rep.Phases {
		row := phaseRow{Phase: ps.Phase, Class: phaseClass(ps.Phase), Count: ps.Overall.Count, P50: "—", P90: "—", P99: "—"}
		if ps.Overall.Count > 0 {
			row.P50, row.P90, row.P99 = units.MS(ps.Overall.P50), units.MS(ps.Overall.P90), units.MS(ps.Overall.P99)
		}
		if ps.Phase == store.TotalPhase {
			row.Phase = "total (successful runs)"
		}
		rows = append(rows, row)
	}
	return rows
}

// newRunRows is one small waterfall per stored run, each on its own
// scale, or on scale ms when it is more than the run's own (shared).
func newRunRows(runs []store.StoredResult, now time.Time, scale float64) []runRow {
	var rows []runRow
	for _, sr := range runs {
		if sr.Result == nil {
			continue
		}
		rows = append(rows, runRow{
			runSummary: summarize(sr.ID, sr.Result, now),
			Waterfall:  newSmallWaterfall(sr.Result, scale),
			Findings:   sr.Result.Findings,
		})
	}
	return rows
}

// latestRun is what the target page shows of the latest run: its headline
// and the whole Result its details (gRPC, HTTP/2, WebSocket, certificate
// chain) come from.
type latestRun struct {
	head      runSummary
	state     string
	details   *probe.Result // nil when no whole Result is at hand
	detailsID int64
	older     bool // details is an older run: the latest is not stored yet
	notKept   bool // details is a stored run whose details the store did not keep
}

// pickLatest chooses the target page's latest run from State's summary
// (the newest run, stored or not) and the stored runs, newest first. The
// details are State's whole copy while it holds one (it keeps the whole
// HTTP/2 timeline, the store a bounded one), else the stored latest run;
// when that is not the run State knows as latest (still in the writer's
// queue), the details are the newest stored run's, marked older.
func pickLatest(snap snapshot, runs []store.StoredResult, now time.Time) *latestRun {
	var stored *store.StoredResult
	for i := range runs {
		if runs[i].Result != nil {
			stored = &runs[i]
			break
		}
	}
	l := snap.Last
	if l == nil || (stored != nil && stored.Result.StartedAt.UnixNano() > l.at) {
		if stored == nil {
			return nil
		}
		return &latestRun{head: summarize(stored.ID, stored.Result, now), state: resultState(stored.Result),
			details: stored.Result, detailsID: stored.ID, notKept: !runDetailsKept(*stored)}
	}
	lr := &latestRun{state: l.state}
	same := stored != nil && stored.Result.StartedAt.UnixNano() == l.at
	id := l.id
	if id == 0 && same {
		id = stored.ID
	}
	switch {
	case snap.Full != nil:
		lr.details, lr.detailsID = snap.Full, id
	case same:
		lr.details, lr.detailsID, lr.notKept = stored.Result, stored.ID, !runDetailsKept(*stored)
	case stored != nil:
		lr.details, lr.detailsID, lr.older = stored.Result, stored.ID, true
	}
	if lr.details != nil && !lr.older {
		lr.head = summarize(id, lr.details, now)
	} else {
		lr.head = newRunSummary(id, l.startedAt(), l.success, l.totalMS, l.err, now)
	}
	return lr
}

// setLatest fills the views of the latest run: its summary, gRPC, HTTP/2
// and WebSocket sections and the certificate chain.
func (p *targetPage) setLatest(lr *latestRun, runs []store.StoredResult, now time.Time) {
	p.Latest = &lr.head
	p.DetailsNotKept = lr.notKept
	if d := lr.details; d != nil {
		if lr.older {
			ds := summarize(lr.detailsID, d, now)
			p.DetailsFrom = &ds
		}
		p.GRPC = newGRPCView(d)
		p.H2 = newH2View(d)
		p.WS = newWSView(d)
		p.Chain = newChainView(lr.detailsID, d, now)
	}
	if p.Chain == nil {
		// The latest run may have failed before TLS; show the newest
		// chain seen among the listed runs.
		for _, sr := range runs {
			if sr.Result != nil && sr.Result.TLS != nil && len(sr.Result.TLS.Chain) > 0 {
				p.Chain = newChainView(sr.ID, sr.Result, now)
				break
			}
		}
	}
}

// runDetailsKept reports whether the store kept the whole Result of sr
// (its TLS chain, HTTP/2 timeline, gRPC and WebSocket sections and the
// findings' evidence), or only a partial one (phases, success, error
// class, finding IDs): the store keeps ordinary successful runs partially
// (store.StoredResult.Full).
func runDetailsKept(sr store.StoredResult) bool { return sr.Result != nil && sr.Full }

// ---- run page ----

type runPage struct {
	base
	Target     string
	TargetLink string
	Module     string
	URL        string
	Summary    runSummary
	Waterfall  *waterfall
	Findings   []findingView
	JSON       string
	GRPC       *grpcView
	NotKept    bool // the store kept only part of this run
}

func (s *server) pageRun(w http.ResponseWriter, r *http.Request) {
	sr, status, msg := s.lookupRun(r)
	if status != 0 {
		if status == http.StatusNotFound {
			s.pageError(w, r, status, "Unknown run", "No stored run has that id (it may have been pruned).")
		} else {
			s.pageError(w, r, status, "Storage error", msg)
		}
		return
	}
	now := s.d.Now()
	b, err := json.MarshalIndent(APIResult{ID: sr.ID, Name: sr.Target, Module: sr.Module, Result: sr.Result}, "", "  ")
	if err != nil {
		s.pageError(w, r, http.StatusInternalServerError, "Encoding error", "The run could not be shown as JSON.")
		return
	}
	p := &runPage{
		base:   s.base(fmt.Sprintf("Run %d of %s", sr.ID, sr.Target), ""),
		Target: sr.Target, TargetLink: targetLink(sr.Target), Module: sr.Module, URL: sr.Result.Target,
		Summary:   summarize(sr.ID, sr.Result, now),
		Waterfall: newBigWaterfall(sr.Result),
		JSON:      string(b),
		GRPC:      newGRPCView(sr.Result),
		NotKept:   !runDetailsKept(sr),
	}
	for _, f := range sr.Result.Findings {
		p.Findings = append(p.Findings, findingView{Finding: f, Evidence: evidence(f.Evidence), Active: true})
	}
	s.render(w, r, http.StatusOK, "run", p)
}

// runsLegend lists the phases that occur in runs, in order of first
// appearance in the oldest-to-newest phase lists, and the hatching of a
// phase a run failed in when one did.
func runsLegend(runs []store.StoredResult) []legendItem {
	seen := map[string]bool{}
	var out []legendItem
	failed := false
	for _, sr := range runs {
		if sr.Result == nil {
			continue
		}
		for _, p := range sr.Result.Phases {
			if !seen[p.Name] {
				seen[p.Name] = true
				out = append(out, legendItem{Name: p.Name, Class: phaseClass(p.Name)})
			}
		}
		failed = failed || failedPhase(sr.Result) >= 0
	}
	sort.SliceStable(out, func(i, j int) bool { return phaseOrder(out[i].Name) < phaseOrder(out[j].Name) })
	if failed {
		out = append(out, legendItem{Name: "the phase a run failed in", Class: "hatch-swatch"})
	}
	return out
}

// phaseOrder is name's place in legends: probe.Phases's display order,
// unknown phases last.
func phaseOrder(name string) int {
	if i := slices.Index(probe.Phases, name); i >= 0 {
		return i
	}
	return len(probe.Phases)
}
