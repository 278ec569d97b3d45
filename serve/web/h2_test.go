package web

import (
	"context"
	"fmt"
	"html"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/config"
	"github.com/pathlens/pathlens/serve/store"
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

// TestTargetPageLatestRunFullTimeline: storage keeps a bounded summary of a
// long frame timeline, but the target page shows the latest run from
// memory, whole, even once its row is stored.
func TestTargetPageLatestRunFullTimeline(t *testing.T) {
	f := getFixture(t)
	const n = 300
	r := &probe.Result{Schema: probe.Schema, Target: "https://big.lab.test/", Kind: "http", StartedAt: time.Now().Add(-time.Second).UTC(),
		Success: true, Phases: []probe.Phase{{Name: "dns", DurationMS: 1}}, Findings: []probe.Finding{},
		H2: &probe.H2Info{FramesTotal: n, Counts: map[string]map[string]int{"recv": {"PING": n}}}}
	for i := range n {
		r.H2.Frames = append(r.H2.Frames, probe.H2Frame{AtMS: float64(i), Dir: "recv", Type: "PING"})
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Write(context.Background(), []store.Record{{Target: "big-h2", Module: "default", Result: r}}); err != nil {
		t.Fatal(err)
	}
	stored, err := st.Results(context.Background(), "big-h2", time.Time{}, 1)
	if err != nil || len(stored) != 1 || len(stored[0].Result.H2.Frames) >= n {
		t.Fatalf("the stored run should keep a bounded timeline: %v", err)
	}
	state := NewState()
	state.Record("big-h2", "default", r, 0)
	cfg, err := config.Parse(filepath.Join(f.dir, "big.yaml"), []byte("targets:\n  - {name: big-h2, url: \"https://big.lab.test/\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	srv := newTestServer(t, New(Deps{Config: func() *config.Config { return cfg }, Store: st, State: state}))
	code, body := fetchHost(t, srv, "/targets/big-h2", "127.0.0.1")
	if code != 200 {
		t.Fatalf("target page: %d", code)
	}
	// The stored copy says which frames it did not keep; the memory copy
	// kept them all.
	if strings.Contains(body, "frames in all") {
		t.Errorf("the page shows the stored (bounded) timeline, not the latest run's whole one")
	}
	if !strings.Contains(body, fmt.Sprintf("/runs/%d", stored[0].ID)) {
		t.Errorf("the page does not link the stored run %d", stored[0].ID)
	}
}
