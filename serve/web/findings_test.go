package web

import (
	"context"
	"encoding/json"
	"html"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/config"
	"github.com/pathlens/pathlens/serve/store"
)

// sortFleet serves five targets whose findings differ in severity, ID,
// first sighting and stored runs:
//
//	alpha   TLS_CERT_EXPIRING warning                       5 runs, first seen 50 min ago
//	bravo   TLS_CHAIN_INCOMPLETE critical, HTTP_SERVER_SLOW  2 runs, 20 min ago
//	charlie TCP_REFUSED critical (failing)                  1 run, 5 min ago
//	delta   HTTP_SERVER_SLOW warning                        3 runs, 40 min ago
//	echo    TLS_CERT_EXPIRING warning                       not stored yet
func sortFleet(t *testing.T) (*State, *httptest.Server, time.Time) {
	t.Helper()
	var y strings.Builder
	y.WriteString("targets:\n")
	for _, n := range []string{"alpha", "bravo", "charlie", "delta", "echo"} {
		y.WriteString("  - {name: " + n + ", url: \"https://" + n + ".example.test/\"}\n")
	}
	cfg, err := config.Parse("", []byte(y.String()))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now().UTC().Truncate(time.Second)
	state := NewState()
	var recs []store.Record
	runs := func(name, fleetSt string, n int, first time.Duration, stored bool) {
		for k := range n {
			at := now.Add(-first + time.Duration(k)*time.Minute)
			r := benchFull(name, fleetSt, at)
			if name == "delta" { // its finding is HTTP_SERVER_SLOW, not the certificate's
				r.Findings = []probe.Finding{{ID: "HTTP_SERVER_SLOW", Severity: probe.SeverityWarning, Phase: "wait",
					Summary: "the server took 700 ms to answer", Advice: "Look at delta.", Evidence: map[string]any{"wait_ms": 700}}}
			}
			if stored {
				recs = append(recs, store.Record{Target: name, Module: "default", Result: r})
			}
			state.Record(name, "default", r, 0)
		}
	}
	runs("alpha", StateWarning, 5, 50*time.Minute, true)
	runs("bravo", StateCritical, 2, 20*time.Minute, true)
	runs("charlie", StateFailing, 1, 5*time.Minute, true)
	runs("delta", StateWarning, 3, 40*time.Minute, true)
	runs("echo", StateWarning, 1, 0, false)
	if err := st.Write(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(Deps{Config: func() *config.Config { return cfg }, Store: st, State: state, Logf: t.Logf}))
	t.Cleanup(srv.Close)
	return state, srv, now
}

// shownFinding is one row of the findings table as the page shows it.
type shownFinding struct {
	sev, id, target, phase, since, firstSeen, runs, summary string
	details                                                 bool
}

func (f shownFinding) key() string { return f.target + "/" + f.id }

var findingRowRE = regexp.MustCompile(`(?s)<tr class="frow sev-(\w+)"><td><span class="badge sev-\w+">\w+</span></td>` +
	`<td><a href="[^"]*" title="only [A-Z0-9_]+"><code class="fid">([A-Z0-9_]+)</code></a></td>` +
	`<td>(?:<a href="/targets/[^"]+">)?([^<]+)(?:</a>)?</td><td>([^<]*)</td>\s*` +
	`<td class="nowrap">(?:<span title="first seen ([^,"]+), last seen [^"]+">([^<]+)</span>|<span class="muted"[^>]*>(not stored yet)</span>)</td>` +
	`<td class="num">(\d+)</td>\s*<td class="fsum">(<details><summary>)?([^<]*)`)

// findingRows parses the findings table of a page.
func findingRows(t *testing.T, body string) []shownFinding {
	t.Helper()
	var out []shownFinding
	for _, m := range findingRowRE.FindAllStringSubmatch(body, -1) {
		since := m[6]
		if since == "" {
			since = m[7]
		}
		out = append(out, shownFinding{sev: m[1], id: m[2], target: m[3], phase: m[4], firstSeen: m[5], since: since, runs: m[8],
			details: m[9] != "", summary: html.UnescapeString(m[10])})
	}
	if n := strings.Count(body, `<tr class="frow `); n != len(out) {
		t.Fatalf("parsed %d of %d finding rows", len(out), n)
	}
	return out
}

func keys(rows []shownFinding) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.key())
	}
	return out
}

