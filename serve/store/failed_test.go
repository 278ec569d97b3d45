package store

import (
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
)

// TestFailedRuns: only failed runs, of the range, newest first, with the
// phase each stopped in still marked incomplete and its time in it; the
// limit says when there are more; another target's runs stay out.
func TestFailedRuns(t *testing.T) {
	s, _ := openTemp(t)
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	var recs []Record
	for i := range 12 {
		at := t0.Add(time.Duration(i) * 30 * time.Second)
		r := httpsResult(at, 1, 2, 3, 4)
		if i%3 == 2 {
			r = failedResult(at)
		}
		recs = append(recs, Record{Target: "api", Module: "m", Result: r}, Record{Target: "other", Module: "m", Result: failedResult(at)})
	}
	if err := s.Write(ctx, recs); err != nil {
		t.Fatal(err)
	}
	got, more, err := s.FailedRuns(ctx, "api", t0, t0.Add(time.Hour), 0)
	if err != nil || more || len(got) != 4 {
		t.Fatalf("%d failed runs, more %v (%v)", len(got), more, err)
	}
	for i, fr := range got {
		want := t0.Add(time.Duration(11-3*i) * 30 * time.Second)
		if !fr.StartedAt.Equal(want) || fr.ErrClass != probe.ClassTimeout || fr.ErrPhase != "tls" || fr.TotalMS != 10000 {
			t.Errorf("run %d: %+v, want start %v", i, fr, want)
		}
		if len(fr.Phases) != 3 || !fr.Phases[2].Incomplete || fr.Phases[2].Name != "tls" || fr.Phases[2].DurationMS != 9978.3 || fr.Phases[1].Incomplete {
			t.Errorf("run %d phases %+v", i, fr.Phases)
		}
	}
	// [from, to): the run at t0+5m30s (i=11) is out, the one at t0+1m (i=2) in.
	got, more, err = s.FailedRuns(ctx, "api", t0.Add(time.Minute), t0.Add(330*time.Second), 2)
	if err != nil || !more || len(got) != 2 || !got[0].StartedAt.Equal(t0.Add(240*time.Second)) || !got[1].StartedAt.Equal(t0.Add(150*time.Second)) {
		t.Errorf("limited: %+v more %v (%v)", got, more, err)
	}
	if got, _, err := s.FailedRuns(ctx, "nobody", t0, t0.Add(time.Hour), 10); err != nil || len(got) != 0 {
		t.Errorf("unknown target: %+v (%v)", got, err)
	}
}

func TestSpanTallies(t *testing.T) {
	s, _ := openTemp(t)
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	var recs []Record
	for i := range 3 {
		at := t0.Add(time.Duration(i) * time.Minute)
		recs = append(recs, Record{Target: "api", Module: "m", Result: withFindings(httpsResult(at, 1, 2, 3, 4), finding("HTTP_SERVER_SLOW", probe.SeverityWarning))})
		if i > 0 {
			recs = append(recs, Record{Target: "web", Module: "m", Result: withFindings(httpsResult(at, 1, 2, 3, 4), finding("TLS_CERT_EXPIRING", probe.SeverityWarning))})
		}
	}
	if err := s.Write(ctx, recs); err != nil {
		t.Fatal(err)
	}
	got, err := s.SpanTallies(ctx)
	if err != nil || len(got) != 2 {
		t.Fatalf("%+v (%v)", got, err)
	}
	byTarget := map[string]SpanTally{}
	for _, st := range got {
		byTarget[st.Target] = st
	}
	if a := byTarget["api"]; a.ID != "HTTP_SERVER_SLOW" || a.Runs != 3 || !a.FirstSeen.Equal(t0) {
		t.Errorf("api %+v", a)
	}
	if w := byTarget["web"]; w.ID != "TLS_CERT_EXPIRING" || w.Runs != 2 || !w.FirstSeen.Equal(t0.Add(time.Minute)) {
		t.Errorf("web %+v", w)
	}
}
