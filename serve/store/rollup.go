package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	ddstore "github.com/DataDog/sketches-go/ddsketch/store"

	"github.com/pathlens/pathlens/probe"
)

const (
	// RelativeAccuracy is the relative accuracy of the roll-up sketches:
	// a reported quantile is within 1 % of the true value at that rank.
	RelativeAccuracy = 0.01
	// Buckets is the number of time buckets of a Report.
	Buckets = 60
	// TotalPhase is the phase name under which whole-probe durations
	// (Result.TotalMS) are rolled up and reported.
	TotalPhase = "total"

	resMinute = "m"
	resHour   = "h"
)

// PhaseOrder is the canonical order of Report.Phases: probe.Phases, the
// display order. Phases not listed there follow in name order, and
// TotalPhase comes last.
var PhaseOrder = probe.Phases

// sketchMapping is shared by every sketch; the encoded sketches carry it,
// and merging refuses a sketch encoded with a different one.
var sketchMapping = func() mapping.IndexMapping {
	m, err := mapping.NewLogarithmicMapping(RelativeAccuracy)
	if err != nil {
		panic(err)
	}
	return m
}()

func newSketch() *ddsketch.DDSketch {
	return ddsketch.NewDDSketch(sketchMapping, ddstore.NewDenseStore(), ddstore.NewDenseStore())
}

func addValue(sk *ddsketch.DDSketch, ms float64) {
	if math.IsNaN(ms) || math.IsInf(ms, 0) {
		return
	}
	sk.Add(max(ms, 0))
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func floorTo(t, width int64) int64 { return floorDiv(t, width) * width }
func ceilTo(t, width int64) int64 {
	f := floorTo(t, width)
	if f == t {
		return t
	}
	return f + width
}

var resolutions = [...]struct {
	name  string
	width int64
}{{resMinute, int64(time.Minute)}, {resHour, int64(time.Hour)}}

type rollupKey struct {
	target, phase, res string
	start              int64
}

type rollupVal struct {
	count, successes int64
	sk               *ddsketch.DDSketch
}

// rollupAgg accumulates one batch's roll-ups in memory, so that each
// (target, phase, period) row is read and written once per batch.
type rollupAgg struct {
	m    map[rollupKey]*rollupVal
	keys []rollupKey // insertion order, for a deterministic write order
}

func newRollupAgg() *rollupAgg { return &rollupAgg{m: map[rollupKey]*rollupVal{}} }

func (a *rollupAgg) get(k rollupKey) *rollupVal {
	v := a.m[k]
	if v == nil {
		v = &rollupVal{sk: newSketch()}
		a.m[k] = v
		a.keys = append(a.keys, k)
	}
	return v
}

// add rolls one result up: completed phase timings of every run, and
// total_ms of the successful runs (a failed run's total measures how fast
// it failed, not the service's latency; it counts in the success ratio).
func (a *rollupAgg) add(target string, r *probe.Result) {
	at := r.StartedAt.UnixNano()
	for _, res := range resolutions {
		start := floorTo(at, res.width)
		v := a.get(rollupKey{target, TotalPhase, res.name, start})
		v.count++
		if r.Success {
			v.successes++
			addValue(v.sk, r.TotalMS)
		}
		for _, ph := range r.Phases {
			if ph.Incomplete || ph.Name == "" || ph.Name == TotalPhase {
				continue
			}
			v := a.get(rollupKey{target, ph.Name, res.name, start})
			v.count++
			if r.Success {
				v.successes++
			}
			addValue(v.sk, ph.DurationMS)
		}
	}
}

// flush merges the batch's roll-ups into the stored rows.
func (a *rollupAgg) flush(ctx context.Context, tx *sql.Tx) error {
	sel, err := tx.PrepareContext(ctx, `SELECT count, successes, sketch FROM rollups
		WHERE target = ? AND resolution = ? AND bucket_start = ? AND phase = ?`)
	if err != nil {
		return err
	}
	defer sel.Close()
	up, err := tx.PrepareContext(ctx, `INSERT INTO rollups
		(target, phase, resolution, bucket_start, count, successes, sketch) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (target, resolution, bucket_start, phase) DO UPDATE SET
			count = excluded.count, successes = excluded.successes, sketch = excluded.sketch`)
	if err != nil {
		return err
	}
	defer up.Close()
	var buf []byte
	for _, k := range a.keys {
		v := a.m[k]
		var count, successes int64
		var old []byte
		err := sel.QueryRowContext(ctx, k.target, k.res, k.start, k.phase).Scan(&count, &successes, &old)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		default:
			if err := v.sk.DecodeAndMergeWith(old); err != nil {
				return fmt.Errorf("rollup %s/%s/%s/%d: %w", k.target, k.phase, k.res, k.start, err)
			}
			v.count += count
			v.successes += successes
		}
		buf = buf[:0]
		v.sk.Encode(&buf, false)
		if _, err := up.ExecContext(ctx, k.target, k.phase, k.res, k.start, v.count, v.successes, buf); err != nil {
			return err
		}
	}
	return nil
}

