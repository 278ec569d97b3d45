package store

import (
	"context"
	"fmt"
	"time"
)

// MaxHours is the most hours one Hourly call covers.
const MaxHours = 24 * 14

// hourlyQuery is dailyQuery by hour: a target's runs and successes per
// hour, from its hour roll-ups before sealed_to and its runs after, in
// one statement (one snapshot). The parameters are dailyQuery's.
const hourlyQuery = `
SELECT h, SUM(n), SUM(ok) FROM (
	SELECT (id - ?1) / 3600 AS h, runs AS n, successes AS ok FROM hours
	WHERE id >= ?2 AND id < min(?3, ?1 + (SELECT sealed_to FROM targets WHERE id = ?4))
	UNION ALL
	SELECT (r.id - ?1) / 3600, 1, sh.success FROM runs r JOIN shapes sh ON sh.id = r.shape
	WHERE r.id >= max(?2, ?1 + (SELECT sealed_to FROM targets WHERE id = ?4)) AND r.id < ?3
) GROUP BY h`

// Hourly returns target's runs and successes in each of the last hours
// hours, now's hour included (partial: up to now), oldest first, as Days
// whose Start is the hour's: the overview's uptime bar. An hour without
// runs has zero counts; an unknown target gets zero counts and no error.
// hours must be 1 to MaxHours.
func (s *Store) Hourly(ctx context.Context, target string, hours int, now time.Time) ([]Day, error) {
	if hours < 1 || hours > MaxHours {
		return nil, fmt.Errorf("store: hourly: %d hours: want 1 to %d", hours, MaxHours)
	}
	const hourSec = 3600
	cur := floorDiv(now.Unix(), hourSec) * hourSec
	first := cur - int64(hours-1)*hourSec
	out := make([]Day, hours)
	for i := range out {
		out[i].Start = time.Unix(first+int64(i)*hourSec, 0).UTC()
	}
	tid, ok, err := s.targetID(ctx, s.db, target)
	if err != nil {
		return nil, fmt.Errorf("store: hourly %s: %w", target, err)
	}
	if !ok {
		return out, nil
	}
	lo, hi := max(first, 0), min(cur+hourSec, secMask)
	if lo >= hi {
		return out, nil
	}
	rows, err := s.db.QueryContext(ctx, hourlyQuery, runID(tid, 0), runID(tid, lo), runID(tid, hi), tid)
	if err != nil {
		return nil, fmt.Errorf("store: hourly %s: %w", target, err)
	}
	defer rows.Close()
	for rows.Next() {
		var h, runs, successes int64
		if err := rows.Scan(&h, &runs, &successes); err != nil {
			return nil, fmt.Errorf("store: hourly %s: %w", target, err)
		}
		if i := (h*hourSec - first) / hourSec; i >= 0 && i < int64(hours) {
			out[i].Runs, out[i].Successes = runs, successes
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: hourly %s: %w", target, err)
	}
	return out, nil
}
