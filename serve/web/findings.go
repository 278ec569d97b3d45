package web

import (
	"cmp"
	"context"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pathlens/pathlens/diagnose"
	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/config"
	"github.com/pathlens/pathlens/serve/store"
)

// The findings of /findings and /api/v1/findings are listed, filtered and
// paged from State (the findings of every target's latest run, and those
// resolved lately), so that a request costs the same whatever the number
// of targets; only the findings on the page are then read from the store
// (one indexed query per target shown) for their first sighting, run
// count, evidence and advice. Sorting by first sighting or run count
// reads those two of every finding span in one query (SpanTallies).

// ---- query: the list query plus id and sort ----

// findingsQuery is the list query of /findings and its API with what only
// findings have: id (one finding ID) and sort (a column, "-" before it for
// the reverse order).
type findingsQuery struct {
	listQuery
	ID   string
	Sort string // one of findingSorts
	Desc bool
}

// findingSorts are the orders of the findings list. severity is worst
// first (then the most recently seen), id and target A to Z, since the
// longest standing first (earliest first sighting), runs fewest first; a
// "-" before the name reverses the column's order, ties keep theirs.
var findingSorts = []string{"severity", "id", "target", "since", "runs"}

// findingIDPattern is what a finding ID looks like (the catalogue's and
// any a later version adds).
var findingIDPattern = regexp.MustCompile(`^[A-Z0-9_]{1,64}$`)

// findingsQuery reads the findings query of r (its state filter reading
// the states with memory, as server.listQuery does); msg is why it is
// refused.
func (s *server) findingsQuery(r *http.Request, defLimit int) (q findingsQuery, msg string) {
	q.listQuery, msg = s.listQuery(r, defLimit)
	q.Sort = "severity"
	if msg != "" {
		return q, msg
	}
	v := r.URL.Query()
	if id := v.Get("id"); id != "" {
		if !findingIDPattern.MatchString(id) {
			return q, "id must be a finding ID such as TLS_CHAIN_INCOMPLETE: capital letters, digits and underscores, at most 64"
		}
		q.ID = id
	}
	if s := v.Get("sort"); s != "" {
		key, desc := strings.CutPrefix(s, "-")
		if !slices.Contains(findingSorts, key) {
			return q, "sort must be one of " + strings.Join(findingSorts, ", ") + ", each with a leading - for the reverse order"
		}
		q.Sort, q.Desc = key, desc
	}
	return q, ""
}

// sortParam is the sort parameter of q; "" for the default order.
func (q findingsQuery) sortParam() string {
	switch {
	case q.Desc:
		return "-" + q.Sort
	case q.Sort == "severity":
		return ""
	}
	return q.Sort
}

// link is path with q's query string at page.
func (q findingsQuery) link(path string, page int) string {
	return q.relink(q.listQuery.link(path, page))
}

// relink adds q's id and sort to a link of its list query.
func (q findingsQuery) relink(link string) string {
	if link == "" || (q.ID == "" && q.sortParam() == "") {
		return link
	}
	path, raw, _ := strings.Cut(link, "?")
	v, _ := url.ParseQuery(raw) // built by listQuery.link: well formed
	if q.ID != "" {
		v.Set("id", q.ID)
	}
	if s := q.sortParam(); s != "" {
		v.Set("sort", s)
	}
	return path + "?" + v.Encode()
}

// filtered reports whether any filter is set.
func (q findingsQuery) filtered() bool { return q.listQuery.filtered() || q.ID != "" }

// pager places page q of a list of total rows served at path.
func (q findingsQuery) pager(path string, total int) pager {
	p := newPager(q.listQuery, path, total)
	p.First, p.Prev, p.Next, p.Last = q.relink(p.First), q.relink(p.Prev), q.relink(p.Next), q.relink(p.Last)
	return p
}

// matchFinding reports whether a finding of id and severity sev passes
// the id and severity filters (withSeverity: the severity filter too).
func (q findingsQuery) matchFinding(id string, sev probe.Severity, withSeverity bool) bool {
	return (q.ID == "" || id == q.ID) && (!withSeverity || q.Severity == "" || sev == q.Severity)
}

// ---- the list ----

