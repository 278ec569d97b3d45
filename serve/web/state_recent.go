package web

import (
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pathlens/pathlens/diagnose"
	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/store"
)

// What State keeps besides the per-target summaries: the whole Results of
// the newest runs (fullRing) and the findings resolved lately. Both are
// bounded for the whole State, whatever the number of targets.

// fullRing holds the whole Result of the newest maxFull runs recorded
// without a store id: about the runs still in the writer's queue, which
// the store cannot show yet (and whose HTTP/2 timeline it will keep only
// bounded). Holding one evicts the oldest held.
type fullRing struct {
	buf  [maxFull]fullEntry
	next int
	seq  uint64
}

type fullEntry struct {
	ts  *targetState
	seq uint64 // ts still holds this entry's Result when ts.fullSeq == seq
}

// hold makes r the whole latest run of ts. The caller holds the lock.
func (f *fullRing) hold(ts *targetState, r *probe.Result) {
	if old := f.buf[f.next]; old.ts != nil && old.ts.fullSeq == old.seq {
		old.ts.full = nil
	}
	f.seq++
	f.buf[f.next] = fullEntry{ts: ts, seq: f.seq}
	ts.full, ts.fullSeq = r, f.seq
	f.next = (f.next + 1) % maxFull
}

// findingKey names one finding of one target.
type findingKey struct{ target, id string }

// resolvedFinding is a finding that a target's latest run no longer has.
type resolvedFinding struct {
	severity probe.Severity
	lastSeen int64 // unix nanoseconds: the start of the last run that had it
}

// noteResolved notes the findings of prev that next lacks as resolved, and
// those next has as no longer resolved. The caller holds the lock.
func (s *State) noteResolved(target string, prev, next *lastRun) {
	for _, f := range next.findings {
		delete(s.resolved, findingKey{target, f.id})
	}
	if prev == nil {
		return
	}
	for _, f := range prev.findings {
		if !next.has(f.id) {
			s.addResolved(findingKey{target, f.id}, resolvedFinding{severity: f.severity, lastSeen: prev.at})
		}
	}
}

// addResolved keeps rf unless a newer resolution of k is known, then
// drops the oldest resolution beyond maxResolved. The caller holds the
// lock.
func (s *State) addResolved(k findingKey, rf resolvedFinding) {
	if old, ok := s.resolved[k]; ok && old.lastSeen >= rf.lastSeen {
		return
	}
	s.resolved[k] = rf
	if len(s.resolved) <= maxResolved {
		return
	}
	var oldest findingKey
	var seen int64
	first := true
	for k, v := range s.resolved {
		if first || v.lastSeen < seen {
			oldest, seen, first = k, v.lastSeen, false
		}
	}
	delete(s.resolved, oldest)
}

// restoreResolved notes the inactive spans last seen at or after since,
// unless the target's latest run has the finding again.
func (s *State) restoreResolved(spans []store.FindingSpan, since time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sp := range spans {
		if sp.Active || sp.LastSeen.Before(since) {
			continue
		}
		if ts := s.targets[sp.Target]; ts != nil && ts.last.has(sp.Finding.ID) {
			continue
		}
		k := findingKey{sp.Target, internID(sp.Finding.ID)}
		s.addResolved(k, resolvedFinding{severity: internSeverity(sp.Finding.Severity), lastSeen: sp.LastSeen.UnixNano()})
	}
}

// resolvedEntry is one resolved finding as handed out.
type resolvedEntry struct {
	findingKey
	resolvedFinding
}

// recentlyResolved returns the resolved findings known, in no order.
func (s *State) recentlyResolved() []resolvedEntry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]resolvedEntry, 0, len(s.resolved))
	for k, v := range s.resolved {
		out = append(out, resolvedEntry{k, v})
	}
	return out
}

// catalogue is diagnose's catalogue by finding ID.
var catalogue = sync.OnceValue(func() map[string]diagnose.Entry {
	m := map[string]diagnose.Entry{}
	for _, e := range diagnose.Catalogue() {
		m[e.ID] = e
	}
	return m
})

// internID returns the catalogue's copy of a known finding ID, so that the
// summaries of many targets (decoded from the store, each its own string)
// share one.
func internID(id string) string {
	if e, ok := catalogue()[id]; ok {
		return e.ID
	}
	return id
}

// internSeverity returns the constant for a known severity.
func internSeverity(s probe.Severity) probe.Severity {
	for _, c := range []probe.Severity{probe.SeverityCritical, probe.SeverityWarning, probe.SeverityInfo} {
		if s == c {
			return c
		}
	}
	return s
}

// cut shortens s to at most n bytes (on a rune boundary, "…" appended)
// and copies it, so that a long message does not keep its whole
// backing array alive.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n - len("…")
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
