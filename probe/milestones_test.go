package probe

import (
	"testing"
	"time"
)

// Milestones keeps request → wait → response in order whichever
// goroutine reports first.
func TestMilestonesOrder(t *testing.T) {
	t0 := time.Now()
	at := func(us int) time.Time { return t0.Add(time.Duration(us) * time.Microsecond) }
	names := func(rec *Recorder) string {
		s := ""
		for _, p := range rec.Phases(at(100)) {
			s += p.Name + " "
		}
		return s
	}
	for _, tc := range []struct {
		name  string
		steps func(m *Milestones)
		want  string
		wait  float64 // wait's duration in ms
	}{
		{"written then answered", func(m *Milestones) { m.Wrote(at(10)); m.Answered(at(30)) }, "request wait transfer ", 0.02},
		{"answered before written", func(m *Milestones) { m.Answered(at(30)); m.Wrote(at(10)) }, "request wait transfer ", 0},
		{"answered twice", func(m *Milestones) { m.Wrote(at(10)); m.Answered(at(30)); m.Answered(at(50)) }, "request wait transfer ", 0.02},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := NewRecorderAt(t0, time.Now)
			rec.BeginAt(PhaseRequest, at(0))
			m := &Milestones{Rec: rec, Response: PhaseTransfer}
			tc.steps(m)
			if got := names(rec); got != tc.want {
				t.Fatalf("phases %q, want %q", got, tc.want)
			}
			ph := rec.Phases(at(100))
			if ph[1].DurationMS != tc.wait || ph[2].StartMS != 0.03 {
				t.Fatalf("phases %+v", ph)
			}
		})
	}
}