// listedFinding is one finding in the list.
type listedFinding struct {
	target  *config.Target // nil when the target is no longer configured
	name    string
	ref     findingRef
	at      int64 // unix ns: the latest run's start (active), or the last run that had it
	active  bool
	summary string // what to show until the store has the finding
	// first (unix ns) and runs are the store's first sighting and run
	// count; filled only to sort by them (withTallies). A finding no
	// stored run has yet was first seen at at, in 0 runs.
	first int64
	runs  int
}

// findingList is the filtered findings of every target: the active ones,
// by default worst first, then the most recently seen; the resolved ones
// most recently seen first.
type findingList struct {
	active   []listedFinding
	resolved []listedFinding
	// counts are the active findings per severity that pass every filter
	// but the severity one: what the list shows when filtered by that
	// severity (with no severity filter they add up to len(active)).
	counts  map[probe.Severity]int
	modules map[string]bool // of every configured target
	ids     map[string]bool // of every finding, listed or not
}

// listFindings lists the findings of cfg's targets that pass q, in the
// default order (sortFindings orders them otherwise).
func (s *server) listFindings(cfg *config.Config, q findingsQuery) findingList {
	fl := findingList{counts: map[probe.Severity]int{}, modules: map[string]bool{}, ids: map[string]bool{}}
	byTarget := map[string][]resolvedEntry{}
	for _, e := range s.d.State.recentlyResolved() {
		byTarget[e.target] = append(byTarget[e.target], e)
		fl.ids[e.id] = true
	}
	s.d.State.each(cfg.Targets, func(t *config.Target, l *lastRun) {
		fl.modules[t.Module] = true
		if l != nil {
			for _, f := range l.findings {
				fl.ids[f.id] = true
			}
		}
		res, hasRes := byTarget[t.Name]
		delete(byTarget, t.Name)
		if !q.matchTarget(t, l) {
			return
		}
		if l != nil {
			worst, _ := l.worst()
			for _, f := range l.findings {
				if !q.matchFinding(f.id, f.severity, false) {
					continue
				}
				fl.counts[f.severity]++
				if q.Severity == "" || f.severity == q.Severity {
					lf := listedFinding{target: t, name: t.Name, ref: f, at: l.at, active: true, summary: catalogueTitle(f.id)}
					if f == worst {
						lf.summary = l.summary
					}
					fl.active = append(fl.active, lf)
				}
			}
		}
		if hasRes {
			fl.resolved = appendResolved(fl.resolved, res, t, q)
		}
	})
	for name, res := range byTarget { // resolved findings of targets no longer configured
		if q.State == "" && q.Module == "" && (q.Q == "" || containsFold(name, q.Q)) {
			fl.resolved = appendResolved(fl.resolved, res, nil, q)
		}
	}
	sortListed(fl.active, true)
	sortListed(fl.resolved, false)
	return fl
}

// appendResolved adds the resolved findings res of target t (nil when no
// longer configured) that pass q's id and severity filters.
func appendResolved(out []listedFinding, res []resolvedEntry, t *config.Target, q findingsQuery) []listedFinding {
	for _, e := range res {
		if q.matchFinding(e.id, e.severity, true) {
			out = append(out, listedFinding{target: t, name: e.target, ref: findingRef{id: e.id, severity: e.severity},
				at: e.lastSeen, summary: catalogueTitle(e.id)})
		}
	}
	return out
}

// sortListed orders findings as sortSpans does: by severity first when
// bySeverity (the active ones), then most recently seen, then by target
// and ID.
func sortListed(fs []listedFinding, bySeverity bool) {
	slices.SortFunc(fs, func(a, b listedFinding) int {
		if ra, rb := a.ref.severity.Rank(), b.ref.severity.Rank(); bySeverity && ra != rb {
			return rb - ra
		}
		if c := cmp.Compare(b.at, a.at); c != 0 {
			return c
		}
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return strings.Compare(a.ref.id, b.ref.id)
	})
}

// needsTallies reports whether sorting by q needs the store's first
// sightings and run counts.
func (q findingsQuery) needsTallies() bool { return q.Sort == "since" || q.Sort == "runs" }

