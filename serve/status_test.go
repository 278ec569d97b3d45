package serve

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/lab"
	"github.com/pathlens/pathlens/serve/config"
)

// TestServeStatusLiveReload runs serve with a token on the lab: the
// status page answers without the token and shows no URL; an event
// stream (with the token) hears a target go down; a bad SIGHUP reload
// puts a banner on every page (not on the status page) until a good one;
// shutdown ends the open stream.
func TestServeStatusLiveReload(t *testing.T) {
	l, err := lab.Start(context.Background(), lab.Options{Dir: t.TempDir(), Only: []string{"ok-http", "tcp-refused"}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	okS, _ := l.Scenario("ok-http")
	badS, _ := l.Scenario("tcp-refused")
	dir := t.TempDir()
	const token = "status-test-token-6f1c"
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pathlens.yaml")
	good := fmt.Sprintf(`listen: 127.0.0.1:0
storage: {path: %q}
auth: {token_file: %q}
defaults: {interval: 1s, timeout: 500ms}
targets:
  - {name: shop-api, url: %q, labels: {team: secret-team}}
  - {name: shop-db, url: %q}
status_page:
  enabled: true
  title: Example status
  groups: [{name: Shop, targets: ["shop-*"]}]
`, filepath.Join(dir, "h.db"), tokenFile, okS.Target, badS.Target)
	if err := os.WriteFile(path, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := &probetest.SyncBuffer{}
	base, stop := startRun(t, Options{ConfigPath: path, Grace: time.Second, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	authed := func(p string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+p, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}

	// The stream, with the token (without, 401 like the API).
	if code, _ := get(t, base+"/api/v1/events"); code != http.StatusUnauthorized {
		t.Errorf("/api/v1/events without the token: %d", code)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/events?target=shop-db", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("/api/v1/events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	type targetEvent struct {
		Name, State, From, Run string
		Changed                bool
	}
	events := make(chan targetEvent, 100)
	streamDone := make(chan struct{})
	var readErr error
	var once sync.Once
	go func() {
		defer close(streamDone)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var ev targetEvent
				if err := json.Unmarshal([]byte(data), &ev); err != nil {
					once.Do(func() { readErr = err })
					continue
				}
				if ev.Name != "" {
					events <- ev
				}
			}
		}
	}()
	// shop-db is refused: pending, then down after failures_before_down
	// (2) runs.
	deadline := time.After(20 * time.Second)
	for down := false; !down; {
		select {
		case ev := <-events:
			if ev.Name != "shop-db" || ev.Run != "failing" {
				t.Fatalf("event %+v: want shop-db's failed runs only", ev)
			}
			down = ev.State == "down"
			if down && (!ev.Changed || ev.From != "pending") {
				t.Errorf("the change to down: %+v", ev)
			}
		case <-deadline:
			t.Fatal("no event saying shop-db is down within 20 s")
		}
	}

	// The status page: no token needed, nothing internal.
	eventually(t, "the status page to show shop-db's outage and shop-api up", func() bool {
		_, body := get(t, base+"/status.json")
		return strings.Contains(body, `{"name":"shop-db","status":"outage"`) && strings.Contains(body, `{"name":"shop-api","status":"operational"`)
	})
	for _, p := range []string{"/status", "/status.json"} {
		code, body := get(t, base+p)
		if code != 200 {
			t.Fatalf("%s without the token: %d", p, code)
		}
		for _, bad := range []string{okS.Target, badS.Target, strings.TrimPrefix(okS.Target, "http://"), "127.0.0.1", "://", "secret-team", "team", "default", "refused", "TCP_REFUSED", "/targets/", token} {
			if strings.Contains(body, bad) {
				t.Errorf("%s shows %q", p, bad)
			}
		}
		for _, want := range []string{"Example status", "Shop", "shop-api", "shop-db", "Partial outage"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s lacks %q", p, want)
			}
		}
	}
	if code, _ := get(t, base+"/"); code != http.StatusUnauthorized {
		t.Errorf("/ without the token: %d", code)
	}

	// A bad reload: a banner on every page, none on the status page.
	if err := os.WriteFile(path, []byte(good+"  bogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	eventually(t, "the bad reload to be refused", func() bool { return strings.Contains(logs.String(), "reload failed; keeping the running config") })
	for _, p := range []string{"/", "/findings", "/targets/shop-api"} {
		code, body := authed(p)
		if code != 200 || !strings.Contains(body, `<div class="reload-banner" role="alert"><strong>The last config reload failed</strong>`) ||
			!strings.Contains(body, `pathlens.yaml:12: status_page.bogus: unknown field &#34;bogus&#34; (allowed: enabled, title, groups)`) {
			t.Errorf("%s after a bad reload: %d, no banner with the error:\n%.1500s", p, code, body)
		}
	}
	for _, p := range []string{"/status", "/login"} {
		if _, body := get(t, base+p); strings.Contains(body, "reload") || strings.Contains(body, "bogus") {
			t.Errorf("%s shows the reload failure", p)
		}
	}
	// A good reload takes it away (and the stream stays open).
	if err := os.WriteFile(path, []byte(strings.Replace(good, "Example status", "Example status page", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	eventually(t, "the good reload", func() bool {
		_, body := get(t, base+"/status")
		return strings.Contains(body, "Example status page")
	})
	if _, body := authed("/"); strings.Contains(body, "reload-banner") {
		t.Error("the banner outlived a good reload")
	}
	select {
	case <-streamDone:
		t.Fatal("the event stream ended before shutdown")
	default:
	}

	// Shutdown ends the stream at once (not after the grace period, and
	// not never): serve's Close of the events.
	t0 := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	select {
	case <-streamDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the event stream outlived shutdown")
	}
	if d := time.Since(t0); d >= time.Second {
		t.Errorf("shutdown took %v with a stream open (grace 1s): it waited for the stream", d)
	}
	if readErr != nil {
		t.Errorf("event data: %v", readErr)
	}
	// The config the test wrote is a valid one (the reload took it).
	if _, err := config.Load(path); err != nil {
		t.Error(err)
	}
}

// TestStatusRollupsKept: while the status page is on, its targets keep
// 91 days of hour roll-ups (its cells), unless the retention or an
// objective keeps more; other targets are untouched.
func TestStatusRollupsKept(t *testing.T) {
	parse := func(extra string) *config.Config {
		t.Helper()
		cfg, err := config.Parse("c.yaml", []byte(`targets:
  - {name: a, url: "http://127.0.0.1:1/", slo: {objective: 99%, window: 90d}}
  - {name: b, url: "http://127.0.0.1:2/"}
  - {name: c, url: "http://127.0.0.1:3/"}
`+extra))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	from := now.Add(-91 * 24 * time.Hour)
	cfg := parse("status_page: {enabled: true, groups: [{name: G, targets: [a, b]}]}\n")
	keep := statusRollupsKept(cfg, now, rollupsKept(cfg, now))
	if len(keep) != 2 || !keep["b"].Equal(from) || !keep["a"].Equal(now.Add(-91*24*time.Hour)) {
		t.Errorf("kept %v", keep)
	}
	// a's objective keeps 90 days and an hour: the page's 91 days win.
	if _, ok := keep["c"]; ok {
		t.Error("c is on no status page but keeps its roll-ups")
	}
	off := parse("status_page: {groups: [{name: G, targets: [b]}]}\n")
	if keep := statusRollupsKept(off, now, nil); keep != nil {
		t.Errorf("disabled page keeps %v", keep)
	}
	long := parse("storage: {retention: 2400h}\nstatus_page: {enabled: true, groups: [{name: G, targets: [b]}]}\n")
	if keep := statusRollupsKept(long, now, nil); keep != nil {
		t.Errorf("a retention of 100 days keeps %v besides", keep)
	}
}