// Percentiles reports the phase and total quantiles of target over the
// window ending now, overall and in Buckets buckets of window/Buckets.
//
// The window ends at the end of the current minute (To) and starts one
// window earlier (From), so that minute roll-ups fall wholly in one bucket:
// a run started at t lands in bucket floor((t-From)/BucketWidth). Buckets
// narrower than an hour (the 1 h and 24 h windows) are built from minute
// roll-ups; wider ones (7 d) from hour roll-ups for the whole hours inside
// the window and minute roll-ups for the partial hours at both ends, an
// hour roll-up going to the bucket its hour starts in. Overall quantiles
// merge the buckets' sketches.
func (s *Store) Percentiles(ctx context.Context, target string, window time.Duration, now time.Time) (Report, error) {
	if window < time.Minute {
		return Report{}, fmt.Errorf("store: percentiles: window %v is shorter than a minute", window)
	}
	minute, hour := int64(time.Minute), int64(time.Hour)
	to := floorTo(now.UnixNano(), minute) + minute
	from := to - int64(window)
	width := int64(window) / Buckets
	rep := Report{
		Target:      target,
		Window:      windowName(window),
		From:        fromNanos(from),
		To:          fromNanos(to),
		BucketWidth: time.Duration(width),
		Buckets:     Buckets,
		Phases:      []PhaseSeries{},
	}

	type span struct {
		res    string
		lo, hi int64
	}
	spans := []span{{resMinute, from, to}}
	if width >= hour {
		if hFrom, hTo := ceilTo(from, hour), floorTo(to, hour); hFrom < hTo {
			spans = []span{{resMinute, from, hFrom}, {resHour, hFrom, hTo}, {resMinute, hTo, to}}
		}
	}

	series := map[string]*[Buckets]*ddsketch.DDSketch{}
	for _, sp := range spans {
		if sp.lo >= sp.hi {
			continue
		}
		if err := s.scanRollups(ctx, target, sp.res, sp.lo, sp.hi, func(phase string, start, count, successes int64, sketch []byte) error {
			i := min(max(floorDiv(start-from, width), 0), Buckets-1)
			if phase == TotalPhase {
				rep.Runs += int(count)
				rep.Successes += int(successes)
			}
			b := series[phase]
			if b == nil {
				b = new([Buckets]*ddsketch.DDSketch)
				series[phase] = b
			}
			if b[i] == nil {
				b[i] = newSketch()
			}
			return b[i].DecodeAndMergeWith(sketch)
		}); err != nil {
			return Report{}, fmt.Errorf("store: percentiles %s: %w", target, err)
		}
	}
	if rep.Runs > 0 {
		rep.SuccessRatio = float64(rep.Successes) / float64(rep.Runs)
	}

	for _, phase := range orderPhases(series) {
		b := series[phase]
		ps := PhaseSeries{Phase: phase, Buckets: make([]Quantiles, Buckets)}
		all := newSketch()
		for i, sk := range b {
			if sk == nil {
				continue
			}
			ps.Buckets[i] = quantiles(sk)
			if err := all.MergeWith(sk); err != nil {
				return Report{}, fmt.Errorf("store: percentiles %s: %w", target, err)
			}
		}
		ps.Overall = quantiles(all)
		if ps.Overall.Count == 0 && (phase != TotalPhase || rep.Runs == 0) {
			continue
		}
		rep.Phases = append(rep.Phases, ps)
	}
	return rep, nil
}

func (s *Store) scanRollups(ctx context.Context, target, res string, lo, hi int64,
	f func(phase string, start, count, successes int64, sketch []byte) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT phase, bucket_start, count, successes, sketch FROM rollups
		WHERE target = ? AND resolution = ? AND bucket_start >= ? AND bucket_start < ?`, target, res, lo, hi)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var phase string
		var start, count, successes int64
		var sketch []byte
		if err := rows.Scan(&phase, &start, &count, &successes, &sketch); err != nil {
			return err
		}
		if err := f(phase, start, count, successes, sketch); err != nil {
			return err
		}
	}
	return rows.Err()
}

var phaseRank = func() map[string]int {
	m := map[string]int{}
	for i, p := range PhaseOrder {
		m[p] = i
	}
	return m
}()

// orderPhases sorts phase names: canonical ones in PhaseOrder, then the
// rest by name, then TotalPhase.
func orderPhases[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	rank := func(n string) int {
		if n == TotalPhase {
			return len(PhaseOrder) + 1
		}
		if r, ok := phaseRank[n]; ok {
			return r
		}
		return len(PhaseOrder)
	}
	slices.SortFunc(names, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		if a < b {
			return -1
		}
		if a > b {
			return 1
		}
		return 0
	})
	return names
}

func quantiles(sk *ddsketch.DDSketch) Quantiles {
	if sk == nil || sk.IsEmpty() {
		return Quantiles{}
	}
	vs, err := sk.GetValuesAtQuantiles([]float64{0.5, 0.9, 0.99})
	if err != nil {
		return Quantiles{}
	}
	return Quantiles{Count: int(math.Round(sk.GetCount())), P50: vs[0], P90: vs[1], P99: vs[2]}
}

// windowName is the Windows key of d, or d as a Go duration string.
func windowName(d time.Duration) string {
	for name, w := range Windows {
		if w == d {
			return name
		}
	}
	return d.String()
}
