package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/pathlens/pathlens/probe"
)

// prepared is a record made ready for the transaction: everything that
// does not need the database is done before the write lock is taken,
// except the document's JSON, which most runs never need.
type prepared struct {
	name, module, url string
	res               *probe.Result
	at                int64 // started_at, unix nanoseconds
	sh                shape
	key               string // sh.key()
	durs              []byte // encodeDurations
	totalUS           int64
	findings          []preparedFinding // one per distinct ID, last one wins
	idsJSON           string            // JSON array of the finding IDs
	js                []byte            // the document, once marshalled
}

type preparedFinding struct {
	id   string
	rank int
	json []byte
}

func prepare(r Record) (*prepared, error) {
	p := &prepared{name: targetOf(r), module: r.Module, url: r.Result.Target, res: r.Result, at: r.Result.StartedAt.UnixNano()}
	if sec := floorDiv(p.at, 1e9); sec < 0 || sec > secMask {
		return nil, fmt.Errorf("started_at %v is out of range", r.Result.StartedAt)
	}
	var err error
	if p.sh, err = shapeOf(r.Result); err != nil {
		return nil, err
	}
	p.key, p.durs, p.totalUS = p.sh.key(), encodeDurations(r.Result.Phases), int64(micros(r.Result.TotalMS))
	last := map[string]probe.Finding{}
	for _, f := range r.Result.Findings {
		last[f.ID] = f
	}
	ids := make([]string, len(p.sh.Findings))
	for i, sf := range p.sh.Findings {
		f := last[sf.ID]
		fj, err := json.Marshal(f)
		if err != nil {
			return nil, err
		}
		p.findings = append(p.findings, preparedFinding{id: f.ID, rank: f.Severity.Rank(), json: fj})
		ids[i] = f.ID
	}
	b, _ := json.Marshal(ids)
	p.idsJSON = string(b)
	return p, nil
}

// doc returns the JSON document of p's Result as stored (storedCopy).
func (p *prepared) doc() ([]byte, error) {
	if p.js == nil {
		js, err := json.Marshal(storedCopy(p.res))
		if err != nil {
			return nil, err
		}
		p.js = js
	}
	return p.js, nil
}

// writeTx is one batch's transaction and what it learned on the way: the
// rows it added to the dictionaries and its targets' new state, merged
// into Store.dict once it commits.
type writeTx struct {
	s        *Store
	ctx      context.Context
	tx       *sql.Tx
	stmts    map[string]*sql.Stmt
	names    map[string]int64
	shapeIDs map[string]int64
	shapes   map[int64]*shape
	states   map[int64]*targetState
	newest   map[int64]*prepared // per target, the batch's run that is now its latest
	newestID map[int64]int64
	bases    map[int64][]byte // base documents' JSON by id
}

func newWriteTx(ctx context.Context, s *Store, tx *sql.Tx) *writeTx {
	return &writeTx{s: s, ctx: ctx, tx: tx, stmts: map[string]*sql.Stmt{}, names: map[string]int64{},
		shapeIDs: map[string]int64{}, shapes: map[int64]*shape{}, states: map[int64]*targetState{},
		newest: map[int64]*prepared{}, newestID: map[int64]int64{}, bases: map[int64][]byte{}}
}

func (w *writeTx) stmt(q string) (*sql.Stmt, error) {
	if st := w.stmts[q]; st != nil {
		return st, nil
	}
	st, err := w.tx.PrepareContext(w.ctx, q)
	if err != nil {
		return nil, err
	}
	w.stmts[q] = st
	return st, nil
}

func (w *writeTx) exec(q string, args ...any) (sql.Result, error) {
	st, err := w.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(w.ctx, args...)
}

func (w *writeTx) queryRow(q string, args ...any) *sql.Row {
	st, err := w.stmt(q)
	if err != nil {
		return w.tx.QueryRowContext(w.ctx, q, args...) // reports the same error
	}
	return st.QueryRowContext(w.ctx, args...)
}

func (w *writeTx) close() {
	for _, st := range w.stmts {
		st.Close()
	}
}

// commit merges what the committed transaction added into the Store's
// dictionary.
func (w *writeTx) commit() { w.s.dict.commit(w.names, w.shapeIDs, w.shapes, w.states) }

// target returns the working state of target name, creating the target
// (sealed up to the hour of sec) when it is new.
func (w *writeTx) target(name string, sec int64) (*targetState, error) {
	tid, ok := w.names[name]
	if !ok {
		var err error
		if tid, ok, err = w.s.targetID(w.ctx, w.tx, name); err != nil {
			return nil, err
		}
	}
	if !ok {
		res, err := w.exec(`INSERT INTO targets (name, sealed_to) VALUES (?, ?)`, name, floorTo(sec, 3600))
		if err != nil {
			return nil, err
		}
		if tid, err = res.LastInsertId(); err != nil {
			return nil, err
		}
		if tid > maxTargetID {
			return nil, fmt.Errorf("target %s: more than %d targets", name, maxTargetID)
		}
		w.names[name] = tid
		st := &targetState{id: tid, sealedTo: floorTo(sec, 3600)}
		w.states[tid] = st
		return st, nil
	}
	if st := w.states[tid]; st != nil {
		return st, nil
	}
	if st := w.s.dict.states[tid]; st != nil { // under wmu
		c := *st
		w.states[tid] = &c
		return &c, nil
	}
	st, err := loadState(w.ctx, w.tx, tid)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", name, err)
	}
	w.states[tid] = st
	return st, nil
}