// TestFindingsTable: one compact row per finding with the columns, the
// summary opening onto evidence and advice, headers that sort (on the
// server, every order and its reverse), the sort kept by the pager, the
// counts and the form.
func TestFindingsTable(t *testing.T) {
	_, srv, _ := sortFleet(t)
	c := newClient(t, srv)
	r := c.get("/findings")
	r.want(t, "findings", 200, "text/html")
	assertNoInlineStyleOrScript(t, "findings", r.body)
	if strings.Contains(r.body, `<article class="finding`) {
		t.Error("the findings page still draws cards")
	}
	for _, want := range []string{`<table class="findings">`,
		`<th aria-sort="descending"><a href="/findings?sort=-severity" title="sort by Severity">Severity <span class="arrow">▼</span></a></th>`,
		`<th><a href="/findings?sort=id" title="sort by Finding">Finding</a></th>`, `<th><a href="/findings?sort=target" title="sort by Target">Target</a></th>`,
		`<th>Phase</th>`, `<th><a href="/findings?sort=since" title="sort by Since">Since</a></th>`,
		`<th class="num"><a href="/findings?sort=runs" title="sort by Runs">Runs</a></th>`, `<th>Summary</th>`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("findings table lacks %q", want)
		}
	}
	rows := findingRows(t, r.body)
	want := []string{"charlie/TCP_REFUSED", "bravo/TLS_CHAIN_INCOMPLETE", "echo/TLS_CERT_EXPIRING", "bravo/HTTP_SERVER_SLOW", "delta/HTTP_SERVER_SLOW", "alpha/TLS_CERT_EXPIRING"}
	if got := keys(rows); !slices.Equal(got, want) {
		t.Fatalf("default order %v, want %v (worst first, then the latest run's start)", got, want)
	}
	byKey := map[string]shownFinding{}
	for _, row := range rows {
		byKey[row.key()] = row
	}
	if a := byKey["alpha/TLS_CERT_EXPIRING"]; a.sev != "warning" || a.phase != "tls" || a.runs != "5" || a.since != "50m ago" || !a.details ||
		a.summary != "the certificate of alpha.example.net expires in 9 days" {
		t.Errorf("alpha's row %+v", a)
	}
	if e := byKey["echo/TLS_CERT_EXPIRING"]; e.since != "not stored yet" || e.runs != "0" || e.details {
		t.Errorf("echo's row (not stored) %+v", e)
	}
	// Evidence and advice are in the row, behind its summary.
	main := r.body[strings.Index(r.body, "<main>"):]
	for _, want := range []string{`<details><summary>the server took 700 ms to answer</summary><dl class="evidence"><dt>wait_ms</dt><dd>700</dd></dl><p class="advice"><strong>Advice:</strong> Look at delta.</p></details>`,
		`<details><summary>the server refused the connection</summary>`} {
		if !strings.Contains(main, want) {
			t.Errorf("findings table lacks %q", want)
		}
	}

	orders := map[string][]string{
		"-severity": {"alpha/TLS_CERT_EXPIRING", "bravo/HTTP_SERVER_SLOW", "delta/HTTP_SERVER_SLOW", "echo/TLS_CERT_EXPIRING", "bravo/TLS_CHAIN_INCOMPLETE", "charlie/TCP_REFUSED"},
		"id":        {"bravo/HTTP_SERVER_SLOW", "delta/HTTP_SERVER_SLOW", "charlie/TCP_REFUSED", "alpha/TLS_CERT_EXPIRING", "echo/TLS_CERT_EXPIRING", "bravo/TLS_CHAIN_INCOMPLETE"},
		"-id":       {"bravo/TLS_CHAIN_INCOMPLETE", "alpha/TLS_CERT_EXPIRING", "echo/TLS_CERT_EXPIRING", "charlie/TCP_REFUSED", "bravo/HTTP_SERVER_SLOW", "delta/HTTP_SERVER_SLOW"},
		"target":    {"alpha/TLS_CERT_EXPIRING", "bravo/TLS_CHAIN_INCOMPLETE", "bravo/HTTP_SERVER_SLOW", "charlie/TCP_REFUSED", "delta/HTTP_SERVER_SLOW", "echo/TLS_CERT_EXPIRING"},
		"-target":   {"echo/TLS_CERT_EXPIRING", "delta/HTTP_SERVER_SLOW", "charlie/TCP_REFUSED", "bravo/TLS_CHAIN_INCOMPLETE", "bravo/HTTP_SERVER_SLOW", "alpha/TLS_CERT_EXPIRING"},
		"since":     {"alpha/TLS_CERT_EXPIRING", "delta/HTTP_SERVER_SLOW", "bravo/TLS_CHAIN_INCOMPLETE", "bravo/HTTP_SERVER_SLOW", "charlie/TCP_REFUSED", "echo/TLS_CERT_EXPIRING"},
		"-since":    {"echo/TLS_CERT_EXPIRING", "charlie/TCP_REFUSED", "bravo/TLS_CHAIN_INCOMPLETE", "bravo/HTTP_SERVER_SLOW", "delta/HTTP_SERVER_SLOW", "alpha/TLS_CERT_EXPIRING"},
		"runs":      {"echo/TLS_CERT_EXPIRING", "charlie/TCP_REFUSED", "bravo/TLS_CHAIN_INCOMPLETE", "bravo/HTTP_SERVER_SLOW", "delta/HTTP_SERVER_SLOW", "alpha/TLS_CERT_EXPIRING"},
		"-runs":     {"alpha/TLS_CERT_EXPIRING", "delta/HTTP_SERVER_SLOW", "bravo/TLS_CHAIN_INCOMPLETE", "bravo/HTTP_SERVER_SLOW", "charlie/TCP_REFUSED", "echo/TLS_CERT_EXPIRING"},
	}
	for sort, want := range orders {
		r := c.get("/findings?sort=" + sort)
		r.want(t, "sort "+sort, 200, "text/html")
		if got := keys(findingRows(t, r.body)); !slices.Equal(got, want) {
			t.Errorf("sort=%s: %v, want %v", sort, got, want)
		}
		// The API sorts the same way (its active part: every one here).
		var spans []store.FindingSpan
		if err := json.Unmarshal([]byte(c.get("/api/v1/findings?sort="+sort).body), &spans); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, sp := range spans {
			got = append(got, sp.Target+"/"+sp.Finding.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("API sort=%s: %v, want %v", sort, got, want)
		}
	}
	// The header of the current order reverses it; the pager, the counts
	// and the form keep the sort.
	r = c.get("/findings?sort=runs&limit=2")
	for _, want := range []string{`<th class="num" aria-sort="ascending"><a href="/findings?limit=2&amp;sort=-runs" title="sort by Runs">Runs <span class="arrow">▲</span></a></th>`,
		`<a rel="next" href="/findings?limit=2&amp;page=2&amp;sort=runs">`, `href="/findings?limit=2&amp;severity=critical&amp;sort=runs"`,
		`<input type="hidden" name="sort" value="runs">`, `<a href="/findings?id=TCP_REFUSED&amp;limit=2&amp;sort=runs" title="only TCP_REFUSED">`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("sorted page lacks %q", want)
		}
	}
	if got := keys(findingRows(t, c.get("/findings?sort=runs&limit=2&page=2").body)); !slices.Equal(got, orders["runs"][2:4]) {
		t.Errorf("page 2 by runs: %v", got)
	}
	r = c.get("/findings?sort=-since")
	if !strings.Contains(r.body, `<th aria-sort="descending"><a href="/findings?sort=since" title="sort by Since">Since <span class="arrow">▼</span></a></th>`) {
		t.Error("the reversed column does not link to its own order")
	}
	for _, bad := range []string{"/findings?sort=phase", "/findings?sort=--runs", "/api/v1/findings?sort=name"} {
		r := c.get(bad)
		if r.status != 400 || !strings.Contains(r.body, "sort must be one of severity, id, target, since, runs, each with a leading - for the reverse order") {
			t.Errorf("%s: %d %.300s", bad, r.status, r.body)
		}
	}
}

