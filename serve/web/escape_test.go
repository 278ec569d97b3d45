package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/config"
	"github.com/pathlens/pathlens/serve/store"
)

const evil = `<script>alert(1)</script>`

// TestEscaping: a target name, URL, finding summary, evidence, advice,
// error message and certificate subject carrying markup render as text.
func TestEscaping(t *testing.T) {
	cfg, err := config.Parse("", []byte("targets:\n  - {name: plain, url: \"http://127.0.0.1:1/\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	// config refuses '/' in names, so the hostile target is added directly
	// (as a future loader bug or reload might).
	name := "x" + evil
	cfg.Targets = append(cfg.Targets, &config.Target{
		Name: name, URL: "http://127.0.0.1:1/" + evil, Module: "default", Interval: time.Minute,
		Labels: map[string]string{"team": evil},
	})
	st, err := store.Open(filepath.Join(t.TempDir(), "evil.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now()
	r := &probe.Result{
		Schema: probe.Schema, Target: "http://127.0.0.1:1/" + evil, Kind: "https", StartedAt: now.Add(-time.Second),
		Success: false, TotalMS: 3.5,
		Error:  &probe.ErrorInfo{Class: probe.ClassTLS, Phase: "tls", Message: evil},
		Phases: []probe.Phase{{Name: "dns", DurationMS: 1}, {Name: evil, StartMS: 1, DurationMS: 2.5, Incomplete: true}},
		TLS:    &probe.TLSInfo{Version: evil, Chain: []probe.Cert{{Subject: "CN=" + evil, Issuer: evil, NotAfter: now.Add(48 * time.Hour), SHA256: evil}}},
		Findings: []probe.Finding{{
			ID: "TLS_" + evil, Severity: probe.SeverityCritical, Phase: "tls", Summary: "summary " + evil,
			Evidence: map[string]any{evil: evil, "n": 3}, Advice: "advice " + evil,
		}},
	}
	if err := st.Write(context.Background(), []store.Record{{Target: name, Module: "default", Result: r}}); err != nil {
		t.Fatal(err)
	}
	state := NewState()
	if err := state.Restore(context.Background(), st, []string{name}, now); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(Deps{Config: func() *config.Config { return cfg }, Store: st, State: state, Logf: t.Logf}))
	t.Cleanup(srv.Close)
	c := &client{t: t, base: srv.URL, header: http.Header{}, bodies: new([]string)}

	sr, err := st.Results(context.Background(), name, time.Time{}, 1)
	if err != nil || len(sr) != 1 {
		t.Fatal(err)
	}
	pages := []string{"/", "/targets/" + url.PathEscape(name), "/findings", "/runs/" + itoa(sr[0].ID)}
	for _, p := range pages {
		res := c.get(p)
		res.want(t, p, 200, "text/html")
		if strings.Contains(res.body, "<script>") || strings.Contains(res.body, "alert(1)</script") {
			t.Errorf("%s contains a raw <script>", p)
		}
		if !strings.Contains(res.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s does not show the escaped text", p)
		}
	}
	home := c.get("/").body
	if !strings.Contains(home, `href="/targets/x%3Cscript%3Ealert%281%29%3C%2Fscript%3E"`) {
		t.Errorf("link to the hostile target is not path-escaped")
	}
	for _, p := range []string{"/api/v1/targets", "/api/v1/findings", "/api/v1/targets/" + url.PathEscape(name) + "/results"} {
		res := c.get(p)
		res.want(t, p, 200, "application/json")
		if strings.Contains(res.body, "<script") {
			t.Errorf("%s JSON contains a raw <script> (want \\u003c)", p)
		}
	}
}
