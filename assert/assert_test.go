package assert_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/pathlens/pathlens/assert"
	"github.com/pathlens/pathlens/engine"
	"github.com/pathlens/pathlens/probe"
)

// A bad expression is refused at compile time with CEL's message on one
// line, the same text for every front end.
func TestCompileErrors(t *testing.T) {
	for _, c := range []struct {
		expr string
		sev  probe.Severity
		want string
	}{
		{`r.http.status = 200`, "", `column 15: Syntax error: token recognition error at: '= '; column 17: Syntax error: extraneous input '200' expecting <EOF>`},
		{`r.http.status == `, "", `column 18: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}`},
		{`status == 200`, "", `column 1: undeclared reference to 'status' (in container '')`},
		{"r.http.status == 200 &&\n  bodyy.contains(\"ok\")", "", `line 2, column 3: undeclared reference to 'bodyy' (in container '')`},
		{`r.http.status + 1`, "", `the expression gives int, want a bool (such as r.http.status == 200)`},
		{`body`, "", `the expression gives string, want a bool (such as r.http.status == 200)`},
		{`phase("wiat") < duration("1s")`, "", `column 7: "wiat" is not a phase (phases: redirect, dns, connect, tls, request, upgrade, wait, transfer, stream, hold, query, echo)`},
		{`phase("wait") < 200`, "", `column 15: found no matching overload for '_<_' applied to '(duration, int)'`},
		{`body.contains(1)`, "", `column 14: found no matching overload for 'contains' applied to 'string.(int)'`},
		{`  `, "", `empty expression (write e.g. r.http.status == 200)`},
		{`true`, "fatal", `severity "fatal": want critical, warning or info`},
	} {
		_, err := assert.Compile(c.expr, c.sev)
		var ae *assert.Error
		if !errors.As(err, &ae) {
			t.Errorf("Compile(%q): %v (%T), want an *assert.Error", c.expr, err, err)
			continue
		}
		if err.Error() != c.want || ae.Expr != c.expr {
			t.Errorf("Compile(%q):\n got %s\nwant %s", c.expr, err, c.want)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("Compile(%q): message on more than one line", c.expr)
		}
	}
	// A bool of dynamic type is accepted (and checked when it runs).
	for _, expr := range []string{`json.ready`, `r.http.keep_alive`, `r.?http.?status.orValue(0) == 200`, `phase("dns", duration("0s")) < duration("1s")`} {
		if _, err := assert.Compile(expr, probe.SeverityInfo); err != nil {
			t.Errorf("Compile(%q): %v", expr, err)
		}
	}
}

// The cost limit stops an expression whose work grows past it; work
// within it (a search of a 10 MiB body) runs.
func TestCostLimit(t *testing.T) {
	r := &probe.Result{Success: true, HTTP: &probe.HTTPInfo{Status: 200}, Body: bytes.Repeat([]byte("a"), 10<<20)}
	one := assert.MustCompile(`!body.contains("b")`, "")
	if got, err := one.Eval(context.Background(), r); err != nil || got != true {
		t.Errorf("one search of 10 MiB: %v, %v; want true within the limit", got, err)
	}
	many := assert.MustCompile(`[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].all(i, !body.contains("b"))`, "")
	_, err := many.Eval(context.Background(), r)
	if want := fmt.Sprintf("the evaluation went over the cost limit of %d", assert.CostLimit); err == nil || err.Error() != want {
		t.Errorf("twelve searches: %v, want %q", err, want)
	}
	fs := assert.NewSet(many).Check(context.Background(), r)
	if len(fs) != 1 || fs[0].Evidence["error"] == nil || fs[0].Evidence["values"].(map[string]any)["size(body)"] != int64(10<<20) {
		t.Errorf("findings %+v, want one ASSERTION_FAILED with the error and size(body)", fs)
	}
}

