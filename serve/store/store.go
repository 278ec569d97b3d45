package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver (pure Go, no cgo)

	"github.com/pathlens/pathlens/probe"
)

// MaxResults is the most rows one Results call returns; larger (and
// non-positive) limits are clamped to it.
const MaxResults = 1000

// maxConns caps the pool. SQLite allows one writer at a time, and in WAL
// mode any number of readers alongside it. Writes are serialized in Go
// (Store.wmu) so that they queue on a mutex rather than spin on
// SQLITE_BUSY; the remaining connections let the UI and API read while a
// batch is being written. More would only add memory (each connection has
// its own page cache) without adding write throughput.
const maxConns = 4

// busyTimeoutMS is how long a connection waits for a lock held by another
// process (or a checkpoint) before failing with SQLITE_BUSY.
const busyTimeoutMS = 10000

// migrations build the schema. migrations[i] takes a database from
// version i to i+1 (PRAGMA user_version); each runs in its own
// transaction together with the version bump, so a migration is applied
// entirely or not at all. Never edit a released entry: append a new one.
var migrations = []string{
	// v1: the tables as first designed.
	`
CREATE TABLE results (
	id          INTEGER PRIMARY KEY,
	target      TEXT    NOT NULL,  -- target name from the config
	module      TEXT    NOT NULL,
	started_at  INTEGER NOT NULL,  -- unix nanoseconds
	success     INTEGER NOT NULL,  -- 0 or 1
	total_ms    REAL    NOT NULL,
	error_class TEXT,              -- NULL on success
	error_phase TEXT,
	json        BLOB    NOT NULL   -- the full probe.Result as JSON
);
CREATE INDEX results_target_time ON results (target, started_at);
CREATE INDEX results_time ON results (started_at);

CREATE TABLE phases (
	result_id   INTEGER NOT NULL REFERENCES results (id) ON DELETE CASCADE,
	name        TEXT    NOT NULL,
	duration_ms REAL    NOT NULL
);
CREATE INDEX phases_result ON phases (result_id);

CREATE TABLE findings (
	result_id INTEGER NOT NULL REFERENCES results (id) ON DELETE CASCADE,
	id        TEXT    NOT NULL,
	severity  TEXT    NOT NULL,
	PRIMARY KEY (result_id, id)
) WITHOUT ROWID;

CREATE TABLE finding_spans (
	target     TEXT    NOT NULL,
	id         TEXT    NOT NULL,
	first_seen INTEGER NOT NULL,  -- unix nanoseconds
	last_seen  INTEGER NOT NULL,
	runs       INTEGER NOT NULL,  -- stored runs that had the finding
	active     INTEGER NOT NULL,  -- 1 while the target's latest run has it
	last       BLOB    NOT NULL,  -- the Finding as JSON, from the latest run that had it
	PRIMARY KEY (target, id)
) WITHOUT ROWID;

-- One row per target, phase ("total" for the whole probe), resolution and
-- period. For a phase, count is the number of completed phase timings in
-- the sketch and successes how many of them came from successful runs;
-- for "total", count is every run and successes the successful runs, and
-- the sketch holds total_ms of the successful runs only.
CREATE TABLE rollups (
	target       TEXT    NOT NULL,
	phase        TEXT    NOT NULL,
	resolution   TEXT    NOT NULL CHECK (resolution IN ('m', 'h')),
	bucket_start INTEGER NOT NULL,  -- unix nanoseconds, aligned to the minute or hour
	count        INTEGER NOT NULL,
	successes    INTEGER NOT NULL,
	sketch       BLOB    NOT NULL,  -- DDSketch (1 % relative accuracy), sketches-go Encode format
	PRIMARY KEY (target, resolution, bucket_start, phase)
) WITHOUT ROWID;
CREATE INDEX rollups_time ON rollups (resolution, bucket_start);
`,
	// v2: columns the queries need, backfilled from the stored JSON.
	`
ALTER TABLE results ADD COLUMN kind TEXT NOT NULL DEFAULT '';
UPDATE results SET kind = coalesce(json_extract(CAST(json AS TEXT), '$.kind'), '');

ALTER TABLE phases ADD COLUMN incomplete INTEGER NOT NULL DEFAULT 0;
UPDATE phases SET incomplete = 1 WHERE EXISTS (
	SELECT 1 FROM results r, json_each(CAST(r.json AS TEXT), '$.phases') p
	WHERE r.id = phases.result_id
	  AND json_extract(p.value, '$.name') = phases.name
	  AND json_extract(p.value, '$.incomplete') = 1);
CREATE INDEX phases_name ON phases (name, result_id);

CREATE INDEX findings_id ON findings (id, result_id);

ALTER TABLE finding_spans ADD COLUMN severity_rank INTEGER NOT NULL DEFAULT 0;
UPDATE finding_spans SET severity_rank =
	CASE json_extract(CAST(last AS TEXT), '$.severity')
		WHEN 'critical' THEN 3 WHEN 'warning' THEN 2 WHEN 'info' THEN 1 ELSE 0 END;
`,
}

