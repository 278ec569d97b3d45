package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/pathlens/pathlens/probe"
)

// MaxFailedRuns caps what one FailedRuns call returns.
const MaxFailedRuns = 10_000

// FailedRun is what every run keeps of a failed run (no document is
// read): where it stopped. The roll-ups count only completed phases and
// the successful runs' totals, so this is how a chart learns of the time
// a failed run spent in the phase it failed in.
type FailedRun struct {
	ID        int64
	StartedAt time.Time
	TotalMS   float64
	ErrClass  probe.ErrorClass
	ErrPhase  string
	// Phases as a partial Result has them: names, durations, incomplete;
	// start_ms laid end to end from 0.
	Phases []probe.Phase
}

// FailedRuns returns target's failed runs started in [from, to), newest
// first, at most limit of them (clamped to 1..MaxFailedRuns), and
// whether the range holds more.
func (s *Store) FailedRuns(ctx context.Context, target string, from, to time.Time, limit int) ([]FailedRun, bool, error) {
	if limit <= 0 || limit > MaxFailedRuns {
		limit = MaxFailedRuns
	}
	out, more, err := s.failedRuns(ctx, target, from, to, limit)
	if err != nil {
		return nil, false, fmt.Errorf("store: failed runs of %s: %w", target, err)
	}
	return out, more, nil
}

func (s *Store) failedRuns(ctx context.Context, target string, from, to time.Time, limit int) ([]FailedRun, bool, error) {
	out := []FailedRun{}
	tid, ok, err := s.targetID(ctx, s.db, target)
	if err != nil || !ok {
		return out, false, err
	}
	fromUS, toUS := floorDiv(from.UnixNano(), 1e3), floorDiv(to.UnixNano(), 1e3)
	lo, hi := targetRange(tid)
	// A run's id second is its start's second or, bumped, a later one.
	if sec := floorDiv(fromUS, 1e6); sec > 0 {
		lo = runID(tid, min(sec, secMask))
	}
	if sec := floorDiv(toUS, 1e6) + maxBump + 1; sec < secMask {
		hi = min(hi, runID(tid, sec))
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, us, shape, total_us, phases FROM runs
		WHERE id >= ? AND id < ? AND (id & ?) * 1000000 + us >= ? AND (id & ?) * 1000000 + us < ?
		AND shape IN (SELECT id FROM shapes WHERE success = 0)
		ORDER BY id DESC LIMIT ?`, lo, hi, int64(secMask), fromUS, int64(secMask), toUS, limit+1)
	if err != nil {
		return nil, false, err
	}
	var runs []compactRun
	for rows.Next() {
		var c compactRun
		if err := rows.Scan(&c.id, &c.us, &c.shape, &c.totalUS, &c.phases); err != nil {
			rows.Close()
			return nil, false, err
		}
		runs = append(runs, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	more := len(runs) > limit
	runs = runs[:min(len(runs), limit)]
	for i := range runs {
		c := &runs[i]
		sh, err := s.shapeByID(ctx, s.db, c.shape)
		if err != nil {
			return nil, false, err
		}
		r, err := partialResult(c, sh, "")
		if err != nil {
			return nil, false, fmt.Errorf("run %d: %w", c.id, err)
		}
		out = append(out, FailedRun{ID: c.id, StartedAt: r.StartedAt, TotalMS: r.TotalMS,
			ErrClass: probe.ErrorClass(sh.ErrClass), ErrPhase: sh.ErrPhase, Phases: r.Phases})
	}
	slices.SortStableFunc(out, func(a, b FailedRun) int { return b.StartedAt.Compare(a.StartedAt) })
	return out, more, nil
}

// SpanTally is when a finding span was first seen and how many stored
// runs had it.
type SpanTally struct {
	Target    string
	ID        string
	FirstSeen time.Time
	Runs      int
}

// SpanTallies returns the first sighting and run count of every finding
// span of every target in one query, without reading the findings
// themselves (Findings does), for sorting a list of findings by them.
func (s *Store) SpanTallies(ctx context.Context) ([]SpanTally, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT t.name, f.id, f.first_seen, f.runs FROM spans f JOIN targets t ON t.id = f.target_id`)
	if err != nil {
		return nil, fmt.Errorf("store: span tallies: %w", err)
	}
	defer rows.Close()
	var out []SpanTally
	for rows.Next() {
		var st SpanTally
		var first int64
		if err := rows.Scan(&st.Target, &st.ID, &first, &st.Runs); err != nil {
			return nil, fmt.Errorf("store: span tallies: %w", err)
		}
		st.FirstSeen = fromNanos(first)
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: span tallies: %w", err)
	}
	return out, nil
}
