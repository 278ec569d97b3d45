package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/config"
)

// Paging of the overview, /findings and their APIs. A page shows
// defaultPageLimit rows unless limit says otherwise; an API answer without
// a limit holds defaultAPILimit elements, so that it stays bounded however
// many targets there are (the Link header names the next page).
const (
	defaultPageLimit = 100
	defaultAPILimit  = 1000
	maxListLimit     = 1000
	maxFilterLen     = 200 // bytes of module and q
	maxPage          = 1_000_000
)

// severities are the finding severities, worst first.
var severities = []probe.Severity{probe.SeverityCritical, probe.SeverityWarning, probe.SeverityInfo}

// listQuery is the filter and page of a list (the overview, /findings and
// their APIs), read from and written back to the query string so that a
// view can be shared: state (a target state), severity (a finding
// severity), module, q (part of the target's name or URL, any case),
// page (from 1) and limit (rows per page). Empty values mean no filter.
type listQuery struct {
	State    string
	Severity probe.Severity
	Module   string
	Q        string
	Page     int
	Limit    int
	defLimit int // the limit when none is given; not written back
	// stateOf gives a target's state for the state filter (nil:
	// runTargetState); the server sets it (server.listQuery).
	stateOf func(name string, l *lastRun) string
}

// parseListQuery reads the list query of r; msg is why it is refused.
func parseListQuery(r *http.Request, defLimit int) (q listQuery, msg string) {
	v := r.URL.Query()
	q = listQuery{State: v.Get("state"), Severity: probe.Severity(v.Get("severity")), Module: v.Get("module"), Q: v.Get("q"),
		Page: 1, Limit: defLimit, defLimit: defLimit}
	if a, ok := stateAliases[q.State]; ok {
		q.State = a
	}
	if q.State != "" && !slices.Contains(targetStates, q.State) {
		return q, "state must be one of " + strings.Join(targetStates, ", ")
	}
	if q.Severity != "" && !slices.Contains(severities, q.Severity) {
		return q, "severity must be one of critical, warning, info"
	}
	if len(q.Module) > maxFilterLen || len(q.Q) > maxFilterLen {
		return q, "module and q must be at most " + strconv.Itoa(maxFilterLen) + " bytes"
	}
	if s := v.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPage {
			return q, "page must be an integer from 1 to " + strconv.Itoa(maxPage)
		}
		q.Page = n
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxListLimit {
			return q, "limit must be an integer from 1 to " + strconv.Itoa(maxListLimit)
		}
		q.Limit = n
	}
	return q, ""
}

// offset is the index of the page's first row.
func (q listQuery) offset() int { return (q.Page - 1) * q.Limit }

// onPage reports whether row i (0-based) of the whole list is on the page.
func (q listQuery) onPage(i int) bool { return i >= q.offset() && i < q.offset()+q.Limit }

// link is path with q's query string at page.
func (q listQuery) link(path string, page int) string {
	v := url.Values{}
	for k, s := range map[string]string{"state": q.State, "severity": string(q.Severity), "module": q.Module, "q": q.Q} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if q.Limit != q.defLimit {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// filtered reports whether any filter is set.
func (q listQuery) filtered() bool {
	return q.State != "" || q.Severity != "" || q.Module != "" || q.Q != ""
}

// matchTarget reports whether target t, whose latest run l summarises
// (nil while pending), passes the state, module and q filters.
func (q listQuery) matchTarget(t *config.Target, l *lastRun) bool {
	if q.State != "" && q.targetState(t.Name, l) != q.State {
		return false
	}
	if q.Module != "" && t.Module != q.Module {
		return false
	}
	return q.Q == "" || containsFold(t.Name, q.Q) || containsFold(t.URL, q.Q)
}

// targetState is target name's state, whose latest run l summarises.
func (q listQuery) targetState(name string, l *lastRun) string {
	if q.stateOf != nil {
		return q.stateOf(name, l)
	}
	return runTargetState(l)
}

// listQuery is parseListQuery with the state filter reading the states
// with memory when there is an alert manager.
func (s *server) listQuery(r *http.Request, defLimit int) (listQuery, string) {
	q, msg := parseListQuery(r, defLimit)
	q.stateOf = s.targetState
	return q, msg
}

// targetState is target name's state: the alert manager's when there is
// one, else what its latest run l says.
func (s *server) targetState(name string, l *lastRun) string {
	if s.d.Alerts != nil {
		return string(s.d.Alerts.State(name))
	}
	return runTargetState(l)
}

// containsFold reports whether sub is within s, ignoring case.
func containsFold(s, sub string) bool {
	if len(sub) > len(s) {
		return false
	}
	if !isASCII(sub) || !isASCII(s) {
		return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
	}
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// pager is what a page says about its place in the list.
type pager struct {
	Total    int // rows in the whole (filtered) list
	From, To int // 1-based rows shown; From is 0 when the page is empty
	Page     int
	Pages    int
	First    string // links; "" where there is no such page
	Prev     string
	Next     string
	Last     string
}

// newPager places page q of a list of total rows served at path.
func newPager(q listQuery, path string, total int) pager {
	p := pager{Total: total, Page: q.Page, Pages: max(1, (total+q.Limit-1)/q.Limit)}
	if off := q.offset(); off < total {
		p.From, p.To = off+1, min(total, off+q.Limit)
	}
	if q.Page > 1 {
		p.First = q.link(path, 1)
		p.Prev = q.link(path, min(q.Page-1, p.Pages))
	}
	if q.Page < p.Pages {
		p.Next = q.link(path, q.Page+1)
		p.Last = q.link(path, p.Pages)
	}
	return p
}

// setPageHeaders tells an API client the size of the whole list
// (X-Total-Count) and where its other pages are (Link, RFC 8288).
func setPageHeaders(w http.ResponseWriter, p pager) {
	w.Header().Set("X-Total-Count", strconv.Itoa(p.Total))
	var links []string
	for _, l := range []struct{ rel, href string }{{"first", p.First}, {"prev", p.Prev}, {"next", p.Next}, {"last", p.Last}} {
		if l.href != "" {
			links = append(links, "<"+l.href+`>; rel="`+l.rel+`"`)
		}
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
}
