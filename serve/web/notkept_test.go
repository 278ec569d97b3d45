package web

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/config"
	"github.com/pathlens/pathlens/serve/store"
)

// TestRunPageDetailsNotKept: the run page of an ordinary run the store
// kept partially says its details were not kept; a run kept whole does not.
func TestRunPageDetailsNotKept(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.Date(2026, 5, 1, 10, 20, 0, 0, time.UTC)
	var recs []store.Record
	for i := range 4 {
		recs = append(recs, store.Record{Target: "a", Module: "m", Result: &probe.Result{
			Schema: probe.Schema, Target: "http://127.0.0.1:1/", Kind: "http", StartedAt: start.Add(time.Duration(i) * time.Second),
			Success: true, TotalMS: 2, Phases: []probe.Phase{{Name: probe.PhaseConnect, DurationMS: 1}, {Name: probe.PhaseWait, DurationMS: 1}},
			HTTP: &probe.HTTPInfo{Status: 200, Proto: "HTTP/1.1"},
		}})
	}
	if err := st.Write(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	runs, err := st.Results(context.Background(), "a", time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var full, partial []int64
	for _, sr := range runs {
		if sr.Full {
			full = append(full, sr.ID)
		} else {
			partial = append(partial, sr.ID)
		}
	}
	if len(full) == 0 || len(partial) == 0 {
		t.Fatalf("the store kept %d runs whole and %d partially; want some of each of four identical runs", len(full), len(partial))
	}
	cfg := &config.Config{Targets: []*config.Target{{Name: "a", Module: "m", URL: "http://127.0.0.1:1/"}}}
	h := New(Deps{Config: func() *config.Config { return cfg }, Store: st})
	page := func(id int64) string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "http://127.0.0.1/runs/"+strconv.FormatInt(id, 10), nil))
		if rec.Code != 200 {
			t.Fatalf("/runs/%d: %d", id, rec.Code)
		}
		return rec.Body.String()
	}
	if body := page(partial[0]); !strings.Contains(body, "not kept for this run") {
		t.Errorf("run %d, kept partially: the page does not say its details were not kept", partial[0])
	}
	if body := page(full[0]); strings.Contains(body, "not kept for this run") {
		t.Errorf("run %d, kept whole: the page says its details were not kept", full[0])
	}
}
