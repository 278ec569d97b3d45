package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/config"
	"github.com/pathlens/pathlens/serve/store"
)

// TestStateSummary: State keeps a summary of the latest run (texts cut
// short), the whole Result only of the newest maxFull runs without a
// store id, and not of stored ones.
func TestStateSummary(t *testing.T) {
	s := NewState()
	now := time.Date(2026, 11, 21, 10, 0, 0, 123456789, time.UTC)
	r := res(now, false, 12.5, probe.SeverityWarning)
	r.Error.Message = strings.Repeat("é", errMessageMax) // 2 bytes a rune
	r.Findings = append(r.Findings, probe.Finding{ID: "TCP_REFUSED", Severity: probe.SeverityCritical, Summary: strings.Repeat("x", 500)})
	s.Record("a", "m", r, 0)
	snap := s.get("a", now)
	l := snap.Last
	if l == nil || !l.startedAt().Equal(now) || l.totalMS != 12.5 || l.success || l.state != StateFailing || snap.Full != r {
		t.Fatalf("summary %+v, full %p", l, snap.Full)
	}
	if len(l.err.Message) > errMessageMax || !strings.HasSuffix(l.err.Message, "é…") || l.err.Class != probe.ClassConnect {
		t.Errorf("error message %d bytes: %q", len(l.err.Message), l.err.Message[len(l.err.Message)-8:])
	}
	if w, _ := l.worst(); w.id != "TCP_REFUSED" || len(l.summary) > summaryMax || len(l.findings) != 2 || !l.hasSeverity(probe.SeverityWarning) {
		t.Errorf("findings %+v, summary %d bytes", l.findings, len(l.summary))
	}
	if r.Error.Message == l.err.Message || len(r.Findings[1].Summary) != 500 {
		t.Error("the Result was modified")
	}
	// The newest maxFull runs are held whole; older ones are evicted.
	for i := range maxFull - 1 {
		s.Record(fmt.Sprint("t", i), "m", res(now, true, 1, ""), 0)
	}
	if s.get("a", now).Full == nil {
		t.Error("the run was evicted early")
	}
	s.Record("b", "m", res(now, true, 1, ""), 0)
	if s.get("a", now).Full != nil || s.get("b", now).Full == nil {
		t.Error("the oldest whole run was not evicted")
	}
	// A newer run replaces the whole one; a stored run is not held.
	s.Record("b", "m", res(now.Add(time.Second), true, 1, ""), 9)
	if snap := s.get("b", now); snap.Full != nil || snap.Last.id != 9 {
		t.Errorf("stored run held whole: %+v", snap)
	}
}

// TestStateResolved: a finding a target's latest run no longer has is
// resolved until it comes back; Forget drops it; at most maxResolved
// are kept, the newest.
func TestStateResolved(t *testing.T) {
	s := NewState()
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	run := func(target string, at time.Time, ids ...string) {
		r := res(at, true, 1, "")
		for _, id := range ids {
			r.Findings = append(r.Findings, probe.Finding{ID: id, Severity: probe.SeverityWarning})
		}
		s.Record(target, "m", r, 0)
	}
	resolved := func() map[string]int64 {
		out := map[string]int64{}
		for _, e := range s.recentlyResolved() {
			out[e.target+"/"+e.id] = e.lastSeen
		}
		return out
	}
	run("a", now, "F1", "F2")
	run("a", now.Add(time.Minute), "F2")
	if got := resolved(); len(got) != 1 || got["a/F1"] != now.UnixNano() {
		t.Fatalf("resolved %v", got)
	}
	run("a", now.Add(30*time.Second), "F3") // out of order: no change
	run("a", now.Add(2*time.Minute), "F1", "F2")
	if got := resolved(); len(got) != 0 {
		t.Errorf("F1 came back but stays resolved: %v", got)
	}
	run("b", now, "F1")
	run("b", now.Add(time.Minute))
	s.Forget("b")
	if got := resolved(); len(got) != 0 {
		t.Errorf("Forget kept %v", got)
	}
	for i := range maxResolved + 10 {
		at := now.Add(time.Duration(i) * time.Second)
		run(fmt.Sprint("c", i), at, "F1")
		run(fmt.Sprint("c", i), at.Add(time.Hour))
	}
	got := resolved()
	if len(got) != maxResolved || got["c0/F1"] != 0 || got[fmt.Sprint("c", maxResolved+9, "/F1")] == 0 {
		t.Errorf("%d resolved kept; oldest %d, newest %d", len(got), got["c0/F1"], got[fmt.Sprint("c", maxResolved+9, "/F1")])
	}
}

