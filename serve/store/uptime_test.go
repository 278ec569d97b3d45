package store

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
)

const day = 24 * time.Hour

// okRun is a successful https run started at at that took totalMS.
func okRun(target string, at time.Time, totalMS float64) Record {
	r := httpsResult(at, 1, 2, 3, 4)
	r.TotalMS = totalMS
	return Record{Target: target, Module: "web", Result: r}
}

func failRun(target string, at time.Time) Record {
	return Record{Target: target, Module: "web", Result: failedResult(at)}
}

func availability(t *testing.T, s *Store, target string, windows []time.Duration, latency time.Duration) []Availability {
	t.Helper()
	got, err := s.Availability(ctx, target, windows, latency, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(windows) {
		t.Fatalf("%d results for %d windows", len(got), len(windows))
	}
	return got
}

type counts struct{ runs, successes, good int64 }

func countsOf(a Availability) counts { return counts{a.Runs, a.Successes, a.Good} }

// TestAvailabilityExact checks the counts of hand-placed runs over the
// 30 d, 7 d, 24 h, 2 h and 1 h windows ending at now (12:01 on the 21st):
// runs at the windows' edges, in their partial first hours (from the
// runs), in whole rolled-up hours and in the hours not rolled up yet.
func TestAvailabilityExact(t *testing.T) {
	s, _ := openTemp(t)
	to := time.Date(2026, 11, 21, 12, 1, 0, 0, time.UTC)
	from30, from7, from24 := to.Add(-30*day), to.Add(-7*day), to.Add(-day)
	const fast, slow = 50, 500 // ms, either side of the 300 ms threshold
	recs := []Record{
		okRun("api", from30.Add(-time.Second), fast),                         // before every window
		failRun("api", from30.Add(10*time.Second)),                           // 30d: partial first hour
		okRun("api", from30.Add(time.Hour), slow),                            // 30d: rolled up
		okRun("api", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), fast),     // 30d
		okRun("api", from7.Add(-time.Second), fast),                          // 30d, not 7d: in 7d's partial first hour, before it
		okRun("api", from7, slow),                                            // 7d (its first second), 30d
		failRun("api", time.Date(2026, 11, 17, 6, 30, 0, 0, time.UTC)),       // 7d, 30d
		okRun("api", time.Date(2026, 11, 17, 6, 31, 0, 0, time.UTC), fast),   // 7d, 30d
		okRun("api", from24.Add(-time.Second), fast),                         // 7d, 30d
		okRun("api", from24.Add(59*time.Minute+59*time.Second), slow),        // every window but 1h, 2h: 24h's partial first hour
		okRun("api", time.Date(2026, 11, 20, 13, 0, 0, 0, time.UTC), fast),   // 24h, 7d, 30d: rolled up
		failRun("api", time.Date(2026, 11, 21, 3, 0, 0, 0, time.UTC)),        // 24h, 7d, 30d
		okRun("api", time.Date(2026, 11, 21, 10, 30, 0, 0, time.UTC), fast),  // and 2h
		okRun("api", time.Date(2026, 11, 21, 11, 59, 59, 0, time.UTC), slow), // and 1h: not rolled up yet
		okRun("api", time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC), fast),   // every window: the current hour
		failRun("api", to.Add(-time.Millisecond)),                            // every window: the last run in
		okRun("api", to, fast),                                               // after every window
		// Another target's runs stay out.
		okRun("other", from24.Add(time.Hour), fast), failRun("other", to.Add(-time.Minute)),
	}
	write(t, s, recs...)
	// The write rolled up the hours before 11:00 (spread: the target's
	// roll-up of the hour past comes 16 minutes into the next).
	if sealed := time.Unix(int64(count(t, s, "SELECT sealed_to FROM targets WHERE name = 'api'")), 0).UTC(); !sealed.Equal(time.Date(2026, 11, 21, 11, 0, 0, 0, time.UTC)) {
		t.Fatalf("sealed to %v", sealed)
	}

	windows := []time.Duration{7 * day, day, 30 * day, 2 * time.Hour, time.Hour}
	wantGood := []counts{{11, 8, 5}, {7, 5, 3}, {15, 11, 7}, {4, 3, 2}, {3, 2, 1}}
	// check checks the windows at least shortest long.
	check := func(what string, shortest time.Duration) {
		t.Helper()
		for _, latency := range []time.Duration{300 * time.Millisecond, 0} {
			got := availability(t, s, "api", windows, latency)
			for i, w := range windows {
				if w < shortest {
					continue
				}
				want := wantGood[i]
				if latency == 0 {
					want.good = want.successes
				}
				if c := countsOf(got[i]); c != want {
					t.Errorf("%s: %v latency %v: runs, successes, good %v, want %v", what, w, latency, c, want)
				}
				if got[i].Window != w || !got[i].To.Equal(to) || !got[i].From.Equal(to.Add(-w)) {
					t.Errorf("%s: %v: window %v %v..%v", what, w, got[i].Window, got[i].From, got[i].To)
				}
			}
		}
	}
	check("as written", 0)

	// The same as Percentiles counts.
	for _, w := range []time.Duration{time.Hour, day, 7 * day} {
		rep, err := s.Percentiles(ctx, "api", w, now)
		if err != nil {
			t.Fatal(err)
		}
		got := availability(t, s, "api", []time.Duration{w}, 0)[0]
		if got.Runs != int64(rep.Runs) || got.Successes != int64(rep.Successes) {
			t.Errorf("%v: %d runs %d successes, Percentiles %d %d", w, got.Runs, got.Successes, rep.Runs, rep.Successes)
		}
	}

	// Whole hours rolled up come from their roll-ups: dropping their runs
	// changes nothing. Dropping a window's rolled-up hours drops the
	// partial first hours of the shorter windows, so the shorter go first.
	sealed := int64(count(t, s, "SELECT sealed_to FROM targets WHERE name = 'api'"))
	tid := int64(count(t, s, "SELECT id FROM targets WHERE name = 'api'"))
	for _, w := range []time.Duration{day, 7 * day, 30 * day} {
		hFrom := to.Add(-w).Truncate(time.Hour).Add(time.Hour).Unix()
		dbExec(t, s, "DELETE FROM runs WHERE id >= ? AND id < ?", runID(tid, hFrom), runID(tid, sealed))
		check(fmt.Sprintf("runs of the %v window's rolled-up hours deleted", w), w)
	}
	// Left: the two before 13:00 30 days ago, the three from 11:00 today
	// and the one after the windows.
	if n := count(t, s, "SELECT count(*) FROM runs WHERE id >= ? AND id < ?", runID(tid, 0), runID(tid+1, 0)); n != 6 {
		t.Fatalf("%d runs left", n)
	}

	// Hours not rolled up yet are read from their runs: with no roll-ups
	// at all (a fresh store's write of the same runs, sealed_to moved
	// back) the counts are the same.
	s2, _ := openTemp(t)
	write(t, s2, recs...)
	dbExec(t, s2, "UPDATE targets SET sealed_to = ? WHERE name = 'api'", from30.Add(-day).Unix())
	dbExec(t, s2, "DELETE FROM hours")
	s = s2
	check("no roll-ups", 0)
}

