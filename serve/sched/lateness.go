package sched

import (
	"math"
	"slices"
	"time"
)

// OnTimeWindow is how long after its slot a run may start and still count
// as on time in Stats.
const OnTimeWindow = time.Second

// latenessBounds are the inclusive upper bounds of the lateness buckets;
// the last bucket, beyond them, is unbounded.
var latenessBounds = [...]time.Duration{
	100 * time.Microsecond, time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
	50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute,
}

// LatenessBuckets is the number of buckets in Stats.Lateness.
const LatenessBuckets = len(latenessBounds) + 1

// LatenessBounds returns the inclusive upper bound of each bucket of
// Stats.Lateness but the last, which holds every run later than that.
func LatenessBounds() []time.Duration { return slices.Clone(latenessBounds[:]) }

// lateness counts runs by how late they started; its owner synchronises it.
type lateness struct {
	counts [LatenessBuckets]int64
	max    time.Duration
}

func (l *lateness) record(d time.Duration) {
	d = max(d, 0)
	i := 0
	for i < len(latenessBounds) && d > latenessBounds[i] {
		i++
	}
	l.counts[i]++
	l.max = max(l.max, d)
}

// fill sets st's lateness fields from l.
func (l *lateness) fill(st *Stats) {
	st.Lateness = l.counts
	st.MaxLate = l.max
	for i, n := range l.counts {
		if i < len(latenessBounds) && latenessBounds[i] <= OnTimeWindow {
			st.OnTime += n
		} else {
			st.Late += n
		}
	}
}

// LatenessQuantile is an upper bound on the q-quantile (0 < q ≤ 1) of how
// late runs started: the upper bound of the bucket that holds it, capped
// at MaxLate. It is 0 before any run.
func (st Stats) LatenessQuantile(q float64) time.Duration {
	var total int64
	for _, n := range st.Lateness {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := max(int64(math.Ceil(q*float64(total))), 1)
	var seen int64
	for i, n := range st.Lateness {
		seen += n
		if seen >= rank && i < len(latenessBounds) {
			return min(latenessBounds[i], st.MaxLate)
		}
	}
	return st.MaxLate
}