// shapeID returns the id of p's shape, adding it when new.
func (w *writeTx) shapeID(p *prepared) (int64, error) {
	w.s.dict.mu.RLock()
	id, ok := w.s.dict.shapeIDs[p.key]
	w.s.dict.mu.RUnlock()
	if ok {
		return id, nil
	}
	if id, ok := w.shapeIDs[p.key]; ok {
		return id, nil
	}
	sh := p.sh
	phases, findings := sh.columns()
	cols := []any{sh.Kind, sh.Success, sh.ErrClass, sh.ErrPhase, phases, sh.Incomplete, findings}
	err := w.queryRow(`SELECT id FROM shapes WHERE kind = ? AND success = ? AND error_class = ? AND error_phase = ?
		AND phases = ? AND incomplete = ? AND findings = ?`, cols...).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		var res sql.Result
		if res, err = w.exec(`INSERT INTO shapes (kind, success, error_class, error_phase, phases, incomplete, findings)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, cols...); err == nil {
			id, err = res.LastInsertId()
		}
	}
	if err != nil {
		return 0, fmt.Errorf("shape: %w", err)
	}
	w.shapeIDs[p.key], w.shapes[id] = id, &sh
	return id, nil
}

// slot returns the run id of a run of st started in second sec: sec's,
// or when a run of the target already holds it the next free one.
func (w *writeTx) slot(st *targetState, sec int64) (int64, error) {
	if _, last := splitID(st.lastID); st.lastID == 0 || sec > last {
		return runID(st.id, sec), nil
	}
	st2, err := w.stmt(`SELECT id FROM runs WHERE id >= ? AND id <= ? ORDER BY id`)
	if err != nil {
		return 0, err
	}
	rows, err := st2.QueryContext(w.ctx, runID(st.id, sec), runID(st.id, min(sec+maxBump, secMask)))
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	next := runID(st.id, sec)
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return 0, err
		}
		if id != next {
			break
		}
		next++
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if _, s := splitID(next); s > sec+maxBump || s > secMask {
		return 0, fmt.Errorf("no free second within %d s of %s", maxBump, time.Unix(sec, 0).UTC().Format(time.RFC3339))
	}
	return next, nil
}

// spread is target tid's offset into the hour, in seconds: its hourly
// sample document and its roll-up of the hour past fall at this offset
// rather than all targets' at once on the hour.
func spread(tid int64) int64 { return int64((uint64(tid)*0x9E3779B97F4A7C15)>>32) % 3600 }

// samplePeriod numbers the hours, shifted by spread, of which the first
// run of a target keeps its document.
func samplePeriod(tid, sec int64) int64 { return floorDiv(sec-spread(tid), 3600) }

// writeRun stores one run: its compact row, its document when it keeps
// one, its finding spans, and the roll-ups of the hours it closes.
func (w *writeTx) writeRun(p *prepared) error {
	st, err := w.target(p.name, floorDiv(p.at, 1e9))
	if err != nil {
		return err
	}
	id, err := w.slot(st, floorDiv(p.at, 1e9))
	if err != nil {
		return fmt.Errorf("target %s: %w", p.name, err)
	}
	_, sec := splitID(id)
	if err := w.seal(st, floorTo(sec-spread(st.id), 3600)); err != nil {
		return fmt.Errorf("target %s: roll-up: %w", p.name, err)
	}
	shID, err := w.shapeID(p)
	if err != nil {
		return err
	}
	isLatest, first := id > st.lastID, st.lastID == 0
	_, lastSec := splitID(st.lastID)
	configChanged := isLatest && (!st.hasConfig || st.module != p.module || st.url != p.url)
	if configChanged {
		if _, err := w.exec(`INSERT OR REPLACE INTO configs (id, module, url) VALUES (?, ?, ?)`, id, p.module, p.url); err != nil {
			return err
		}
		st.module, st.url, st.hasConfig = p.module, p.url, true
	}
	if _, err := w.exec(`INSERT INTO runs (id, us, shape, total_us, phases) VALUES (?, ?, ?, ?, ?)`,
		id, floorDiv(p.at, 1e3)-sec*1e6, shID, p.totalUS, p.durs); err != nil {
		return err
	}
	if floorTo(sec, 3600) < st.sealedTo {
		if err := w.mergeLate(id, &p.sh, p.totalUS, p.durs); err != nil {
			return fmt.Errorf("target %s: roll-up: %w", p.name, err)
		}
	}
	if !p.sh.Success || first || shID != st.lastShape || configChanged || samplePeriod(st.id, sec) != samplePeriod(st.id, lastSec) {
		if err := w.keepDoc(st, p, id); err != nil {
			return fmt.Errorf("target %s: document: %w", p.name, err)
		}
	}
	if err := w.spans(st.id, p, isLatest, first || shID != st.lastShape); err != nil {
		return err
	}
	if isLatest {
		st.lastID, st.lastShape = id, shID
		w.newest[st.id], w.newestID[st.id] = p, id
	}
	return nil
}

// keepDoc stores the whole document of run id as a delta against one of
// the target's two latest bases (the one that served last first), or as
// its new base when neither makes a small delta: a target that fails now
// and then has a base for its successes and one for its failures.
func (w *writeTx) keepDoc(st *targetState, p *prepared, id int64) error {
	js, err := p.doc()
	if err != nil {
		return err
	}
	for _, b := range []int64{st.base, st.alt} {
		if b == 0 {
			continue
		}
		base, err := w.baseJSON(b)
		if errors.Is(err, sql.ErrNoRows) {
			continue // pruned
		}
		if err != nil {
			return err
		}
		if d := encodeDelta(js, base); len(d)*rebaseRatio <= len(js) {
			if b == st.alt {
				st.base, st.alt = st.alt, st.base
				if _, err := w.exec(`UPDATE targets SET base = ? WHERE id = ?`, st.base, st.id); err != nil {
					return err
				}
			}
			_, err := w.exec(`INSERT INTO docs (id, base, doc) VALUES (?, ?, ?)`, id, b, d)
			return err
		}
	}
	if _, err := w.exec(`INSERT INTO doc_bases (id, doc) VALUES (?, ?)`, id, encodeFlate(js)); err != nil {
		return err
	}
	if _, err := w.exec(`INSERT INTO docs (id, base, doc) VALUES (?, ?, ?)`, id, id, []byte{docIsBase}); err != nil {
		return err
	}
	if _, err := w.exec(`UPDATE targets SET base = ? WHERE id = ?`, id, st.id); err != nil {
		return err
	}
	st.base, st.alt, w.bases[id] = id, st.base, js
	return nil
}

// baseJSON returns the JSON of base document id.
func (w *writeTx) baseJSON(id int64) ([]byte, error) {
	if js := w.bases[id]; js != nil {
		return js, nil
	}
	var doc []byte
	if err := w.queryRow(`SELECT doc FROM doc_bases WHERE id = ?`, id).Scan(&doc); err != nil {
		return nil, err
	}
	js, err := decodeDoc(doc, nil)
	if err != nil {
		return nil, fmt.Errorf("base %d: %w", id, err)
	}
	w.bases[id] = js
	return js, nil
}

const (
	// ?1 target_id, ?2 id, ?3 started_at, ?4 finding JSON, ?5 severity
	// rank, ?6 whether this run is the target's latest.
	sqlUpsertSpan = `INSERT INTO spans
	(target_id, id, first_seen, last_seen, runs, active, last, severity_rank)
	VALUES (?1, ?2, ?3, ?3, 1, ?6, ?4, ?5)
	ON CONFLICT (target_id, id) DO UPDATE SET
		first_seen = min(first_seen, excluded.first_seen),
		last_seen = max(last_seen, excluded.last_seen),
		runs = runs + 1,
		active = CASE WHEN ?6 THEN 1 ELSE active END,
		last = CASE WHEN excluded.last_seen >= last_seen THEN excluded.last ELSE last END,
		severity_rank = CASE WHEN excluded.last_seen >= last_seen THEN excluded.severity_rank ELSE severity_rank END`
	sqlDeactivateSpans = `UPDATE spans SET active = 0
	WHERE target_id = ? AND active = 1 AND id NOT IN (SELECT value FROM json_each(?))`
)

// spans counts p's findings into its target's finding spans; a latest
// run whose findings may differ from the previous latest's (changed)
// also ends the spans of the findings it no longer has.
func (w *writeTx) spans(tid int64, p *prepared, isLatest, changed bool) error {
	for _, f := range p.findings {
		if _, err := w.exec(sqlUpsertSpan, tid, f.id, p.at, f.json, f.rank, isLatest); err != nil {
			return err
		}
	}
	if isLatest && changed {
		if _, err := w.exec(sqlDeactivateSpans, tid, p.idsJSON); err != nil {
			return err
		}
	}
	return nil
}

// writeLatest stores the document of each target's latest run, as plain
// JSON: it is rewritten on every run of every target, and deflating it
// cost a third of a batch write's CPU (the Huffman tables of a small
// block) to save about 1.4 KB in a table of one row per target.
func (w *writeTx) writeLatest() error {
	for tid, p := range w.newest {
		js, err := p.doc()
		if err != nil {
			return err
		}
		if _, err := w.exec(`INSERT INTO latest (target_id, run_id, doc) VALUES (?, ?, ?)
			ON CONFLICT (target_id) DO UPDATE SET run_id = excluded.run_id, doc = excluded.doc`,
			tid, w.newestID[tid], append([]byte{docRaw}, js...)); err != nil {
			return err
		}
	}
	return nil
}