// TestAvailabilityLatency puts a threshold between two groups of
// durations, in whole hours (roll-ups) and partial ones (runs), and runs
// at the threshold and just over it.
func TestAvailabilityLatency(t *testing.T) {
	s, _ := openTemp(t)
	rng := rand.New(rand.NewPCG(4, 2))
	start := now.Add(-3 * day)
	var recs []Record
	var fastN, slowN int64
	for at := start; at.Before(now); at = at.Add(7 * time.Minute) {
		ms := 100 + 150*rng.Float64() // 100..250 ms: good
		if rng.IntN(3) == 0 {
			ms = 350 + 550*rng.Float64() // 350..900 ms: too slow
			slowN++
		} else {
			fastN++
		}
		recs = append(recs, okRun("api", at, ms))
	}
	// At the threshold (good) and 3 % over it (bad), in a rolled-up hour
	// and in the current one.
	for _, at := range []time.Time{now.Add(-2 * day), now.Add(-20 * time.Second)} {
		recs = append(recs, okRun("api", at, 300), okRun("api", at.Add(time.Second), 309))
	}
	write(t, s, recs...)
	runs, good := fastN+slowN+4, fastN+2
	for _, what := range []string{"roll-ups", "runs only"} {
		got := availability(t, s, "api", []time.Duration{7 * day, 30 * day}, 300*time.Millisecond)
		for _, a := range got {
			if c, want := countsOf(a), (counts{runs, runs, good}); c != want {
				t.Errorf("%s: %v: %v, want %v", what, a.Window, c, want)
			}
			if r := a.GoodRatio(); math.Abs(r-float64(good)/float64(runs)) > 1e-12 || a.Ratio() != 1 {
				t.Errorf("%s: ratios %v, %v", what, a.Ratio(), r)
			}
		}
		// Within 3 % under the slow group's fastest run (the runs at 300
		// and 309 ms good), and just past the fast group's slowest (both
		// bad): the same split of the groups.
		for latency, want := range map[time.Duration]int64{340 * time.Millisecond: good + 2, 251 * time.Millisecond: good - 2} {
			if a := availability(t, s, "api", []time.Duration{30 * day}, latency)[0]; a.Good != want {
				t.Errorf("%s: latency %v: good %d, want %d", what, latency, a.Good, want)
			}
		}
		// Every run is good under a generous threshold.
		if a := availability(t, s, "api", []time.Duration{30 * day}, time.Second)[0]; a.Good != runs {
			t.Errorf("%s: latency 1s: good %d, want %d", what, a.Good, runs)
		}
		dbExec(t, s, "UPDATE targets SET sealed_to = ? WHERE name = 'api'", start.Add(-time.Hour).Unix())
	}
}

