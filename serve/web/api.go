package web

import (
	"database/sql"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/config"
	"github.com/pathlens/pathlens/serve/store"
)

// Limits of GET /api/v1/targets/{name}/results.
const (
	defaultResultsLimit = 100
	maxResultsLimit     = 1000
)

// APITarget is one element of GET /api/v1/targets.
type APITarget struct {
	Name            string            `json:"name"`
	URL             string            `json:"url"`
	Module          string            `json:"module"`
	Interval        string            `json:"interval"` // Go duration, e.g. "15s"
	IntervalSeconds float64           `json:"interval_seconds"`
	Labels          map[string]string `json:"labels"`
	State           string            `json:"state"` // up|degraded|down|flapping|pending
	Last            *APILast          `json:"last"`  // null while pending
	// Alert is the state with memory that alerts (docs/alerting.md);
	// absent when serve runs without its alert manager.
	Alert *apiAlertState `json:"alert,omitempty"`
	// Uptime is the availability over 24 h, 7 d and 30 d and the
	// objective; only GET /api/v1/targets/NAME has it (a store query).
	Uptime *APIUptime `json:"uptime,omitempty"`
}

// APILast summarises a target's latest run.
type APILast struct {
	ID        int64            `json:"id,omitempty"` // store row id when known
	StartedAt time.Time        `json:"started_at"`
	Success   bool             `json:"success"`
	TotalMS   float64          `json:"total_ms"`
	Error     *probe.ErrorInfo `json:"error"`
	Findings  []APIFindingRef  `json:"findings"`
}

// APIFindingRef names one finding of a run.
type APIFindingRef struct {
	ID       string         `json:"id"`
	Severity probe.Severity `json:"severity"`
}

// APIResult is one stored run: the Result's own fields plus the row id,
// the target's name and module.
type APIResult struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Module string `json:"module"`
	*probe.Result
}

// apiTarget is target t in the API; l summarises its latest run (nil
// while pending).
func apiTarget(t *config.Target, l *lastRun) APITarget {
	labels := t.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	out := APITarget{
		Name: t.Name, URL: t.URL, Module: t.Module,
		Interval: t.Interval.String(), IntervalSeconds: t.Interval.Seconds(),
		Labels: labels, State: runTargetState(l),
	}
	if l != nil {
		a := &APILast{ID: l.id, StartedAt: l.startedAt(), Success: l.success, TotalMS: l.totalMS, Error: l.err, Findings: make([]APIFindingRef, 0, len(l.findings))}
		for _, f := range l.findings {
			a.Findings = append(a.Findings, APIFindingRef{ID: f.id, Severity: f.severity})
		}
		out.Last = a
	}
	return out
}

// apiTargets: GET /api/v1/targets — the configured targets with their
// state, from memory only, in config order; filtered and paged by the
// list query (state, severity, module, q, page, limit: defaultAPILimit
// when not given). X-Total-Count and Link tell the whole list.
func (s *server) apiTargets(w http.ResponseWriter, r *http.Request) {
	q, msg := s.listQuery(r, defaultAPILimit)
	if msg != "" {
		s.apiError(w, http.StatusBadRequest, msg)
		return
	}
	cfg := s.cfg()
	out := []APITarget{}
	total := 0
	s.d.State.each(cfg.Targets, func(t *config.Target, l *lastRun) {
		if !q.matchTarget(t, l) || (q.Severity != "" && !l.hasSeverity(q.Severity)) {
			return
		}
		if q.onPage(total) {
			a := apiTarget(t, l)
			a.State = s.targetState(t.Name, l)
			a.Alert = s.newAPIAlertState(t.Name)
			out = append(out, a)
		}
		total++
	})
	setPageHeaders(w, newPager(q, "/api/v1/targets", total))
	s.writeJSON(w, http.StatusOK, out)
}

// apiTarget: GET /api/v1/targets/{name} — one target.
func (s *server) apiTarget(w http.ResponseWriter, r *http.Request) {
	t := findTarget(s.cfg(), r.PathValue("name"))
	if t == nil {
		s.apiError(w, http.StatusNotFound, "unknown target")
		return
	}
	l := s.d.State.get(t.Name, s.d.Now()).Last
	a := apiTarget(t, l)
	a.State = s.targetState(t.Name, l)
	a.Alert = s.newAPIAlertState(t.Name)
	if s.d.Store != nil {
		up, err := uptime(r.Context(), s.d.Store, t, s.d.Now())
		if err != nil {
			s.apiError(w, http.StatusServiceUnavailable, "store: "+err.Error())
			return
		}
		a.Uptime = up
	}
	s.writeJSON(w, http.StatusOK, a)
}

// parseResultsQuery reads since (RFC 3339) and limit (1..1000, default 100).
func parseResultsQuery(r *http.Request) (since time.Time, limit int, msg string) {
	q := r.URL.Query()
	limit = defaultResultsLimit
	if v := q.Get("limit"); v != "" || q.Has("limit") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxResultsLimit {
			return since, 0, "limit must be an integer from 1 to " + strconv.Itoa(maxResultsLimit)
		}
		limit = n
	}
	if v := q.Get("since"); v != "" || q.Has("since") {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return since, 0, "since must be an RFC 3339 time such as 2026-01-02T15:04:05Z"
		}
		since = t
	}
	return since, limit, ""
}

