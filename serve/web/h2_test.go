package web

import (
	"html"
	"strings"
	"testing"

	"github.com/pathlens/pathlens/probe"
)

// The target page of an HTTP/2 target shows the latest run's frame
// timeline; an HTTP/1 target's page has no such section.
func TestTargetPageH2Frames(t *testing.T) {
	f := getFixture(t)
	srv := newServer(t, f, f.cfg)
	c := newClient(t, srv)

	r := c.get("/targets/ok-h2")
	r.want(t, "ok-h2 target page", 200, "text/html")
	body := html.UnescapeString(r.body)
	for _, want := range []string{"<h2>HTTP/2 frames</h2>", "Latest run: ", "frames (→", "→ SETTINGS", "← HEADERS", ":status 200", "← DATA", "END_STREAM"} {
		if !strings.Contains(body, want) {
			t.Errorf("ok-h2 page lacks %q", want)
		}
	}
	r = c.get("/targets/ok-http")
	r.want(t, "ok-http target page", 200, "text/html")
	if strings.Contains(r.body, "HTTP/2 frames") {
		t.Errorf("HTTP/1.1 target shows an HTTP/2 section")
	}
}

func TestH2ViewEscapes(t *testing.T) {
	r := &probe.Result{H2: &probe.H2Info{
		Frames:      []probe.H2Frame{{AtMS: 1, Dir: "recv", Type: "GOAWAY", ErrCode: "NO_ERROR", Debug: "<script>alert(1)</script>\x1b[2J"}},
		Stalls:      []probe.H2Stall{{Dir: "send", Stream: 1, StartMS: 0.5, DurationMS: 300, InitialWindow: 65535}},
		FramesTotal: 5, FramesDropped: 4, Counts: map[string]map[string]int{"recv": {"GOAWAY": 1, "PING": 4}},
		GoAway: &probe.H2GoAway{Code: "NO_ERROR", Debug: "<b>x</b>"},
	}}
	v := newH2View(r)
	if v == nil || len(v.Lines) != 2 || !v.Lines[0].Stall || v.Lines[0].At != "0.50 ms" || !strings.Contains(v.Lines[1].Text, `\x1b[2J`) ||
		!strings.Contains(v.NotKept, "PING ×4") || !strings.Contains(v.Summary, "1 stall") {
		t.Fatalf("view %+v", v)
	}
	if newH2View(&probe.Result{}) != nil || newH2View(nil) != nil {
		t.Error("view without h2")
	}
}
