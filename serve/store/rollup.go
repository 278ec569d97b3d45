package store

import (
	"context"
	"database/sql"
	"encoding/binary"
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

// sketchSet is one period's roll-up: a sketch per phase (and TotalPhase)
// and the number of runs and successful runs.
type sketchSet struct {
	runs, successes int64
	sk              map[string]*ddsketch.DDSketch
}

func newSketchSet() *sketchSet { return &sketchSet{sk: map[string]*ddsketch.DDSketch{}} }

func (ss *sketchSet) get(phase string) *ddsketch.DDSketch {
	sk := ss.sk[phase]
	if sk == nil {
		sk = newSketch()
		ss.sk[phase] = sk
	}
	return sk
}

// add rolls one run up: completed phase timings of every run, and
// total_ms of the successful runs (a failed run's total measures how fast
// it failed, not the service's latency; it counts in the success ratio).
// durs are the phase durations in µs, in sh's phase order.
func (ss *sketchSet) add(sh *shape, totalUS int64, durs []uint64) {
	ss.runs++
	if sh.Success {
		ss.successes++
		addValue(ss.get(TotalPhase), float64(totalUS)/1e3)
	}
	for i, name := range sh.Phases {
		if sh.Incomplete&(1<<i) != 0 || name == "" || name == TotalPhase {
			continue
		}
		addValue(ss.get(name), float64(durs[i])/1e3)
	}
}

// encode is the sketches column of hours: per phase, in PhaseOrder, the
// name and the sketch (sketches-go Encode format without the index
// mapping, which is always sketchMapping), each behind its length.
func (ss *sketchSet) encode() []byte {
	b := []byte{} // not nil: an hour with no completed phase and no success still has a row (NOT NULL)
	var sk []byte
	for _, name := range orderPhases(ss.sk) {
		sk = sk[:0]
		ss.sk[name].Encode(&sk, true)
		b = binary.AppendUvarint(b, uint64(len(name)))
		b = append(b, name...)
		b = binary.AppendUvarint(b, uint64(len(sk)))
		b = append(b, sk...)
	}
	return b
}

var errSketches = errors.New("malformed roll-up sketches")

// merge adds an hour's counts and encoded sketches to ss.
func (ss *sketchSet) merge(runs, successes int64, b []byte) error {
	ss.runs += runs
	ss.successes += successes
	for len(b) > 0 {
		var field [2][]byte
		for i := range field {
			n, k := binary.Uvarint(b)
			if k <= 0 || uint64(len(b)-k) < n {
				return errSketches
			}
			field[i], b = b[k:k+int(n)], b[k+int(n):]
		}
		if err := ss.get(string(field[0])).DecodeAndMergeWith(field[1]); err != nil {
			return err
		}
	}
	return nil
}

// shape returns shape id as the transaction sees it.
func (w *writeTx) shape(id int64) (*shape, error) {
	if sh := w.shapes[id]; sh != nil {
		return sh, nil
	}
	sh, err := w.s.shapeByID(w.ctx, w.tx, id)
	if err != nil {
		return nil, err
	}
	w.shapes[id] = sh
	return sh, nil
}

// seal rolls target st's hours [st.sealedTo, upTo) up from their runs,
// one hours row per hour that has runs, and moves sealed_to to upTo. An
// hour is sealed once, some time in the hour after it ends (spread); a
// run that arrives later for a sealed hour is merged in (mergeLate).
func (w *writeTx) seal(st *targetState, upTo int64) error {
	if upTo <= st.sealedTo {
		return nil
	}
	sets := map[int64]*sketchSet{}
	var starts []int64
	err := scanRuns(w.ctx, w.tx, runID(st.id, st.sealedTo), runID(st.id, upTo), w.shape, func(c *compactRun, sh *shape, durs []uint64) {
		_, sec := splitID(c.id)
		h := floorTo(sec, 3600)
		if sets[h] == nil {
			sets[h] = newSketchSet()
			starts = append(starts, h)
		}
		sets[h].add(sh, c.totalUS, durs)
	})
	if err != nil {
		return err
	}
	for _, h := range starts {
		ss := sets[h]
		if _, err := w.exec(`INSERT OR REPLACE INTO hours (id, runs, successes, sketches) VALUES (?, ?, ?, ?)`,
			runID(st.id, h), ss.runs, ss.successes, ss.encode()); err != nil {
			return err
		}
	}
	if _, err := w.exec(`UPDATE targets SET sealed_to = ? WHERE id = ?`, upTo, st.id); err != nil {
		return err
	}
	st.sealedTo = upTo
	return nil
}

// mergeLate adds run id, of an hour already sealed, to that hour's row.
func (w *writeTx) mergeLate(id int64, sh *shape, totalUS int64, packed []byte) error {
	tid, sec := splitID(id)
	hid := runID(tid, floorTo(sec, 3600))
	durs, err := decodeDurations(nil, packed, len(sh.Phases))
	if err != nil {
		return err
	}
	ss := newSketchSet()
	var runs, successes int64
	var blob []byte
	switch err := w.queryRow(`SELECT runs, successes, sketches FROM hours WHERE id = ?`, hid).Scan(&runs, &successes, &blob); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return err
	default:
		if err := ss.merge(runs, successes, blob); err != nil {
			return err
		}
	}
	ss.add(sh, totalUS, durs)
	_, err = w.exec(`INSERT OR REPLACE INTO hours (id, runs, successes, sketches) VALUES (?, ?, ?, ?)`,
		hid, ss.runs, ss.successes, ss.encode())
	return err
}

