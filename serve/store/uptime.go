package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
)

// Availability is a target's uptime over one window: how many runs it
// had, how many succeeded, and how many were good (succeeded within a
// latency threshold), so that a service level objective ("99.9 % of runs
// good over 30 days") can be checked and its error budget shown.
type Availability struct {
	// Window is the length of the window, as asked for.
	Window time.Duration `json:"window_ns"`
	// From and To bound the window: To is the end of the minute of the
	// query's now, From one Window earlier (as in Report).
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Runs is the number of runs started in the window and Successes the
	// number of those that succeeded; both are exact.
	Runs      int64 `json:"runs"`
	Successes int64 `json:"successes"`
	// Good is the number of successful runs whose total duration
	// (Result.TotalMS) was at most the latency threshold, or Successes
	// when no threshold was given. It is exact for the runs read from the
	// runs table and within the roll-up sketches' RelativeAccuracy for the
	// whole hours taken from roll-ups (see Store.Availability).
	Good int64 `json:"good"`
}

// Ratio is the success ratio Successes/Runs, in [0, 1]. It is NaN when
// the window has no runs (no data, not an outage); callers that show it
// or encode it as JSON (which has no NaN) test Runs == 0 first.
func (a Availability) Ratio() float64 {
	if a.Runs == 0 {
		return math.NaN()
	}
	return float64(a.Successes) / float64(a.Runs)
}

// GoodRatio is the share of good runs Good/Runs, in [0, 1], the SLI of a
// latency-bounded availability objective. Like Ratio it is NaN when the
// window has no runs.
func (a Availability) GoodRatio() float64 {
	if a.Runs == 0 {
		return math.NaN()
	}
	return float64(a.Good) / float64(a.Runs)
}

// availWindow is one window of an Availability query, in unix
// nanoseconds. With hours set, the window's whole hours [hFrom, sealed)
// come from the hour roll-ups and the rest from the runs; without, the
// window is read from its runs only.
type availWindow struct {
	from, to      int64
	hours         bool
	hFrom, sealed int64
	hTo           int64
	out           *Availability
}

// contains reports whether a run with id second sec started at t (ns)
// counts in w from its compact row: the placement of fillBuckets, where
// a run belongs to the roll-up of the hour of its id's second and the
// window's exact ends are start times.
func (w *availWindow) contains(sec, t int64) bool {
	if !w.hours {
		return t >= w.from && t < w.to
	}
	switch s := sec * 1e9; {
	case s < w.hFrom:
		return t >= w.from
	case s < w.sealed:
		return false // in the hour roll-ups
	case s < w.hTo:
		return true
	default:
		return t < w.to
	}
}