// Store is the probe history in one SQLite database. It is safe for
// concurrent use.
type Store struct {
	db      *sql.DB
	version int
	lock    *fileLock // nil for :memory:
	// wmu serializes write transactions (SQLite has a single writer).
	wmu sync.Mutex
}

// Open opens the database at path, creating it when missing, and migrates
// its schema to the current version.
//
// Open holds an exclusive lock on PATH.lock until Close, so that two
// pathlens never write one history (each run would be stored twice): a
// second Open of the same file, from this process or another, fails with
// an *InUseError. It checks an existing database with PRAGMA quick_check
// and fails with a *CorruptError when it is damaged, rather than open a
// file whose every write would fail. It refuses a database written by a
// newer pathlens (a higher schema version).
func Open(path string) (s *Store, err error) {
	if path == "" {
		return nil, errors.New("store: empty database path")
	}
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("store: database path %q must not contain '?'", path)
	}
	memory := path == ":memory:"
	var fl *fileLock
	if !memory {
		if fl, err = lock(path); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				fl.unlock()
			}
		}()
	}
	// Only a database that already holds data can be damaged (until the
	// first checkpoint it may all be in the log); looked at after the lock
	// is taken, so no other pathlens is writing it meanwhile.
	existing := !memory && (nonEmpty(path) || nonEmpty(path+"-wal"))
	// journal_mode=WAL: readers never block the writer nor the writer the
	// readers, and a commit is one sequential append to the log.
	// synchronous=NORMAL: in WAL mode this fsyncs only at checkpoints, not
	// on every commit. Every committed transaction still survives a crash
	// of the process (kill -9: the log is in the OS page cache) and the
	// database can never be corrupted; only a power loss or kernel crash
	// may roll back the last few commits, which for probe history (one
	// lost batch of runs) is a fair price for writes that do not wait on
	// the disk. busy_timeout: wait instead of failing when another
	// connection or process holds the lock. foreign_keys: phases and
	// findings go with their result (ON DELETE CASCADE). _txlock=immediate:
	// transactions take the write lock at BEGIN, so two writers can never
	// deadlock upgrading a read lock.
	dsn := path + "?_pragma=busy_timeout(" + fmt.Sprint(busyTimeoutMS) + ")" +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)" +
		"&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	conns := maxConns
	if memory {
		conns = 1 // every connection would get its own empty database
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)

	ctx := context.Background()
	if existing {
		if err := quickCheck(ctx, db, path); err != nil {
			db.Close()
			var ce *CorruptError
			if errors.As(err, &ce) {
				return nil, err
			}
			return nil, fmt.Errorf("store: open %s: %w", path, err)
		}
	}
	s = &Store{db: db, lock: fl}
	if err := s.init(ctx); err != nil {
		db.Close()
		if existing && isCorrupt(err) {
			return nil, &CorruptError{Path: path, Detail: oneLine(err.Error())}
		}
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return s, nil
}

// nonEmpty reports whether path is a file with something in it.
func nonEmpty(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Size() > 0
}