// listFleet serves n targets, fleetState(i) saying each one's state; the
// latest run of every target with a finding is stored.
func listFleet(t *testing.T, n int) (*config.Config, *State, *httptest.Server) {
	t.Helper()
	cfg := benchConfig(n)
	st, err := store.Open(filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	state := NewState()
	now := time.Now().UTC()
	var recs []store.Record
	for i, tg := range cfg.Targets {
		if fleetState(i) == StatePending {
			continue
		}
		r := benchFull(tg.Name, fleetState(i), now.Add(-time.Duration(i)*time.Millisecond))
		state.Record(tg.Name, tg.Module, r, 0)
		if len(r.Findings) > 0 && i%2 == 0 { // the odd ones are not stored yet
			recs = append(recs, store.Record{Target: tg.Name, Module: tg.Module, Result: r})
		}
	}
	if err := st.Write(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(Deps{Config: func() *config.Config { return cfg }, Store: st, State: state, Logf: t.Logf}))
	t.Cleanup(srv.Close)
	return cfg, state, srv
}

var rowLink = regexp.MustCompile(`<td class="target"><a href="/targets/(svc-\d+)"`)

func TestOverviewFilterAndPages(t *testing.T) {
	_, _, srv := listFleet(t, 250)
	c := newClient(t, srv)
	r := c.get("/")
	r.want(t, "overview", 200, "text/html")
	rows := rowLink.FindAllStringSubmatch(r.body, -1)
	if len(rows) != defaultPageLimit || rows[0][1] != "svc-000000" || rows[99][1] != "svc-000099" {
		t.Fatalf("page 1 has %d rows", len(rows))
	}
	// Counts are of every target, whatever the page or filter.
	for _, path := range []string{"/", "/?state=down&page=2"} {
		body := c.get(path).body
		for _, want := range []string{`<span class="n">190</span> up`, `<span class="n">40</span> degraded`,
			`<span class="n">16</span> down`, `<span class="n">4</span> pending`} {
			if !strings.Contains(body, want) {
				t.Errorf("%s lacks count %q", path, want)
			}
		}
	}
	for _, want := range []string{`1–100 of 250`, `page 1 of 3`, `<a rel="next" href="/?page=2">`, `href="/?page=3">last`, `href="/?state=down"`,
		`<form class="filters" method="get" action="/">`, `<option value="internal">internal</option>`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("page 1 lacks %q", want)
		}
	}
	assertNoInlineStyleOrScript(t, "overview", r.body)
	r = c.get("/?page=3")
	if rows := rowLink.FindAllStringSubmatch(r.body, -1); len(rows) != 50 || !strings.Contains(r.body, `<a rel="prev" href="/?page=2">`) {
		t.Errorf("page 3: %d rows", len(rows))
	}
	// Filters, kept in the links.
	// (failing is the older name of down: shared links keep working)
	r = c.get("/?state=failing&module=internal&limit=2")
	rows = rowLink.FindAllStringSubmatch(r.body, -1)
	if len(rows) != 2 || !strings.Contains(r.body, "1–2 of 5") || !strings.Contains(r.body, `href="/?limit=2&amp;module=internal&amp;page=2&amp;state=down"`) {
		t.Errorf("failing internal targets: %d rows", len(rows))
	}
	for _, m := range rows {
		var i int
		fmt.Sscanf(m[1], "svc-%d", &i)
		if fleetState(i) != StateFailing || i%3 != 0 {
			t.Errorf("%s does not match the filter", m[1])
		}
	}
	if !strings.Contains(r.body, `<option value="down" selected>`) || !strings.Contains(r.body, `<input type="hidden" name="limit" value="2">`) {
		t.Error("the form does not show the filter")
	}
	r = c.get("/?q=SVC-00018&severity=critical")
	if rows := rowLink.FindAllStringSubmatch(r.body, -1); len(rows) != 5 || rows[0][1] != "svc-000185" {
		t.Errorf("q and severity: %v", rows)
	}
	if r := c.get("/?q=nothing-like-it"); !strings.Contains(r.body, "No target matches this filter") {
		t.Error("an empty filter result says nothing")
	}
	for _, bad := range []string{"/?state=bogus", "/?severity=high", "/?page=0", "/?limit=1001", "/?page=x"} {
		c.get(bad).want(t, bad, 400, "text/html")
	}
}

