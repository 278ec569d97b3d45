package web

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/config"
	"github.com/pathlens/pathlens/serve/store"
)

// The findings of /findings and /api/v1/findings are listed, filtered and
// paged from State (the findings of every target's latest run, and those
// resolved lately), so that a request costs the same whatever the number
// of targets; only the findings on the page are then read from the store
// (one indexed query per target shown) for their first sighting, run
// count, evidence and advice.

// listedFinding is one finding in the list.
type listedFinding struct {
	target  *config.Target // nil when the target is no longer configured
	name    string
	ref     findingRef
	at      int64 // unix ns: the latest run's start (active), or the last run that had it
	active  bool
	summary string // what to show until the store has the finding
}

// findingList is the filtered findings of every target: the active ones
// worst first, then the most recently seen; the resolved ones most
// recently seen first.
type findingList struct {
	active   []listedFinding
	resolved []listedFinding
	counts   map[string]int // active findings per severity, of every target (not filtered)
	modules  map[string]bool
}

// listFindings lists the findings of cfg's targets that pass q.
func (s *server) listFindings(cfg *config.Config, q listQuery) findingList {
	fl := findingList{counts: map[string]int{}, modules: map[string]bool{}}
	byTarget := map[string][]resolvedEntry{}
	for _, e := range s.d.State.recentlyResolved() {
		byTarget[e.target] = append(byTarget[e.target], e)
	}
	s.d.State.each(cfg.Targets, func(t *config.Target, l *lastRun) {
		fl.modules[t.Module] = true
		if l != nil {
			for _, f := range l.findings {
				fl.counts[string(f.severity)]++
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
// longer configured) that pass q's severity filter.
func appendResolved(out []listedFinding, res []resolvedEntry, t *config.Target, q listQuery) []listedFinding {
	for _, e := range res {
		if q.Severity == "" || e.severity == q.Severity {
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
		if a.at != b.at {
			if a.at > b.at {
				return -1
			}
			return 1
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