func (s *Store) init(ctx context.Context) error {
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if mode != "wal" && mode != "memory" {
		return fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	v, err := migrate(ctx, s.db)
	if err != nil {
		return err
	}
	s.version = v
	return nil
}

// migrate applies the pending migrations, each in its own transaction,
// and returns the resulting schema version.
func migrate(ctx context.Context, db *sql.DB) (int, error) {
	for {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, err
		}
		var v int
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			tx.Rollback()
			return 0, err
		}
		if v > len(migrations) {
			tx.Rollback()
			return v, fmt.Errorf("schema version %d is newer than this pathlens supports (%d)", v, len(migrations))
		}
		if v == len(migrations) {
			tx.Rollback()
			return v, nil
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return v, fmt.Errorf("migrate to version %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			tx.Rollback()
			return v, fmt.Errorf("migrate to version %d: %w", v+1, err)
		}
		if err := tx.Commit(); err != nil {
			return v, fmt.Errorf("migrate to version %d: %w", v+1, err)
		}
	}
}

// Close closes the database and releases its lock. Writers using the
// store must be closed first.
func (s *Store) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	// Let SQLite refresh its query-planner statistics where they are stale.
	s.db.ExecContext(context.Background(), "PRAGMA optimize")
	err := s.db.Close()
	// After the database is closed (and its log checkpointed), so the next
	// pathlens never opens it while this one still writes.
	if lerr := s.lock.unlock(); err == nil {
		err = lerr
	}
	s.lock = nil
	return err
}

// SchemaVersion is the schema version of the open database (the number of
// migrations applied).
func (s *Store) SchemaVersion() int { return s.version }

// nanos is t as unix nanoseconds; the zero time maps to the smallest value
// so that "since the zero time" means "since ever".
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixNano()
}

// fromNanos is the inverse of nanos, in UTC.
func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// validate checks a record before anything is written.
func validate(r Record) error {
	if r.Result == nil {
		return errors.New("nil Result")
	}
	if r.Result.StartedAt.IsZero() {
		return errors.New("Result has no started_at")
	}
	if r.Target == "" && r.Result.Target == "" {
		return errors.New("no target")
	}
	return nil
}

func targetOf(r Record) string {
	if r.Target != "" {
		return r.Target
	}
	return r.Result.Target
}

// prepared is a record made ready for the transaction: everything that
// does not need the database is done before the write lock is taken.
type prepared struct {
	target   string
	module   string
	res      *probe.Result
	at       int64
	json     []byte
	findings []preparedFinding // one per distinct ID, last one wins
	idsJSON  string            // JSON array of the finding IDs
}

type preparedFinding struct {
	id, severity string
	rank         int
	json         []byte
}

func prepare(r Record) (prepared, error) {
	p := prepared{target: targetOf(r), module: r.Module, res: r.Result, at: r.Result.StartedAt.UnixNano()}
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
		pf := preparedFinding{id: f.ID, severity: string(f.Severity), rank: f.Severity.Rank(), json: fj}
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

// storedCopy is r as it is stored: with a bounded HTTP/2 timeline
// (compactH2). r itself is never modified; it is returned as is when
// there is nothing to trim.
func storedCopy(r *probe.Result) *probe.Result {
	h := compactH2(r.H2)
	if h == r.H2 {
		return r
	}
	c := *r
	c.H2 = h
	return &c
}

// Write stores the records in one transaction: the results with their
// phases and findings, the minute and hour roll-ups, and the finding
// spans. Either all of it is committed or none. A record without a Result
// or without started_at fails the whole call before anything is written.
// A Result's HTTP/2 timeline is stored bounded (compactH2); the records
// themselves are not modified.
func (s *Store) Write(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	preps := make([]prepared, len(recs))
	agg := newRollupAgg()
	for i, r := range recs {
		if err := validate(r); err != nil {
			return fmt.Errorf("store: record %d: %w", i, err)
		}
		p, err := prepare(r)
		if err != nil {
			return fmt.Errorf("store: record %d: %w", i, err)
		}
		preps[i] = p
		agg.add(p.target, r.Result)
	}
	// Oldest first, so that the latest run of a target decides its spans.
	slices.SortStableFunc(preps, func(a, b prepared) int {
		switch {
		case a.at < b.at:
			return -1
		case a.at > b.at:
			return 1
		}
		return 0
	})

	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: write: %w", err)
	}
	defer tx.Rollback()
	if err := writeTx(ctx, tx, preps, agg); err != nil {
		return fmt.Errorf("store: write: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: write: commit: %w", err)
	}
	return nil
}

