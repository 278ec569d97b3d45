package config

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/pathlens/pathlens/assert"
	"github.com/pathlens/pathlens/engine"
	"github.com/pathlens/pathlens/probe"
)

// exprs lists a set's expressions and severities as "SEVERITY EXPR".
func exprs(s *assert.Set) []string {
	var out []string
	for _, a := range s.List() {
		out = append(out, string(a.Severity())+" "+a.Expr())
	}
	return out
}

// A target runs its module's assertions, then its own; targets without
// their own share their module's options, the others get their own.
func TestAssertModulesAndTargets(t *testing.T) {
	c, err := Parse("a.yaml", []byte(`
modules:
  web:
    kind: http
    assert: ['r.http.status == 200', {expr: 'phase("wait") < duration("300ms")', severity: warning}]
  plain: {kind: http}
targets:
  - {name: a, url: "https://a.example.com/", module: web}
  - {name: b, url: "https://b.example.com/", module: web}
  - name: c
    url: https://c.example.com/
    module: web
    assert:
      - body.contains("ok")
      - {expr: 'json.status == "ready"', severity: INFO}
  - {name: d, url: "https://d.example.com/", module: plain}
  - {name: e, url: "https://e.example.com/", module: plain, assert: ['r.tls.chain[0].days_left > 21']}
  - {name: f, url: "https://f.example.com/"}
`))
	if err != nil {
		t.Fatal(err)
	}
	get := func(name string) *Target {
		tg, ok := c.Target(name)
		if !ok {
			t.Fatalf("no target %s", name)
		}
		return tg
	}
	module := []string{"critical r.http.status == 200", `warning phase("wait") < duration("300ms")`}
	if got := exprs(c.Modules["web"].Assert); !slices.Equal(got, module) {
		t.Errorf("modules.web.assert = %q, want %q", got, module)
	}
	for name, want := range map[string][]string{
		"a": module,
		"b": module,
		"c": append(slices.Clone(module), `critical body.contains("ok")`, `info json.status == "ready"`),
		"d": nil,
		"e": {"critical r.tls.chain[0].days_left > 21"},
		"f": nil,
	} {
		tg := get(name)
		if got := exprs(tg.Assert); !slices.Equal(got, want) {
			t.Errorf("%s: assert = %q, want %q", name, got, want)
		}
		switch {
		case want == nil && tg.Options.Assertions != nil:
			t.Errorf("%s: options carry assertions %v, want none", name, tg.Options.Assertions)
		case want != nil && tg.Options.Assertions != probe.Assertions(tg.Assert):
			t.Errorf("%s: options carry %v, want the target's set", name, tg.Options.Assertions)
		}
	}
	if get("a").Options != get("b").Options {
		t.Errorf("a and b (no assertions of their own) do not share their module's options")
	}
	if get("c").Options == get("a").Options || get("e").Options == get("d").Options {
		t.Errorf("a target with assertions of its own shares its module's options")
	}
	if !get("c").Options.EffectiveKeepBody() || get("a").Options.EffectiveKeepBody() {
		t.Errorf("keep body: c %v (reads body), a %v (does not)", get("c").Options.EffectiveKeepBody(), get("a").Options.EffectiveKeepBody())
	}
	// GET /probe?module=web runs the module's assertions.
	o, err := c.ModuleOptions("web", 0)
	if err != nil {
		t.Fatal(err)
	}
	if o.Assertions != probe.Assertions(c.Modules["web"].Assert) {
		t.Errorf("ModuleOptions(web).Assertions = %v, want the module's", o.Assertions)
	}
	if o, _ := c.ModuleOptions("", 0); o.Assertions != nil {
		t.Errorf("the default module carries assertions: %v", o.Assertions)
	}
}

// A bad assert entry fails the load at its line, with its field path; a
// bad expression with the message check --assert shows for it.
func TestAssertErrors(t *testing.T) {
	const head = "targets:\n  - name: t\n    url: https://t.example.com/\n    assert:\n"
	for item, want := range map[string]string{
		`      - r.http.status = 200`:                                `a.yaml:5: targets[0].assert[0]: %s`,
		`      - {expr: "r.http.status + 1"}`:                        `a.yaml:5: targets[0].assert[0]: %s`,
		"      - 'true'\n      - phase(\"wiat\") > duration(\"1s\")": `a.yaml:6: targets[0].assert[1]: %s`,
		`      - {exp: 'true'}`:                                      `a.yaml:5: targets[0].assert[0].exp: unknown field "exp" (allowed: expr, severity)`,
		`      - {severity: warning}`:                                `a.yaml:5: targets[0].assert[0].expr: expr is required`,
		`      - {expr: [1]}`:                                        `a.yaml:5: targets[0].assert[0].expr: want an expression (a string), got a list`,
		`      - {expr: 'true', severity: [x]}`:                      `a.yaml:5: targets[0].assert[0].severity: want critical, warning or info, got a list`,
		`      - ~`:                                                  `a.yaml:5: targets[0].assert[0]: want an expression or a mapping with the keys expr, severity, got nothing`,
		`      - [r.http.status == 200]`:                             `a.yaml:5: targets[0].assert[0]: want an expression or a mapping with the keys expr, severity, got a list`,
		`      - ""`:                                                 `a.yaml:5: targets[0].assert[0]: empty expression (write e.g. r.http.status == 200)`,
	} {
		text := head + item + "\n"
		if strings.Contains(want, "%s") {
			expr := strings.TrimSpace(item[strings.LastIndex(item, "- ")+2:])
			expr = strings.TrimSuffix(strings.TrimPrefix(expr, `{expr: "`), `"}`)
			_, cerr := assert.Compile(expr, "")
			if cerr == nil {
				t.Fatalf("%s compiles", expr)
			}
			want = strings.Replace(want, "%s", cerr.Error(), 1)
		}
		_, err := Parse("a.yaml", []byte(text))
		if err == nil || err.Error() != want {
			t.Errorf("Parse(%q)\n got: %v\nwant: %s", text, err, want)
		}
	}
	_, err := Parse("a.yaml", []byte("targets:\n  - {name: t, url: \"https://t.example.com/\", assert: r.http.status == 200}\n"))
	if want := `a.yaml:2: targets[0].assert: want a list, got a string`; err == nil || err.Error() != want {
		t.Errorf("a string for the list: %v, want %s", err, want)
	}
}

// A target's options make the probe's Result carry ASSERTION_FAILED
// (what serve's scheduled runs do with them).
func TestAssertTargetOptionsProbe(t *testing.T) {
	defer goleak.VerifyNone(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"status": "starting"}`))
	}))
	defer srv.Close()
	c, err := Parse("a.yaml", []byte(`
modules:
  web: {kind: http, assert: ['r.http.status == 200']}
targets:
  - name: api
    url: `+srv.URL+`/healthz
    module: web
    assert: [{expr: 'json.status == "ready"', severity: warning}]
`))
	if err != nil {
		t.Fatal(err)
	}
	tg, _ := c.Target("api")
	r := engine.Check(context.Background(), tg.Parsed, tg.Options)
	if len(r.Findings) != 1 || r.Findings[0].ID != "ASSERTION_FAILED" || r.Findings[0].Severity != probe.SeverityWarning {
		t.Fatalf("findings %+v, want one ASSERTION_FAILED warning", r.Findings)
	}
	if got := r.Findings[0].Summary; got != `assertion json.status == "ready" is false (json.status = "starting")` {
		t.Errorf("summary %q", got)
	}
	if r.Body != nil {
		t.Errorf("the body stayed on the Result")
	}
}
