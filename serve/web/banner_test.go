package web

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pathlens/pathlens/serve/config"
)

// TestReloadBanner: while the last reload failed, every UI page says so
// at its top with the error on one line, escaped; the login page (before
// the token) and the public status page never do; a reload that succeeds
// takes it away.
func TestReloadBanner(t *testing.T) {
	f := getFixture(t)
	cfg := parseFixtureConfig(t, f, f.authYAML+statusYAML)
	var mu sync.Mutex
	var failure error
	at := time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)
	srv := newStatusServer(t, Deps{Config: func() *config.Config { return cfg }, Store: f.store, State: f.state,
		ReloadError: func() (time.Time, error) {
			mu.Lock()
			defer mu.Unlock()
			return at, failure
		}})
	set := func(err error) {
		mu.Lock()
		failure = err
		mu.Unlock()
	}
	set(errors.New("/etc/pathlens.yaml:3: targets[0].url: target \"gopher://x\": <b>scheme</b> not supported\n\tsecond   line"))
	anon := newClient(t, srv)
	c := newClient(t, srv)
	c.header.Set("Authorization", "Bearer "+testToken)
	const want = `/etc/pathlens.yaml:3: targets[0].url: target &#34;gopher://x&#34;: &lt;b&gt;scheme&lt;/b&gt; not supported second line`
	pages := []string{"/", "/findings", "/targets/ok-http", "/targets/nope", "/nope"}
	for _, p := range pages {
		body := c.get(p).body
		if !strings.Contains(body, `<div class="reload-banner" role="alert"><strong>The last config reload failed</strong> (2026-03-01 12:30:00 UTC)`) ||
			!strings.Contains(body, `<code class="reload-error">`+want+`</code>`) {
			t.Errorf("%s: no banner with the error on one line:\n%.3000s", p, body)
		}
		if i := strings.Index(body, "reload-banner"); i > strings.Index(body, "<h1>") {
			t.Errorf("%s: the banner is not at the top", p)
		}
	}
	for what, body := range map[string]string{
		"login page":             anon.get("/login").body,
		"401 page":               anon.get("/").body,
		"status page":            anon.get("/status").body,
		"status JSON":            anon.get("/status.json").body,
		"the API":                c.get("/api/v1/targets").body,
		"the login with a token": c.get("/login?token=wrong").body,
	} {
		if strings.Contains(body, "reload") || strings.Contains(body, "gopher") {
			t.Errorf("%s shows the reload failure", what)
		}
	}
	set(nil)
	for _, p := range pages {
		if body := c.get(p).body; strings.Contains(body, "reload-banner") {
			t.Errorf("%s: a banner after a good reload", p)
		}
	}
	if got := oneLine(strings.Repeat("é", 600), maxBannerError); len([]rune(got)) != maxBannerError || !strings.HasSuffix(got, "…") {
		t.Errorf("oneLine cut to %d runes", len([]rune(got)))
	}
}

// TestLiveScript: pages load the static live.js (the CSP allows scripts
// from the server itself only, never inline ones) and keep their meta
// refresh for browsers without JavaScript.
func TestLiveScript(t *testing.T) {
	f := getFixture(t)
	c := newClient(t, newServer(t, f, f.cfg))
	r := c.get("/static/live.js")
	r.want(t, "/static/live.js", 200, "text/javascript")
	if !strings.Contains(r.body, "new EventSource(url)") || !strings.Contains(r.body, "/api/v1/events?changed=1") {
		t.Error("live.js is not the live-update script")
	}
	c.get("/static/live.css").want(t, "/static/live.css", 200, "text/css")
	c.get("/static/status.css").want(t, "/static/status.css", 200, "text/css")
	for _, p := range []string{"/", "/targets/ok-http"} {
		r := c.get(p)
		csp := r.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self';") || strings.Contains(csp, "unsafe") {
			t.Errorf("%s: CSP %q", p, csp)
		}
		if !strings.Contains(r.body, `<script src="/static/live.js" defer></script>`) || !strings.Contains(r.body, `<meta http-equiv="refresh"`) {
			t.Errorf("%s lacks the script or the meta refresh", p)
		}
		if !strings.Contains(r.body, `<span class="refresh"> · refreshes every`) {
			t.Errorf("%s lacks the refresh note live.js rewrites", p)
		}
	}
	if r := c.get("/static/live.js"); r.header.Get("Cache-Control") == "" || r.status != http.StatusOK {
		t.Errorf("live.js headers %v", r.header)
	}
}
