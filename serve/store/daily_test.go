package store

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// dayCounts is a day's runs and successes.
type dayCounts struct{ runs, successes int64 }

func daily(t *testing.T, s *Store, target string, days int) []Day {
	t.Helper()
	got, err := s.Daily(ctx, target, days, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != days {
		t.Fatalf("%d days, want %d", len(got), days)
	}
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	for i, d := range got {
		if want := today.AddDate(0, 0, i-days+1); !d.Start.Equal(want) || d.Start.Location() != time.UTC {
			t.Fatalf("day %d starts %v, want %v", i, d.Start, want)
		}
	}
	return got
}

// TestDailyExact places runs at the days' edges, in hours rolled up and
// in the hours not rolled up yet (today's), and checks each day's counts,
// then that the rolled-up hours come from the roll-ups (their runs
// deleted, the same counts) and the others from the runs (no roll-ups,
// the same counts).
func TestDailyExact(t *testing.T) {
	s, _ := openTemp(t)
	today := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC) // now is 12:00:30 that day
	first := today.AddDate(0, 0, -89)
	recs := []Record{
		okRun("api", first.Add(-time.Second), 5), // before the first day
		okRun("api", first, 5),                   // the first day's first second
		failRun("api", first.Add(23*time.Hour+59*time.Minute+59*time.Second)),
		okRun("api", today.AddDate(0, 0, -30).Add(6*time.Hour), 5),
		failRun("api", today.AddDate(0, 0, -30).Add(7*time.Hour)),
		failRun("api", today.AddDate(0, 0, -30).Add(8*time.Hour)),
		okRun("api", today.Add(-time.Second), 5),                // yesterday's last second
		okRun("api", today, 5),                                  // today, rolled up
		failRun("api", today.Add(3*time.Hour)),                  // today, rolled up
		okRun("api", today.Add(11*time.Hour+30*time.Minute), 5), // today, not rolled up yet
		failRun("api", today.Add(12*time.Hour)),                 // the current hour
		okRun("other", today.AddDate(0, 0, -30), 5), failRun("other", today.Add(time.Hour)),
	}
	write(t, s, recs...)
	sealed := time.Unix(int64(count(t, s, "SELECT sealed_to FROM targets WHERE name = 'api'")), 0).UTC()
	if !sealed.After(today.Add(3*time.Hour)) || !sealed.Before(today.Add(11*time.Hour+30*time.Minute)) {
		t.Fatalf("sealed to %v: the test wants today's first runs rolled up and the last not", sealed)
	}
	want := map[int]dayCounts{0: {2, 1}, 59: {3, 1}, 88: {1, 1}, 89: {4, 2}}
	check := func(what string) {
		t.Helper()
		got := daily(t, s, "api", 90)
		for i, d := range got {
			if c := (dayCounts{d.Runs, d.Successes}); c != want[i] {
				t.Errorf("%s: day %d (%s): %v, want %v", what, i, d.Start.Format(time.DateOnly), c, want[i])
			}
		}
		if r := got[59].Ratio(); math.Abs(r-1.0/3) > 1e-12 {
			t.Errorf("%s: ratio %v", what, r)
		}
		if !math.IsNaN(got[1].Ratio()) {
			t.Errorf("%s: a day without runs has ratio %v", what, got[1].Ratio())
		}
	}
	check("as written")

	// The last 2 days only; an unknown target; bad day counts.
	if got := daily(t, s, "api", 2); got[0] != (Day{Start: today.AddDate(0, 0, -1), Runs: 1, Successes: 1}) || got[1].Runs != 4 {
		t.Errorf("2 days: %+v", got)
	}
	for _, d := range daily(t, s, "nobody", 3) {
		if d.Runs != 0 || d.Successes != 0 {
			t.Errorf("unknown target: %+v", d)
		}
	}
	for _, n := range []int{0, -1, MaxDays + 1} {
		if _, err := s.Daily(ctx, "api", n, now); err == nil {
			t.Errorf("Daily(%d days): no error", n)
		}
	}

	// The rolled-up hours come from their roll-ups: without their runs,
	// the counts stay.
	tid := int64(count(t, s, "SELECT id FROM targets WHERE name = 'api'"))
	dbExec(t, s, "DELETE FROM runs WHERE id >= ? AND id < ?", runID(tid, 0), runID(tid, sealed.Unix()))
	check("runs of the rolled-up hours deleted")

	// The hours not rolled up come from the runs: with no roll-ups at all
	// (sealed_to before every run) the counts are the same.
	s2, _ := openTemp(t)
	write(t, s2, recs...)
	dbExec(t, s2, "UPDATE targets SET sealed_to = ? WHERE name = 'api'", first.AddDate(0, 0, -1).Unix())
	dbExec(t, s2, "DELETE FROM hours")
	s = s2
	check("no roll-ups")
}