// Availability reports target's runs, successes and good runs over each
// of windows, all ending now: To is the end of now's minute and From one
// window earlier, as in Percentiles. A run is good when it succeeded and,
// when latency > 0, its total duration was at most latency; with latency
// <= 0 Good is Successes.
//
// Like Percentiles, the whole hours inside a window that are rolled up
// come from their hour roll-ups, and the hours not rolled up yet and the
// partial hours at both ends from the runs (a run with its start in the
// window at the ends, else by the hour its roll-up counts it in). It
// reads without a transaction, as Percentiles: it reads sealed_to first
// and the runs from there on, so an hour rolled up meanwhile is still
// read from its runs, counted once. Runs and Successes are exact. Good is
// exact for the runs read from the runs table; a roll-up's good runs are
// the values of its TotalPhase sketch in the bins at or below the bin of
// latency, so within the sketch's RelativeAccuracy (1 %) of the
// threshold: every run within latency counts as good, and so may a run
// less than (1+a)/(1-a)-1 (2.02 %) over it, a being the relative accuracy.
//
// All windows are answered in one pass: one read of the hour roll-ups of
// the longest window, shared by the shorter ones, and one read of each
// distinct range of runs (the partial first hour of each window, and the
// hours from the last roll-up to now, which all windows share). A window
// reaching back past what Prune kept counts only what is kept. An unknown
// target gets zero counts and no error. Every window must be at least a
// minute long.
func (s *Store) Availability(ctx context.Context, target string, windows []time.Duration, latency time.Duration, now time.Time) ([]Availability, error) {
	minute, hour := int64(time.Minute), int64(time.Hour)
	to := floorTo(now.UnixNano(), minute) + minute
	out := make([]Availability, len(windows))
	for i, d := range windows {
		if d < time.Minute {
			return nil, fmt.Errorf("store: availability: window %v is shorter than a minute", d)
		}
		out[i] = Availability{Window: d, From: fromNanos(to - int64(d)), To: fromNanos(to)}
	}
	if len(windows) == 0 {
		return out, nil
	}
	tid, ok, err := s.targetID(ctx, s.db, target)
	if err != nil {
		return nil, fmt.Errorf("store: availability %s: %w", target, err)
	}
	if !ok {
		return out, nil
	}
	var sealedTo int64
	if err := s.db.QueryRowContext(ctx, `SELECT sealed_to FROM targets WHERE id = ?`, tid).Scan(&sealedTo); err != nil {
		return nil, fmt.Errorf("store: availability %s: %w", target, err)
	}
	hTo := floorTo(to, hour)
	ws := make([]availWindow, len(windows))
	for i, d := range windows {
		w := availWindow{from: to - int64(d), to: to, hTo: hTo, out: &out[i]}
		if w.hFrom = ceilTo(w.from, hour); w.hFrom < hTo {
			w.hours = true
			w.sealed = min(max(sealedTo*1e9, w.hFrom), hTo)
		}
		ws[i] = w
	}
	a := availQuery{s: s, tid: tid, ws: ws, latencyNS: int64(latency)}
	if err := a.readHours(ctx); err != nil {
		return nil, fmt.Errorf("store: availability %s: %w", target, err)
	}
	if err := a.readRuns(ctx); err != nil {
		return nil, fmt.Errorf("store: availability %s: %w", target, err)
	}
	return out, nil
}

// availQuery is one Availability call's state.
type availQuery struct {
	s         *Store
	tid       int64
	ws        []availWindow
	latencyNS int64              // <= 0: no latency threshold
	sk        *ddsketch.DDSketch // reused to decode each hour's TotalPhase sketch
}

// readHours adds the hour roll-ups of every window's rolled-up hours to
// it. The windows' rolled-up ranges all end at the same hour (the last
// one rolled up, or the current one), so one read of the widest range
// serves all of them.
func (a *availQuery) readHours(ctx context.Context) error {
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, w := range a.ws {
		if w.hours && w.hFrom < w.sealed {
			lo, hi = min(lo, w.hFrom), max(hi, w.sealed)
		}
	}
	if lo >= hi {
		return nil
	}
	loID, hiID := runID(a.tid, max(lo/1e9, 0)), runID(a.tid, hi/1e9)
	threshold := a.latencyNS > 0
	q := `SELECT id, runs, successes FROM hours WHERE id >= ? AND id < ?`
	if threshold {
		q = `SELECT id, runs, successes, sketches FROM hours WHERE id >= ? AND id < ?`
	}
	rows, err := a.s.db.QueryContext(ctx, q, loID, hiID)
	if err != nil {
		return err
	}
	defer rows.Close()
	var id, runs, successes int64
	var blob sql.RawBytes // valid until the next Next: goodOf keeps none of it
	dest := []any{&id, &runs, &successes}
	if threshold {
		dest = append(dest, &blob)
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		_, sec := splitID(id)
		h := sec * 1e9
		good := successes
		if threshold {
			if good, err = a.goodOf(blob); err != nil {
				return fmt.Errorf("hour %d: %w", id, err)
			}
		}
		for i := range a.ws {
			w := &a.ws[i]
			if w.hours && h >= w.hFrom && h < w.sealed {
				w.out.Runs += runs
				w.out.Successes += successes
				w.out.Good += good
			}
		}
	}
	return rows.Err()
}

// goodOf is the number of values of an hour's TotalPhase sketch (the
// total durations of its successful runs, in ms) in the bins at or below
// the bin of the latency threshold; blob is the hour's sketches column
// (sketchSet.encode).
func (a *availQuery) goodOf(blob []byte) (int64, error) {
	total, err := phaseSketch(blob, TotalPhase)
	if err != nil || total == nil {
		return 0, err
	}
	if a.sk == nil {
		a.sk = newSketch()
	} else {
		a.sk.Clear()
	}
	if err := a.sk.DecodeAndMergeWith(total); err != nil {
		return 0, err
	}
	return int64(math.Round(countAtMost(a.sk, float64(a.latencyNS)/1e6))), nil
}