// TestFindingsIDFilter: id= lists one finding ID (kept in every link, and
// applied to the resolved ones too), the counts are those of the list,
// and an ID that is not one is refused with a message saying what one is.
func TestFindingsIDFilter(t *testing.T) {
	state, srv, now := sortFleet(t)
	c := newClient(t, srv)
	r := c.get("/findings?id=TLS_CERT_EXPIRING")
	r.want(t, "id filter", 200, "text/html")
	if got := keys(findingRows(t, r.body)); !slices.Equal(got, []string{"echo/TLS_CERT_EXPIRING", "alpha/TLS_CERT_EXPIRING"}) {
		t.Errorf("id=TLS_CERT_EXPIRING lists %v", got)
	}
	for _, want := range []string{`<span class="n">0</span> critical`, `<span class="n">2</span> warning`, `<option value="TLS_CERT_EXPIRING" selected>`,
		`<option value="PROBE_TIMEOUT">`, `href="/findings?id=TLS_CERT_EXPIRING&amp;severity=warning"`, `Active <span class="muted">(2)</span>`,
		`<th class="num"><a href="/findings?id=TLS_CERT_EXPIRING&amp;sort=runs"`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("id-filtered page lacks %q", want)
		}
	}
	// An ID no target has: none listed, the ID still selected.
	r = c.get("/findings?id=H2_GOAWAY")
	if !strings.Contains(r.body, "No finding matches this filter.") || !strings.Contains(r.body, `<option value="H2_GOAWAY" selected>`) {
		t.Error("an ID without findings")
	}
	// The resolved ones follow the filter too.
	state.Record("alpha", "default", benchFull("alpha", StateOK, now.Add(time.Minute)), 0)
	for id, want := range map[string]bool{"TLS_CERT_EXPIRING": true, "HTTP_SERVER_SLOW": false} {
		r := c.get("/findings?id=" + id)
		resolved := r.body[strings.Index(r.body, "Resolved in the last 7 days"):]
		if got := strings.Contains(resolved, `<a href="/targets/alpha">alpha</a>`); got != want {
			t.Errorf("id=%s: alpha's resolved finding listed %v, want %v", id, got, want)
		}
	}
	var spans []store.FindingSpan
	r = c.get("/api/v1/findings?id=HTTP_SERVER_SLOW&sort=-runs")
	if err := json.Unmarshal([]byte(r.body), &spans); err != nil || len(spans) != 2 || spans[0].Target != "delta" || spans[0].Runs != 3 ||
		r.header.Get("X-Total-Count") != "2" {
		t.Errorf("API id filter: %+v (%v)", spans, err)
	}
	for _, bad := range []string{"tls_chain_incomplete", "TLS-CHAIN", "TLS_CHAIN_INCOMPLETE%27%3E", strings.Repeat("A", 65)} {
		r := c.get("/findings?id=" + bad)
		r.want(t, "bad id "+bad, 400, "text/html")
		if !strings.Contains(r.body, "id must be a finding ID such as TLS_CHAIN_INCOMPLETE: capital letters, digits and underscores, at most 64") {
			t.Errorf("id=%s: the 400 does not say what an ID is: %.500s", bad, r.body)
		}
		r = c.get("/api/v1/findings?id=" + bad)
		var e apiErrorBody
		if err := json.Unmarshal([]byte(r.body), &e); r.status != 400 || err != nil || !strings.HasPrefix(e.Error, "id must be a finding ID") {
			t.Errorf("API id=%s: %d %q", bad, r.status, r.body)
		}
	}
}

