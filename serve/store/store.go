package store

import (
	"cmp"
	"context"
	"database/sql"
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
	// v3: compact history, sized for a run a minute of 100,000 targets. A
	// run is one small row of runs; its whole Result is kept (docs) only
	// where it says something new, and compressed against an earlier
	// document of its target; percentiles come from hour roll-ups and, for
	// shorter spans, from the runs. Run ids, and the keys of docs,
	// doc_bases, configs and hours, are target_id<<33 | unix second (the
	// hour's first for hours), so each target's rows are one range of ids
	// in time order. convertV2 moves the v2 tables' rows here and drops them.
	`
CREATE TABLE targets (
	id        INTEGER PRIMARY KEY,
	name      TEXT    NOT NULL UNIQUE,  -- target name from the config
	sealed_to INTEGER NOT NULL,         -- unix seconds, on the hour: the hours before it are in hours
	base      INTEGER                   -- doc_bases.id of the target's current base document
);

-- The module and Result.target (URL) of a target from its run id on.
CREATE TABLE configs (
	id     INTEGER PRIMARY KEY,  -- run id of the first run with this module and URL
	module TEXT NOT NULL,
	url    TEXT NOT NULL
);

-- What a run shares with most runs of its target.
CREATE TABLE shapes (
	id          INTEGER PRIMARY KEY,
	kind        TEXT    NOT NULL,
	success     INTEGER NOT NULL,  -- 0 or 1
	error_class TEXT    NOT NULL,  -- '' on success
	error_phase TEXT    NOT NULL,
	phases      TEXT    NOT NULL,  -- JSON array of the phase names, in run order
	incomplete  INTEGER NOT NULL,  -- bit i set: phase i was still in flight at the end
	findings    TEXT    NOT NULL,  -- JSON array of {"id", "severity", "phase"}
	UNIQUE (kind, success, error_class, error_phase, phases, incomplete, findings)
);

-- Every run.
CREATE TABLE runs (
	id       INTEGER PRIMARY KEY,  -- the run id: target_id<<33 | unix second
	us       INTEGER NOT NULL,     -- started_at minus that second, in microseconds
	shape    INTEGER NOT NULL,     -- shapes.id
	total_us INTEGER NOT NULL,
	phases   BLOB    NOT NULL      -- the phase durations: uvarints of microseconds, in the shape's order
);

-- The whole Result of the runs that keep it: failures, changes of shape
-- or config, a target's first run and its first run of each hour.
CREATE TABLE docs (
	id   INTEGER PRIMARY KEY,  -- runs.id
	base INTEGER,              -- doc_bases.id the document is compressed against
	doc  BLOB    NOT NULL      -- a format byte, then the document
);
CREATE TABLE doc_bases (
	id  INTEGER PRIMARY KEY,  -- runs.id of the run whose document it is
	doc BLOB    NOT NULL
);

-- The whole Result of each target's latest run.
CREATE TABLE latest (
	target_id INTEGER PRIMARY KEY,
	run_id    INTEGER NOT NULL,
	doc       BLOB    NOT NULL
);

-- Hour roll-ups: DDSketches (1 % relative accuracy) of each phase's
-- completed timings and of the successful runs' total_ms ("total").
CREATE TABLE hours (
	id        INTEGER PRIMARY KEY,  -- target_id<<33 | unix second of the hour's start
	runs      INTEGER NOT NULL,
	successes INTEGER NOT NULL,
	sketches  BLOB    NOT NULL      -- per phase: name and sketch, each behind its length
);

CREATE TABLE spans (
	target_id     INTEGER NOT NULL,
	id            TEXT    NOT NULL,
	first_seen    INTEGER NOT NULL,  -- unix nanoseconds
	last_seen     INTEGER NOT NULL,
	runs          INTEGER NOT NULL,  -- stored runs that had the finding
	active        INTEGER NOT NULL,  -- 1 while the target's latest run has it
	severity_rank INTEGER NOT NULL,
	last          BLOB    NOT NULL,  -- the Finding as JSON, from the latest run that had it
	PRIMARY KEY (target_id, id)
) WITHOUT ROWID;

-- The ids runs had before v3 (results.id), so that old links still work.
CREATE TABLE legacy_ids (
	id     INTEGER PRIMARY KEY,
	run_id INTEGER NOT NULL
);
`,
}

// migrationCode[v], when set, runs after migrations[v-1]'s SQL, in the
// same transaction: the conversions SQL alone cannot do.
var migrationCode = map[int]func(ctx context.Context, tx *sql.Tx) error{3: convertV2}

// Store is the probe history in one SQLite database. It is safe for
// concurrent use.
type Store struct {
	db      *sql.DB
	version int
	lock    *fileLock // nil for :memory:
	// wmu serializes write transactions (SQLite has a single writer).
	wmu  sync.Mutex
	dict *dict
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
	// connection or process holds the lock. foreign_keys: in a v1 or v2
	// database being migrated, phases and findings go with their result
	// (ON DELETE CASCADE); the v3 tables have none. _txlock=immediate:
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
	s = &Store{db: db, lock: fl, dict: newDict()}
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
		if code := migrationCode[v+1]; code != nil {
			if err := code(ctx, tx); err != nil {
				tx.Rollback()
				return v, fmt.Errorf("migrate to version %d: %w", v+1, err)
			}
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

// Write stores the records in one transaction: each run's compact row,
// the documents it keeps (Store keeps a run's whole Result where it says
// something new: see StoredResult.Full), the latest run of each target,
// the finding spans, and the roll-ups of the hours the runs close. Either
// all of it is committed or none. A record without a Result or without
// started_at fails the whole call before anything is written. A Result's
// HTTP/2 timeline is stored bounded (compactH2); the records themselves
// are not modified.
//
// Write takes batches of any size: a batch marshals only the documents it
// keeps and each target's latest run once, so loading history in large
// batches is Write's own bulk path.
func (s *Store) Write(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	preps := make([]*prepared, len(recs))
	for i, r := range recs {
		if err := validate(r); err != nil {
			return fmt.Errorf("store: record %d: %w", i, err)
		}
		p, err := prepare(r)
		if err != nil {
			return fmt.Errorf("store: record %d: %w", i, err)
		}
		preps[i] = p
	}
	// Oldest first: a target's runs are written in time order, so that
	// the latest run decides its spans and each run is compared with the
	// one before it.
	slices.SortStableFunc(preps, func(a, b *prepared) int { return cmp.Compare(a.at, b.at) })

	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: write: %w", err)
	}
	defer tx.Rollback()
	w := newWriteTx(ctx, s, tx)
	defer w.close()
	for _, p := range preps {
		if err := w.writeRun(p); err != nil {
			return fmt.Errorf("store: write: %w", err)
		}
	}
	if err := w.writeLatest(); err != nil {
		return fmt.Errorf("store: write: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: write: commit: %w", err)
	}
	w.commit()
	return nil
}