// phaseSketch is the encoded sketch of phase in b, a sketches column
// (sketchSet.encode), or nil when b has none.
func phaseSketch(b []byte, phase string) ([]byte, error) {
	for len(b) > 0 {
		var field [2][]byte
		for i := range field {
			n, k := binary.Uvarint(b)
			if k <= 0 || uint64(len(b)-k) < n {
				return nil, errSketches
			}
			field[i], b = b[k:k+int(n)], b[k+int(n):]
		}
		if string(field[0]) == phase {
			return field[1], nil
		}
	}
	return nil, nil
}

// countAtMost is how many values of sk are in the bins at or below the
// bin of ms: every value <= ms, and the values of ms's own bin above it.
func countAtMost(sk *ddsketch.DDSketch, ms float64) float64 {
	n := sk.GetZeroCount() + sk.GetNegativeValueStore().TotalCount()
	if ms <= sketchMapping.MinIndexableValue() {
		return n
	}
	top := sketchMapping.Index(ms)
	sk.GetPositiveValueStore().ForEach(func(index int, count float64) bool {
		if index <= top {
			n += count
		}
		return false
	})
	return n
}

// readRuns adds the runs that no roll-up counted to every window that
// contains them (availWindow.contains), reading each distinct range of
// run ids once: the windows' partial first hours, and the runs from the
// rolled-up hours on (shared by every window).
func (a *availQuery) readRuns(ctx context.Context) error {
	type span struct{ lo, hi int64 } // id seconds, [lo, hi)
	var spans []span
	for _, w := range a.ws {
		lo := max(floorDiv(w.from, 1e9), 0)
		// A run's id may have moved past its own second (slot).
		hi := floorDiv(w.to+1e9-1, 1e9) + maxBump
		if !w.hours {
			spans = append(spans, span{lo, hi})
			continue
		}
		spans = append(spans, span{lo, w.hFrom / 1e9}, span{w.sealed / 1e9, hi})
	}
	slices.SortFunc(spans, func(x, y span) int { return cmp.Compare(x.lo, y.lo) })
	var merged []span
	for _, sp := range spans {
		if sp.lo >= sp.hi {
			continue
		}
		if n := len(merged); n > 0 && sp.lo <= merged[n-1].hi {
			merged[n-1].hi = max(merged[n-1].hi, sp.hi)
			continue
		}
		merged = append(merged, sp)
	}
	type run struct{ id, us, shape, totalUS int64 }
	var runs []run
	for _, sp := range merged {
		rows, err := a.s.db.QueryContext(ctx, `SELECT id, us, shape, total_us FROM runs WHERE id >= ? AND id < ?`,
			runID(a.tid, sp.lo), runID(a.tid, sp.hi))
		if err != nil {
			return err
		}
		for rows.Next() {
			var r run
			if err := rows.Scan(&r.id, &r.us, &r.shape, &r.totalUS); err != nil {
				rows.Close()
				return err
			}
			runs = append(runs, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	// Shapes are looked up after the rows are closed: the store may have
	// a single connection (an in-memory database).
	success := map[int64]bool{}
	for _, r := range runs {
		ok, seen := success[r.shape]
		if !seen {
			sh, err := a.s.shapeByID(ctx, a.s.db, r.shape)
			if err != nil {
				return err
			}
			ok = sh.Success
			success[r.shape] = ok
		}
		_, sec := splitID(r.id)
		t := (sec*1e6 + r.us) * 1e3
		good := ok && (a.latencyNS <= 0 || r.totalUS*1e3 <= a.latencyNS)
		for i := range a.ws {
			w := &a.ws[i]
			if !w.contains(sec, t) {
				continue
			}
			w.out.Runs++
			if ok {
				w.out.Successes++
			}
			if good {
				w.out.Good++
			}
		}
	}
	return nil
}