// TestAvailabilityWindowsAgree compares the 24 h, 7 d and 30 d windows of
// one call with counts made from the runs written: a run every 20 to 40
// minutes over 32 days, some of them late (merged into hours rolled up
// already), with another target's runs around them.
func TestAvailabilityWindowsAgree(t *testing.T) {
	s, _ := openTemp(t)
	rng := rand.New(rand.NewPCG(9, 9))
	const latency = 200 * time.Millisecond
	type run struct {
		at      time.Time
		ok      bool
		totalMS float64
	}
	var runs []run
	var recs []Record
	for at := now.Add(-32 * day); at.Before(now.Add(time.Hour)); at = at.Add(time.Duration(1200+rng.IntN(1200)) * time.Second) {
		at := at.Add(time.Duration(rng.IntN(1e6)) * time.Microsecond)
		r := run{at: at, ok: rng.IntN(20) != 0, totalMS: 50 + 300*rng.Float64()}
		runs = append(runs, r)
		// dns runs: small documents, for a quick write.
		res := dnsResult(at, r.totalMS)
		res.TotalMS = r.totalMS
		if !r.ok {
			res.Success, res.Error = false, &probe.ErrorInfo{Class: "timeout", Phase: probe.PhaseQuery}
		}
		recs = append(recs, Record{Target: "api", Module: "dns", Result: res})
		if rng.IntN(8) == 0 {
			recs = append(recs, Record{Target: "other", Module: "dns", Result: dnsResult(at.Add(time.Second), 10)})
		}
	}
	// One run in 20 arrives at the end, hours or days late.
	var inTime, late []Record
	for _, r := range recs {
		if rng.IntN(20) == 0 {
			late = append(late, r)
		} else {
			inTime = append(inTime, r)
		}
	}
	rng.Shuffle(len(late), func(i, j int) { late[i], late[j] = late[j], late[i] })
	for _, b := range [][]Record{inTime, late} {
		for i := 0; i < len(b); i += 500 {
			write(t, s, b[i:min(i+500, len(b))]...)
		}
	}
	if n := count(t, s, "SELECT count(*) FROM hours"); n < 24*24 {
		t.Fatalf("%d roll-ups", n)
	}
	windows := []time.Duration{day, 7 * day, 30 * day}
	got := availability(t, s, "api", windows, latency)
	to := got[0].To
	for i, w := range windows {
		from := to.Add(-w)
		var want counts
		var near int64 // successful runs just over the threshold, which the sketches may count as good
		for _, r := range runs {
			if r.at.Before(from) || !r.at.Before(to) {
				continue
			}
			want.runs++
			if !r.ok {
				continue
			}
			want.successes++
			switch ms := float64(latency) / 1e6; {
			case r.totalMS <= ms:
				want.good++
			case r.totalMS <= ms*1.0203:
				near++
			}
		}
		a := got[i]
		if a.Runs != want.runs || a.Successes != want.successes || a.Good < want.good || a.Good > want.good+near {
			t.Errorf("%v: %v, want %v (good up to %d more)", w, countsOf(a), want, near)
		}
		t.Logf("%v: %d runs, %d successes, %d good (exact %d, %d within 2 %% over)", w, a.Runs, a.Successes, a.Good, want.good, near)
	}
}

