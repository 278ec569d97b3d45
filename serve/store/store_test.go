package store

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
)

var base = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func TestOpenPragmas(t *testing.T) {
	s, _ := openTemp(t)
	if v := s.SchemaVersion(); v != len(migrations) {
		t.Errorf("SchemaVersion = %d, want %d", v, len(migrations))
	}
	for pragma, want := range map[string]string{"journal_mode": "wal", "synchronous": "1", "foreign_keys": "1", "busy_timeout": "10000"} {
		var got string
		if err := s.db.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
	if n := s.db.Stats().MaxOpenConnections; n != maxConns {
		t.Errorf("MaxOpenConnections = %d", n)
	}
	if _, err := Open(""); err == nil {
		t.Error("Open(\"\") succeeded")
	}
}

func TestRoundTrip(t *testing.T) {
	s, path := openTemp(t)
	ok := httpsResult(base.Add(123456789), 1.1, 20.3, 41.0, 20.9)
	failed := failedResult(base.Add(30 * time.Second))
	dns := dnsResult(base.Add(10*time.Second), 3.25)
	write(t, s,
		Record{Target: "api", Module: "web", Result: ok},
		Record{Target: "api", Module: "web", Result: failed},
		Record{Target: "resolver", Module: "dns", Result: dns},
	)

	got, err := s.Results(ctx, "api", time.Time{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("Results(api) = %d rows", len(got))
	}
	// Newest first.
	sameJSON(t, got[0].Result, failed)
	sameJSON(t, got[1].Result, ok)
	if got[0].Target != "api" || got[0].Module != "web" {
		t.Errorf("row = %+v", got[0])
	}
	if !got[1].Result.StartedAt.Equal(ok.StartedAt) {
		t.Errorf("started_at %v, want %v", got[1].Result.StartedAt, ok.StartedAt)
	}

	one, err := s.Result(ctx, got[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, one.Result, ok)
	if _, err := s.Result(ctx, 424242); !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("Result(absent) error = %v, want sql.ErrNoRows", err)
	}

	latest, found, err := s.Latest(ctx, "resolver")
	if err != nil || !found {
		t.Fatalf("Latest = %v, %v", found, err)
	}
	sameJSON(t, latest.Result, dns)
	if latest.Module != "dns" {
		t.Errorf("module %q", latest.Module)
	}
	latest, found, err = s.Latest(ctx, "api")
	if err != nil || !found {
		t.Fatal(found, err)
	}
	sameJSON(t, latest.Result, failed)
	if _, found, err := s.Latest(ctx, "nope"); found || err != nil {
		t.Errorf("Latest(nope) = %v, %v", found, err)
	}

	// since filters, "" means every target.
	all, err := s.Results(ctx, "", base.Add(5*time.Second), 0)
	if err != nil || len(all) != 2 {
		t.Fatalf("Results(all since) = %d, %v", len(all), err)
	}
	sameJSON(t, all[0].Result, failed)
	sameJSON(t, all[1].Result, dns)

	// Every run is a compact row; these three keep their whole Result
	// (each target's first run, and a failure), each target its latest.
	for q, want := range map[string]int{
		"SELECT count(*) FROM runs":    3,
		"SELECT count(*) FROM docs":    3,
		"SELECT count(*) FROM latest":  2,
		"SELECT count(*) FROM targets": 2,
		"SELECT count(*) FROM configs": 2,
		"SELECT count(*) FROM shapes WHERE success = 0 AND error_class = 'timeout' AND error_phase = 'tls' AND incomplete = 4 AND kind = 'http'": 1,
		"SELECT count(*) FROM spans WHERE severity_rank = 3 AND active":                                                                          2,
	} {
		if n := count(t, s, q); n != want {
			t.Errorf("%s = %d, want %d", q, n, want)
		}
	}
	for _, sr := range append(got, all...) {
		if !sr.Full {
			t.Errorf("run %d not whole", sr.ID)
		}
	}

	// It all survives a reopen.
	s.Close()
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	again, err := s2.Results(ctx, "api", time.Time{}, 10)
	if err != nil || len(again) != 2 {
		t.Fatal(len(again), err)
	}
	sameJSON(t, again[1].Result, ok)
}

func TestResultsLimit(t *testing.T) {
	s, _ := openTemp(t)
	var recs []Record
	for i := range MaxResults + 20 {
		recs = append(recs, Record{Target: "r", Result: dnsResult(base.Add(time.Duration(i)*time.Second), 1)})
	}
	write(t, s, recs...)
	for _, tc := range []struct{ limit, want int }{{5, 5}, {0, MaxResults}, {-1, MaxResults}, {5000, MaxResults}} {
		got, err := s.Results(ctx, "r", time.Time{}, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != tc.want {
			t.Errorf("limit %d: %d rows, want %d", tc.limit, len(got), tc.want)
		}
		if !got[0].Result.StartedAt.Equal(base.Add(time.Duration(MaxResults+19) * time.Second)) {
			t.Errorf("limit %d: first row not the newest", tc.limit)
		}
	}
}

func TestWriteRejectsInvalid(t *testing.T) {
	s, _ := openTemp(t)
	err := s.Write(ctx, []Record{{Target: "a", Result: dnsResult(base, 1)}, {Target: "a"}})
	if err == nil {
		t.Fatal("nil Result accepted")
	}
	if n := count(t, s, "SELECT count(*) FROM runs"); n != 0 {
		t.Errorf("%d rows written by a failed Write", n)
	}
}

// v1Schema is the schema exactly as version 1 created it, frozen here so
// that the test builds a real old database whatever migrations[0] becomes.
const v1Schema = `
CREATE TABLE results (id INTEGER PRIMARY KEY, target TEXT NOT NULL, module TEXT NOT NULL,
	started_at INTEGER NOT NULL, success INTEGER NOT NULL, total_ms REAL NOT NULL,
	error_class TEXT, error_phase TEXT, json BLOB NOT NULL);
CREATE INDEX results_target_time ON results (target, started_at);
CREATE INDEX results_time ON results (started_at);
CREATE TABLE phases (result_id INTEGER NOT NULL REFERENCES results (id) ON DELETE CASCADE,
	name TEXT NOT NULL, duration_ms REAL NOT NULL);
CREATE INDEX phases_result ON phases (result_id);
CREATE TABLE findings (result_id INTEGER NOT NULL REFERENCES results (id) ON DELETE CASCADE,
	id TEXT NOT NULL, severity TEXT NOT NULL, PRIMARY KEY (result_id, id)) WITHOUT ROWID;
CREATE TABLE finding_spans (target TEXT NOT NULL, id TEXT NOT NULL, first_seen INTEGER NOT NULL,
	last_seen INTEGER NOT NULL, runs INTEGER NOT NULL, active INTEGER NOT NULL, last BLOB NOT NULL,
	PRIMARY KEY (target, id)) WITHOUT ROWID;
CREATE TABLE rollups (target TEXT NOT NULL, phase TEXT NOT NULL,
	resolution TEXT NOT NULL CHECK (resolution IN ('m', 'h')), bucket_start INTEGER NOT NULL,
	count INTEGER NOT NULL, successes INTEGER NOT NULL, sketch BLOB NOT NULL,
	PRIMARY KEY (target, resolution, bucket_start, phase)) WITHOUT ROWID;
CREATE INDEX rollups_time ON rollups (resolution, bucket_start);
PRAGMA user_version = 1;
`

func TestMigrateFromV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(v1Schema); err != nil {
		t.Fatal(err)
	}
	old := failedResult(base)
	f := old.Findings[0]
	res, err := raw.Exec(`INSERT INTO results (target, module, started_at, success, total_ms, error_class, error_phase, json)
		VALUES ('api', 'web', ?, 0, 10000, 'timeout', 'tls', ?)`, base.UnixNano(), mustJSON(t, old))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := res.LastInsertId()
	for _, p := range old.Phases {
		if _, err := raw.Exec(`INSERT INTO phases VALUES (?, ?, ?)`, id, p.Name, p.DurationMS); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Exec(`INSERT INTO findings VALUES (?, ?, ?)`, id, f.ID, f.Severity); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO finding_spans VALUES ('api', ?, ?, ?, 1, 1, ?)`, f.ID, base.UnixNano(), base.UnixNano(), mustJSON(t, f)); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v := s.SchemaVersion(); v != len(migrations) || v < 2 {
		t.Fatalf("SchemaVersion = %d after migrating, want %d", v, len(migrations))
	}
	// The old result is a run now, with its document, found by its old
	// id and by its new one; the v1 and v2 tables are gone.
	for q, want := range map[string]int{
		"SELECT count(*) FROM runs":       1,
		"SELECT count(*) FROM docs":       1,
		"SELECT count(*) FROM latest":     1,
		"SELECT count(*) FROM legacy_ids": 1,
		"SELECT count(*) FROM sqlite_schema WHERE name IN ('results', 'phases', 'findings', 'finding_spans', 'rollups')": 0,
		"SELECT severity_rank FROM spans": 3,
	} {
		if n := count(t, s, q); n != want {
			t.Errorf("%s = %d, want %d", q, n, want)
		}
	}
	got, err := s.Result(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, got.Result, old)
	if !got.Full || got.ID == id || got.Target != "api" || got.Module != "web" {
		t.Errorf("old result read back as %+v", got)
	}
	byNew, err := s.Result(ctx, got.ID)
	if err != nil || byNew.ID != got.ID {
		t.Fatalf("by its new id: %+v, %v", byNew, err)
	}
	sameJSON(t, byNew.Result, old)
	spans, err := s.Findings(ctx, "api")
	if err != nil || len(spans) != 1 || !spans[0].Active || spans[0].Finding.ID != f.ID {
		t.Fatalf("spans = %+v, %v", spans, err)
	}
	// And the migrated database takes new writes.
	write(t, s, Record{Target: "api", Module: "web", Result: httpsResult(base.Add(time.Minute), 1, 2, 3, 4)})
	spans, _ = s.Findings(ctx, "api")
	if len(spans) != 1 || spans[0].Active {
		t.Errorf("span still active after a clean run: %+v", spans)
	}
	s.Close()

	// Reopening applies nothing more; a newer schema is refused.
	s2, err := Open(path)
	if err != nil || s2.SchemaVersion() != len(migrations) {
		t.Fatal(err)
	}
	if _, err := s2.db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if s3, err := Open(path); err == nil {
		s3.Close()
		t.Fatal("opened a database with schema version 99")
	}
}

func TestPrune(t *testing.T) {
	for _, rows := range []int64{pruneRows, 7} { // whole targets per transaction, and pieces of them
		t.Run(fmt.Sprint(rows), func(t *testing.T) {
			defer func(n int64) { pruneRows = n }(pruneRows)
			pruneRows = rows
			testPrune(t)
		})
	}
}

func testPrune(t *testing.T) {
	s, _ := openTemp(t)
	// Three hours of runs every 30 s for two targets; the first hour's api
	// runs all have OLD, every api run has ALWAYS, every 10th fails. A
	// third target ran only in the first hour.
	var recs []Record
	for i := range 360 {
		at := base.Add(time.Duration(i)*30*time.Second + time.Millisecond)
		r := httpsResult(at, 1, 2, 3, 4)
		if i%10 == 9 {
			r = failedResult(at)
		}
		fs := []probe.Finding{finding("ALWAYS", probe.SeverityWarning)}
		if i < 120 {
			fs = append(fs, finding("OLD", probe.SeverityCritical))
		}
		recs = append(recs, Record{Target: "api", Result: withFindings(r, fs...)})
		recs = append(recs, Record{Target: "resolver", Result: dnsResult(at, 2)})
		if i < 100 {
			recs = append(recs, Record{Target: "gone", Result: dnsResult(at, 2)})
		}
	}
	for i := 0; i < len(recs); i += 50 {
		write(t, s, recs[i:min(i+50, len(recs))]...)
	}
	hoursBefore := count(t, s, "SELECT count(*) FROM hours")
	cut := base.Add(time.Hour)
	n, err := s.Prune(ctx, cut)
	if err != nil {
		t.Fatal(err)
	}
	if n != 340 {
		t.Errorf("Prune = %d, want 340", n)
	}
	cutSec := cut.Unix()
	checks := []struct {
		q    string
		want int
	}{
		{"SELECT count(*) FROM runs", 480},
		{"SELECT count(*) FROM runs WHERE (id & 8589934591) < ?", 0},
		{"SELECT count(*) FROM docs WHERE (id & 8589934591) < ?", 0},
		{"SELECT count(*) FROM docs WHERE id NOT IN (SELECT id FROM runs)", 0},
		{"SELECT count(*) FROM docs WHERE base IS NOT NULL AND base NOT IN (SELECT id FROM doc_bases)", 0},
		// The hours that ended by the cut are gone.
		{"SELECT count(*) FROM hours WHERE (id & 8589934591) + 3600 <= ?", 0},
		{"SELECT count(*) FROM latest", 2},
		{"SELECT count(*) FROM latest WHERE run_id NOT IN (SELECT id FROM runs)", 0},
		{"SELECT count(*) FROM doc_bases WHERE id >> 33 = (SELECT id FROM targets WHERE name = 'gone')", 0},
	}
	for _, c := range checks {
		if got := count(t, s, c.q, cutSec); got != c.want {
			t.Errorf("%s = %d, want %d", c.q, got, c.want)
		}
	}
	if n := count(t, s, "SELECT count(*) FROM hours"); n >= hoursBefore {
		t.Errorf("%d hour roll-ups before, %d after", hoursBefore, n)
	}
	spans, err := s.Findings(ctx, "api")
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 1 || spans[0].Finding.ID != "ALWAYS" || spans[0].Runs != 240 || !spans[0].FirstSeen.Equal(base.Add(time.Millisecond)) {
		t.Errorf("spans after prune = %+v", spans)
	}
	rs, _ := s.Results(ctx, "api", time.Time{}, 0)
	if len(rs) != 240 || rs[len(rs)-1].Result.StartedAt.Before(cut) {
		t.Errorf("kept %d api results", len(rs))
	}
	if _, ok, err := s.Latest(ctx, "gone"); ok || err != nil {
		t.Errorf("Latest(gone) = %v, %v", ok, err)
	}
	// The remaining history still reads and rolls up, and takes writes.
	rep, err := s.Percentiles(ctx, "api", 7*24*time.Hour, base.Add(3*time.Hour))
	if err != nil || rep.Runs != 240 || rep.Successes != 216 {
		t.Errorf("7d report after prune: %d runs, %d successes, %v", rep.Runs, rep.Successes, err)
	}
	write(t, s, Record{Target: "gone", Result: dnsResult(base.Add(4*time.Hour), 2)})
	if sr, ok, err := s.Latest(ctx, "gone"); !ok || err != nil || !sr.Full {
		t.Errorf("Latest(gone) after a new run = %+v, %v, %v", sr, ok, err)
	}
	// Pruning again deletes nothing.
	if n, err := s.Prune(ctx, cut); n != 0 || err != nil {
		t.Errorf("second Prune = %d, %v", n, err)
	}
}

func TestFindingSpans(t *testing.T) {
	s, _ := openTemp(t)
	t1, t2, t3, t4 := base, base.Add(30*time.Second), base.Add(time.Minute), base.Add(90*time.Second)
	warn := finding("TLS_CERT_EXPIRING", probe.SeverityWarning)
	crit := finding("HTTP_STATUS", probe.SeverityCritical)
	info := finding("HTTP_NO_KEEPALIVE", probe.SeverityInfo)

	write(t, s,
		Record{Target: "api", Result: withFindings(httpsResult(t1, 1, 2, 3, 4), warn, info)},
		Record{Target: "other", Result: withFindings(httpsResult(t1, 1, 2, 3, 4), info)},
	)
	// Second run: warn stays, info gone, crit appears (with new evidence).
	warn2 := warn
	warn2.Evidence = map[string]any{"days_left": 9.0}
	write(t, s, Record{Target: "api", Result: withFindings(httpsResult(t2, 1, 2, 3, 4), warn2, crit)})

	spans, err := s.Findings(ctx, "api")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		id          string
		active      bool
		runs        int
		first, last time.Time
	}{
		{"HTTP_STATUS", true, 1, t2, t2},        // active, critical
		{"TLS_CERT_EXPIRING", true, 2, t1, t2},  // active, warning
		{"HTTP_NO_KEEPALIVE", false, 1, t1, t1}, // inactive
	}
	if len(spans) != len(want) {
		t.Fatalf("spans = %+v", spans)
	}
	for i, w := range want {
		g := spans[i]
		if g.Finding.ID != w.id || g.Active != w.active || g.Runs != w.runs || !g.FirstSeen.Equal(w.first) || !g.LastSeen.Equal(w.last) || g.Target != "api" {
			t.Errorf("span %d = %s active=%v runs=%d %v..%v, want %+v", i, g.Finding.ID, g.Active, g.Runs, g.FirstSeen, g.LastSeen, w)
		}
	}
	sameJSON(t, spans[1].Finding, warn2) // as in the latest run that had it

	// A late, older run without findings changes nothing about activity.
	write(t, s, Record{Target: "api", Result: httpsResult(t1.Add(10*time.Second), 1, 2, 3, 4)})
	// …and a late older run with the inactive finding does not revive it.
	write(t, s, Record{Target: "api", Result: withFindings(httpsResult(t1.Add(20*time.Second), 1, 2, 3, 4), info)})
	spans, _ = s.Findings(ctx, "api")
	if !spans[0].Active || !spans[1].Active || spans[2].Active || spans[2].Runs != 2 || !spans[2].LastSeen.Equal(t1.Add(20*time.Second)) {
		t.Errorf("after late runs: %+v", spans)
	}

	// A clean run makes all inactive; first_seen unchanged; newest first.
	write(t, s, Record{Target: "api", Result: httpsResult(t3, 1, 2, 3, 4)})
	spans, _ = s.Findings(ctx, "api")
	for _, sp := range spans {
		if sp.Active {
			t.Errorf("%s still active", sp.Finding.ID)
		}
	}
	if spans[0].LastSeen.Before(spans[1].LastSeen) || spans[1].LastSeen.Before(spans[2].LastSeen) {
		t.Errorf("inactive spans not newest first: %+v", spans)
	}
	// It comes back: same span, first_seen kept, runs counted on.
	write(t, s, Record{Target: "api", Result: withFindings(httpsResult(t4, 1, 2, 3, 4), warn)})
	spans, _ = s.Findings(ctx, "api")
	if g := spans[0]; g.Finding.ID != "TLS_CERT_EXPIRING" || !g.Active || g.Runs != 3 || !g.FirstSeen.Equal(t1) || !g.LastSeen.Equal(t4) {
		t.Errorf("returning span = %+v", g)
	}

	// "" lists every target; the other target's span was never touched.
	all, err := s.Findings(ctx, "")
	if err != nil || len(all) != 4 {
		t.Fatalf("all spans = %d, %v", len(all), err)
	}
	if all[0].Target != "api" || all[1].Target != "other" || !all[1].Active {
		t.Errorf("all spans order: %+v", all)
	}
	// Duplicate IDs in one result count once.
	write(t, s, Record{Target: "dup", Result: withFindings(httpsResult(t1, 1, 2, 3, 4), warn, warn)})
	d, _ := s.Findings(ctx, "dup")
	if len(d) != 1 || d[0].Runs != 1 {
		t.Errorf("dup spans = %+v", d)
	}
}
