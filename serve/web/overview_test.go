package web

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// The overview speaks one vocabulary: target states (up, degraded, down,
// pending) in the counts, the badges and a legend that also names the
// finding severities; each row has a 24 h uptime bar whose current hour
// says how that hour's runs went.
func TestOverviewStatesAndUptimeBar(t *testing.T) {
	f := getFixture(t)
	srv := newServer(t, f, f.cfg)
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	for _, want := range []string{`<p class="legend muted"><strong>State</strong>`, `<span class="badge st-degraded">degraded</span> they succeed with a warning`,
		`<strong>Severity</strong> of a finding`} {
		if !strings.Contains(body, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	for _, old := range []string{"> healthy", "> failing"} {
		if strings.Contains(body, old) {
			t.Errorf("overview still says %q", old)
		}
	}
	rows := regexp.MustCompile(`(?s)<tr class="row-(\w+)">.*?<a href="/targets/([^"]+)">.*?</tr>`).FindAllStringSubmatch(body, -1)
	if len(rows) != len(fixtureScenarios) {
		t.Fatalf("%d rows", len(rows))
	}
	cell := regexp.MustCompile(`<rect class="(bar-\w+)"[^>]*><title>([^<]*)</title></rect>`)
	for _, row := range rows {
		state, name, html := row[1], row[2], row[0]
		cells := cell.FindAllStringSubmatch(html, -1)
		if len(cells) != barHours {
			t.Errorf("%s: %d bar cells, want %d", name, len(cells), barHours)
			continue
		}
		// The fixture's runs are all recent: the last cells hold them.
		var last []string
		for _, c := range cells {
			if c[1] != "bar-none" {
				last = c
			}
		}
		if last == nil {
			t.Errorf("%s: no hour with runs", name)
			continue
		}
		switch state {
		case TargetUp, TargetDegraded:
			if last[1] != "bar-ok" || !strings.Contains(last[2], " runs succeeded") {
				t.Errorf("%s (%s): last cell %s %q", name, state, last[1], last[2])
			}
		case TargetDown:
			if last[1] != "bar-down" || !strings.Contains(last[2], ": 0 of ") {
				t.Errorf("%s (%s): last cell %s %q", name, state, last[1], last[2])
			}
		default:
			t.Errorf("%s: state %s", name, state)
		}
	}
	assertNoInlineStyleOrScript(t, "overview", body)
}
