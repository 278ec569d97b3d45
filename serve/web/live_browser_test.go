package web

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/config"
	"github.com/pathlens/pathlens/serve/web/webtest"
)

// TestBrowserStatusPage renders the status page in headless Chromium:
// a person reads the title, the banner, the groups and their targets'
// states and uptime, and no URL, host, module, label, error or finding.
func TestBrowserStatusPage(t *testing.T) {
	webtest.SkipWithoutChromium(t)
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	f := getFixture(t)
	cfg := parseFixtureConfig(t, f, f.authYAML+statusYAML)
	srv := newStatusServer(t, Deps{Config: func() *config.Config { return cfg }, Store: f.store, State: f.state})
	// No token: the page is public.
	dom := webtest.Chromium(t, srv.URL+"/status", webtest.ArtifactPath(t, "web-status.png"))
	text := webtest.VisibleText(dom)
	for _, want := range append([]string{"Example <b>status</b>", "Shop", "Edge & TLS", "uptime", "days ago", "today", "Updated"}, statusMembers...) {
		if !strings.Contains(text, want) {
			t.Errorf("rendered status page lacks %q:\n%s", want, text)
		}
	}
	if !regexp.MustCompile(`All systems operational|Degraded performance|Partial outage|Major outage`).MatchString(text) {
		t.Errorf("rendered status page has no banner:\n%s", text)
	}
	assertNothingInternal(t, f, cfg, "rendered status page", dom)
	assertNothingInternal(t, f, cfg, "rendered status page's text", text)
	webtest.ChromiumWith(t, srv.URL+"/status", webtest.ArtifactPath(t, "web-status-dark.png"), webtest.DarkMode...)
}

// TestBrowserLive loads the overview and a target page in headless
// Chromium (--dump-dom with a virtual time budget), changes a target's
// state once the page's event stream is open, and checks in the DOM
// Chromium dumps that live.js updated the badge (and the overview's
// counts) in place and removed the meta refresh. The server never
// rendered the new state: the page was loaded once, before the change
// (the test counts the loads).
func TestBrowserLive(t *testing.T) {
	webtest.SkipWithoutChromium(t)
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	f := getFixture(t)
	for _, tc := range []struct {
		path   string
		checks func(t *testing.T, dom string)
	}{
		{"/", func(t *testing.T, dom string) {
			row := regexp.MustCompile(`<tr class="[^"]*">\s*<td class="c-state"><span class="badge st-(\w+)">(\w+)</span></td>\s*<td class="target"><a href="/targets/ok-http">`).FindStringSubmatch(dom)
			if row == nil || row[1] != "down" || row[2] != "down" {
				t.Errorf("ok-http's row badge %v, want down", row)
			}
			if !regexp.MustCompile(`<tr class="row-down">\s*<td class="c-state"><span class="badge st-down">down</span></td>\s*<td class="target"><a href="/targets/ok-http">`).MatchString(dom) {
				t.Error("ok-http's row class is not row-down")
			}
		}},
		{"/targets/ok-http", func(t *testing.T, dom string) {
			if !strings.Contains(dom, `<h1><span class="badge st-down">down</span> ok-http</h1>`) {
				t.Errorf("the heading's badge was not updated:\n%.600s", dom[strings.Index(dom, "<main>"):])
			}
		}},
	} {
		t.Run(strings.TrimPrefix(strings.ReplaceAll(tc.path, "/", "-"), "-")+"page", func(t *testing.T) {
			st := NewState()
			for _, fs := range fixtureScenarios {
				rs := f.results[fs.name]
				st.Record(fs.name, "lab", rs[len(rs)-1], 0)
			}
			e := NewEvents(st, nil)
			var loads atomic.Int32
			h := New(Deps{Config: func() *config.Config { return f.cfg }, Store: f.store, State: st, Events: e, Logf: t.Logf})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == tc.path {
					loads.Add(1)
				}
				h.ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)

			before := newClient(t, srv).get(tc.path).body
			upBefore, downBefore := countOf(before, "up"), countOf(before, "down")
			if !strings.Contains(before, `<span class="badge st-up">up</span>`) {
				t.Fatalf("%s: ok-http is not up before the change", tc.path)
			}
			loads.Store(0)
			changed := make(chan struct{})
			go func() {
				defer close(changed)
				deadline := time.Now().Add(60 * time.Second)
				for e.Streams() == 0 && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				if e.Streams() > 0 {
					record(e, st, nil, "ok-http", &probe.Result{StartedAt: time.Now(), Success: false,
						Error: &probe.ErrorInfo{Class: "connect", Phase: "connect", Message: "connection refused"}})
				}
				// Chromium's virtual time stands still while a fetch is
				// open, so the budget would never run out with the stream
				// open: end it once the event is sent. live.js then falls
				// back to reloading after the page's refresh interval (15
				// or 30 s), past the budget.
				time.Sleep(500 * time.Millisecond)
				e.Close()
			}()
			dom := webtest.ChromiumWith(t, srv.URL+tc.path, "", "--virtual-time-budget=5000")
			<-changed
			if n := loads.Load(); n != 1 {
				t.Errorf("%s was loaded %d times: the change must come without a reload", tc.path, n)
			}
			if strings.Contains(dom, `http-equiv="refresh"`) {
				t.Error("the meta refresh is still there")
			}
			if !strings.Contains(dom, "live: states update as they change") {
				t.Error("the footer does not say the page is live")
			}
			tc.checks(t, dom)
			if tc.path == "/" {
				if up, down := countOf(dom, "up"), countOf(dom, "down"); up != upBefore-1 || down != downBefore+1 {
					t.Errorf("counts up %d down %d, want %d and %d", up, down, upBefore-1, downBefore+1)
				}
			}
		})
	}
}

var countRE = regexp.MustCompile(`<li class="count st-(\w+)[^"]*"><a [^>]*><span class="n">(\d+)</span>`)

// countOf is the overview's count of state st (-1 when it has none).
func countOf(body, st string) int {
	for _, m := range countRE.FindAllStringSubmatch(body, -1) {
		if m[1] == st {
			n, _ := strconv.Atoi(m[2])
			return n
		}
	}
	return -1
}
