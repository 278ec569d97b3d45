package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"

	"github.com/pathlens/pathlens/probe"
)

// The v2 store's write path, frozen as it was released (schema version 2:
// a results row with the whole JSON, a phases row per phase, a findings
// row per finding, minute and hour roll-ups per target and phase). Tests
// build real v2 databases with it to migrate, and the storage benchmark
// measures it as the baseline.

// v2Open opens the v2 database at path, creating it when new.
func v2Open(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"+
		"&_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v == 2 {
		return db
	}
	for v, m := range migrations[:2] {
		if _, err := db.Exec(m); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

type v2Prepared struct {
	target, module string
	res            *probe.Result
	at             int64
	json           []byte
	findings       []v2Finding
	idsJSON        string
}

type v2Finding struct {
	id, severity string
	rank         int
	json         []byte
}

func v2Prepare(r Record) (v2Prepared, error) {
	p := v2Prepared{target: targetOf(r), module: r.Module, res: r.Result, at: r.Result.StartedAt.UnixNano()}
	var err error
	if p.json, err = json.Marshal(storedCopy(r.Result)); err != nil {
		return p, err
	}
	seen := map[string]int{}
	for _, f := range r.Result.Findings {
		fj, err := json.Marshal(f)
		if err != nil {
			return p, err
		}
		pf := v2Finding{id: f.ID, severity: string(f.Severity), rank: f.Severity.Rank(), json: fj}
		if i, ok := seen[f.ID]; ok {
			p.findings[i] = pf
			continue
		}
		seen[f.ID] = len(p.findings)
		p.findings = append(p.findings, pf)
	}
	ids := make([]string, len(p.findings))
	for i, f := range p.findings {
		ids[i] = f.id
	}
	b, _ := json.Marshal(ids)
	p.idsJSON = string(b)
	return p, nil
}

// v2Write is the v2 Store.Write.
func v2Write(ctx context.Context, db *sql.DB, recs []Record) error {
	preps := make([]v2Prepared, len(recs))
	agg := newV2Agg()
	for i, r := range recs {
		p, err := v2Prepare(r)
		if err != nil {
			return err
		}
		preps[i] = p
		agg.add(p.target, r.Result)
	}
	slices.SortStableFunc(preps, func(a, b v2Prepared) int {
		switch {
		case a.at < b.at:
			return -1
		case a.at > b.at:
			return 1
		}
		return 0
	})
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := v2WriteTx(ctx, tx, preps, agg); err != nil {
		return err
	}
	return tx.Commit()
}

func v2WriteTx(ctx context.Context, tx *sql.Tx, preps []v2Prepared, agg *v2Agg) error {
	var stmts [6]*sql.Stmt
	for i, q := range []string{`INSERT INTO results
	(target, module, kind, started_at, success, total_ms, error_class, error_phase, json)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		`INSERT INTO phases (result_id, name, duration_ms, incomplete) VALUES (?, ?, ?, ?)`,
		`INSERT INTO findings (result_id, id, severity) VALUES (?, ?, ?)`,
		`SELECT max(started_at) FROM results WHERE target = ?`,
		`INSERT INTO finding_spans
	(target, id, first_seen, last_seen, runs, active, last, severity_rank)
	VALUES (?1, ?2, ?3, ?3, 1, ?6, ?4, ?5)
	ON CONFLICT (target, id) DO UPDATE SET
		first_seen = min(first_seen, excluded.first_seen),
		last_seen = max(last_seen, excluded.last_seen),
		runs = runs + 1,
		active = CASE WHEN ?6 THEN 1 ELSE active END,
		last = CASE WHEN excluded.last_seen >= last_seen THEN excluded.last ELSE last END,
		severity_rank = CASE WHEN excluded.last_seen >= last_seen THEN excluded.severity_rank ELSE severity_rank END`,
		`UPDATE finding_spans SET active = 0
	WHERE target = ? AND active = 1 AND id NOT IN (SELECT value FROM json_each(?))`} {
		st, err := tx.PrepareContext(ctx, q)
		if err != nil {
			return err
		}
		defer st.Close()
		stmts[i] = st
	}
	insResult, insPhase, insFinding, latestRun, upsertSpan, deactivate := stmts[0], stmts[1], stmts[2], stmts[3], stmts[4], stmts[5]
	latest := map[string]int64{}
	for _, p := range preps {
		r := p.res
		var errClass, errPhase any
		if r.Error != nil {
			errClass, errPhase = string(r.Error.Class), r.Error.Phase
		}
		res, err := insResult.ExecContext(ctx, p.target, p.module, r.Kind, p.at, r.Success, r.TotalMS, errClass, errPhase, p.json)
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		for _, ph := range r.Phases {
			if _, err := insPhase.ExecContext(ctx, id, ph.Name, ph.DurationMS, ph.Incomplete); err != nil {
				return err
			}
		}
		for _, f := range p.findings {
			if _, err := insFinding.ExecContext(ctx, id, f.id, f.severity); err != nil {
				return err
			}
		}
		last, ok := latest[p.target]
		if !ok {
			var n sql.NullInt64
			if err := latestRun.QueryRowContext(ctx, p.target).Scan(&n); err != nil {
				return err
			}
			last = math.MinInt64
			if n.Valid {
				last = n.Int64
			}
		}
		isLatest := p.at >= last
		if isLatest {
			latest[p.target] = p.at
		} else {
			latest[p.target] = last
		}
		for _, f := range p.findings {
			if _, err := upsertSpan.ExecContext(ctx, p.target, f.id, p.at, f.json, f.rank, isLatest); err != nil {
				return err
			}
		}
		if isLatest {
			if _, err := deactivate.ExecContext(ctx, p.target, p.idsJSON); err != nil {
				return err
			}
		}
	}
	return agg.flush(ctx, tx)
}

type v2Key struct {
	target, phase, res string
	start              int64
}

type v2Val struct {
	count, successes int64
	sk               *ddsketch.DDSketch
}

type v2Agg struct {
	m    map[v2Key]*v2Val
	keys []v2Key
}

func newV2Agg() *v2Agg { return &v2Agg{m: map[v2Key]*v2Val{}} }

func (a *v2Agg) get(k v2Key) *v2Val {
	v := a.m[k]
	if v == nil {
		v = &v2Val{sk: newSketch()}
		a.m[k] = v
		a.keys = append(a.keys, k)
	}
	return v
}

func (a *v2Agg) add(target string, r *probe.Result) {
	at := r.StartedAt.UnixNano()
	for _, res := range []struct {
		name  string
		width int64
	}{{"m", int64(time.Minute)}, {"h", int64(time.Hour)}} {
		start := floorTo(at, res.width)
		v := a.get(v2Key{target, TotalPhase, res.name, start})
		v.count++
		if r.Success {
			v.successes++
			addValue(v.sk, r.TotalMS)
		}
		for _, ph := range r.Phases {
			if ph.Incomplete || ph.Name == "" || ph.Name == TotalPhase {
				continue
			}
			v := a.get(v2Key{target, ph.Name, res.name, start})
			v.count++
			if r.Success {
				v.successes++
			}
			addValue(v.sk, ph.DurationMS)
		}
	}
}

func (a *v2Agg) flush(ctx context.Context, tx *sql.Tx) error {
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
				return err
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

// v2Percentiles is the v2 Store.Percentiles.
func v2Percentiles(ctx context.Context, db *sql.DB, target string, window time.Duration, now time.Time) (Report, error) {
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
	spans := []span{{"m", from, to}}
	if width >= hour {
		if hFrom, hTo := ceilTo(from, hour), floorTo(to, hour); hFrom < hTo {
			spans = []span{{"m", from, hFrom}, {"h", hFrom, hTo}, {"m", hTo, to}}
		}
	}

	series := map[string]*[Buckets]*ddsketch.DDSketch{}
	for _, sp := range spans {
		if sp.lo >= sp.hi {
			continue
		}
		if err := v2ScanRollups(ctx, db, target, sp.res, sp.lo, sp.hi, func(phase string, start, count, successes int64, sketch []byte) error {
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

func v2ScanRollups(ctx context.Context, db *sql.DB, target, res string, lo, hi int64,
	f func(phase string, start, count, successes int64, sketch []byte) error) error {
	rows, err := db.QueryContext(ctx, `SELECT phase, bucket_start, count, successes, sketch FROM rollups
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
