package assert_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pathlens/pathlens/assert"
	"github.com/pathlens/pathlens/diagnose"
	"github.com/pathlens/pathlens/engine"
	"github.com/pathlens/pathlens/lab"
	"github.com/pathlens/pathlens/probe"
)

// closing runs the tests, then stops the servers they shared, so that
// goleak sees no goroutine of theirs.
type closing struct{ m *testing.M }

func (c closing) Run() int {
	code := c.m.Run()
	if theLab != nil {
		_ = theLab.Close()
	}
	if jsonServer != nil {
		jsonServer.Close()
	}
	return code
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(closing{m}) }

// labScenarios are the lab scenarios the tests and docs/assertions.md
// probe.
var labScenarios = []string{"ok-http", "ok-https", "ok-h2", "ok-dns", "http-slow", "http-redirects", "tls-expiring", "tcp-refused"}

var (
	labOnce    sync.Once
	theLab     *lab.Lab
	labErr     error
	jsonOnce   sync.Once
	jsonServer *httptest.Server
)

// jsonReady is what the json-ready server answers: not a lab scenario,
// a loopback server of the tests for the json examples.
const jsonReady = `{"status": "ready", "version": "1.4.2", "checks": {"db": "ok", "cache": "ok"}, "uptime_s": 86400}`

// startLab starts the lab scenarios once for the package.
func startLab(t testing.TB) *lab.Lab {
	t.Helper()
	labOnce.Do(func() { theLab, labErr = lab.Start(context.Background(), lab.Options{Only: labScenarios}) })
	if labErr != nil {
		t.Fatal(labErr)
	}
	return theLab
}

// target is the URL of a lab scenario, or of the json-ready server.
func target(t testing.TB, name string) probe.Target {
	t.Helper()
	raw := ""
	if name == "json-ready" {
		jsonOnce.Do(func() {
			jsonServer = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(jsonReady))
			}))
		})
		raw = jsonServer.URL + "/healthz"
	} else {
		s, ok := startLab(t).Scenario(name)
		if !ok {
			t.Fatalf("no lab scenario %q", name)
		}
		raw = s.Target
	}
	tg, err := probe.ParseTarget(raw)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// options are the probe options of `check --ca CA --dns-server DNS`
// against the lab, with the assertions.
func options(t testing.TB, set *assert.Set) *probe.Options {
	l := startLab(t)
	m := l.Manifest()
	o := &probe.Options{Timeout: 10 * time.Second, RootCAs: l.CAPool(), CAFile: m.CAFile, DNSServer: m.DNSServer}
	if set.Len() > 0 {
		o.Assertions = set
	}
	return o
}

// check probes the named target through engine.Check with the
// assertions exprs (critical).
func check(t testing.TB, name string, exprs ...string) *probe.Result {
	t.Helper()
	var list []*assert.Assertion
	for _, e := range exprs {
		list = append(list, assert.MustCompile(e, ""))
	}
	return engine.Check(context.Background(), target(t, name), options(t, assert.NewSet(list...)))
}

// labResult is the real Result of probing the named target as
// engine.Check makes it, with the body kept for the assertions to read.
func labResult(t testing.TB, name string) *probe.Result {
	t.Helper()
	o := options(t, nil)
	o.KeepBody = true
	r := probe.Run(context.Background(), target(t, name), o)
	diagnose.Apply(r)
	return r
}

// finding is r's ASSERTION_FAILED finding, or nil.
func finding(r *probe.Result) *probe.Finding {
	for i, f := range r.Findings {
		if f.ID == diagnose.IDAssertionFailed {
			return &r.Findings[i]
		}
	}
	return nil
}