func TestAvailabilityFailuresOnly(t *testing.T) {
	s, _ := openTemp(t)
	var recs []Record
	for at := now.Add(-3 * day); at.Before(now); at = at.Add(20 * time.Minute) {
		recs = append(recs, failRun("down", at))
	}
	write(t, s, recs...)
	for _, latency := range []time.Duration{300 * time.Millisecond, 0} {
		for _, a := range availability(t, s, "down", []time.Duration{day, 7 * day, 30 * day}, latency) {
			// Every 20 minutes from 12:00:30 three days ago to 11:40:30
			// today: 3*72 runs, 71 of them after 12:01 yesterday.
			want := counts{3 * 72, 0, 0}
			if a.Window == day {
				want.runs = 71
			}
			if c := countsOf(a); c != want || a.Ratio() != 0 || a.GoodRatio() != 0 {
				t.Errorf("latency %v %v: %v, ratios %v %v; want %v, 0, 0", latency, a.Window, c, a.Ratio(), a.GoodRatio(), want)
			}
		}
	}
}

func TestAvailabilityUnknownTarget(t *testing.T) {
	s, _ := openTemp(t)
	write(t, s, okRun("api", now.Add(-time.Hour), 10))
	got := availability(t, s, "nothing", []time.Duration{day, 30 * day}, 300*time.Millisecond)
	for _, a := range got {
		if countsOf(a) != (counts{}) || !math.IsNaN(a.Ratio()) || !math.IsNaN(a.GoodRatio()) {
			t.Errorf("%v: %+v, ratios %v %v", a.Window, a, a.Ratio(), a.GoodRatio())
		}
		if want := time.Date(2026, 11, 21, 12, 1, 0, 0, time.UTC); !a.To.Equal(want) || !a.From.Equal(want.Add(-a.Window)) {
			t.Errorf("%v: %v..%v", a.Window, a.From, a.To)
		}
	}
	if got, err := s.Availability(ctx, "api", nil, 0, now); err != nil || len(got) != 0 {
		t.Errorf("no windows: %v, %v", got, err)
	}
	if _, err := s.Availability(ctx, "api", []time.Duration{day, time.Second}, 0, now); err == nil {
		t.Error("sub-minute window accepted")
	}
}

// TestCountAtMost checks the sketch count at the threshold's bin: the
// bin of 300 ms is [298.9, 305.0), so 304 ms counts as at most 300 ms and
// 306 ms does not.
func TestCountAtMost(t *testing.T) {
	sk := newSketch()
	for _, v := range []float64{0, 1, 100, 299, 300, 304, 306, 1000} {
		addValue(sk, v)
	}
	for _, c := range []struct {
		ms   float64
		want float64
	}{{0, 1}, {0.5, 1}, {1, 2}, {298, 3}, {300, 6}, {303, 6}, {306, 7}, {2000, 8}} {
		if got := countAtMost(sk, c.ms); got != c.want {
			t.Errorf("countAtMost(%v) = %v, want %v", c.ms, got, c.want)
		}
	}
	if _, err := phaseSketch([]byte{5, 'a'}, TotalPhase); err == nil {
		t.Error("truncated sketches column accepted")
	}
	ss := newSketchSet()
	ss.add(&shape{Success: false, Phases: []string{probe.PhaseDNS}}, 5000, []uint64{1000})
	if b, err := phaseSketch(ss.encode(), TotalPhase); err != nil || b != nil {
		t.Errorf("failed run's roll-up: total sketch %v, %v", b, err)
	}
}

