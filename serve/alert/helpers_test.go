package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is a Sunday, noon UTC: the start of most test timelines.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// okRun is a successful run started at at, with findings.
func okRun(at time.Time, findings ...probe.Finding) *probe.Result {
	return &probe.Result{Target: "t", StartedAt: at, Success: true, Findings: findings}
}

// failRun is a run that failed to connect, started at at, with findings.
func failRun(at time.Time, findings ...probe.Finding) *probe.Result {
	return &probe.Result{Target: "t", StartedAt: at, Findings: findings,
		Error: &probe.ErrorInfo{Class: probe.ClassConnect, Phase: "connect", Message: "connection refused"}}
}

// finding is a finding of id and severity with a summary and advice.
func finding(id string, sev probe.Severity) probe.Finding {
	return probe.Finding{ID: id, Severity: sev, Summary: id + " seen", Advice: "fix " + id}
}

// clock is a settable clock for Manager.now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// waitFor polls cond every few milliseconds until it holds, failing the
// test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// writeFile writes content to name in a temporary directory and
// returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// newTestManager makes a Manager for cfg with short retry knobs, whose
// log goes to the returned buffer. It is not running yet.
func newTestManager(t *testing.T, cfg Config) (*Manager, *syncBuffer) {
	t.Helper()
	buf := &syncBuffer{}
	m, err := New(cfg, slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	m.amBackoff = 5 * time.Millisecond
	m.hookBackoff = 5 * time.Millisecond
	m.hookMaxElapsed = 5 * time.Second
	m.maintTick = 5 * time.Millisecond
	m.cfg.RequestTimeout = 2 * time.Second
	return m, buf
}

// run starts m.Run and, at cleanup, closes m and checks that Run ended
// cleanly.
func run(t *testing.T, m *Manager) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- m.Run(context.Background()) }()
	waitFor(t, 2*time.Second, "Run to start", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.running
	})
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after Close")
		}
	})
}

// syncBuffer is a bytes.Buffer safe for concurrent use (a log sink).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeAM is an httptest Alertmanager that records what is posted to
// /api/v2/alerts.
type fakeAM struct {
	*httptest.Server
	mu     sync.Mutex
	posts  [][]postableAlert
	auth   []string
	status int // answer; 0: 200
}

func newFakeAM(t *testing.T) *fakeAM {
	t.Helper()
	f := &fakeAM{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/v2/alerts" {
			http.Error(w, "not here", http.StatusNotFound)
			return
		}
		var batch []postableAlert
		if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.posts = append(f.posts, batch)
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		status := f.status
		f.mu.Unlock()
		if status != 0 {
			w.WriteHeader(status)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

// alerts lists every alert posted, in order.
func (f *fakeAM) alerts() []postableAlert {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []postableAlert
	for _, b := range f.posts {
		out = append(out, b...)
	}
	return out
}

// latest is the last posted version of the alert named name for
// target, and whether there is one.
func (f *fakeAM) latest(name, target string) (postableAlert, bool) {
	as := f.alerts()
	for i := len(as) - 1; i >= 0; i-- {
		if as[i].Labels[LabelAlertname] == name && as[i].Labels[LabelTarget] == target {
			return as[i], true
		}
	}
	return postableAlert{}, false
}

// endsAt parses a posted alert's endsAt.
func endsAt(t *testing.T, a postableAlert) time.Time {
	t.Helper()
	e, err := time.Parse(time.RFC3339Nano, a.EndsAt)
	if err != nil {
		t.Fatalf("endsAt %q: %v", a.EndsAt, err)
	}
	return e
}

// hookServer is an httptest webhook receiver that verifies signatures
// with secret (when not nil) and records the events.
type hookServer struct {
	*httptest.Server
	mu       sync.Mutex
	events   []Event
	ids      []string // HeaderDelivery of every request
	badSigs  []error
	requests int
	// answer returns the status of the n-th request (1-based); nil: 200.
	answer func(n int) int
}

func newHookServer(t *testing.T, secret []byte, now func() time.Time) *hookServer {
	t.Helper()
	h := &hookServer{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.requests++
		h.ids = append(h.ids, r.Header.Get(HeaderDelivery))
		if secret != nil {
			err := VerifySignature(secret, body, r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), now(), 5*time.Minute)
			if err != nil {
				h.badSigs = append(h.badSigs, err)
				http.Error(w, "bad signature", http.StatusUnauthorized)
				return
			}
		}
		if h.answer != nil {
			if st := h.answer(h.requests); st != http.StatusOK {
				http.Error(w, "try again", st)
				return
			}
		}
		var ev Event
		if err := json.Unmarshal(body, &ev); err != nil {
			h.badSigs = append(h.badSigs, errors.New("undecodable: "+err.Error()))
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		h.events = append(h.events, ev)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) got() ([]Event, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Event(nil), h.events...), h.requests
}
