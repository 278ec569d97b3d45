package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/config"
	"github.com/pathlens/pathlens/serve/store"
)

// BenchmarkStatusPage is the status page of 1,000 targets in 10 groups
// with 90 days of history (a run an hour each, so 2,160 hour roll-ups a
// target as at any interval; a target in twenty fails on a day in ten):
// the first request of a day (90 days of each target read), one a minute
// later (today's counts read again), and the next ones (from the cache),
// HTML and JSON, with their sizes. Writing the history takes several
// minutes.
//
//	go test -run '^$' -bench StatusPage -benchtime 5x -timeout 30m ./serve/web
func BenchmarkStatusPage(b *testing.B) {
	const targets, days = 1000, statusDays
	st, err := store.Open(filepath.Join(b.TempDir(), "h.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	first := now.Truncate(24*time.Hour).AddDate(0, 0, 1-days)
	var y []byte
	y = append(y, "targets:\n"...)
	for i := range targets {
		y = fmt.Appendf(y, "  - {name: svc-%04d, url: \"https://svc-%04d.example.net/health\"}\n", i, i)
	}
	y = append(y, "status_page:\n  enabled: true\n  groups:\n"...)
	for g := range 10 {
		y = fmt.Appendf(y, "    - {name: \"Group %d\", targets: [\"svc-0%d*\"]}\n", g, g)
	}
	cfg, err := config.Parse("c.yaml", y)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	var recs []store.Record
	flush := func() {
		if err := st.Write(context.Background(), recs); err != nil {
			b.Fatal(err)
		}
		recs = recs[:0]
	}
	for at := first; at.Before(now); at = at.Add(time.Hour) {
		day := int(at.Sub(first) / (24 * time.Hour))
		for i := range targets {
			ok := !(i%20 == 0 && day%10 == 3 && at.Hour() == 5)
			r := &probe.Result{Schema: probe.Schema, Target: "https://svc.example.net/health", Kind: "http", StartedAt: at.Add(time.Duration(i) * time.Second),
				Success: ok, TotalMS: 20, Phases: []probe.Phase{{Name: probe.PhaseConnect, DurationMS: 20}}}
			if !ok {
				r.Error = &probe.ErrorInfo{Class: "connect", Phase: probe.PhaseConnect, Message: "connection refused"}
			}
			recs = append(recs, store.Record{Target: fmt.Sprintf("svc-%04d", i), Module: "default", Result: r})
		}
		if len(recs) >= 50_000 {
			flush()
		}
	}
	flush()
	b.Logf("wrote %d days of %d targets in %v", days, targets, time.Since(t0).Round(time.Second))

	clock := now
	h := New(Deps{Config: func() *config.Config { return cfg }, Store: st, State: NewState(), Now: func() time.Time { return clock }}).(*server)
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(path string) int {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			b.Fatal(err)
		}
		defer res.Body.Close()
		n, _ := io.Copy(io.Discard, res.Body)
		if res.StatusCode != 200 {
			b.Fatalf("%s: %d", path, res.StatusCode)
		}
		return int(n)
	}
	for _, bc := range []struct {
		name, path string
		before     func()
	}{
		{"first-html", "/status", func() { h.status.targets = nil }},            // 90 days of each target read
		{"minute-html", "/status", func() { clock = clock.Add(statusDaysTTL) }}, // today's counts read again
		{"warm-html", "/status", func() {}},
		{"warm-json", "/status.json", func() {}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			size := 0
			for b.Loop() {
				bc.before()
				size = get(bc.path)
			}
			b.ReportMetric(float64(size), "bytes")
		})
	}
}
