package store

import (
	"testing"
	"time"
)

// Hourly counts each run once, in its hour: whole hours from the
// roll-ups, the current one from the runs; hours without runs are zero.
func TestHourly(t *testing.T) {
	s, _ := openTemp(t)
	var recs []Record
	// Every 10 minutes for 30 hours before now; every 3rd fails.
	i := 0
	for at := now.Add(-30 * time.Hour); at.Before(now); at = at.Add(10 * time.Minute) {
		if i%3 == 2 {
			recs = append(recs, failRun("api", at))
		} else {
			recs = append(recs, okRun("api", at, 40))
		}
		i++
	}
	write(t, s, recs...)
	got, err := s.Hourly(ctx, "api", 24, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 24 || !got[23].Start.Equal(now.Truncate(time.Hour)) {
		t.Fatalf("%d hours, last starting %v", len(got), got[len(got)-1].Start)
	}
	want := map[time.Time][2]int64{}
	for _, r := range recs {
		h := r.Result.StartedAt.Truncate(time.Hour)
		c := want[h]
		c[0]++
		if r.Result.Success {
			c[1]++
		}
		want[h] = c
	}
	for _, d := range got {
		if w := want[d.Start]; d.Runs != w[0] || d.Successes != w[1] {
			t.Errorf("%v: %d runs, %d successes; want %v", d.Start, d.Runs, d.Successes, w)
		}
	}
	if got[0].Runs == 0 || got[22].Runs == 0 {
		t.Errorf("first or last full hour empty: %+v %+v", got[0], got[22])
	}
	if n := count(t, s, "SELECT count(*) FROM hours"); n == 0 {
		t.Error("no hour rolled up: the roll-up half is not tested")
	}
	none, err := s.Hourly(ctx, "nobody", 3, now)
	if err != nil || len(none) != 3 || none[0].Runs != 0 {
		t.Errorf("unknown target: %v %v", none, err)
	}
	if _, err := s.Hourly(ctx, "api", 0, now); err == nil {
		t.Error("0 hours accepted")
	}
}