// scanRuns calls f for each run with an id in [lo, hi), in id order, with
// its shape (read through shapeOf) and durations. f must not use q.
func scanRuns(ctx context.Context, q querier, lo, hi int64, shapeOf func(int64) (*shape, error),
	f func(c *compactRun, sh *shape, durs []uint64)) error {
	rows, err := q.QueryContext(ctx, `SELECT id, us, shape, total_us, phases FROM runs WHERE id >= ? AND id < ? ORDER BY id`, lo, hi)
	if err != nil {
		return err
	}
	// Read all rows before looking up shapes: a transaction must not
	// run a statement while its rows are open.
	var runs []compactRun
	for rows.Next() {
		var c compactRun
		if err := rows.Scan(&c.id, &c.us, &c.shape, &c.totalUS, &c.phases); err != nil {
			rows.Close()
			return err
		}
		runs = append(runs, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var durs []uint64
	for i := range runs {
		c := &runs[i]
		sh, err := shapeOf(c.shape)
		if err != nil {
			return err
		}
		if durs, err = decodeDurations(durs, c.phases, len(sh.Phases)); err != nil {
			return fmt.Errorf("run %d: %w", c.id, err)
		}
		f(c, sh, durs)
	}
	return nil
}

// Percentiles reports the phase and total quantiles of target over the
// window ending now, overall and in Buckets buckets of window/Buckets.
//
// The window ends at the end of the current minute (To) and starts one
// window earlier (From); a run started at t lands in bucket
// floor((t-From)/BucketWidth). Buckets narrower than an hour (the 1 h and
// 24 h windows) are built from the runs themselves. Wider ones (7 d) take
// the whole hours inside the window from hour roll-ups, an hour going to
// the bucket its hour starts in (hours not rolled up yet are read from
// their runs and placed alike), and the partial hours at both ends from
// the runs. Overall quantiles merge the buckets' sketches.
func (s *Store) Percentiles(ctx context.Context, target string, window time.Duration, now time.Time) (Report, error) {
	if window < time.Minute {
		return Report{}, fmt.Errorf("store: percentiles: window %v is shorter than a minute", window)
	}
	minute := int64(time.Minute)
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
	tid, ok, err := s.targetID(ctx, s.db, target)
	if err != nil {
		return Report{}, fmt.Errorf("store: percentiles %s: %w", target, err)
	}
	if !ok {
		return rep, nil
	}
	var buckets [Buckets]*sketchSet
	at := func(t int64) *sketchSet {
		i := min(max(floorDiv(t-from, width), 0), Buckets-1)
		if buckets[i] == nil {
			buckets[i] = newSketchSet()
		}
		return buckets[i]
	}
	if err := s.fillBuckets(ctx, tid, from, to, width, at); err != nil {
		return Report{}, fmt.Errorf("store: percentiles %s: %w", target, err)
	}
	if err := report(&rep, &buckets); err != nil {
		return Report{}, fmt.Errorf("store: percentiles %s: %w", target, err)
	}
	return rep, nil
}

// fillBuckets rolls target tid's window [from, to) up into the buckets at
// returns, as Percentiles describes.
func (s *Store) fillBuckets(ctx context.Context, tid, from, to, width int64, at func(t int64) *sketchSet) error {
	hour := int64(time.Hour)
	hFrom, hTo := ceilTo(from, hour), floorTo(to, hour)
	if width < hour || hFrom >= hTo {
		return s.bucketRuns(ctx, tid, from, to, true, true, at)
	}
	var sealedTo int64
	if err := s.db.QueryRowContext(ctx, `SELECT sealed_to FROM targets WHERE id = ?`, tid).Scan(&sealedTo); err != nil {
		return err
	}
	sealed := min(max(sealedTo*1e9, hFrom), hTo)
	rows, err := s.db.QueryContext(ctx, `SELECT id, runs, successes, sketches FROM hours WHERE id >= ? AND id < ?`,
		runID(tid, hFrom/1e9), runID(tid, sealed/1e9))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, runs, successes int64
		var blob []byte
		if err := rows.Scan(&id, &runs, &successes, &blob); err != nil {
			return err
		}
		_, sec := splitID(id)
		if err := at(sec*1e9).merge(runs, successes, blob); err != nil {
			return fmt.Errorf("hour %d: %w", id, err)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if err := s.bucketRuns(ctx, tid, from, hFrom, true, false, at); err != nil {
		return err
	}
	if err := s.bucketRuns(ctx, tid, sealed, hTo, false, false, at); err != nil {
		return err
	}
	return s.bucketRuns(ctx, tid, hTo, to, false, true, at)
}

// bucketRuns adds target tid's runs in [lo, hi) to the buckets. A bound
// that is exact is a run's start; one that is not (an hour) is the second
// of its id (where roll-ups count it), and those runs go to the bucket
// of their hour, like hour roll-ups.
func (s *Store) bucketRuns(ctx context.Context, tid, lo, hi int64, loExact, hiExact bool, at func(t int64) *sketchSet) error {
	if lo >= hi {
		return nil
	}
	loSec, hiSec := floorDiv(lo, 1e9), floorDiv(hi, 1e9)
	if hiExact {
		// A run's id may have moved past its own second (slot).
		hiSec = floorDiv(hi+1e9-1, 1e9) + maxBump
	}
	shapeOf := func(id int64) (*shape, error) { return s.shapeByID(ctx, s.db, id) }
	return scanRuns(ctx, s.db, runID(tid, loSec), runID(tid, hiSec), shapeOf, func(c *compactRun, sh *shape, durs []uint64) {
		t := c.startedUS() * 1e3
		if loExact && t < lo || hiExact && t >= hi {
			return
		}
		if !loExact && !hiExact {
			_, sec := splitID(c.id)
			t = floorTo(sec, 3600) * 1e9
		}
		at(t).add(sh, c.totalUS, durs)
	})
}

// report fills rep's counts and series from the buckets.
func report(rep *Report, buckets *[Buckets]*sketchSet) error {
	series := map[string]*[Buckets]*ddsketch.DDSketch{}
	for i, b := range buckets {
		if b == nil {
			continue
		}
		rep.Runs += int(b.runs)
		rep.Successes += int(b.successes)
		for phase, sk := range b.sk {
			if series[phase] == nil {
				series[phase] = new([Buckets]*ddsketch.DDSketch)
			}
			series[phase][i] = sk
		}
	}
	if rep.Runs > 0 {
		rep.SuccessRatio = float64(rep.Successes) / float64(rep.Runs)
		if series[TotalPhase] == nil {
			series[TotalPhase] = new([Buckets]*ddsketch.DDSketch)
		}
	}
	for _, phase := range orderPhases(series) {
		ps := PhaseSeries{Phase: phase, Buckets: make([]Quantiles, Buckets)}
		all := newSketch()
		for i, sk := range series[phase] {
			if sk == nil {
				continue
			}
			ps.Buckets[i] = quantiles(sk)
			if err := all.MergeWith(sk); err != nil {
				return err
			}
		}
		ps.Overall = quantiles(all)
		if ps.Overall.Count == 0 && phase != TotalPhase {
			continue
		}
		rep.Phases = append(rep.Phases, ps)
	}
	return nil
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
