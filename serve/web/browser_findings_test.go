package web

import (
	"strings"
	"testing"

	"github.com/pathlens/pathlens/serve/web/webtest"
)

// TestBrowserFindingsTable renders /findings in headless Chromium: the
// compact table with its sortable headers, one row a finding, summaries
// that open (closed at first) onto evidence and advice; sorted by runs,
// the most runs first.
func TestBrowserFindingsTable(t *testing.T) {
	webtest.SkipWithoutChromium(t)
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	_, srv, _ := sortFleet(t)
	dom := webtest.Chromium(t, srv.URL+"/findings", webtest.ArtifactPath(t, "web-findings-table.png"))
	text := webtest.VisibleText(dom)
	for _, want := range []string{"Severity ▼ Finding Target Phase Since Runs Summary",
		"critical TCP_REFUSED charlie connect 5m ago 1 the server refused the connection",
		"warning TLS_CERT_EXPIRING alpha tls 50m ago 5 the certificate of alpha.example.net expires in 9 days",
		"warning TLS_CERT_EXPIRING echo tls not stored yet 0", "Active (6)", "2 critical", "4 warning"} {
		if !strings.Contains(text, want) {
			t.Errorf("rendered findings page lacks %q:\n%s", want, text)
		}
	}
	table := dom[strings.Index(dom, `<table class="findings">`):]
	table = table[:strings.Index(table, "</table>")]
	if n := strings.Count(table, "<details>"); n != 5 || strings.Contains(table, "<details open") {
		t.Errorf("%d closed details in the table, want 5 (every stored finding)", n)
	}
	dom = webtest.Chromium(t, srv.URL+"/findings?sort=-runs", webtest.ArtifactPath(t, "web-findings-by-runs.png"))
	text = webtest.VisibleText(dom)
	if a, e := strings.Index(text, "alpha tls"), strings.Index(text, "echo tls"); !strings.Contains(text, "Runs ▼") || a < 0 || e < a {
		t.Errorf("sorted by runs, most first: alpha at %d, echo at %d:\n%s", a, e, text)
	}
}