// TestDailyAgrees compares Daily over 40 days with counts made from the
// runs written (a run every 10 to 50 minutes, a fifth of them failing,
// some of them late: merged into hours rolled up already), and its sum
// with Availability over the same span.
func TestDailyAgrees(t *testing.T) {
	s, _ := openTemp(t)
	rng := rand.New(rand.NewPCG(9, 0))
	today := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	first := today.AddDate(0, 0, -39)
	want := make([]dayCounts, 40)
	var recs, late []Record
	for at := first.Add(-3 * time.Hour); at.Before(now); at = at.Add(time.Duration(10+rng.IntN(40)) * time.Minute) {
		r := okRun("api", at, 5)
		if rng.IntN(5) == 0 {
			r = failRun("api", at)
		}
		if i := int(at.Sub(first) / day); at.Compare(first) >= 0 {
			want[i].runs++
			if r.Result.Success {
				want[i].successes++
			}
		}
		if rng.IntN(50) == 0 {
			late = append(late, r)
			continue
		}
		recs = append(recs, r)
	}
	write(t, s, recs...)
	write(t, s, late...)
	var sum dayCounts
	for i, d := range daily(t, s, "api", 40) {
		if c := (dayCounts{d.Runs, d.Successes}); c != want[i] {
			t.Errorf("day %d: %v, want %v", i, c, want[i])
		}
		sum.runs += d.Runs
		sum.successes += d.Successes
	}
	// Availability's window ends at the end of now's minute and starts
	// one window earlier: first day's midnight.
	a := availability(t, s, "api", []time.Duration{now.Truncate(time.Minute).Add(time.Minute).Sub(first)}, 0)[0]
	if a.Runs != sum.runs || a.Successes != sum.successes {
		t.Errorf("days sum to %v, Availability %d %d", sum, a.Runs, a.Successes)
	}
}

// TestDailyKeptRollups: the hour roll-ups PruneKeeping keeps answer for
// the days whose runs are pruned.
func TestDailyKeptRollups(t *testing.T) {
	s, _ := openTemp(t)
	today := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	var recs []Record
	for at := today.AddDate(0, 0, -9); at.Before(now); at = at.Add(time.Hour) {
		recs = append(recs, okRun("api", at, 5), okRun("web", at, 5))
	}
	write(t, s, recs...)
	if _, err := s.PruneKeeping(ctx, today.AddDate(0, 0, -3), map[string]time.Time{"api": today.AddDate(0, 0, -10)}); err != nil {
		t.Fatal(err)
	}
	api, web := daily(t, s, "api", 10), daily(t, s, "web", 10)
	for i := range 9 {
		wantWeb := int64(24) // kept: after the cut
		if i < 6 {
			wantWeb = 0 // pruned, runs and roll-ups
		}
		if api[i].Runs != 24 || web[i].Runs != wantWeb {
			t.Errorf("day %d after prune: api %d runs (roll-ups kept), web %d (want %d)", i, api[i].Runs, web[i].Runs, wantWeb)
		}
	}
	if api[9].Runs != 13 || web[9].Runs != 13 {
		t.Errorf("today: api %d, web %d runs, want 13", api[9].Runs, web[9].Runs)
	}
}

// BenchmarkDaily90d times Daily over 90 days of a target with a run every
// 10 minutes (2,160 hour roll-ups, the same number at any interval).
func BenchmarkDaily90d(b *testing.B) {
	s, _ := openTemp(b)
	var recs []Record
	for at := now.Add(-90 * day); at.Before(now); at = at.Add(10 * time.Minute) {
		recs = append(recs, okRun("api", at, 5))
	}
	write(b, s, recs...)
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Daily(ctx, "api", 90, now); err != nil {
			b.Fatal(err)
		}
	}
}
