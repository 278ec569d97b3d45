package store

import (
	"database/sql"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// tableBytes is the space each table of the closed database at path
// takes, its indexes included, from dbstat; "" is the file's pages no
// table holds (the free list).
func tableBytes(t testing.TB, path string) map[string]int64 {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT coalesce(m.tbl_name, d.name), sum(d.pgsize) FROM dbstat d
		LEFT JOIN sqlite_schema m ON m.name = d.name GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	var used int64
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			t.Fatal(err)
		}
		out[name] += n
		used += n
	}
	if fi, err := os.Stat(path); err == nil && fi.Size() > used {
		out[""] = fi.Size() - used
	}
	return out
}

// breakdown is sizes as bytes per run, biggest first, one line.
func breakdown(sizes map[string]int64, runs int) string {
	names := slices.SortedFunc(maps.Keys(sizes), func(a, b string) int { return int(sizes[b] - sizes[a]) })
	var parts []string
	var total int64
	for _, n := range names {
		total += sizes[n]
		label := n
		if n == "" {
			label = "free"
		}
		parts = append(parts, fmt.Sprintf("%s %.1f", label, float64(sizes[n])/float64(runs)))
	}
	return fmt.Sprintf("%.1f B/run: %s", float64(total)/float64(runs), strings.Join(parts, ", "))
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// timeQuery is the mean wall time of n calls of f, in milliseconds.
func timeQuery(b *testing.B, n int, f func() error) float64 {
	t0 := time.Now()
	for range n {
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
	return float64(time.Since(t0)) / float64(n) / 1e6
}

// storageRuns is the benchmark's history: one target's week (a run a
// minute), then 1,000 targets of the lab mix for three hours.
func storageRuns(b *testing.B, now time.Time) []Record {
	const targets, hours = 1000, 3
	week := newLabMix(b, 1, 9)
	week.targets[0].name = "week"
	var recs []Record
	for at := now.Add(-7 * 24 * time.Hour); at.Before(now); at = at.Add(time.Minute) {
		recs = append(recs, week.run(0, at))
	}
	mix := newLabMix(b, targets, 1)
	for m := range hours * 60 {
		recs = append(recs, mix.minute(now.Add(time.Duration(m-hours*60)*time.Minute))...)
	}
	return recs
}

// BenchmarkStorage writes the lab mix (storageRuns) through a Writer
// (batches of 200, as serve writes) into a v3 store, and through the v2
// write path into a v2 database (the baseline), and reports:
//
//   - v3-B/run and v2-B/run: the database file per stored run (every
//     table and index, the roll-ups, documents and spans), and
//     bytes-ratio (v3/v2); b.Logf breaks v3 down by table;
//   - v3-runs/s and v2-runs/s: writes per second, and writes-ratio
//     (v3/v2); v3-cpu-µs/run and v2-cpu-µs/run: the CPU time they took
//     (the process's, all goroutines), which other load on the machine
//     does not inflate;
//   - the percentile queries of the week's target, v3 and v2 (ms).
//
// Run it once: go test -run '^$' -bench Storage -benchtime 1x ./serve/store
func BenchmarkStorage(b *testing.B) {
	for b.Loop() {
		dir := b.TempDir()
		now := time.Date(2026, 11, 21, 12, 0, 30, 0, time.UTC)
		recs := storageRuns(b, now)

		s, err := Open(filepath.Join(dir, "v3.db"))
		if err != nil {
			b.Fatal(err)
		}
		w := NewWriter(s, 200, time.Second, nil)
		t0, c0 := time.Now(), cpuNow()
		for _, r := range recs {
			w.Add(r)
		}
		if err := w.Close(); err != nil || w.Dropped() != 0 {
			b.Fatalf("writer: %v, %d dropped", err, w.Dropped())
		}
		v3Wall, v3CPU := time.Since(t0), cpuNow()-c0
		s.Close()

		db := v2Open(b, filepath.Join(dir, "v2.db"))
		t0, c0 = time.Now(), cpuNow()
		for i := 0; i < len(recs); i += 200 {
			if err := v2Write(ctx, db, recs[i:min(i+200, len(recs))]); err != nil {
				b.Fatal(err)
			}
		}
		v2Wall, v2CPU := time.Since(t0), cpuNow()-c0
		db.Close()
		n := len(recs)
		recs = nil
		runtime.GC() // the queries below run with the heap of a server, not of the runs above

		if s, err = Open(filepath.Join(dir, "v3.db")); err != nil {
			b.Fatal(err)
		}
		var q3 [3]float64
		for i, win := range []string{"7d", "24h", "1h"} {
			q3[i] = timeQuery(b, 20, func() error {
				_, err := s.Percentiles(ctx, "week", Windows[win], now)
				return err
			})
		}
		s.Close()
		db = v2Open(b, filepath.Join(dir, "v2.db"))
		q2 := timeQuery(b, 20, func() error {
			_, err := v2Percentiles(ctx, db, "week", Windows["7d"], now)
			return err
		})
		db.Close()

		v3, v2 := fileSize(b, filepath.Join(dir, "v3.db")), fileSize(b, filepath.Join(dir, "v2.db"))
		b.Logf("%d runs (1 target a week, 1,000 targets 3 hours, a run a minute)", n)
		b.Logf("v3: %s", breakdown(tableBytes(b, filepath.Join(dir, "v3.db")), n))
		b.Logf("v2: %s", breakdown(tableBytes(b, filepath.Join(dir, "v2.db")), n))
		b.ReportMetric(float64(v3)/float64(n), "v3-B/run")
		b.ReportMetric(float64(v2)/float64(n), "v2-B/run")
		b.ReportMetric(float64(v3)/float64(v2), "bytes-ratio")
		b.ReportMetric(float64(n)/v3Wall.Seconds(), "v3-runs/s")
		b.ReportMetric(float64(n)/v2Wall.Seconds(), "v2-runs/s")
		b.ReportMetric(v2Wall.Seconds()/v3Wall.Seconds(), "writes-ratio")
		b.ReportMetric(float64(v3CPU.Microseconds())/float64(n), "v3-cpu-µs/run")
		b.ReportMetric(float64(v2CPU.Microseconds())/float64(n), "v2-cpu-µs/run")
		b.ReportMetric(q3[0], "v3-7d-ms")
		b.ReportMetric(q2, "v2-7d-ms")
		b.ReportMetric(q3[1], "v3-24h-ms")
		b.ReportMetric(q3[2], "v3-1h-ms")
	}
}