// withTallies fills first and runs of every finding in lists from the
// store (one query for all), as findingSpans would show them.
func (s *server) withTallies(ctx context.Context, lists ...[]listedFinding) error {
	tallies := map[findingKey]store.SpanTally{}
	if s.d.Store != nil {
		ts, err := s.d.Store.SpanTallies(ctx)
		if err != nil {
			return err
		}
		for _, t := range ts {
			tallies[findingKey{t.Target, t.ID}] = t
		}
	}
	for _, fs := range lists {
		for i := range fs {
			f := &fs[i]
			f.first, f.runs = f.at, 0
			if t, ok := tallies[findingKey{f.name, f.ref.id}]; ok {
				f.first, f.runs = t.FirstSeen.UnixNano(), t.Runs
			}
		}
	}
	return nil
}

// sortFindings orders fs by q's sort; the default order (severity, not
// reversed) is listFindings's own. Ties go worst first, then by target
// and ID, whichever way the column goes.
func sortFindings(fs []listedFinding, q findingsQuery) {
	if q.Sort == "severity" && !q.Desc {
		return
	}
	key := func(a, b listedFinding) int {
		switch q.Sort {
		case "id":
			return strings.Compare(a.ref.id, b.ref.id)
		case "target":
			return strings.Compare(a.name, b.name)
		case "since":
			return cmp.Compare(a.first, b.first)
		case "runs":
			return cmp.Compare(a.runs, b.runs)
		}
		return cmp.Compare(b.ref.severity.Rank(), a.ref.severity.Rank())
	}
	slices.SortStableFunc(fs, func(a, b listedFinding) int {
		if c := key(a, b); c != 0 {
			if q.Desc {
				return -c
			}
			return c
		}
		if c := cmp.Compare(b.ref.severity.Rank(), a.ref.severity.Rank()); c != 0 {
			return c
		}
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return strings.Compare(a.ref.id, b.ref.id)
	})
}

// catalogueTitle is the catalogue's title of a finding ID ("" for one it
// does not know).
func catalogueTitle(id string) string { return catalogue()[id].Title }

// findingSpans turns listed findings into spans: from the store's span of
// each where it has one (what it knows of the finding's history), else
// from State alone (the run is not stored yet: Runs is 0).
func (s *server) findingSpans(ctx context.Context, fs []listedFinding) ([]store.FindingSpan, error) {
	stored := map[findingKey]store.FindingSpan{}
	if s.d.Store != nil {
		seen := map[string]bool{}
		for _, f := range fs {
			if seen[f.name] {
				continue
			}
			seen[f.name] = true
			spans, err := s.d.Store.Findings(ctx, f.name)
			if err != nil {
				return nil, err
			}
			for _, sp := range spans {
				stored[findingKey{sp.Target, sp.Finding.ID}] = sp
			}
		}
	}
	out := make([]store.FindingSpan, 0, len(fs))
	for _, f := range fs {
		at := time.Unix(0, f.at).UTC()
		sp := store.FindingSpan{Target: f.name, Active: f.active, FirstSeen: at, LastSeen: at,
			Finding: probe.Finding{ID: f.ref.id, Severity: f.ref.severity, Phase: catalogue()[f.ref.id].Phase, Summary: f.summary}}
		if st, ok := stored[findingKey{f.name, f.ref.id}]; ok {
			sp.Finding, sp.FirstSeen, sp.Runs = st.Finding, st.FirstSeen, st.Runs
			sp.Finding.Severity = f.ref.severity
			if st.LastSeen.After(sp.LastSeen) {
				sp.LastSeen = st.LastSeen
			}
		}
		out = append(out, sp)
	}
	return out, nil
}

// ---- the page ----

type findingsPage struct {
	base
	Counts    []countItem // active findings per severity, as the filters but severity's select them
	Filter    findingsFilter
	Pager     pager // of the active findings
	Columns   []sortColumn
	Active    []findingRow
	Inactive  []findingView
	Catalogue []diagnose.Entry
}

// findingsFilter is the filter form above the findings: the list's own,
// a finding ID and the sort, kept when the form is sent.
type findingsFilter struct {
	filterForm
	IDs  []option
	Sort string // the sort parameter, "" for the default
}

// sortColumn is a header of the findings table; Link sorts by it (by it
// reversed when it is the current order).
type sortColumn struct {
	Label string
	Class string
	Link  string // "" for a column that does not sort
	Sort  string // aria-sort: ascending, descending or ""
	Arrow string
}

// findingRow is one finding in the compact table.
type findingRow struct {
	findingView
	IDLink    string // the list filtered by this finding's ID
	Since     string // age of the first sighting; "" when no stored run has it
	SinceTime string // first and last seen, in full
}

