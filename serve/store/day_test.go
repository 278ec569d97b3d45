package store

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestStoreDay simulates a day of `pathlens serve` at scale: 100,000
// targets of the lab mix, a run a minute each (144 million runs), written
// through Store.Write in batches of ten minutes of every target (Write's
// bulk path: it marshals only the documents it keeps and each target's
// latest run once a batch), after one target's week of history. It then
// times the percentile queries of that target and of a random one, a
// steady minute through a Writer in batches of 200 (as serve writes), and
// a prune of the first hour, with the longest batch write during it. It
// logs the database size, bytes per run by table, and the growth of the
// second half of the run, from which it extrapolates a whole day when it
// ran fewer hours.
//
// It runs only when PATHLENS_STORE_DAY_DB names the database to create
// (kept afterwards); PATHLENS_STORE_DAY_HOURS (default 24) and
// PATHLENS_STORE_DAY_TARGETS (default 100000) size it. bench/store_day.sh
// runs it.
func TestStoreDay(t *testing.T) {
	path := os.Getenv("PATHLENS_STORE_DAY_DB")
	if path == "" {
		t.Skip("set PATHLENS_STORE_DAY_DB (bench/store_day.sh)")
	}
	hours, targets := envInt(t, "PATHLENS_STORE_DAY_HOURS", 24), envInt(t, "PATHLENS_STORE_DAY_TARGETS", 100000)
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	start := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	week := newLabMix(t, 1, 9)
	week.targets[0].name = "week"
	var recs []Record
	for at := start.Add(-7 * 24 * time.Hour); at.Before(start); at = at.Add(time.Minute) {
		recs = append(recs, week.run(0, at))
	}
	write(t, s, recs...)

	mix := newLabMix(t, targets, 1)
	const batchMinutes = 10
	batches := make(chan []Record, 1)
	go func() { // the next batch is made while this one is written
		defer close(batches)
		for m := 0; m < hours*60; m += batchMinutes {
			var b []Record
			for i := range batchMinutes {
				b = append(b, mix.minute(start.Add(time.Duration(m+i)*time.Minute))...)
			}
			batches <- b
		}
	}()
	t0 := time.Now()
	var runs int
	var half map[string]int64
	halfRuns := 0
	for b := range batches {
		write(t, s, b...)
		runs += len(b)
		if runs%(targets*60) == 0 {
			t.Logf("hour %d: %d runs in %v (%.0f runs/s), %.2f GB", runs/targets/60, runs, time.Since(t0).Round(time.Second),
				float64(runs)/time.Since(t0).Seconds(), float64(walSize(t, path))/1e9)
		}
		if half == nil && runs >= targets*60*hours/2 {
			half, halfRuns = liveTableBytes(t, s), runs
		}
	}
	t.Logf("wrote %d runs of %d targets (%d hours) in %v: %.0f runs/s through Write, batches of %d",
		runs, targets, hours, time.Since(t0).Round(time.Second), float64(runs)/time.Since(t0).Seconds(), batchMinutes*targets)
	dayQueries(t, s, start.Add(time.Duration(hours)*time.Hour), targets)
	s.Close()
	full := tableBytes(t, path)
	dayReport(t, fileSize(t, path), full, runs, half, halfRuns, targets)

	if s, err = Open(path); err != nil {
		t.Fatal(err)
	}
	daySteady(t, s, mix, start.Add(time.Duration(hours)*time.Hour))
	dayPrune(t, s, mix, start)
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q", name, v)
	}
	return n
}

func walSize(t *testing.T, path string) int64 {
	n := fileSize(t, path)
	if fi, err := os.Stat(path + "-wal"); err == nil {
		n += fi.Size()
	}
	return n
}

// liveTableBytes is tableBytes of the open store.
func liveTableBytes(t *testing.T, s *Store) map[string]int64 {
	t.Helper()
	if _, err := s.db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT coalesce(m.tbl_name, d.name), sum(d.pgsize) FROM dbstat d
		LEFT JOIN sqlite_schema m ON m.name = d.name GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			t.Fatal(err)
		}
		out[name] += n
	}
	return out
}