// TestFindingsCountsMatchList: whatever the filter, the counts above the
// list are what it lists: without a severity filter they add up to the
// rows, with one its count is the rows.
func TestFindingsCountsMatchList(t *testing.T) {
	_, _, srv := listFleet(t, 400)
	c := newClient(t, srv)
	countRE := regexp.MustCompile(`<span class="n">(\d+)</span> (critical|warning|info)`)
	totalRE := regexp.MustCompile(`Active <span class="muted">\((\d+)\)</span>`)
	for _, q := range []string{"", "?module=internal", "?state=critical", "?q=svc-0001", "?id=HTTP_SERVER_SLOW", "?id=TCP_REFUSED&module=default",
		"?severity=critical", "?severity=warning&state=critical", "?severity=critical&id=TCP_REFUSED&limit=7"} {
		body := c.get("/findings" + q).body
		counts := map[string]int{}
		for _, m := range countRE.FindAllStringSubmatch(body, -1) {
			counts[m[2]] = atoiT(t, m[1])
		}
		tm := totalRE.FindStringSubmatch(body)
		if tm == nil || len(counts) != 3 {
			t.Fatalf("%s: no counts or total", q)
		}
		total := atoiT(t, tm[1])
		var want int
		if sev := regexp.MustCompile(`severity=(\w+)`).FindStringSubmatch(q); sev != nil {
			want = counts[sev[1]]
		} else {
			want = counts["critical"] + counts["warning"] + counts["info"]
		}
		if total != want {
			t.Errorf("%s: %d listed, counts %v", q, total, counts)
		}
		if !strings.Contains(q, "limit") {
			if n := strings.Count(body, `<tr class="frow `); n != min(total, defaultPageLimit) {
				t.Errorf("%s: %d rows for %d listed", q, n, total)
			}
		}
	}
}

func atoiT(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("not a number: %q", s)
		}
		n = n*10 + int(c-'0')
	}
	return n
}
