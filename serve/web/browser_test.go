package web

import (
	"strings"
	"testing"

	"github.com/pathlens/pathlens/serve/web/webtest"
)

// TestBrowser renders the overview and a target page in headless Chromium
// and checks what a person would read; the screenshots land in
// test-artifacts/ at the repository root.
func TestBrowser(t *testing.T) {
	webtest.SkipWithoutChromium(t)
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	f := getFixture(t)
	srv := newServer(t, f, f.cfg)

	dom := webtest.Chromium(t, srv.URL+"/", webtest.ArtifactPath(t, "web-overview.png"))
	text := webtest.VisibleText(dom)
	for _, fs := range fixtureScenarios {
		if !strings.Contains(text, fs.name) {
			t.Errorf("rendered overview lacks %s", fs.name)
		}
	}
	for _, want := range []string{"TLS_CHAIN_INCOMPLETE", "TCP_REFUSED", "up", "down", "degraded", "p99"} {
		if !strings.Contains(text, want) {
			t.Errorf("rendered overview lacks %q", want)
		}
	}

	dom = webtest.Chromium(t, srv.URL+"/targets/tls-incomplete-chain", webtest.ArtifactPath(t, "web-target-tls-incomplete-chain.png"))
	text = webtest.VisibleText(dom)
	for _, want := range []string{"tls-incomplete-chain", "TLS_CHAIN_INCOMPLETE", "Advice:", "TLS certificate chain", "Days left", "Last runs"} {
		if !strings.Contains(text, want) {
			t.Errorf("rendered target page lacks %q", want)
		}
	}

	// A healthy https target with many runs, and a narrow (phone) window.
	webtest.Chromium(t, srv.URL+"/targets/ok-h2", webtest.ArtifactPath(t, "web-target-ok-h2.png"))
	webtest.Chromium(t, srv.URL+"/findings", webtest.ArtifactPath(t, "web-findings.png"))
	dom = webtest.ChromiumWith(t, srv.URL+"/targets/tls-expiring", webtest.ArtifactPath(t, "web-target-tls-expiring-dark.png"), webtest.DarkMode...)
	if !strings.Contains(webtest.VisibleText(dom), "TLS_CERT_EXPIRING") {
		t.Error("rendered tls-expiring page lacks TLS_CERT_EXPIRING")
	}
	old := webtest.WindowSize
	webtest.WindowSize = "390,1600"
	defer func() { webtest.WindowSize = old }()
	dom = webtest.Chromium(t, srv.URL+"/", webtest.ArtifactPath(t, "web-overview-phone.png"))
	if !strings.Contains(webtest.VisibleText(dom), "ok-h2") {
		t.Error("rendered phone overview lacks ok-h2")
	}
}
