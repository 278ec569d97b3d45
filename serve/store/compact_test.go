package store

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
)

// periodStart is the start of target tid's sample period holding t: its
// first run there keeps its document.
func periodStart(tid int64, t time.Time) time.Time {
	return time.Unix(samplePeriod(tid, t.Unix())*3600+spread(tid), 0).UTC()
}

func fullFlags(rs []StoredResult) []bool {
	var out []bool
	for _, r := range rs {
		out = append(out, r.Full)
	}
	return out
}

func TestPartialResults(t *testing.T) {
	s, _ := openTemp(t)
	t0 := periodStart(1, base).Add(time.Minute + 123456789*time.Nanosecond)
	var want []*probe.Result
	for i := range 5 {
		r := withFindings(httpsResult(t0.Add(time.Duration(i)*10*time.Second), 1.25, 20.5+float64(i), 41, 20.875),
			finding("TLS_CERT_EXPIRING", probe.SeverityWarning))
		r.Findings[0].Phase = probe.PhaseTLS
		want = append(want, r)
		write(t, s, Record{Target: "api", Module: "web", Result: r})
	}
	got, err := s.Results(ctx, "api", time.Time{}, 0)
	if err != nil || len(got) != 5 {
		t.Fatalf("%d results, %v", len(got), err)
	}
	// The first run and the latest are whole; the ones between, alike,
	// are compact.
	if f := fullFlags(got); !slices.Equal(f, []bool{true, false, false, false, true}) {
		t.Fatalf("full (newest first) = %v", f)
	}
	sameJSON(t, got[0].Result, want[4])
	sameJSON(t, got[4].Result, want[0])
	p, w := got[2].Result, want[2]
	if got[2].Target != "api" || got[2].Module != "web" || p.Target != w.Target || p.Kind != "http" || !p.Success || p.Error != nil ||
		p.Schema != probe.Schema || math.Abs(p.TotalMS-w.TotalMS) > 0.0005 || p.TLS != nil {
		t.Errorf("partial result = %+v", p)
	}
	if !p.StartedAt.Equal(w.StartedAt.Truncate(time.Microsecond)) {
		t.Errorf("started_at %v, want %v to the µs", p.StartedAt, w.StartedAt)
	}
	if len(p.Phases) != 6 {
		t.Fatalf("phases %+v", p.Phases)
	}
	end := 0.0
	for i, ph := range p.Phases {
		if ph.Name != w.Phases[i].Name || ph.DurationMS != w.Phases[i].DurationMS || ph.StartMS != end || ph.Incomplete {
			t.Errorf("phase %d = %+v, want %+v starting at %v", i, ph, w.Phases[i], end)
		}
		end = ph.StartMS + ph.DurationMS
	}
	sameJSON(t, p.Findings, []probe.Finding{{ID: "TLS_CERT_EXPIRING", Severity: probe.SeverityWarning, Phase: probe.PhaseTLS}})

	one, err := s.Result(ctx, got[2].ID)
	if err != nil || one.Full {
		t.Fatalf("Result(%d) = full %v, %v", got[2].ID, one.Full, err)
	}
	sameJSON(t, one.Result, p)
	latest, ok, err := s.Latest(ctx, "api")
	if !ok || err != nil || !latest.Full || latest.ID != got[0].ID {
		t.Fatalf("Latest = %+v, %v, %v", latest, ok, err)
	}
	// The spans count every run, compact or not.
	spans, _ := s.Findings(ctx, "api")
	if len(spans) != 1 || spans[0].Runs != 5 || !spans[0].Active {
		t.Errorf("spans %+v", spans)
	}
}