// apiResults: GET /api/v1/targets/{name}/results?since=RFC3339&limit=N —
// stored runs, newest first.
func (s *server) apiResults(w http.ResponseWriter, r *http.Request) {
	t := findTarget(s.cfg(), r.PathValue("name"))
	if t == nil {
		s.apiError(w, http.StatusNotFound, "unknown target")
		return
	}
	since, limit, msg := parseResultsQuery(r)
	if msg != "" {
		s.apiError(w, http.StatusBadRequest, msg)
		return
	}
	if s.d.Store == nil {
		s.writeJSON(w, http.StatusOK, []APIResult{})
		return
	}
	rs, err := s.d.Store.Results(r.Context(), t.Name, since, limit)
	if err != nil {
		s.storeError(w, r, err, true)
		return
	}
	out := make([]APIResult, 0, len(rs))
	for _, sr := range rs {
		out = append(out, APIResult{ID: sr.ID, Name: sr.Target, Module: sr.Module, Result: sr.Result})
	}
	s.writeJSON(w, http.StatusOK, out)
}

// apiRun: GET /api/v1/runs/{id} — one stored run.
func (s *server) apiRun(w http.ResponseWriter, r *http.Request) {
	sr, status, msg := s.lookupRun(r)
	if status != 0 {
		if status >= 500 {
			s.apiError(w, status, "storage error")
			return
		}
		s.apiError(w, status, msg)
		return
	}
	s.writeJSON(w, http.StatusOK, APIResult{ID: sr.ID, Name: sr.Target, Module: sr.Module, Result: sr.Result})
}

// lookupRun reads the run named by the {id} path value. status is 0 on
// success, else the HTTP status to answer with.
func (s *server) lookupRun(r *http.Request) (store.StoredResult, int, string) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return store.StoredResult{}, http.StatusNotFound, "no such run"
	}
	if s.d.Store == nil {
		return store.StoredResult{}, http.StatusNotFound, "no such run"
	}
	sr, err := s.d.Store.Result(r.Context(), id)
	if errors.Is(err, sql.ErrNoRows) {
		return store.StoredResult{}, http.StatusNotFound, "no such run"
	}
	if err != nil {
		s.d.Logf("web: %s %s: store: %v", r.Method, r.URL.Path, err)
		return store.StoredResult{}, http.StatusInternalServerError, "storage error"
	}
	if sr.Result == nil {
		return store.StoredResult{}, http.StatusNotFound, "no such run"
	}
	return sr, 0, ""
}

// apiPercentiles: GET /api/v1/targets/{name}/percentiles?window=1h|24h|7d.
func (s *server) apiPercentiles(w http.ResponseWriter, r *http.Request) {
	t := findTarget(s.cfg(), r.PathValue("name"))
	if t == nil {
		s.apiError(w, http.StatusNotFound, "unknown target")
		return
	}
	window := r.URL.Query().Get("window")
	if window == "" && !r.URL.Query().Has("window") {
		window = "1h"
	}
	if _, ok := store.Windows[window]; !ok {
		s.apiError(w, http.StatusBadRequest, "window must be one of 1h, 24h, 7d")
		return
	}
	if s.d.Store == nil {
		s.apiError(w, http.StatusServiceUnavailable, "no storage")
		return
	}
	rep, err := s.percentiles(r, t.Name, window)
	if err != nil {
		s.storeError(w, r, err, true)
		return
	}
	s.writeJSON(w, http.StatusOK, rep)
}

func (s *server) percentiles(r *http.Request, target, window string) (store.Report, error) {
	return s.d.Store.Percentiles(r.Context(), target, store.Windows[window], s.d.Now())
}

// sortSpans orders finding spans: active first, worst severity first,
// then most recently seen; then the inactive ones, most recently seen
// first; ties by target and ID.
func sortSpans(spans []store.FindingSpan) {
	sort.SliceStable(spans, func(i, j int) bool {
		a, b := spans[i], spans[j]
		if a.Active != b.Active {
			return a.Active
		}
		if ra, rb := a.Finding.Severity.Rank(), b.Finding.Severity.Rank(); a.Active && ra != rb {
			return ra > rb
		}
		if !a.LastSeen.Equal(b.LastSeen) {
			return a.LastSeen.After(b.LastSeen)
		}
		if a.Target != b.Target {
			return a.Target < b.Target
		}
		return a.Finding.ID < b.Finding.ID
	})
}

// apiFindings: GET /api/v1/findings — the findings of every target's
// latest run (active), worst first, then those resolved lately (at most
// maxResolved, most recently seen first); filtered and paged by the list
// query (defaultAPILimit when no limit is given), id and sort (each part
// sorted by it when given). X-Total-Count and Link tell the whole list.
func (s *server) apiFindings(w http.ResponseWriter, r *http.Request) {
	q, msg := s.findingsQuery(r, defaultAPILimit)
	if msg != "" {
		s.apiError(w, http.StatusBadRequest, msg)
		return
	}
	fl := s.listFindings(s.cfg(), q)
	if q.needsTallies() {
		if err := s.withTallies(r.Context(), fl.active, fl.resolved); err != nil {
			s.storeError(w, r, err, true)
			return
		}
	}
	sortFindings(fl.active, q)
	sortFindings(fl.resolved, q)
	all := append(fl.active, fl.resolved...)
	spans, err := s.findingSpans(r.Context(), all[min(q.offset(), len(all)):min(q.offset()+q.Limit, len(all))])
	if err != nil {
		s.storeError(w, r, err, true)
		return
	}
	setPageHeaders(w, q.pager("/api/v1/findings", len(all)))
	s.writeJSON(w, http.StatusOK, spans)
}