// dayReport logs the database's size and bytes per run by table, and
// the growth from the half-way point on, extrapolated to 24 hours.
func dayReport(t *testing.T, size int64, full map[string]int64, runs int, half map[string]int64, halfRuns, targets int) {
	t.Logf("database %.2f GB, %.1f bytes per run (%d runs)", float64(size)/1e9, float64(size)/float64(runs), runs)
	t.Logf("by table: %s", breakdown(full, runs))
	if half == nil || runs == halfRuns {
		return
	}
	grown := map[string]int64{}
	var perRun float64
	for name, n := range full {
		grown[name] = n - half[name]
		perRun += float64(n-half[name]) / float64(runs-halfRuns)
	}
	t.Logf("growth of the second half (%d runs): %s", runs-halfRuns, breakdown(grown, runs-halfRuns))
	day := 144 * targets / 100 * 1000
	if runs < day {
		est := float64(size) + perRun*float64(day-runs)
		t.Logf("a whole day (%d runs) at that growth: %.2f GB, %.1f bytes per run", day, est/1e9, est/float64(day))
	}
}

// dayQueries times the read paths on the day's database.
func dayQueries(t *testing.T, s *Store, now time.Time, targets int) {
	rng := rand.New(rand.NewPCG(3, 3))
	other := fmt.Sprintf("t%06d", rng.IntN(targets))
	for _, q := range []struct {
		target, window string
	}{{"week", "7d"}, {"week", "24h"}, {"week", "1h"}, {other, "7d"}, {other, "24h"}} {
		var rep Report
		ms := timeQueryT(t, 20, func() (err error) {
			rep, err = s.Percentiles(ctx, q.target, Windows[q.window], now)
			return err
		})
		t.Logf("Percentiles(%s, %s): %.1f ms (%d runs)", q.target, q.window, ms, rep.Runs)
	}
	var rs []StoredResult
	ms := timeQueryT(t, 20, func() (err error) {
		rs, err = s.Results(ctx, other, time.Time{}, 100)
		return err
	})
	t.Logf("Results(%s, 100): %.1f ms", other, ms)
	ms = timeQueryT(t, 20, func() error {
		_, err := s.Result(ctx, rs[50].ID)
		return err
	})
	t.Logf("Result(id): %.2f ms", ms)
}

func timeQueryT(t *testing.T, n int, f func() error) float64 {
	t.Helper()
	t0 := time.Now()
	for range n {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	return float64(time.Since(t0)) / float64(n) / 1e6
}

// daySteady writes the next minutes of every target through a Writer in
// batches of 200 and logs its rate.
func daySteady(t *testing.T, s *Store, mix *labMix, at time.Time) {
	w := NewWriter(s, 200, time.Second, nil)
	t0 := time.Now()
	n := 0
	for m := range 3 {
		for _, r := range mix.minute(at.Add(time.Duration(m) * time.Minute)) {
			w.Add(r)
			n++
		}
	}
	if err := w.Close(); err != nil || w.Dropped() != 0 {
		t.Fatalf("writer: %v, %d dropped", err, w.Dropped())
	}
	t.Logf("Writer, batches of 200: %d runs in %v, %.0f runs/s", n, time.Since(t0).Round(time.Millisecond), float64(n)/time.Since(t0).Seconds())
}

// dayPrune prunes the first hour while batches are written, and logs how
// long it took and the longest batch write meanwhile.
func dayPrune(t *testing.T, s *Store, mix *labMix, start time.Time) {
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var lat []time.Duration
	wg.Add(1)
	go func() {
		defer wg.Done()
		next := mix.minute(start.Add(30 * 24 * time.Hour))
		for i := 0; ; i = (i + 200) % len(next) {
			select {
			case <-stop:
				return
			default:
			}
			t0 := time.Now()
			if err := s.Write(ctx, next[i:min(i+200, len(next))]); err != nil {
				t.Error(err)
				return
			}
			lat = append(lat, time.Since(t0))
		}
	}()
	t0 := time.Now()
	n, err := s.Prune(ctx, start.Add(time.Hour))
	took := time.Since(t0)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(lat)
	if len(lat) == 0 {
		lat = []time.Duration{0}
	}
	t.Logf("Prune of the first hour: %d runs in %v (%.0f runs/s); %d batch writes meanwhile, median %v, longest %v",
		n, took.Round(time.Millisecond), float64(n)/took.Seconds(), len(lat), lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
}
