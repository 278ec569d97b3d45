package store

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Day is one UTC day of a target's runs: how many started that day and
// how many of them succeeded.
type Day struct {
	Start     time.Time `json:"start"` // midnight UTC
	Runs      int64     `json:"runs"`
	Successes int64     `json:"successes"`
}

// Ratio is the day's success ratio Successes/Runs, in [0, 1]; NaN when
// the day has no runs (no data, not an outage).
func (d Day) Ratio() float64 {
	if d.Runs == 0 {
		return math.NaN()
	}
	return float64(d.Successes) / float64(d.Runs)
}

// MaxDays is the most days one Daily call covers.
const MaxDays = 400

// slotQuery sums a target's runs and successes per slot of ?5 seconds
// (a UTC day, an hour) in one statement: its hour roll-ups before
// sealed_to, and its runs from sealed_to on (the hours not rolled up
// yet), so every run counts once. A single statement reads one snapshot
// of the database, so an hour rolled up meanwhile is never counted twice
// or missed. A run belongs to the slot of its id's second, as it belongs
// to that second's hour in the roll-ups. ?1 is the target's first
// possible id (second 0), ?2 and ?3 the ids of the first slot's start and
// of the end of the last slot, ?4 the target id; ?5 divides an hour's
// start evenly.
const slotQuery = `
SELECT d, SUM(n), SUM(ok) FROM (
	SELECT (id - ?1) / ?5 AS d, runs AS n, successes AS ok FROM hours
	WHERE id >= ?2 AND id < min(?3, ?1 + (SELECT sealed_to FROM targets WHERE id = ?4))
	UNION ALL
	SELECT (r.id - ?1) / ?5, 1, sh.success FROM runs r JOIN shapes sh ON sh.id = r.shape
	WHERE r.id >= max(?2, ?1 + (SELECT sealed_to FROM targets WHERE id = ?4)) AND r.id < ?3
) GROUP BY d`

// Daily returns target's runs and successes on each of the last days
// UTC days, now's day included (partial: up to now), oldest first: days
// elements, a day without runs included with zero counts. Whole hours
// come from the hour roll-ups and the hours not rolled up yet from the
// runs, in one query (a few milliseconds for 90 days of a target; the
// roll-ups hold a day in 24 rows). A day before what Prune kept counts
// only what is kept: the hour roll-ups of a target outlive its runs only
// when PruneKeeping is asked to keep them. An unknown target gets zero
// counts and no error. days must be 1 to MaxDays.
func (s *Store) Daily(ctx context.Context, target string, days int, now time.Time) ([]Day, error) {
	if days < 1 || days > MaxDays {
		return nil, fmt.Errorf("store: daily: %d days: want 1 to %d", days, MaxDays)
	}
	return s.slots(ctx, "daily", target, days, 86400, now)
}

// slots is the n slots of width seconds ending with now's, as Daily
// describes; what names the caller in errors.
func (s *Store) slots(ctx context.Context, what, target string, n int, width int64, now time.Time) ([]Day, error) {
	cur := floorDiv(now.Unix(), width) * width
	first := cur - int64(n-1)*width
	out := make([]Day, n)
	for i := range out {
		out[i].Start = time.Unix(first+int64(i)*width, 0).UTC()
	}
	tid, ok, err := s.targetID(ctx, s.db, target)
	if err != nil {
		return nil, fmt.Errorf("store: %s %s: %w", what, target, err)
	}
	if !ok {
		return out, nil
	}
	lo, hi := max(first, 0), min(cur+width, secMask)
	if lo >= hi {
		return out, nil
	}
	rows, err := s.db.QueryContext(ctx, slotQuery, runID(tid, 0), runID(tid, lo), runID(tid, hi), tid, width)
	if err != nil {
		return nil, fmt.Errorf("store: %s %s: %w", what, target, err)
	}
	defer rows.Close()
	for rows.Next() {
		var d, runs, successes int64
		if err := rows.Scan(&d, &runs, &successes); err != nil {
			return nil, fmt.Errorf("store: %s %s: %w", what, target, err)
		}
		if i := (d*width - first) / width; i >= 0 && i < int64(n) {
			out[i].Runs, out[i].Successes = runs, successes
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s %s: %w", what, target, err)
	}
	return out, nil
}
