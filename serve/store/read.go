package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pathlens/pathlens/probe"
)

// Results returns the stored results of target (every target when target
// is "") started at or after since, newest first, at most limit of them
// (limit is clamped to 1..MaxResults; 0 means MaxResults). A result is
// whole where its document is kept and partial elsewhere
// (StoredResult.Full). Every target costs a query of its own when target
// is "".
func (s *Store) Results(ctx context.Context, target string, since time.Time, limit int) ([]StoredResult, error) {
	if limit <= 0 || limit > MaxResults {
		limit = MaxResults
	}
	out, err := s.results(ctx, target, since, limit)
	if err != nil {
		return nil, fmt.Errorf("store: results: %w", err)
	}
	return out, nil
}

func (s *Store) results(ctx context.Context, target string, since time.Time, limit int) ([]StoredResult, error) {
	if target == "" {
		return s.resultsAll(ctx, since, limit)
	}
	out := []StoredResult{}
	tid, ok, err := s.targetID(ctx, s.db, target)
	if err != nil || !ok {
		return out, err
	}
	runs, err := s.runsOf(ctx, tid, since, limit)
	if err != nil {
		return nil, err
	}
	return s.resolve(ctx, tid, target, runs, out)
}

// resultsAll is Results of every target: each target's newest runs,
// merged.
func (s *Store) resultsAll(ctx context.Context, since time.Time, limit int) ([]StoredResult, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name FROM targets ORDER BY id`)
	if err != nil {
		return nil, err
	}
	type target struct {
		id   int64
		name string
	}
	var targets []target
	for rows.Next() {
		var t target
		if err := rows.Scan(&t.id, &t.name); err != nil {
			rows.Close()
			return nil, err
		}
		targets = append(targets, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var all []compactRun
	for _, t := range targets {
		runs, err := s.runsOf(ctx, t.id, since, limit)
		if err != nil {
			return nil, err
		}
		all = append(all, runs...)
	}
	slices.SortFunc(all, func(a, b compactRun) int {
		if c := cmp.Compare(b.startedUS(), a.startedUS()); c != 0 {
			return c
		}
		return cmp.Compare(b.id, a.id)
	})
	all = all[:min(len(all), limit)]
	out := make([]StoredResult, 0, len(all))
	for _, c := range all {
		tid, _ := splitID(c.id)
		name, err := s.targetName(ctx, tid)
		if err != nil {
			return nil, err
		}
		if out, err = s.resolve(ctx, tid, name, []compactRun{c}, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// runsOf returns target tid's runs started at or after since, newest
// first, at most limit.
func (s *Store) runsOf(ctx context.Context, tid int64, since time.Time, limit int) ([]compactRun, error) {
	lo, hi := targetRange(tid)
	sinceUS := floorDiv(nanos(since), 1e3)
	if sec := floorDiv(sinceUS, 1e6); sec > 0 {
		lo = runID(tid, min(sec, secMask))
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, us, shape, total_us, phases FROM runs
		WHERE id >= ? AND id < ? AND (id & ?) * 1000000 + us >= ?
		ORDER BY id DESC LIMIT ?`, lo, hi, int64(secMask), sinceUS, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []compactRun
	for rows.Next() {
		var c compactRun
		if err := rows.Scan(&c.id, &c.us, &c.shape, &c.totalUS, &c.phases); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// doc is a stored document of a run.
type doc struct {
	base int64
	doc  []byte
}

// resolve turns runs of target tid (named name) into StoredResults,
// appended to out: each run with its document when one is kept (in docs,
// or in latest for the target's latest run), else as a partial Result.
func (s *Store) resolve(ctx context.Context, tid int64, name string, runs []compactRun, out []StoredResult) ([]StoredResult, error) {
	if len(runs) == 0 {
		return out, nil
	}
	loID, hiID := runs[0].id, runs[0].id
	for _, c := range runs {
		loID, hiID = min(loID, c.id), max(hiID, c.id)
	}
	cfgs, err := s.configsOf(ctx, tid)
	if err != nil {
		return nil, err
	}
	docs, err := s.docsIn(ctx, tid, loID, hiID)
	if err != nil {
		return nil, err
	}
	bases := map[int64][]byte{}
	for i := range runs {
		c := &runs[i]
		sr := StoredResult{ID: c.id, Target: name}
		cfg := configAt(cfgs, c.id)
		sr.Module = cfg.module
		if d, ok := docs[c.id]; ok {
			if sr.Result, err = s.decodeResult(ctx, d, bases); err != nil {
				return nil, fmt.Errorf("run %d: %w", c.id, err)
			}
			sr.Full = true
		} else {
			sh, err := s.shapeByID(ctx, s.db, c.shape)
			if err != nil {
				return nil, err
			}
			if sr.Result, err = partialResult(c, sh, cfg.url); err != nil {
				return nil, fmt.Errorf("run %d: %w", c.id, err)
			}
		}
		out = append(out, sr)
	}
	return out, nil
}

// docsIn returns target tid's documents of runs with ids in [lo, hi]: the
// kept ones and its latest run's.
func (s *Store) docsIn(ctx context.Context, tid, lo, hi int64) (map[int64]doc, error) {
	docs := map[int64]doc{}
	var latestID int64
	var latest []byte
	err := s.db.QueryRowContext(ctx, `SELECT run_id, doc FROM latest WHERE target_id = ?`, tid).Scan(&latestID, &latest)
	switch {
	case err == nil && latestID >= lo && latestID <= hi:
		docs[latestID] = doc{doc: latest}
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, base, doc FROM docs WHERE id >= ? AND id <= ?`, lo, hi)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var base sql.NullInt64
		var d []byte
		if err := rows.Scan(&id, &base, &d); err != nil {
			return nil, err
		}
		if _, ok := docs[id]; !ok {
			docs[id] = doc{base: base.Int64, doc: d}
		}
	}
	return docs, rows.Err()
}

// decodeResult reads a document into a Result; bases caches the base
// documents read.
func (s *Store) decodeResult(ctx context.Context, d doc, bases map[int64][]byte) (*probe.Result, error) {
	var base []byte
	if needsBase(d.doc) {
		if base = bases[d.base]; base == nil {
			var b []byte
			if err := s.db.QueryRowContext(ctx, `SELECT doc FROM doc_bases WHERE id = ?`, d.base).Scan(&b); err != nil {
				return nil, fmt.Errorf("base %d: %w", d.base, err)
			}
			var err error
			if base, err = decodeDoc(b, nil); err != nil {
				return nil, fmt.Errorf("base %d: %w", d.base, err)
			}
			bases[d.base] = base
		}
	}
	js, err := decodeDoc(d.doc, base)
	if err != nil {
		return nil, err
	}
	r := new(probe.Result)
	if err := json.Unmarshal(js, r); err != nil {
		return nil, err
	}
	return r, nil
}

// config is one row of configs.
type config struct {
	id          int64
	module, url string
}

// configsOf returns target tid's configs, oldest first.
func (s *Store) configsOf(ctx context.Context, tid int64) ([]config, error) {
	lo, hi := targetRange(tid)
	rows, err := s.db.QueryContext(ctx, `SELECT id, module, url FROM configs WHERE id >= ? AND id < ? ORDER BY id`, lo, hi)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []config
	for rows.Next() {
		var c config
		if err := rows.Scan(&c.id, &c.module, &c.url); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// configAt is the config in force for run id: the newest from id on or
// before it (the oldest for a run older than all).
func configAt(cfgs []config, id int64) config {
	if len(cfgs) == 0 {
		return config{}
	}
	i, found := slices.BinarySearchFunc(cfgs, id, func(c config, id int64) int { return cmp.Compare(c.id, id) })
	if found {
		return cfgs[i]
	}
	return cfgs[max(i-1, 0)]
}

// Result returns the stored result with the given id; the error wraps
// sql.ErrNoRows when there is none. Ids from before the compact schema
// (the old results table's) still find their run.
func (s *Store) Result(ctx context.Context, id int64) (StoredResult, error) {
	sr, err := s.result(ctx, id)
	if err != nil {
		return StoredResult{}, fmt.Errorf("store: result %d: %w", id, err)
	}
	return sr, nil
}

func (s *Store) result(ctx context.Context, id int64) (StoredResult, error) {
	if legacyID(id) {
		if err := s.db.QueryRowContext(ctx, `SELECT run_id FROM legacy_ids WHERE id = ?`, id).Scan(&id); err != nil {
			return StoredResult{}, err
		}
	}
	var c compactRun
	if err := s.db.QueryRowContext(ctx, `SELECT id, us, shape, total_us, phases FROM runs WHERE id = ?`, id).
		Scan(&c.id, &c.us, &c.shape, &c.totalUS, &c.phases); err != nil {
		return StoredResult{}, err
	}
	tid, _ := splitID(id)
	name, err := s.targetName(ctx, tid)
	if err != nil {
		return StoredResult{}, err
	}
	out, err := s.resolve(ctx, tid, name, []compactRun{c}, nil)
	if err != nil {
		return StoredResult{}, err
	}
	return out[0], nil
}

// Latest returns the newest stored result of target, whole; ok is false
// when the target has none.
func (s *Store) Latest(ctx context.Context, target string) (sr StoredResult, ok bool, err error) {
	out, err := s.results(ctx, target, time.Time{}, 1)
	if err != nil {
		return StoredResult{}, false, fmt.Errorf("store: latest %s: %w", target, err)
	}
	if len(out) == 0 {
		return StoredResult{}, false, nil
	}
	return out[0], true, nil
}

// Findings returns the finding spans of target (of every target when
// target is ""): the active ones first, worst severity first and then the
// most recently seen, followed by the inactive ones, most recently seen
// first.
func (s *Store) Findings(ctx context.Context, target string) ([]FindingSpan, error) {
	out := []FindingSpan{}
	q := `SELECT t.name, f.first_seen, f.last_seen, f.runs, f.active, f.last FROM spans f JOIN targets t ON t.id = f.target_id`
	var args []any
	if target != "" {
		tid, ok, err := s.targetID(ctx, s.db, target)
		if err != nil {
			return nil, fmt.Errorf("store: findings: %w", err)
		}
		if !ok {
			return out, nil
		}
		q += ` WHERE f.target_id = ?`
		args = append(args, tid)
	}
	q += ` ORDER BY f.active DESC, CASE WHEN f.active THEN f.severity_rank ELSE 0 END DESC,
		f.last_seen DESC, t.name, f.id`
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: findings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var fs FindingSpan
		var first, last int64
		var js []byte
		if err := rows.Scan(&fs.Target, &first, &last, &fs.Runs, &fs.Active, &js); err != nil {
			return nil, fmt.Errorf("store: findings: %w", err)
		}
		if err := json.Unmarshal(js, &fs.Finding); err != nil {
			return nil, fmt.Errorf("store: findings: %w", err)
		}
		fs.FirstSeen, fs.LastSeen = fromNanos(first), fromNanos(last)
		out = append(out, fs)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: findings: %w", err)
	}
	return out, nil
}