func TestDocSelection(t *testing.T) {
	s, _ := openTemp(t)
	t0 := periodStart(1, base).Add(time.Minute)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	var recs []Record
	add := func(i int, module string, r *probe.Result) {
		recs = append(recs, Record{Target: "api", Module: module, Result: r})
	}
	add(0, "web", httpsResult(at(0), 1, 2, 3, 4))                                                      // first: kept
	add(1, "web", httpsResult(at(1), 1, 2, 3, 5))                                                      // alike
	add(2, "web", failedResult(at(2)))                                                                 // failure: kept
	add(3, "web", failedResult(at(3)))                                                                 // failure again: kept
	add(4, "web", httpsResult(at(4), 1, 2, 3, 4))                                                      // success again: kept
	add(5, "web", httpsResult(at(5), 1, 2, 3, 4))                                                      // alike
	add(6, "web", withFindings(httpsResult(at(6), 1, 2, 3, 4), finding("X", probe.SeverityInfo)))      // findings changed: kept
	add(7, "web", withFindings(httpsResult(at(7), 1, 2, 3, 4), finding("X", probe.SeverityInfo)))      // alike
	add(8, "web", withFindings(httpsResult(at(8), 1, 2, 3, 4), finding("X", probe.SeverityWarning)))   // severity changed: kept
	add(9, "other", withFindings(httpsResult(at(9), 1, 2, 3, 4), finding("X", probe.SeverityWarning))) // module changed: kept
	add(10, "other", withFindings(httpsResult(at(10), 1, 2, 3, 4), finding("X", probe.SeverityWarning)))
	add(70, "other", withFindings(httpsResult(at(70), 1, 2, 3, 4), finding("X", probe.SeverityWarning))) // next period: kept
	add(71, "other", withFindings(httpsResult(at(71), 1, 2, 3, 4), finding("X", probe.SeverityWarning))) // latest: kept
	for _, r := range recs {
		write(t, s, r)
	}
	got, err := s.Results(ctx, "api", time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(got)
	want := []bool{true, false, true, true, true, false, true, false, true, true, false, true, true}
	if f := fullFlags(got); !slices.Equal(f, want) {
		t.Errorf("full = %v\nwant   %v", f, want)
	}
	for i, sr := range got {
		if sr.Module != recs[i].Module {
			t.Errorf("run %d: module %q, want %q", i, sr.Module, recs[i].Module)
		}
		if sr.Full {
			sameJSON(t, sr.Result, recs[i].Result)
		}
	}
}

// The documents of a target are stored against one of its own as base:
// a fraction of their size alone; a run that differs much becomes a new
// base.
func TestDocDeltas(t *testing.T) {
	s, _ := openTemp(t)
	var recs []Record
	for i := range 40 {
		at := base.Add(time.Duration(i) * time.Hour)
		r := httpsResult(at, 1, 2+float64(i)/7, 3, 4)
		if i >= 20 { // the target is another kind of probe now
			r = dnsResult(at, 2+float64(i)/7)
		}
		recs = append(recs, Record{Target: "api", Result: r})
	}
	write(t, s, recs...)
	if n := count(t, s, "SELECT count(*) FROM docs"); n != 40 {
		t.Fatalf("%d docs, want one an hour", n)
	}
	if n := count(t, s, "SELECT count(*) FROM doc_bases"); n != 2 {
		t.Errorf("%d bases, want 2 (the first run, the first of the other kind)", n)
	}
	js := len(mustJSON(t, recs[1].Result))
	delta := count(t, s, "SELECT CAST(avg(length(doc)) AS INTEGER) FROM docs WHERE base != id AND id < (SELECT max(id) FROM doc_bases)")
	alone := count(t, s, "SELECT CAST(avg(length(doc)) AS INTEGER) FROM doc_bases WHERE id = (SELECT min(id) FROM doc_bases)")
	t.Logf("JSON %d bytes, alone %d, as a delta %d", js, alone, delta)
	if delta*rebaseRatio > js {
		t.Errorf("deltas of %d bytes for %d bytes of JSON", delta, js)
	}
	got, err := s.Results(ctx, "api", time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, sr := range got {
		if !sr.Full {
			t.Fatalf("run %d not whole", sr.ID)
		}
		sameJSON(t, sr.Result, recs[len(recs)-1-i].Result)
	}
}

// Two runs of a target in one second get ids of their own, in order.
func TestRunIDs(t *testing.T) {
	s, _ := openTemp(t)
	var recs []Record
	for i := range 5 {
		recs = append(recs, Record{Target: "api", Result: dnsResult(base.Add(time.Duration(i)*time.Millisecond), 1)})
	}
	recs = append(recs, Record{Target: "api", Result: dnsResult(base.Add(2*time.Second), 1)})
	write(t, s, recs[:3]...)
	write(t, s, recs[3:]...)
	write(t, s, Record{Target: "other", Result: dnsResult(base, 1)})
	got, err := s.Results(ctx, "api", time.Time{}, 0)
	if err != nil || len(got) != 6 {
		t.Fatalf("%d results, %v", len(got), err)
	}
	for i, sr := range got {
		w := recs[len(recs)-1-i].Result
		tid, sec := splitID(sr.ID)
		if tid != 1 || sr.ID >= 1<<53 || !sr.Result.StartedAt.Equal(w.StartedAt.Truncate(time.Microsecond)) {
			t.Errorf("result %d: id %d (target %d, second %d) started %v, want %v", i, sr.ID, tid, sec, sr.Result.StartedAt, w.StartedAt)
		}
		if i > 0 && sr.ID >= got[i-1].ID {
			t.Errorf("ids not newest first: %d after %d", sr.ID, got[i-1].ID)
		}
	}
	// The five runs of one second hold the seconds from it on; the run
	// two seconds later moved on past them.
	_, first := splitID(got[5].ID)
	_, last := splitID(got[0].ID)
	if first != base.Unix() || last != base.Unix()+5 {
		t.Errorf("seconds %d..%d, want %d..%d", first, last, base.Unix(), base.Unix()+5)
	}
	other, _, _ := s.Latest(ctx, "other")
	if tid, sec := splitID(other.ID); tid != 2 || sec != base.Unix() {
		t.Errorf("other's run id %d", other.ID)
	}
	// Results since a run's start include it, whatever its second.
	since, err := s.Results(ctx, "api", recs[3].Result.StartedAt, 0)
	if err != nil || len(since) != 3 {
		t.Errorf("since the 4th run: %d results, %v", len(since), err)
	}
}

// A run that arrives after its hour was rolled up is merged into it.
func TestLateRun(t *testing.T) {
	s, _ := openTemp(t)
	var recs []Record
	for i := range 4 * 60 {
		recs = append(recs, Record{Target: "api", Result: dnsResult(base.Add(time.Duration(i)*time.Minute+time.Second), 10)})
	}
	write(t, s, recs...)
	sealed := count(t, s, "SELECT sealed_to FROM targets")
	if int64(sealed) <= base.Unix() {
		t.Fatal("no hour rolled up")
	}
	before := count(t, s, "SELECT runs FROM hours WHERE (id & 8589934591) = ?", base.Unix())
	late := dnsResult(base.Add(30*time.Minute+30*time.Second), 1000)
	write(t, s, Record{Target: "api", Result: late})
	if n := count(t, s, "SELECT runs FROM hours WHERE (id & 8589934591) = ?", base.Unix()); n != before+1 {
		t.Errorf("hour of the late run counts %d runs, want %d", n, before+1)
	}
	rep, err := s.Percentiles(ctx, "resolver", 7*24*time.Hour, base.Add(4*time.Hour))
	if err != nil || rep.Runs != 0 {
		t.Fatal(rep.Runs, err)
	}
	rep, err = s.Percentiles(ctx, "api", 7*24*time.Hour, base.Add(4*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Runs != 241 {
		t.Errorf("7d report: %d runs, want 241", rep.Runs)
	}
	if q := phaseSeries(t, rep, "query").Overall; q.Count != 241 {
		t.Errorf("query %+v", q)
	}
	// It is not the latest run.
	if l, _, _ := s.Latest(ctx, "api"); !l.Result.StartedAt.Equal(recs[len(recs)-1].Result.StartedAt) {
		t.Errorf("latest %v", l.Result.StartedAt)
	}
}

// mixedRuns is runs of a few targets over hours, every interval: mostly
// successes, some failures and findings, a late run now and then.
func mixedRuns(targets int, hours int, interval time.Duration) []Record {
	rng := rand.New(rand.NewPCG(5, 6))
	var recs []Record
	for at := base; at.Before(base.Add(time.Duration(hours) * time.Hour)); at = at.Add(interval) {
		for i := range targets {
			a := at.Add(time.Duration(i) * 7 * time.Millisecond)
			var r *probe.Result
			switch n := rng.IntN(100); {
			case n < 3:
				r = failedResult(a)
			case n < 6:
				r = withFindings(httpsResult(a, 1, 2, 3, 400), finding("HTTP_SERVER_SLOW", probe.SeverityWarning))
			case i%3 == 2:
				r = dnsResult(a, 1+rng.Float64()*3)
			default:
				r = httpsResult(a, 1+rng.Float64(), 20+rng.Float64()*5, 40+rng.Float64()*10, 30*rng.ExpFloat64())
			}
			recs = append(recs, Record{Target: fmt.Sprint("t", i), Module: "lab", Result: r})
		}
	}
	return recs
}

func TestMigrateFromV2(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "v2.db")
	db := v2Open(t, path)
	recs := mixedRuns(3, 6, time.Minute)
	// A late run, and two runs of one target in one second.
	recs = append(recs, Record{Target: "t0", Module: "lab", Result: httpsResult(base.Add(90*time.Minute+500*time.Millisecond), 1, 2, 3, 4)})
	recs = append(recs, Record{Target: "t1", Module: "lab", Result: dnsResult(base.Add(2*time.Hour+200*time.Millisecond), 1)})
	for i := 0; i < len(recs); i += 100 {
		if err := v2Write(ctx, db, recs[i:min(i+100, len(recs))]); err != nil {
			t.Fatal(err)
		}
	}
	old := map[int64]*probe.Result{}
	rows, err := db.Query("SELECT id, json FROM results")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var js []byte
		r := new(probe.Result)
		if err := rows.Scan(&id, &js); err != nil || json.Unmarshal(js, r) != nil {
			t.Fatal(err)
		}
		old[id] = r
	}
	rows.Close()
	db.Close()

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fresh, _ := openTemp(t)
	for i := 0; i < len(recs); i += 100 {
		write(t, fresh, recs[i:min(i+100, len(recs))]...)
	}
	// Every old result reads back whole, by its old id and in Results.
	if len(old) != len(recs) {
		t.Fatalf("%d old results", len(old))
	}
	for id, r := range old {
		sr, err := s.Result(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !sr.Full {
			t.Errorf("old result %d is not whole", id)
		}
		sameJSON(t, sr.Result, r)
	}
	for i := range 3 {
		name := fmt.Sprint("t", i)
		a, err := s.Results(ctx, name, time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := fresh.Results(ctx, name, time.Time{}, 0)
		if len(a) != len(b) || len(a) < 360 {
			t.Fatalf("%s: %d results migrated, %d written", name, len(a), len(b))
		}
		for j := range a {
			sameJSON(t, a[j].Result.StartedAt, b[j].Result.StartedAt)
		}
		// The same percentiles as the same runs written afresh.
		for _, w := range []string{"1h", "24h", "7d"} {
			ra, err := s.Percentiles(ctx, name, Windows[w], base.Add(6*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			rb, _ := fresh.Percentiles(ctx, name, Windows[w], base.Add(6*time.Hour))
			sameJSON(t, ra, rb)
		}
		fa, _ := s.Findings(ctx, name)
		fb, _ := fresh.Findings(ctx, name)
		sameJSON(t, fa, fb)
	}
	// And it takes new runs.
	write(t, s, mixedRuns(3, 1, time.Minute)[:3]...)
}

// A target that fails now and then keeps two bases, one for its
// successes and one for its failures, and each document is a delta
// against the one it is like; pruning keeps both.
func TestDocBasesOutages(t *testing.T) {
	s, _ := openTemp(t)
	t0 := periodStart(1, base).Add(time.Minute)
	var recs []Record
	for i := range 40 {
		at := t0.Add(time.Duration(i) * time.Minute)
		r := httpsResult(at, 1, 2, 3, 4)
		if i%4 == 2 {
			r = failedResult(at)
		}
		recs = append(recs, Record{Target: "api", Result: r})
		write(t, s, recs[i])
	}
	if n := count(t, s, "SELECT count(*) FROM doc_bases"); n != 2 {
		t.Errorf("%d bases, want 2", n)
	}
	if n := count(t, s, "SELECT count(*) FROM docs"); n != 21 { // the first, 10 failures, 10 recoveries
		t.Errorf("%d docs, want 21", n)
	}
	if _, err := s.Prune(ctx, t0.Add(39*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, "SELECT count(*) FROM doc_bases"); n != 2 {
		t.Errorf("%d bases after prune, want 2", n)
	}
	write(t, s, Record{Target: "api", Result: failedResult(t0.Add(40 * time.Minute))})
	write(t, s, Record{Target: "api", Result: httpsResult(t0.Add(41*time.Minute), 1, 2, 3, 4)})
	if n := count(t, s, "SELECT count(*) FROM doc_bases"); n != 2 {
		t.Errorf("%d bases after more outages, want 2", n)
	}
	got, err := s.Results(ctx, "api", time.Time{}, 0)
	if err != nil || len(got) != 3 || !got[0].Full || !got[1].Full {
		t.Fatalf("%d results, %v", len(got), err)
	}
	sameJSON(t, got[1].Result, failedResult(t0.Add(40*time.Minute)))
}
