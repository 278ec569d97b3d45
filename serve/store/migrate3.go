package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"

	"github.com/pathlens/pathlens/probe"
)

// convertPage is how many old results convertV2 reads at a time.
const convertPage = 500

// convertV2 moves the v2 history into the v3 tables and drops the v2
// tables. Every old result becomes a run that keeps its document (its
// JSON as stored, compressed alone), reachable by its new id and by its
// old one (legacy_ids); each target's latest result becomes its latest
// document; the hour roll-ups are rebuilt from the runs (the minute ones
// are not needed any more) and the finding spans are kept as they are.
func convertV2(ctx context.Context, tx *sql.Tx) error {
	w := newWriteTx(ctx, &Store{dict: newDict()}, tx)
	defer w.close()
	after := []any{"", int64(math.MinInt64), int64(math.MinInt64)}
	for {
		n, last, err := w.convertPage(after)
		if err != nil {
			return err
		}
		if n < convertPage {
			break
		}
		after = last
	}
	for tid, st := range w.states {
		_, sec := splitID(st.lastID)
		if err := w.seal(st, floorTo(sec, 3600)); err != nil {
			return fmt.Errorf("roll up target %d: %w", tid, err)
		}
	}
	if err := w.writeLatest(); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `
INSERT INTO spans (target_id, id, first_seen, last_seen, runs, active, severity_rank, last)
	SELECT t.id, f.id, f.first_seen, f.last_seen, f.runs, f.active, f.severity_rank, f.last
	FROM finding_spans f JOIN targets t ON t.name = f.target;
-- Children first: with foreign keys on, dropping results would first
-- delete their phases and findings row by row.
DROP TABLE phases;
DROP TABLE findings;
DROP TABLE finding_spans;
DROP TABLE rollups;
DROP TABLE results;
`)
	return err
}

// convertPage converts the old results after the key after (target,
// started_at, id), and returns how many it read and the key of the last.
func (w *writeTx) convertPage(after []any) (int, []any, error) {
	type old struct {
		id, at               int64
		target, module, kind string
		success              bool
		totalMS              float64
		errClass, errPhase   sql.NullString
		js                   []byte
	}
	rows, err := w.tx.QueryContext(w.ctx, `SELECT id, target, module, kind, started_at, success, total_ms,
		error_class, error_phase, json FROM results
		WHERE (target, started_at, id) > (?, ?, ?) ORDER BY target, started_at, id LIMIT ?`, append(after, convertPage)...)
	if err != nil {
		return 0, nil, err
	}
	var page []old
	for rows.Next() {
		var o old
		if err := rows.Scan(&o.id, &o.target, &o.module, &o.kind, &o.at, &o.success, &o.totalMS, &o.errClass, &o.errPhase, &o.js); err != nil {
			rows.Close()
			return 0, nil, err
		}
		page = append(page, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, nil, err
	}
	for _, o := range page {
		r := new(probe.Result)
		if json.Unmarshal(o.js, r) != nil {
			// What the columns say; the document keeps the bytes.
			r = &probe.Result{Kind: o.kind, Success: o.success, TotalMS: o.totalMS}
			if o.errClass.Valid {
				r.Error = &probe.ErrorInfo{Class: probe.ErrorClass(o.errClass.String), Phase: o.errPhase.String}
			}
		}
		r.StartedAt = fromNanos(o.at)
		if err := w.convertRun(o.id, Record{Target: o.target, Module: o.module, Result: r}, o.js); err != nil {
			return 0, nil, fmt.Errorf("result %d: %w", o.id, err)
		}
	}
	if len(page) == 0 {
		return 0, after, nil
	}
	last := page[len(page)-1]
	return len(page), []any{last.target, last.at, last.id}, nil
}

// convertRun stores old result oldID (rec, whose JSON was js) as a run
// that keeps its document.
func (w *writeTx) convertRun(oldID int64, rec Record, js []byte) error {
	p, err := prepare(rec)
	if err != nil {
		return err
	}
	p.js = js
	st, err := w.target(p.name, floorDiv(p.at, 1e9))
	if err != nil {
		return err
	}
	id, err := w.slot(st, floorDiv(p.at, 1e9))
	if err != nil {
		return err
	}
	_, sec := splitID(id)
	shID, err := w.shapeID(p)
	if err != nil {
		return err
	}
	if !st.hasConfig || st.module != p.module || st.url != p.url {
		if _, err := w.exec(`INSERT INTO configs (id, module, url) VALUES (?, ?, ?)`, id, p.module, p.url); err != nil {
			return err
		}
		st.module, st.url, st.hasConfig = p.module, p.url, true
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO runs (id, us, shape, total_us, phases) VALUES (?, ?, ?, ?, ?)`, []any{id, floorDiv(p.at, 1e3) - sec*1e6, shID, p.totalUS, p.durs}},
		{`INSERT INTO docs (id, doc) VALUES (?, ?)`, []any{id, encodeFlate(js)}},
		{`INSERT INTO legacy_ids (id, run_id) VALUES (?, ?)`, []any{oldID, id}},
	} {
		if _, err := w.exec(q.sql, q.args...); err != nil {
			return err
		}
	}
	st.lastID, st.lastShape = id, shID
	w.newest[st.id], w.newestID[st.id] = p, id
	return nil
}
