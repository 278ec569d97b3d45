package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/pathlens/pathlens/diagnose"
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
	Counts []countItem
	Rows   []overviewRow
	Empty  bool
}

type countItem struct {
	State string
	Label string
	N     int
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
	Worst                   *probe.Finding
	More                    int // further findings besides Worst
}

func (s *server) pageOverview(w http.ResponseWriter, r *http.Request) {
	cfg, now := s.cfg(), s.d.Now()
	p := &overviewPage{base: s.base("Targets", "overview"), Empty: len(cfg.Targets) == 0}
	p.Refresh = 15
	counts := map[string]int{}
	for _, t := range cfg.Targets {
		snap := s.d.State.get(t.Name, now)
		row := overviewRow{Name: t.Name, Link: targetLink(t.Name), URL: t.URL, Module: t.Module, State: resultState(snap.Last), P50: "—", P99: "—"}
		if l := snap.Last; l != nil {
			row.LastMS = units.MS(l.TotalMS)
			row.LastAge = fmtAge(now, l.StartedAt)
			row.LastTime = fmtTime(l.StartedAt)
			row.Error = errorText(l.Error)
			row.Worst = worstFinding(l.Findings)
			if row.Worst != nil {
				row.More = len(l.Findings) - 1
			}
		}
		if snap.Count > 0 {
			row.P50, row.P99 = units.MS(snap.P50), units.MS(snap.P99)
		}
		row.Spark = newSparkline(snap.Spark)
		counts[row.State]++
		p.Rows = append(p.Rows, row)
	}
	p.Counts = []countItem{
		{StateOK, "healthy", counts[StateOK]},
		{StateWarning, "warning", counts[StateWarning]},
		{StateCritical, "critical", counts[StateCritical]},
		{StateFailing, "failing", counts[StateFailing]},
	}
	if n := counts[StatePending]; n > 0 {
		p.Counts = append(p.Counts, countItem{StatePending, "pending", n})
	}
	s.render(w, r, http.StatusOK, "overview", p)
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
	Findings                    []findingView
	Chain                       *chainView
	GRPC                        *grpcView // the latest run's gRPC call
	H2                          *h2View   // the latest run's HTTP/2 frame timeline
	WS                          *wsView   // the latest run's WebSocket session (ws.go)
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
	rs := runSummary{ID: id, Time: fmtTime(r.StartedAt), Age: fmtAge(now, r.StartedAt), Success: r.Success, Total: units.MS(r.TotalMS), Error: errorText(r.Error)}
	if id > 0 {
		rs.Link = "/runs/" + strconv.FormatInt(id, 10)
		rs.JSONLink = "/api/v1/runs/" + strconv.FormatInt(id, 10)
	}
	return rs
}

