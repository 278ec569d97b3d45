package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/pathlens/pathlens/probe"
)

// A run id packs a target id and a second: target_id<<secBits | unix
// second. It keys runs, docs and doc_bases (and, with the hour's first
// second, hours), so that a target's rows are one contiguous range of each
// table, in time order, and the id the UI and API show names its row
// without an index. Ids stay below 2^53 (exact in JavaScript) while target
// ids stay below 2^20.
const (
	secBits     = 33 // seconds up to the year 2242
	secMask     = 1<<secBits - 1
	maxTargetID = 1<<(63-secBits) - 1
	// maxBump is how far past its own second a run's id may move when a
	// run of its target already holds that second (two runs of a target
	// in one second; the scheduler never starts them that close).
	maxBump = 3600
)

func runID(tid, sec int64) int64        { return tid<<secBits | sec }
func splitID(id int64) (tid, sec int64) { return id >> secBits, id & secMask }

// targetRange is the id range [lo, hi) of target tid's rows.
func targetRange(tid int64) (lo, hi int64) { return runID(tid, 0), runID(tid+1, 0) }

// legacyID reports whether id is a run id from before the compact schema
// (a row id of the old results table, kept in legacy_ids).
func legacyID(id int64) bool { return id > 0 && id < 1<<secBits }

// shape is what a run shares with most runs of its target: everything
// but its time and durations. Shapes are stored once (the shapes table)
// and named by id from each run.
type shape struct {
	Kind       string
	Success    bool
	ErrClass   string // "" on success
	ErrPhase   string
	Phases     []string // in run order
	Incomplete uint64   // bit i: Phases[i] was still in flight when the probe ended
	Findings   []shapeFinding
}

// shapeFinding is what a compact run keeps of a finding.
type shapeFinding struct {
	ID       string         `json:"id"`
	Severity probe.Severity `json:"severity"`
	Phase    string         `json:"phase,omitempty"`
}

// maxPhases is the most phases a run may have (one bit each in
// shape.Incomplete).
const maxPhases = 64

// shapeOf is the shape of r, with findings deduplicated by ID (the last
// one wins, in the position of the first).
func shapeOf(r *probe.Result) (shape, error) {
	sh := shape{Kind: r.Kind, Success: r.Success, Phases: make([]string, len(r.Phases)), Findings: []shapeFinding{}}
	if len(r.Phases) > maxPhases {
		return sh, fmt.Errorf("%d phases, at most %d are stored", len(r.Phases), maxPhases)
	}
	if r.Error != nil {
		sh.ErrClass, sh.ErrPhase = string(r.Error.Class), r.Error.Phase
	}
	for i, p := range r.Phases {
		sh.Phases[i] = p.Name
		if p.Incomplete {
			sh.Incomplete |= 1 << i
		}
	}
	seen := map[string]int{}
	for _, f := range r.Findings {
		sf := shapeFinding{ID: f.ID, Severity: f.Severity, Phase: f.Phase}
		if i, ok := seen[f.ID]; ok {
			sh.Findings[i] = sf
			continue
		}
		seen[f.ID] = len(sh.Findings)
		sh.Findings = append(sh.Findings, sf)
	}
	return sh, nil
}

// columns are the shape's values as stored in the shapes table.
func (sh *shape) columns() (phases, findings string) {
	p, _ := json.Marshal(sh.Phases)
	f, _ := json.Marshal(sh.Findings)
	return string(p), string(f)
}

// key identifies the shape in the in-memory dictionary.
func (sh *shape) key() string {
	p, f := sh.columns()
	return strings.Join([]string{sh.Kind, fmt.Sprint(sh.Success), sh.ErrClass, sh.ErrPhase, p, fmt.Sprint(sh.Incomplete), f}, "\x00")
}

// micros is ms in whole microseconds, clamped to [0, MaxInt64/2] (NaN is
// 0): probes report durations rounded to the microsecond already.
func micros(ms float64) uint64 {
	switch {
	case math.IsNaN(ms) || ms <= 0:
		return 0
	case ms >= math.MaxInt64/2000:
		return math.MaxInt64 / 2
	}
	return uint64(math.Round(ms * 1000))
}

// encodeDurations packs the phase durations: uvarints of microseconds in
// the run's phase order (the shape names the phases).
func encodeDurations(phases []probe.Phase) []byte {
	b := make([]byte, 0, 3*len(phases))
	for _, p := range phases {
		b = binary.AppendUvarint(b, micros(p.DurationMS))
	}
	return b
}

var errDurations = errors.New("phase durations do not match the run's shape")

// decodeDurations unpacks n phase durations (µs) into dst.
func decodeDurations(dst []uint64, b []byte, n int) ([]uint64, error) {
	dst = dst[:0]
	for range n {
		v, k := binary.Uvarint(b)
		if k <= 0 {
			return dst, errDurations
		}
		dst = append(dst, v)
		b = b[k:]
	}
	if len(b) != 0 {
		return dst, errDurations
	}
	return dst, nil
}

// compactRun is one row of runs.
type compactRun struct {
	id      int64
	us      int64 // started_at minus the id's second, µs (negative when the id moved past a taken second)
	shape   int64
	totalUS int64
	phases  []byte
}

// startedUS is the run's start in unix microseconds.
func (c *compactRun) startedUS() int64 {
	_, sec := splitID(c.id)
	return sec*1e6 + c.us
}

// partialResult is what a compact row says of its run: kind, start,
// success, total, phases (durations, laid end to end from 0), error class
// and phase, findings (id, severity and phase). url is the target's URL
// at the time (configs).
func partialResult(c *compactRun, sh *shape, url string) (*probe.Result, error) {
	durs, err := decodeDurations(nil, c.phases, len(sh.Phases))
	if err != nil {
		return nil, err
	}
	r := &probe.Result{
		Schema: probe.Schema, Target: url, Kind: sh.Kind,
		StartedAt: time.UnixMicro(c.startedUS()).UTC(), Success: sh.Success,
		TotalMS: float64(c.totalUS) / 1e3, Phases: make([]probe.Phase, len(sh.Phases)),
		Findings: make([]probe.Finding, len(sh.Findings)),
	}
	if sh.ErrClass != "" || sh.ErrPhase != "" {
		r.Error = &probe.ErrorInfo{Class: probe.ErrorClass(sh.ErrClass), Phase: sh.ErrPhase}
	}
	var start uint64
	for i, name := range sh.Phases {
		r.Phases[i] = probe.Phase{Name: name, StartMS: float64(start) / 1e3, DurationMS: float64(durs[i]) / 1e3,
			Incomplete: sh.Incomplete&(1<<i) != 0}
		start += durs[i]
	}
	for i, f := range sh.Findings {
		r.Findings[i] = probe.Finding{ID: f.ID, Severity: f.Severity, Phase: f.Phase}
	}
	return r, nil
}
