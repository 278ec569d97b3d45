package store

import (
	"context"
	"fmt"
	"time"
)

// MaxHours is the most hours one Hourly call covers.
const MaxHours = 24 * 14

// Hourly returns target's runs and successes in each of the last hours
// hours, now's hour included (partial: up to now), oldest first, as Days
// whose Start is the hour's: the overview's uptime bar. An hour without
// runs has zero counts; an unknown target gets zero counts and no error.
// hours must be 1 to MaxHours.
func (s *Store) Hourly(ctx context.Context, target string, hours int, now time.Time) ([]Day, error) {
	if hours < 1 || hours > MaxHours {
		return nil, fmt.Errorf("store: hourly: %d hours: want 1 to %d", hours, MaxHours)
	}
	return s.slots(ctx, "hourly", target, hours, 3600, now)
}