func (s *server) pageFindings(w http.ResponseWriter, r *http.Request) {
	q, msg := s.findingsQuery(r, defaultPageLimit)
	if msg != "" {
		s.pageError(w, r, http.StatusBadRequest, "Bad filter", msg)
		return
	}
	now := s.d.Now()
	p := &findingsPage{base: s.base("Findings", "findings"), Catalogue: diagnose.Catalogue()}
	p.Refresh = 15
	fl := s.listFindings(s.cfg(), q)
	if q.needsTallies() {
		if err := s.withTallies(r.Context(), fl.active); err != nil {
			s.storeError(w, r, err, false)
			return
		}
	}
	sortFindings(fl.active, q)
	for _, sv := range severities {
		p.Counts = append(p.Counts, countItem{State: string(sv), Class: "sev-" + string(sv), Label: string(sv),
			N: fl.counts[sv], Link: q.relink(severityLink(q.listQuery, "/findings", sv)), Active: q.Severity == sv})
	}
	p.Filter = newFindingsFilter(q, fl)
	p.Pager = q.pager("/findings", len(fl.active))
	p.Columns = findingColumns(q)
	shown := fl.active[min(q.offset(), len(fl.active)):min(q.offset()+q.Limit, len(fl.active))]
	var recent []listedFinding
	for _, f := range fl.resolved {
		if now.Sub(time.Unix(0, f.at)) <= recentInactive && len(recent) < maxInactiveRows {
			recent = append(recent, f)
		}
	}
	spans, err := s.findingSpans(r.Context(), append(slices.Clip(shown), recent...))
	if err != nil {
		s.storeError(w, r, err, false)
		return
	}
	for i, sp := range spans {
		fv := newFindingView(sp, now)
		if i >= len(shown) {
			fv.TargetLink = linkIfConfigured(recent[i-len(shown)])
			p.Inactive = append(p.Inactive, fv)
			continue
		}
		fv.TargetLink = linkIfConfigured(shown[i])
		byID := q
		byID.ID = fv.ID
		row := findingRow{findingView: fv, IDLink: byID.link("/findings", 1)}
		if !fv.Unstored {
			row.Since = fmtAge(now, sp.FirstSeen)
			row.SinceTime = "first seen " + fv.FirstSeen + ", last seen " + fv.LastSeen
		}
		p.Active = append(p.Active, row)
	}
	s.render(w, r, http.StatusOK, "findings", p)
}

// newFindingsFilter is the form showing q.
func newFindingsFilter(q findingsQuery, fl findingList) findingsFilter {
	f := findingsFilter{filterForm: newFilterForm(q.listQuery, "/findings", fl.modules), Sort: q.sortParam()}
	f.Filtered = q.filtered()
	ids := maps.Clone(fl.ids)
	for id := range catalogue() {
		ids[id] = true
	}
	if q.ID != "" {
		ids[q.ID] = true // shown even when no finding has it
	}
	f.IDs = []option{{Label: "any", Selected: q.ID == ""}}
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		f.IDs = append(f.IDs, option{Value: id, Label: id, Selected: q.ID == id})
	}
	return f
}

// findingColumns are the findings table's headers for the list q shows.
func findingColumns(q findingsQuery) []sortColumn {
	cols := []sortColumn{{Label: "Severity"}, {Label: "Finding"}, {Label: "Target"}, {Label: "Phase"}, {Label: "Since"}, {Label: "Runs", Class: "num"}, {Label: "Summary"}}
	keys := []string{"severity", "id", "target", "", "since", "runs", ""}
	for i, k := range keys {
		if k == "" {
			continue
		}
		c := q
		c.Page = 1
		c.Sort, c.Desc = k, false
		if q.Sort == k {
			c.Desc = !q.Desc
			// Values go up unless reversed; severity's own order is worst
			// first, down.
			cols[i].Sort, cols[i].Arrow = "ascending", "▲"
			if q.Desc != (k == "severity") {
				cols[i].Sort, cols[i].Arrow = "descending", "▼"
			}
		}
		cols[i].Link = c.link("/findings", 1)
	}
	return cols
}

// linkIfConfigured is the target page of f's target; "" when the target
// left the config (no page to link).
func linkIfConfigured(f listedFinding) string {
	if f.target == nil {
		return ""
	}
	return targetLink(f.name)
}
