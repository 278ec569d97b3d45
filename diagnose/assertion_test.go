package diagnose

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/pathlens/pathlens/probe"
)

// checkExternal checks what diag checks of a finding that no rule emits
// (complete, one-line summary, JSON evidence, in the catalogue) and
// records it as emitted.
func checkExternal(t *testing.T, f Finding) {
	t.Helper()
	var entry *Entry
	for _, e := range Catalogue() {
		if e.ID == f.ID {
			entry = &e
		}
	}
	switch {
	case entry == nil:
		t.Fatalf("%s is not in Catalogue()", f.ID)
	case f.Summary == "" || strings.ContainsAny(f.Summary, "\n\r"):
		t.Errorf("%s: summary %q, want one non-empty line", f.ID, f.Summary)
	case f.Advice == "" || len(f.Evidence) == 0:
		t.Errorf("%s: advice %q, evidence %v; want both", f.ID, f.Advice, f.Evidence)
	}
	if _, err := json.Marshal(f); err != nil {
		t.Errorf("%s does not encode as JSON: %v", f.ID, err)
	}
	emittedMu.Lock()
	emitted[f.ID] = true
	emittedMu.Unlock()
}

func TestAssertionFailedOne(t *testing.T) {
	f := AssertionFailed([]AssertionFailure{{
		Expr: "r.http.status ==\n  200", Result: false, Values: map[string]any{"r.http.status": 503},
	}}, 2)
	checkExternal(t, f)
	if f.ID != IDAssertionFailed || f.Severity != probe.SeverityCritical {
		t.Errorf("finding %s %s, want ASSERTION_FAILED critical (the default)", f.ID, f.Severity)
	}
	if want := "assertion r.http.status == 200 is false (r.http.status = 503)"; f.Summary != want {
		t.Errorf("summary %q, want %q", f.Summary, want)
	}
	wantEvidence(t, &f, map[string]any{"expression": "r.http.status ==\n  200", "result": false, "failed": 1, "evaluated": 2,
		"values": map[string]any{"r.http.status": 503}})
	if _, ok := f.Evidence["more"]; ok {
		t.Errorf("evidence has more with one failure: %v", f.Evidence)
	}
}

// Several failures make one finding of the worst severity, the first of
// the worst in front, the others under more.
func TestAssertionFailedSeveral(t *testing.T) {
	f := AssertionFailed([]AssertionFailure{
		{Expr: "body.contains(\"ok\")", Severity: probe.SeverityWarning, Result: false},
		{Expr: "json.status == \"ready\"", Severity: probe.SeverityCritical, Err: "json: the response body is not JSON"},
		{Expr: "json.ready", Severity: probe.SeverityInfo, Result: "yes"},
	}, 4)
	checkExternal(t, f)
	if f.Severity != probe.SeverityCritical {
		t.Errorf("severity %s, want critical (the worst)", f.Severity)
	}
	if want := `3 of 4 assertions failed; the first: assertion json.status == "ready" could not be evaluated: json: the response body is not JSON`; f.Summary != want {
		t.Errorf("summary %q\nwant %q", f.Summary, want)
	}
	wantEvidence(t, &f, map[string]any{"expression": `json.status == "ready"`, "error": "json: the response body is not JSON", "failed": 3})
	more, _ := f.Evidence["more"].([]map[string]any)
	if len(more) != 2 || more[0]["severity"] != "warning" || more[1]["result"] != "yes" || more[1]["severity"] != "info" {
		t.Errorf("more = %v, want the warning, then the info one", more)
	}
	warn := AssertionFailed([]AssertionFailure{{Expr: "json.ready", Severity: probe.SeverityWarning, Result: "yes"}}, 1)
	if warn.Severity != probe.SeverityWarning || warn.Summary != `assertion json.ready gave "yes", not true` {
		t.Errorf("got %s %q", warn.Severity, warn.Summary)
	}
}

// Add keeps Diagnose's order: worst first, then catalogue order.
func TestAdd(t *testing.T) {
	r := healthy()
	r.HTTP.Status = 500
	r.HTTP.Proto, r.HTTP.KeepAlive = "HTTP/1.1", false
	Apply(r)
	Add(r,
		AssertionFailed([]AssertionFailure{{Expr: "x", Severity: probe.SeverityCritical, Result: false}}, 1),
		Finding{ID: "SOMETHING_ELSE", Severity: probe.SeverityInfo})
	want := []string{IDHTTPStatus, IDAssertionFailed, IDHTTPNoKeepAlive, "SOMETHING_ELSE"}
	if got := ids(r.Findings); !slices.Equal(got, want) {
		t.Errorf("findings %v, want %v", got, want)
	}
	Add(nil, Finding{}) // must not panic
}