func newFindingView(sp store.FindingSpan, now time.Time) findingView {
	return findingView{
		Finding: sp.Finding, Target: sp.Target, TargetLink: targetLink(sp.Target),
		FirstSeen: fmtTime(sp.FirstSeen), LastSeen: fmtTime(sp.LastSeen), LastAge: fmtAge(now, sp.LastSeen),
		Active: sp.Active, Runs: sp.Runs, Evidence: evidence(sp.Finding.Evidence),
	}
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
	p := s.newTargetPage(t, window)

	snap := s.d.State.get(t.Name, now)
	latest, latestID := snap.Last, snap.LastID
	var runs []store.StoredResult
	if s.d.Store != nil {
		ctx := r.Context()
		rep, err := s.percentiles(r, t.Name, window)
		if err != nil {
			s.storeError(w, r, err, false)
			return
		}
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
		p.Chart = newStackedChart(rep, time.UTC)
		p.Runs = rep.Runs
		if rep.Runs > 0 {
			p.SuccessPct = strconv.FormatFloat(rep.SuccessRatio*100, 'f', 1, 64) + " %"
		}
		p.PhaseRows = newPhaseRows(&rep)
		p.Waterfalls = newRunRows(runs, now)
		latest, latestID = newestRun(runs, latest, latestID)
		p.WfLegend = runsLegend(runs)
		sortSpans(spans)
		for _, sp := range spans {
			fv := newFindingView(sp, now)
			fv.Target = "" // this page is the target's own
			p.Findings = append(p.Findings, fv)
		}
	}
	p.State = resultState(latest)
	if latest != nil {
		p.setLatest(latest, latestID, runs, now)
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

// newRunRows is one small waterfall per stored run.
func newRunRows(runs []store.StoredResult, now time.Time) []runRow {
	var rows []runRow
	for _, sr := range runs {
		if sr.Result == nil {
			continue
		}
		rows = append(rows, runRow{
			runSummary: summarize(sr.ID, sr.Result, now),
			Waterfall:  newSmallWaterfall(sr.Result),
			Findings:   sr.Result.Findings,
		})
	}
	return rows
}

// newestRun is the newest of the in-memory latest run (id 0 when not
// stored yet) and the stored runs.
func newestRun(runs []store.StoredResult, latest *probe.Result, latestID int64) (*probe.Result, int64) {
	for _, sr := range runs {
		if sr.Result == nil {
			continue
		}
		switch {
		case latest == nil || sr.Result.StartedAt.After(latest.StartedAt):
			latest, latestID = sr.Result, sr.ID
		case latestID == 0 && sr.Result.StartedAt.Equal(latest.StartedAt):
			// The in-memory run, now stored: link to its row but show
			// the memory copy, which keeps the whole frame timeline
			// (storage keeps a bounded summary).
			latestID = sr.ID
		}
	}
	return latest, latestID
}

// setLatest fills the views of the latest run: its summary, gRPC, HTTP/2
// and WebSocket sections and the certificate chain.
func (p *targetPage) setLatest(latest *probe.Result, latestID int64, runs []store.StoredResult, now time.Time) {
	ls := summarize(latestID, latest, now)
	p.Latest = &ls
	p.GRPC = newGRPCView(latest)
	p.H2 = newH2View(latest)
	p.WS = newWSView(latest)
	p.Chain = newChainView(latestID, latest, now)
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
	}
	for _, f := range sr.Result.Findings {
		p.Findings = append(p.Findings, findingView{Finding: f, Evidence: evidence(f.Evidence), Active: true})
	}
	s.render(w, r, http.StatusOK, "run", p)
}

// ---- findings page ----

type findingsPage struct {
	base
	Active    []findingView
	Inactive  []findingView
	Catalogue []diagnose.Entry
}

func (s *server) pageFindings(w http.ResponseWriter, r *http.Request) {
	now := s.d.Now()
	p := &findingsPage{base: s.base("Findings", "findings"), Catalogue: diagnose.Catalogue()}
	p.Refresh = 15
	if s.d.Store != nil {
		spans, err := s.d.Store.Findings(r.Context(), "")
		if err != nil {
			s.storeError(w, r, err, false)
			return
		}
		cfg := s.cfg()
		sortSpans(spans)
		for _, sp := range spans {
			fv := newFindingView(sp, now)
			if findTarget(cfg, sp.Target) == nil {
				fv.TargetLink = "" // left the config: no page to link
			}
			switch {
			case sp.Active:
				p.Active = append(p.Active, fv)
			case now.Sub(sp.LastSeen) <= recentInactive && len(p.Inactive) < maxInactiveRows:
				p.Inactive = append(p.Inactive, fv)
			}
		}
	}
	s.render(w, r, http.StatusOK, "findings", p)
}

// runsLegend lists the phases that occur in runs, in order of first
// appearance in the oldest-to-newest phase lists.
func runsLegend(runs []store.StoredResult) []legendItem {
	seen := map[string]bool{}
	var out []legendItem
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
	}
	sort.SliceStable(out, func(i, j int) bool { return phaseOrder(out[i].Name) < phaseOrder(out[j].Name) })
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