// BenchmarkAvailability30d times Availability of one target probed every
// 30 s for 31 days (labMix runs, failures and all: 89,281 runs, 743 hour
// roll-ups) in a store that also holds the hour roll-ups of 999 other
// targets over the same days (copies of the first target's, written
// straight into hours: their runs would take hours to write and are never
// read; 743,000 roll-ups, some 670 MB). The sub-benchmarks are the three
// SLO windows in one call (as serve asks) with a 100 ms threshold, which
// about half of this target's runs meet, the 30 d window alone, and the
// three windows without a threshold (no sketch is decoded).
//
//	go test -run '^$' -bench Availability30d ./serve/store
func BenchmarkAvailability30d(b *testing.B) {
	s, path := openTemp(b)
	end := now
	mix := newLabMix(b, 1, 9)
	mix.targets[0].name = "slo"
	var recs []Record
	for at := end.Add(-31 * day); !at.After(end); at = at.Add(30 * time.Second) { // a run every 30 s
		recs = append(recs, mix.run(0, at))
		if len(recs) == 2880 {
			write(b, s, recs...)
			recs = recs[:0]
		}
	}
	write(b, s, recs...)
	others := newLabMix(b, 1000, 1)
	write(b, s, others.minute(end.Add(-time.Hour))[1:]...) // targets t000001…t000999
	var tid, hours int64
	if err := s.db.QueryRowContext(ctx, `SELECT id FROM targets WHERE name = 'slo'`).Scan(&tid); err != nil {
		b.Fatal(err)
	}
	lo, hi := targetRange(tid)
	if _, err := s.db.ExecContext(ctx, `INSERT OR REPLACE INTO hours (id, runs, successes, sketches)
		SELECT (t.id << ?) | (h.id & ?), h.runs, h.successes, h.sketches FROM hours h, targets t
		WHERE h.id >= ? AND h.id < ? AND t.id != ?`, secBits, int64(secMask), lo, hi, tid); err != nil {
		b.Fatal(err)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM hours`).Scan(&hours); err != nil {
		b.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d runs of the target, %d hour roll-ups in all, database %.0f MB", count(b, s, `SELECT count(*) FROM runs WHERE id >= ? AND id < ?`, lo, hi),
		hours, float64(fileSize(b, path))/1e6)

	slo := []time.Duration{day, 7 * day, 30 * day}
	for _, bc := range []struct {
		name    string
		windows []time.Duration
		latency time.Duration
	}{
		{"windows=24h,7d,30d", slo, 100 * time.Millisecond},
		{"window=30d", slo[2:], 100 * time.Millisecond},
		{"windows=24h,7d,30d,no-latency", slo, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var got []Availability
			for b.Loop() {
				var err error
				if got, err = s.Availability(ctx, "slo", bc.windows, bc.latency, end); err != nil {
					b.Fatal(err)
				}
			}
			a := got[len(got)-1]
			if a.Runs != 30*2880 { // a run every 30 s
				b.Fatalf("30 d: %d runs", a.Runs)
			}
			b.Logf("%v: %d runs, %.3f %% successes, %.3f %% good", a.Window, a.Runs, 100*a.Ratio(), 100*a.GoodRatio())
		})
	}
}

// PruneKeeping keeps a target's hour roll-ups past the runs' retention:
// its availability over 30 days still counts the runs of the hours kept,
// while another target's ends with its runs.
func TestPruneKeepsRollups(t *testing.T) {
	s, _ := openTemp(t)
	var recs []Record
	for at := now.Add(-10 * day); at.Before(now); at = at.Add(20 * time.Minute) {
		recs = append(recs, okRun("slo", at, 50), okRun("plain", at, 50))
	}
	for i := 0; i < len(recs); i += 500 {
		write(t, s, recs[i:min(i+500, len(recs))]...)
	}
	before := availability(t, s, "slo", []time.Duration{30 * day}, 0)[0].Runs
	if before != 10*72 {
		t.Fatalf("%d runs before the prune, want %d", before, 10*72)
	}
	cut := now.Add(-2 * day)
	if _, err := s.PruneKeeping(ctx, cut, map[string]time.Time{"slo": now.Add(-9 * day), "unknown": now.Add(-9 * day)}); err != nil {
		t.Fatal(err)
	}
	slo := availability(t, s, "slo", []time.Duration{30 * day}, 0)[0].Runs
	plain := availability(t, s, "plain", []time.Duration{30 * day}, 0)[0].Runs
	// Whole hours only at the kept edge: up to an hour's 3 runs less.
	if slo < 9*72-3 || slo > 9*72 {
		t.Errorf("slo: %d runs over 30 days after the prune, want about %d (9 days of roll-ups)", slo, 9*72)
	}
	if plain < 2*72-3 || plain > 2*72+3 {
		t.Errorf("plain: %d runs over 30 days after the prune, want about %d (2 days of runs)", plain, 2*72)
	}
	for _, name := range []string{"slo", "plain"} {
		rs, err := s.Results(ctx, name, time.Time{}, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Result.StartedAt.Before(cut) {
				t.Errorf("%s: a run of %s survived the prune", name, r.Result.StartedAt)
			}
		}
	}
}
