package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pathlens/pathlens/lab"
	"github.com/pathlens/pathlens/probe"
	"go.uber.org/goleak"
)

// check --assert end to end against the lab: an assertion that holds
// changes nothing (exit 0), one that fails is ASSERTION_FAILED with its
// evidence in --json (exit 1), a failed probe stays exit 2, and a bad
// expression is one line naming the flag (exit 3).
func TestCheckAssert(t *testing.T) {
	defer goleak.VerifyNone(t)
	l, err := lab.Start(context.Background(), lab.Options{Dir: t.TempDir(), Only: []string{"ok-http", "ok-h2", "tcp-refused"}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := l.Manifest()
	run := func(scenario string, extra ...string) (int, string, string) {
		s, _ := l.Scenario(scenario)
		args := append([]string{"check", "--color", "never", "--ca", m.CAFile, "--dns-server", m.DNSServer}, extra...)
		var out, errb bytes.Buffer
		code := Run(append(args, s.Target), &out, &errb)
		return code, out.String(), errb.String()
	}

	code, out, errs := run("ok-http", "--assert", `r.http.status == 200`, "--assert", `body.contains("ok")`, "--assert", `phase("wait") < duration("5s")`)
	if code != ExitOK || errs != "" || !strings.Contains(out, "No findings.") {
		t.Errorf("holding assertions: exit %d, stderr %q, out:\n%s", code, errs, out)
	}

	code, out, _ = run("ok-http", "--json", "--assert", `r.http.status == 201`, "--assert", `body.contains("ok")`)
	if code != ExitFinding {
		t.Errorf("failing assertion: exit %d, want %d", code, ExitFinding)
	}
	var r probe.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if len(r.Findings) != 1 || r.Findings[0].ID != "ASSERTION_FAILED" || r.Findings[0].Severity != probe.SeverityCritical || !r.Success {
		t.Fatalf("findings %+v success %v, want one critical ASSERTION_FAILED on a successful probe", r.Findings, r.Success)
	}
	ev, _ := json.Marshal(r.Findings[0].Evidence)
	if want := `{"evaluated":2,"expression":"r.http.status == 201","failed":1,"result":false,"values":{"r.http.status":200}}`; string(ev) != want {
		t.Errorf("evidence %s\nwant     %s", ev, want)
	}
	if strings.Contains(out, `"ok\n"`) || strings.Contains(out, `"body"`) {
		t.Errorf("the body reached --json:\n%s", out)
	}

	code, out, _ = run("ok-h2", "--assert", `r.tls.chain[0].days_left > 1000`)
	if code != ExitFinding || !strings.Contains(out, "critical ASSERTION_FAILED  assertion r.tls.chain[0].days_left > 1000 is false (r.tls.chain[0].days_left = ") {
		t.Errorf("human output: exit %d\n%s", code, out)
	}

	code, out, _ = run("tcp-refused", "--json", "--assert", `r.conn.remote_addr == "x"`)
	if code != ExitFailed || strings.Contains(out, "ASSERTION_FAILED") {
		t.Errorf("failed probe: exit %d, want %d and no ASSERTION_FAILED:\n%s", code, ExitFailed, out)
	}

	for expr, want := range map[string]string{
		`r.http.status = 200`:            `check: --assert "r.http.status = 200": column 15: Syntax error: token recognition error at: '= '; column 17: Syntax error: extraneous input '200' expecting <EOF>`,
		`r.http.status + 1`:              `check: --assert "r.http.status + 1": the expression gives int, want a bool (such as r.http.status == 200)`,
		`phase("wiat") > duration("1s")`: `check: --assert "phase(\"wiat\") > duration(\"1s\")": column 7: "wiat" is not a phase (phases: redirect, dns, connect, tls, request, upgrade, wait, transfer, stream, hold, query, echo)`,
	} {
		code, out, errs := run("ok-http", "--assert", `r.http.status == 200`, "--assert", expr)
		if code != ExitUsage || out != "" || errs != "pathlens: "+want+"\n" {
			t.Errorf("--assert %q: exit %d, stdout %q, stderr %q\nwant %s", expr, code, out, errs, want)
		}
	}
}