func TestAPITargetsPages(t *testing.T) {
	_, _, srv := listFleet(t, 1200)
	c := newClient(t, srv)
	var got []APITarget
	r := c.get("/api/v1/targets")
	r.want(t, "targets", 200, "application/json")
	if err := json.Unmarshal([]byte(r.body), &got); err != nil || len(got) != defaultAPILimit {
		t.Fatalf("%d targets without a limit (%v)", len(got), err)
	}
	if r.header.Get("X-Total-Count") != "1200" || r.header.Get("Link") != `</api/v1/targets?page=2>; rel="next", </api/v1/targets?page=2>; rel="last"` {
		t.Errorf("headers %v", r.header)
	}
	r = c.get("/api/v1/targets?state=degraded&severity=critical&limit=5&page=2")
	got = nil
	if err := json.Unmarshal([]byte(r.body), &got); err != nil || len(got) != 5 || got[0].Name != "svc-000185" {
		t.Fatalf("critical page 2: %+v (%v)", got, err)
	}
	for _, tg := range got {
		if tg.State != TargetDegraded || tg.Last == nil || len(tg.Last.Findings) != 2 || tg.Last.Findings[0].ID != "TLS_CHAIN_INCOMPLETE" {
			t.Errorf("%s: %+v", tg.Name, tg.Last)
		}
	}
	if r.header.Get("X-Total-Count") != "60" || !strings.Contains(r.header.Get("Link"), `</api/v1/targets?limit=5&page=3&severity=critical&state=degraded>; rel="next"`) ||
		!strings.Contains(r.header.Get("Link"), `</api/v1/targets?limit=5&severity=critical&state=degraded>; rel="first"`) {
		t.Errorf("headers %v", r.header)
	}
	r = c.get("/api/v1/targets?page=99")
	if r.body != "[]\n" || r.header.Get("X-Total-Count") != "1200" {
		t.Errorf("past the last page: %q", r.body)
	}
	c.get("/api/v1/targets?state=nope").want(t, "bad state", 400, "application/json")
}

func TestFindingsFilterAndPages(t *testing.T) {
	_, state, srv := listFleet(t, 400)
	c := newClient(t, srv)
	// 400 targets: 60 warning (1 finding), 20 critical (2), 32 failing (1).
	r := c.get("/findings?limit=50")
	r.want(t, "findings", 200, "text/html")
	if n := strings.Count(r.body, `<tr class="frow `); n != 50 || !strings.Contains(r.body, "1–50 of 132") {
		t.Errorf("%d rows on page 1", n)
	}
	for _, want := range []string{`<span class="n">52</span> critical`, `<span class="n">80</span> warning`, `<span class="n">0</span> info`, `href="/findings?limit=50&amp;severity=critical"`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("findings page lacks %q", want)
		}
	}
	crit, warn := strings.Index(r.body, `<tr class="frow sev-critical`), strings.Index(r.body, `<tr class="frow sev-warning`)
	if crit < 0 || (warn >= 0 && warn < crit) {
		t.Errorf("not worst first (critical at %d, warning at %d)", crit, warn)
	}
	// A stored run's finding has its history and advice; one not stored
	// yet shows what State knows.
	r = c.get("/findings?q=svc-000070")
	if !strings.Contains(r.body, "first seen") || !strings.Contains(r.body, "Renew the certificate") {
		t.Errorf("stored finding without its history: %s", r.body[strings.Index(r.body, "<main>"):])
	}
	r = c.get("/findings?q=svc-000071")
	if strings.Contains(r.body, "first seen") || !strings.Contains(r.body, "expires in 9 days") {
		t.Errorf("unstored finding: %s", r.body[strings.Index(r.body, "<main>"):])
	}
	// Degraded: the 20 warning targets' and the 6 critical ones' warnings.
	r = c.get("/findings?severity=warning&module=internal&state=degraded")
	if n := strings.Count(r.body, `<tr class="frow sev-warning`); n != 26 || strings.Contains(r.body, `<tr class="frow sev-critical`) {
		t.Errorf("%d warnings of degraded internal targets", n)
	}
	// The API: the same list, then the resolved ones.
	state.Record("svc-000070", "internal", benchFull("svc-000070", StateOK, time.Now().UTC()), 0)
	var spans []store.FindingSpan
	r = c.get("/api/v1/findings?q=svc-00007")
	if err := json.Unmarshal([]byte(r.body), &spans); err != nil || len(spans) != 10 || r.header.Get("X-Total-Count") != "10" {
		t.Fatalf("spans %+v (%v)", spans, err)
	}
	if last := spans[9]; last.Active || last.Target != "svc-000070" || last.Finding.ID != "TLS_CERT_EXPIRING" || last.Runs != 1 || last.Finding.Advice == "" {
		t.Errorf("the resolved span: %+v", last)
	}
	r = c.get("/api/v1/findings?limit=10&page=14")
	spans = nil
	if err := json.Unmarshal([]byte(r.body), &spans); err != nil || len(spans) != 2 || !strings.Contains(r.header.Get("Link"), `rel="prev"`) {
		t.Errorf("last page: %d spans, Link %q", len(spans), r.header.Get("Link"))
	}
	c.get("/findings?severity=bad").want(t, "bad severity", 400, "text/html")
	c.get("/api/v1/findings?limit=0").want(t, "bad limit", 400, "application/json")
}