const (
	sqlInsertResult = `INSERT INTO results
	(target, module, kind, started_at, success, total_ms, error_class, error_phase, json)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlInsertPhase   = `INSERT INTO phases (result_id, name, duration_ms, incomplete) VALUES (?, ?, ?, ?)`
	sqlInsertFinding = `INSERT INTO findings (result_id, id, severity) VALUES (?, ?, ?)`
	sqlLatestRun     = `SELECT max(started_at) FROM results WHERE target = ?`
	// ?1 target, ?2 id, ?3 started_at, ?4 finding JSON, ?5 severity rank,
	// ?6 whether this run is the target's latest.
	sqlUpsertSpan = `INSERT INTO finding_spans
	(target, id, first_seen, last_seen, runs, active, last, severity_rank)
	VALUES (?1, ?2, ?3, ?3, 1, ?6, ?4, ?5)
	ON CONFLICT (target, id) DO UPDATE SET
		first_seen = min(first_seen, excluded.first_seen),
		last_seen = max(last_seen, excluded.last_seen),
		runs = runs + 1,
		active = CASE WHEN ?6 THEN 1 ELSE active END,
		last = CASE WHEN excluded.last_seen >= last_seen THEN excluded.last ELSE last END,
		severity_rank = CASE WHEN excluded.last_seen >= last_seen THEN excluded.severity_rank ELSE severity_rank END`
	sqlDeactivateSpans = `UPDATE finding_spans SET active = 0
	WHERE target = ? AND active = 1 AND id NOT IN (SELECT value FROM json_each(?))`
)

func writeTx(ctx context.Context, tx *sql.Tx, preps []prepared, agg *rollupAgg) error {
	var stmts [6]*sql.Stmt
	for i, q := range []string{sqlInsertResult, sqlInsertPhase, sqlInsertFinding, sqlLatestRun, sqlUpsertSpan, sqlDeactivateSpans} {
		st, err := tx.PrepareContext(ctx, q)
		if err != nil {
			return err
		}
		defer st.Close()
		stmts[i] = st
	}
	insResult, insPhase, insFinding, latestRun, upsertSpan, deactivate := stmts[0], stmts[1], stmts[2], stmts[3], stmts[4], stmts[5]

	// latest is each target's newest stored run: only a run at least as
	// new may change which findings are active.
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
			if n.Valid { // includes the row just inserted
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

// Results returns the stored results of target (every target when target
// is "") started at or after since, newest first, at most limit of them
// (limit is clamped to 1..MaxResults; 0 means MaxResults).
func (s *Store) Results(ctx context.Context, target string, since time.Time, limit int) ([]StoredResult, error) {
	if limit <= 0 || limit > MaxResults {
		limit = MaxResults
	}
	q := `SELECT id, target, module, json FROM results WHERE started_at >= ?1`
	if target != "" {
		q += ` AND target = ?2`
	}
	q += ` ORDER BY started_at DESC, id DESC LIMIT ?3`
	rows, err := s.db.QueryContext(ctx, q, nanos(since), target, limit)
	if err != nil {
		return nil, fmt.Errorf("store: results: %w", err)
	}
	defer rows.Close()
	out := []StoredResult{}
	for rows.Next() {
		sr, err := scanResult(rows)
		if err != nil {
			return nil, fmt.Errorf("store: results: %w", err)
		}
		out = append(out, sr)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: results: %w", err)
	}
	return out, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanResult(sc scanner) (StoredResult, error) {
	var sr StoredResult
	var js []byte
	if err := sc.Scan(&sr.ID, &sr.Target, &sr.Module, &js); err != nil {
		return sr, err
	}
	sr.Result = new(probe.Result)
	if err := json.Unmarshal(js, sr.Result); err != nil {
		return sr, fmt.Errorf("result %d: %w", sr.ID, err)
	}
	return sr, nil
}

// Result returns the stored result with the given id; the error wraps
// sql.ErrNoRows when there is none.
func (s *Store) Result(ctx context.Context, id int64) (StoredResult, error) {
	row := s.db.QueryRowContext(ctx, `SELECT id, target, module, json FROM results WHERE id = ?`, id)
	sr, err := scanResult(row)
	if err != nil {
		return StoredResult{}, fmt.Errorf("store: result %d: %w", id, err)
	}
	return sr, nil
}

// Latest returns the newest stored result of target; ok is false when the
// target has none.
func (s *Store) Latest(ctx context.Context, target string) (sr StoredResult, ok bool, err error) {
	row := s.db.QueryRowContext(ctx, `SELECT id, target, module, json FROM results
		WHERE target = ? ORDER BY started_at DESC, id DESC LIMIT 1`, target)
	sr, err = scanResult(row)
	if errors.Is(err, sql.ErrNoRows) {
		return StoredResult{}, false, nil
	}
	if err != nil {
		return StoredResult{}, false, fmt.Errorf("store: latest %s: %w", target, err)
	}
	return sr, true, nil
}

// Findings returns the finding spans of target (of every target when
// target is ""): the active ones first, worst severity first and then the
// most recently seen, followed by the inactive ones, most recently seen
// first.
func (s *Store) Findings(ctx context.Context, target string) ([]FindingSpan, error) {
	q := `SELECT target, first_seen, last_seen, runs, active, last FROM finding_spans`
	if target != "" {
		q += ` WHERE target = ?1`
	}
	q += ` ORDER BY active DESC, CASE WHEN active THEN severity_rank ELSE 0 END DESC,
		last_seen DESC, target, id`
	rows, err := s.db.QueryContext(ctx, q, target)
	if err != nil {
		return nil, fmt.Errorf("store: findings: %w", err)
	}
	defer rows.Close()
	out := []FindingSpan{}
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

// Prune deletes, in one transaction, the results started before before
// with their phases and findings, and the roll-ups whose whole period
// ended by then. Finding spans keep their first_seen (when the finding
// was first noticed) but count only the runs still stored; a span left
// with none is deleted. It returns the number of results deleted.
func (s *Store) Prune(ctx context.Context, before time.Time) (int64, error) {
	cut := nanos(before)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store: prune: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `
		WITH gone AS (
			SELECT r.target AS target, f.id AS id, count(*) AS n
			FROM results r JOIN findings f ON f.result_id = r.id
			WHERE r.started_at < ?1
			GROUP BY r.target, f.id)
		UPDATE finding_spans SET runs = finding_spans.runs - gone.n
		FROM gone WHERE finding_spans.target = gone.target AND finding_spans.id = gone.id`, cut); err != nil {
		return 0, fmt.Errorf("store: prune spans: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM finding_spans WHERE runs <= 0`); err != nil {
		return 0, fmt.Errorf("store: prune spans: %w", err)
	}
	// Phases and findings go by ON DELETE CASCADE.
	res, err := tx.ExecContext(ctx, `DELETE FROM results WHERE started_at < ?`, cut)
	if err != nil {
		return 0, fmt.Errorf("store: prune results: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: prune results: %w", err)
	}
	for _, r := range []struct {
		res   string
		width time.Duration
	}{{resMinute, time.Minute}, {resHour, time.Hour}} {
		if cut == math.MinInt64 {
			break
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM rollups WHERE resolution = ? AND bucket_start <= ?`,
			r.res, cut-int64(r.width)); err != nil {
			return 0, fmt.Errorf("store: prune rollups: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: prune: commit: %w", err)
	}
	return n, nil
}