// Results of real probes of the lab: a failed assertion is one
// ASSERTION_FAILED finding whose evidence holds the expression and the
// values it saw.
func TestLabEvidence(t *testing.T) {
	r := check(t, "ok-http", `r.http.status == 201`)
	f := finding(r)
	if f == nil || !r.Success {
		t.Fatalf("findings %+v success %v, want ASSERTION_FAILED on a successful probe", r.Findings, r.Success)
	}
	if f.Severity != probe.SeverityCritical || f.Summary != "assertion r.http.status == 201 is false (r.http.status = 200)" {
		t.Errorf("finding %s %q", f.Severity, f.Summary)
	}
	want := map[string]any{"expression": "r.http.status == 201", "result": false, "failed": 1, "evaluated": 1,
		"values": map[string]any{"r.http.status": int64(200)}}
	if !reflect.DeepEqual(f.Evidence, want) {
		t.Errorf("evidence %#v\nwant %#v", f.Evidence, want)
	}

	// Several: one finding, the worst severity first.
	warn := assert.MustCompile(`phase("wait") < duration("1us")`, probe.SeverityWarning)
	set := assert.NewSet(warn, assert.MustCompile(`json.status == "ready"`, ""), assert.MustCompile(`body.contains("ok")`, ""))
	r = engineCheck(t, "ok-http", set)
	f = finding(r)
	if f == nil {
		t.Fatalf("no ASSERTION_FAILED in %+v", r.Findings)
	}
	if f.Severity != probe.SeverityCritical || f.Evidence["failed"] != 2 || f.Evidence["evaluated"] != 3 {
		t.Errorf("finding %s, evidence %v; want critical, 2 of 3 failed", f.Severity, f.Evidence)
	}
	if got := f.Evidence["error"]; got != "json: the response body is not JSON: invalid character 'o' looking for beginning of value" {
		t.Errorf("error %q", got)
	}
	more := f.Evidence["more"].([]map[string]any)
	if len(more) != 1 || more[0]["expression"] != warn.Expr() || more[0]["severity"] != "warning" || more[0]["values"] == nil {
		t.Errorf("more = %v", more)
	}
	if r.Body != nil {
		t.Errorf("engine.Check left the body on the Result")
	}

	// Only warnings: a warning finding.
	r = engineCheck(t, "ok-http", assert.NewSet(warn))
	if f := finding(r); f == nil || f.Severity != probe.SeverityWarning {
		t.Errorf("findings %+v, want ASSERTION_FAILED warning", r.Findings)
	}

	// A phase the probe lacks.
	r = check(t, "ok-http", `phase("dns") < duration("50ms")`)
	if f := finding(r); f == nil || f.Evidence["error"] != `the probe has no dns phase (it has connect, request, wait, transfer); phase("dns", duration("0s")) gives a default` {
		t.Errorf("findings %+v", r.Findings)
	}
	// Assertions that hold add nothing.
	r = check(t, "ok-h2", `r.http.status == 200`, `r.tls.chain[0].days_left > 21`, `phase("tls") < duration("5s")`)
	if len(r.Findings) != 0 {
		t.Errorf("findings %+v, want none", r.Findings)
	}
}

func engineCheck(t *testing.T, name string, set *assert.Set) *probe.Result {
	t.Helper()
	r := check(t, name) // a run without assertions first: the same target answers alike
	if finding(r) != nil {
		t.Fatalf("ASSERTION_FAILED without assertions: %+v", r.Findings)
	}
	return engineRun(t, name, set)
}

func engineRun(t *testing.T, name string, set *assert.Set) *probe.Result {
	t.Helper()
	return engine.Check(context.Background(), target(t, name), options(t, set))
}

// A failed probe is failing already: its assertions are not evaluated.
func TestFailedProbeNotChecked(t *testing.T) {
	r := check(t, "tcp-refused", `r.conn.remote_addr == "nowhere"`)
	if r.Success || finding(r) != nil {
		t.Errorf("success %v, findings %+v; want a failed probe without ASSERTION_FAILED", r.Success, r.Findings)
	}
}

// The body is kept only when an assertion names body or json, and never
// leaves engine.Check.
func TestBodyOnlyWhenNeeded(t *testing.T) {
	status := assert.NewSet(assert.MustCompile(`r.http.status == 200`, ""))
	body := assert.NewSet(assert.MustCompile(`body == "ok\n"`, ""))
	jsonSet := assert.NewSet(assert.MustCompile(`json.status == "ready"`, ""))
	if status.NeedsBody() || !body.NeedsBody() || !jsonSet.NeedsBody() || !status.Join(body).NeedsBody() {
		t.Errorf("NeedsBody: status %v body %v json %v", status.NeedsBody(), body.NeedsBody(), jsonSet.NeedsBody())
	}
	for _, c := range []struct {
		set  *assert.Set
		want []byte
	}{{nil, nil}, {status, nil}, {body, []byte("ok\n")}} {
		r := probe.Run(context.Background(), target(t, "ok-http"), options(t, c.set))
		if !bytes.Equal(r.Body, c.want) || (c.want == nil) != (r.Body == nil) {
			t.Errorf("set %v: body %q, want %q", c.set.List(), r.Body, c.want)
		}
		js, _ := json.Marshal(r)
		if bytes.Contains(js, []byte(`"ok\n"`)) || bytes.Contains(js, []byte(`"body"`)) {
			t.Errorf("the body reached the JSON form: %s", js)
		}
	}
	r := engineRun(t, "ok-http", body)
	if r.Body != nil || len(r.Findings) != 0 {
		t.Errorf("engine.Check: body %q findings %+v; want the assertion to hold and the body dropped", r.Body, r.Findings)
	}
	r = engineRun(t, "json-ready", jsonSet)
	if r.Body != nil || len(r.Findings) != 0 {
		t.Errorf("json-ready: body %q findings %+v", r.Body, r.Findings)
	}
}
