package store

import (
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// now is mid-minute, so the window end (end of the current minute) is
// 30 s after it, and the 7 d window starts off the hour.
var now = time.Date(2026, 11, 21, 12, 0, 30, 0, time.UTC)

func near(t *testing.T, what string, got, want, rel float64) {
	t.Helper()
	if math.Abs(got-want) > rel*want {
		t.Errorf("%s = %.3f, want %.3f ± %.0f %%", what, got, want, rel*100)
	}
}

func phaseSeries(t *testing.T, rep Report, phase string) PhaseSeries {
	t.Helper()
	for _, p := range rep.Phases {
		if p.Phase == phase {
			return p
		}
	}
	t.Fatalf("no %s series in %+v", phase, rep.Phases)
	return PhaseSeries{}
}

func bucketCounts(ps PhaseSeries) map[int]int {
	m := map[int]int{}
	for i, b := range ps.Buckets {
		if b.Count != 0 {
			m[i] = b.Count
		}
	}
	return m
}

func TestPercentilesDistribution(t *testing.T) {
	s, _ := openTemp(t)
	rng := rand.New(rand.NewPCG(1, 2))
	ms := rng.Perm(1000)
	var recs []Record
	for i, v := range ms {
		at := now.Add(-59*time.Minute + time.Duration(i)*3500*time.Millisecond)
		recs = append(recs, Record{Target: "resolver", Module: "dns", Result: dnsResult(at, float64(v+1))})
		if len(recs) == 100 {
			write(t, s, recs...)
			recs = nil
		}
	}
	for _, win := range []string{"1h", "24h", "7d"} {
		rep, err := s.Percentiles(ctx, "resolver", Windows[win], now)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Window != win || rep.Buckets != 60 || rep.Runs != 1000 || rep.Successes != 1000 || rep.SuccessRatio != 1 {
			t.Errorf("%s: report header %+v", win, rep)
		}
		if got := []string{rep.Phases[0].Phase, rep.Phases[1].Phase}; len(rep.Phases) != 2 || got[0] != "query" || got[1] != "total" {
			t.Fatalf("%s: phases %v", win, rep.Phases)
		}
		q := rep.Phases[0].Overall
		if q.Count != 1000 {
			t.Errorf("%s: count %d", win, q.Count)
		}
		near(t, win+" p50", q.P50, 500, 0.02)
		near(t, win+" p90", q.P90, 900, 0.02)
		near(t, win+" p99", q.P99, 990, 0.02)
		var sum int
		for _, b := range rep.Phases[0].Buckets {
			sum += b.Count
		}
		if sum != 1000 {
			t.Errorf("%s: buckets hold %d values", win, sum)
		}
	}
}

func TestPercentilesBuckets1h(t *testing.T) {
	s, _ := openTemp(t)
	to := time.Date(2026, 11, 21, 12, 1, 0, 0, time.UTC)
	from := to.Add(-time.Hour)
	for _, m := range []int{0, 17, 17, 59} {
		at := from.Add(time.Duration(m)*time.Minute + 45*time.Second)
		write(t, s, Record{Target: "api", Result: httpsResult(at, 1, 2, 3, 4)})
	}
	// Outside the window on both sides.
	write(t, s, Record{Target: "api", Result: httpsResult(from.Add(-time.Second), 1, 2, 3, 4)},
		Record{Target: "api", Result: httpsResult(to, 1, 2, 3, 4)})

	rep, err := s.Percentiles(ctx, "api", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.From.Equal(from) || !rep.To.Equal(to) || rep.BucketWidth != time.Minute {
		t.Fatalf("window %v..%v width %v", rep.From, rep.To, rep.BucketWidth)
	}
	var names []string
	for _, p := range rep.Phases {
		names = append(names, p.Phase)
		if len(p.Buckets) != 60 {
			t.Errorf("%s: %d buckets", p.Phase, len(p.Buckets))
		}
	}
	if want := []string{"dns", "connect", "tls", "request", "wait", "transfer", "total"}; !slices.Equal(names, want) {
		t.Errorf("phase order %v, want %v", names, want)
	}
	tls := phaseSeries(t, rep, "tls")
	if got, want := bucketCounts(tls), map[int]int{0: 1, 17: 2, 59: 1}; !maps.Equal(got, want) {
		t.Errorf("tls buckets %v, want %v", got, want)
	}
	if tls.Buckets[1] != (Quantiles{}) {
		t.Errorf("empty bucket = %+v", tls.Buckets[1])
	}
	near(t, "tls p50", tls.Buckets[17].P50, 3, 0.01)
	if rep.Runs != 4 {
		t.Errorf("runs %d", rep.Runs)
	}

	// The 1 h path reads the runs only.
	if _, err := s.db.Exec("DELETE FROM hours"); err != nil {
		t.Fatal(err)
	}
	rep2, _ := s.Percentiles(ctx, "api", time.Hour, now)
	sameJSON(t, rep2, rep)
}

func TestPercentilesBuckets24h(t *testing.T) {
	s, _ := openTemp(t)
	to := time.Date(2026, 11, 21, 12, 1, 0, 0, time.UTC)
	from := to.Add(-24 * time.Hour)
	width := 24 * time.Minute
	// Offsets picked so that minute placement matters: 5*24m+23m is still
	// bucket 5, 6*24m is bucket 6.
	offsets := map[time.Duration]int{
		10 * time.Second: 0,
		5*width + 23*time.Minute + 59*time.Second: 5,
		6 * width:                  6,
		24*time.Hour - time.Second: 59,
	}
	for off := range offsets {
		write(t, s, Record{Target: "api", Result: httpsResult(from.Add(off), 1, 2, 3, 4)})
	}
	rep, err := s.Percentiles(ctx, "api", 24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.From.Equal(from) || rep.BucketWidth != width || rep.Window != "24h" {
		t.Fatalf("window %v width %v", rep.From, rep.BucketWidth)
	}
	want := map[int]int{}
	for off, b := range offsets {
		if b != int((from.Add(off).Sub(from))/width) {
			t.Fatalf("bad test offset %v", off)
		}
		want[b]++
	}
	if got := bucketCounts(phaseSeries(t, rep, "total")); !maps.Equal(got, want) {
		t.Errorf("total buckets %v, want %v", got, want)
	}
}

func TestPercentiles7dHourPath(t *testing.T) {
	s, _ := openTemp(t)
	to := time.Date(2026, 11, 21, 12, 1, 0, 0, time.UTC)
	from := to.Add(-7 * 24 * time.Hour) // 12:01, off the hour
	width := 168 * time.Minute
	at := []time.Time{
		from.Add(30 * time.Second),         // partial first hour: minute roll-up, bucket 0
		from.Add(3*width + 10*time.Minute), // 20:35: exactly bucket 3, but its hour (20:00) starts in bucket 2
		from.Add(3 * 24 * time.Hour),       // middle: hour roll-up
		now,                                // partial current hour: minute roll-up, bucket 59
	}
	var recs []Record
	for i, a := range at {
		r := httpsResult(a, 1, 2, 3, 4)
		if i == 1 {
			r = failedResult(a)
		}
		recs = append(recs, Record{Target: "api", Result: r})
	}
	write(t, s, recs...)
	rep, err := s.Percentiles(ctx, "api", 7*24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.From.Equal(from) || rep.BucketWidth != width || rep.Window != "7d" {
		t.Fatalf("window %v width %v", rep.From, rep.BucketWidth)
	}
	hourStart := func(t time.Time) time.Time { return t.Truncate(time.Hour) }
	if int(at[1].Sub(from)/width) != 3 || int(hourStart(at[1]).Sub(from)/width) != 2 {
		t.Fatal("bad test time")
	}
	want := map[int]int{
		0:                                       1,
		2:                                       1, // placed by the hour it falls in
		int(hourStart(at[2]).Sub(from) / width): 1,
		59:                                      1,
	}
	total := phaseSeries(t, rep, "total")
	if got := bucketCounts(phaseSeries(t, rep, "dns")); !maps.Equal(got, want) {
		t.Errorf("dns buckets %v, want %v", got, want)
	}
	if rep.Runs != 4 || rep.Successes != 3 || total.Overall.Count != 3 {
		t.Errorf("runs %d successes %d total count %d", rep.Runs, rep.Successes, total.Overall.Count)
	}
	// The failed run's incomplete tls phase is not a timing; its dns and
	// connect are.
	if c := phaseSeries(t, rep, "tls").Overall.Count; c != 3 {
		t.Errorf("tls count %d, want 3", c)
	}
	if c := phaseSeries(t, rep, "connect").Overall.Count; c != 4 {
		t.Errorf("connect count %d, want 4", c)
	}

	// Hours not rolled up yet are read from their runs, and placed alike.
	hFrom := from.Truncate(time.Hour).Add(time.Hour)
	sealed := int64(count(t, s, "SELECT sealed_to FROM targets WHERE name = 'api'"))
	if sealed <= at[2].Unix() {
		t.Fatalf("sealed to %v, want past %v", time.Unix(sealed, 0).UTC(), at[2])
	}
	dbExec(t, s, "UPDATE targets SET sealed_to = ? WHERE name = 'api'", hFrom.Unix())
	rep2, _ := s.Percentiles(ctx, "api", 7*24*time.Hour, now)
	sameJSON(t, rep2, rep)

	// Whole hours rolled up come from their roll-ups: dropping their runs
	// changes nothing.
	dbExec(t, s, "UPDATE targets SET sealed_to = ? WHERE name = 'api'", sealed)
	dbExec(t, s, "DELETE FROM runs WHERE (id & 8589934591) >= ? AND (id & 8589934591) < ?", hFrom.Unix(), sealed)
	rep3, _ := s.Percentiles(ctx, "api", 7*24*time.Hour, now)
	sameJSON(t, rep3, rep)
}

func dbExec(t *testing.T, s *Store, q string, args ...any) {
	t.Helper()
	if _, err := s.db.ExecContext(ctx, q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func TestPercentilesSuccessRatio(t *testing.T) {
	s, _ := openTemp(t)
	var recs []Record
	for i := range 10 {
		at := now.Add(-time.Duration(i+1) * time.Minute)
		r := httpsResult(at, 1, 2, 3, 4)
		if i%10 >= 7 {
			r = failedResult(at)
		}
		recs = append(recs, Record{Target: "api", Result: r})
	}
	write(t, s, recs...)
	rep, err := s.Percentiles(ctx, "api", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Runs != 10 || rep.Successes != 7 || math.Abs(rep.SuccessRatio-0.7) > 1e-9 {
		t.Errorf("runs %d successes %d ratio %v", rep.Runs, rep.Successes, rep.SuccessRatio)
	}
	// Totals of failed runs (10 s timeouts) stay out of the latency.
	if q := phaseSeries(t, rep, "total").Overall; q.Count != 7 || q.P99 > 20 {
		t.Errorf("total %+v", q)
	}
}

func TestPercentilesEmpty(t *testing.T) {
	s, _ := openTemp(t)
	rep, err := s.Percentiles(ctx, "nothing", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Runs != 0 || rep.SuccessRatio != 0 || len(rep.Phases) != 0 || rep.Buckets != 60 {
		t.Errorf("empty report %+v", rep)
	}
	if _, err := s.Percentiles(ctx, "x", time.Second, now); err == nil {
		t.Error("sub-minute window accepted")
	}
}