// TestTargetPageLatestNotStored: when State's latest run is neither
// stored nor held whole any more, the target page heads with it (from
// memory) and shows the details of the newest stored run, saying so.
func TestTargetPageLatestNotStored(t *testing.T) {
	cfg, err := config.Parse("", []byte("targets:\n  - {name: api, url: \"https://api.example.test/\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now().UTC()
	old := benchFull("api", StateOK, now.Add(-time.Minute))
	if err := st.Write(context.Background(), []store.Record{{Target: "api", Module: "default", Result: old}}); err != nil {
		t.Fatal(err)
	}
	stored, _, err := st.Latest(context.Background(), "api")
	if err != nil {
		t.Fatal(err)
	}
	state := NewState()
	state.Record("api", "default", old, stored.ID)
	state.Record("api", "default", benchFull("api", StateFailing, now), 0)
	for i := range maxFull { // other targets' runs push it out of the whole ones
		state.Record(fmt.Sprint("other", i), "default", res(now, true, 1, ""), 0)
	}
	srv := httptest.NewServer(New(Deps{Config: func() *config.Config { return cfg }, Store: st, State: state, Logf: t.Logf}))
	t.Cleanup(srv.Close)
	c := &client{t: t, base: srv.URL, header: http.Header{}, bodies: new([]string)}
	r := c.get("/targets/api")
	r.want(t, "target page", 200, "text/html")
	for _, want := range []string{`<span class="badge st-down">down</span> api`, "connection refused", "the latest run is not stored yet",
		fmt.Sprintf(`below from the run of <a href="/runs/%d">`, stored.ID) + fmtTime(old.StartedAt), "Run of " + fmtTime(old.StartedAt) + ": ", "TLS certificate chain"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("target page lacks %q", want)
		}
	}
}

func TestListQueryLinks(t *testing.T) {
	req := httptest.NewRequest(http.MethodGet, "/?q=a+b%26c&state=up&page=3&limit=100", nil)
	q, msg := parseListQuery(req, defaultPageLimit)
	if msg != "" || q.Q != "a b&c" || q.offset() != 200 || !q.onPage(200) || q.onPage(300) {
		t.Fatalf("%+v %q", q, msg)
	}
	if got := q.link("/", 4); got != "/?page=4&q=a+b%26c&state=up" {
		t.Errorf("link %q", got)
	}
	p := newPager(q, "/", 250)
	if p.From != 201 || p.To != 250 || p.Pages != 3 || p.Next != "" || p.Prev != "/?page=2&q=a+b%26c&state=up" || p.First != "/?q=a+b%26c&state=up" {
		t.Errorf("pager %+v", p)
	}
	if p := newPager(q, "/", 0); p.From != 0 || p.Pages != 1 || p.Prev != "/?q=a+b%26c&state=up" {
		t.Errorf("empty pager %+v", p)
	}
	if !containsFold("svc-ÄBC.example", "äbc") || !containsFold("Svc-Abc", "ABC") || containsFold("ab", "abc") {
		t.Error("containsFold")
	}
	if stateLink(q, "/", TargetUp) != "/?q=a+b%26c" || stateLink(q, "/", TargetDown) != "/?q=a+b%26c&state=down" {
		t.Error("stateLink")
	}
}

// TestStateConcurrent: runs recorded while the lists are read (run with
// -race).
func TestStateConcurrent(t *testing.T) {
	cfg, state, srv := listFleet(t, 300)
	c := newClient(t, srv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		now := time.Now().UTC()
		for k := range 20 {
			for i, tg := range cfg.Targets {
				st := fleetState((i + k) % 100)
				if st == StatePending {
					st = StateOK
				}
				state.Record(tg.Name, tg.Module, benchFull(tg.Name, st, now.Add(time.Duration(k)*time.Second)), 0)
			}
		}
	}()
	for _, p := range []string{"/", "/findings", "/api/v1/targets", "/api/v1/findings", "/targets/svc-000085"} {
		c.get(p).want(t, p, 200, "")
	}
	<-done
}
