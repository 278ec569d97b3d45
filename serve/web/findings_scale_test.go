package web

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/serve/config"
)

// Bounds of the findings page at scale: at 10,000 targets (3,300 active
// findings) every view of /findings, even 1,000 rows sorted by a column the
// store holds, stays under findingsMaxBytes and findingsMaxTime.
const (
	findingsMaxBytes = 2 << 20
	findingsMaxTime  = 300 * time.Millisecond
)

// TestScaleFindingsPage serves the 10,000-target fleet of the benchmarks
// and checks the size and time of /findings in its views (the median of
// five requests; the time bound is loosened under -race).
func TestScaleFindingsPage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 10,000-target fleet")
	}
	const n = 10_000
	f := newFleet(t, n)
	h := New(Deps{Config: func() *config.Config { return f.cfg }, Store: f.st, State: f.state, Now: func() time.Time { return f.now }})
	for _, path := range []string{"/findings", "/findings?sort=-runs", "/findings?sort=since&limit=1000", "/findings?limit=1000",
		"/findings?id=TLS_CHAIN_INCOMPLETE&sort=target", "/findings?severity=warning&sort=-id&page=3", "/api/v1/findings?sort=-since"} {
		var times []time.Duration
		var body string
		for range 5 {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Host = "127.0.0.1"
			w := httptest.NewRecorder()
			start := time.Now()
			h.ServeHTTP(w, req)
			times = append(times, time.Since(start))
			if w.Code != http.StatusOK {
				t.Fatalf("%s: %d %.300s", path, w.Code, w.Body.String())
			}
			body = w.Body.String()
		}
		slices.Sort(times)
		med := times[len(times)/2]
		t.Logf("%s: %d bytes, %v (median of 5)", path, len(body), med.Round(100*time.Microsecond))
		if len(body) > findingsMaxBytes {
			t.Errorf("%s: %d bytes, want at most %d", path, len(body), findingsMaxBytes)
		}
		if med > findingsMaxTime*raceSlowdown {
			t.Errorf("%s: %v, want at most %v", path, med, findingsMaxTime*raceSlowdown)
		}
		if strings.HasPrefix(path, "/findings") {
			want := 100
			if strings.Contains(path, "limit=1000") {
				want = 1000
			}
			if got := strings.Count(body, `<tr class="frow `); got != want {
				t.Errorf("%s: %d rows, want %d", path, got, want)
			}
			// 5 % of the fleet is critical, each with TLS_CHAIN_INCOMPLETE.
			if strings.Contains(path, "id=") && !strings.Contains(body, "1–100 of 500") {
				t.Errorf("%s: not 100 of 500 listed", path)
			}
		}
	}
}
