package serve

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pathlens/pathlens/internal/probetest"
)

// recorder is a loopback HTTP server that counts and keeps every request
// it gets.
type recorder struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
}

func newRecorder(t *testing.T, h http.HandlerFunc) *recorder {
	t.Helper()
	r := &recorder{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.reqs = append(r.reqs, req.Clone(context.Background()))
		r.mu.Unlock()
		h(w, req)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) requests() []*http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*http.Request(nil), r.reqs...)
}

// startServe runs serve on a config file made of yaml (listen and storage
// prepended) and returns its base URL; it stops when the test ends.
func startServe(t *testing.T, yaml string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "pathlens.yaml")
	yaml = fmt.Sprintf("listen: 127.0.0.1:0\nstorage: {path: %s}\n", filepath.Join(dir, "h.db")) + yaml
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	base, _ := startRun(t, Options{ConfigPath: path, Grace: time.Second})
	return base
}

func probeVia(t *testing.T, base, target, module string) string {
	t.Helper()
	code, body := get(t, base+"/probe?module="+module+"&target="+url.QueryEscape(target))
	if code != 200 {
		t.Fatalf("/probe %s: %d %s", target, code, body)
	}
	return body
}

var statusLine = regexp.MustCompile(`(?m)^probe_http_status_code (\d+)$`)

// TestProbeRedirectRelay: /probe follows a redirect only to a hop that
// passes probe_endpoint.allow too. A refused hop ends the probe with
// PROBE_REDIRECT_REFUSED before anything is sent to it, so an open
// redirect on an allowed host neither reads a forbidden service nor scans
// its ports.
func TestProbeRedirectRelay(t *testing.T) {
	secret := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "the admin secret")
	})
	closed := probetest.ClosedPort(t)
	entry := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-secret":
			http.Redirect(w, r, secret.srv.URL+"/admin/secret", http.StatusFound)
		case "/to-closed":
			http.Redirect(w, r, "http://"+closed+"/", http.StatusFound)
		case "/to-public":
			http.Redirect(w, r, secret.srv.URL+"/public/page", http.StatusFound)
		case "/to-public-dots":
			http.Redirect(w, r, secret.srv.URL+"/public/%2e%2e/admin/secret", http.StatusFound)
		default:
			_, _ = io.WriteString(w, "ok")
		}
	})
	base := startServe(t, fmt.Sprintf("probe_endpoint:\n  allow: [%q, %q]\n", entry.srv.URL+"/*", secret.srv.URL+"/public/*"))

	for _, path := range []string{"/to-secret", "/to-closed", "/to-public-dots"} {
		body := probeVia(t, base, entry.srv.URL+path, "")
		if !strings.Contains(body, "probe_success 0") || !strings.Contains(body, `id="PROBE_REDIRECT_REFUSED"`) {
			t.Errorf("%s: want probe_success 0 and PROBE_REDIRECT_REFUSED:\n%s", path, body)
		}
		if strings.Contains(body, `id="TCP_REFUSED"`) {
			t.Errorf("%s: the refused hop was dialed (TCP_REFUSED is a port-scan answer)", path)
		}
		if m := statusLine.FindStringSubmatch(body); m != nil && m[1] == "200" {
			t.Errorf("%s: a status 200 came back through a refused hop", path)
		}
	}
	if n := len(secret.requests()); n != 0 {
		t.Fatalf("the forbidden host got %d requests through redirects", n)
	}
	// A hop that the allow list does cover is followed.
	body := probeVia(t, base, entry.srv.URL+"/to-public", "")
	if !strings.Contains(body, "probe_success 1") || statusLine.FindStringSubmatch(body) == nil || statusLine.FindStringSubmatch(body)[1] != "200" {
		t.Errorf("an allowed redirect was not followed:\n%s", body)
	}
	if reqs := secret.requests(); len(reqs) != 1 || reqs[0].URL.Path != "/public/page" {
		t.Errorf("allowed hop: %d requests", len(reqs))
	}
}

// TestProbeModuleHeadersStayHome: a module's headers (credentials or
// not) go only to the origin they were set for; the next origin of a
// redirect gets none of them, whatever its name.
func TestProbeModuleHeadersStayHome(t *testing.T) {
	other := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	entry := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/go" {
			http.Redirect(w, r, other.srv.URL+"/landing", http.StatusFound)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	base := startServe(t, fmt.Sprintf(`modules:
  keyed: {kind: http, http: {headers: {X-Api-Key: k3y-do-not-leak, Authorization: "Bearer t0ken-do-not-leak"}}}
probe_endpoint:
  allow: [%q, %q]
  modules: [keyed]
`, entry.srv.URL+"/*", other.srv.URL+"/*"))
	body := probeVia(t, base, entry.srv.URL+"/go", "keyed")
	if !strings.Contains(body, "probe_success 1") {
		t.Fatalf("probe through the allowed redirect failed:\n%s", body)
	}
	er, or := entry.requests(), other.requests()
	if len(er) != 1 || er[0].Header.Get("X-Api-Key") != "k3y-do-not-leak" {
		t.Errorf("the first origin did not get the module's header: %v", er)
	}
	if len(or) != 1 {
		t.Fatalf("the second origin got %d requests", len(or))
	}
	for _, h := range []string{"X-Api-Key", "Authorization"} {
		if v := or[0].Header.Get(h); v != "" {
			t.Errorf("%s crossed to another origin: %q", h, v)
		}
	}
}

// TestProbeDenyNetworks: with probe_endpoint.deny_networks, an allowed
// name that resolves into a denied range is never connected to.
func TestProbeDenyNetworks(t *testing.T) {
	var accepted int
	var mu sync.Mutex
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				mu.Lock()
				accepted++
				mu.Unlock()
			}
		}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	target := "http://" + ln.Addr().String() + "/"
	base := startServe(t, "probe_endpoint:\n  allow: [\"http://127.0.0.1:*\"]\n  deny_networks: [loopback]\n")
	body := probeVia(t, base, target, "")
	if !strings.Contains(body, "probe_success 0") || !strings.Contains(body, `id="PROBE_ADDRESS_DENIED"`) {
		t.Errorf("want PROBE_ADDRESS_DENIED:\n%s", body)
	}
	mu.Lock()
	defer mu.Unlock()
	if accepted != 0 {
		t.Errorf("the denied address got %d connections", accepted)
	}
}

// TestReloadNeverBlocksShutdown: a reload that cannot finish reading its
// file (here a FIFO nobody writes to; in the field a huge or slow file)
// runs off the main loop, so shutdown still ends within the grace period.
func TestReloadNeverBlocksShutdown(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pathlens.yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf("listen: 127.0.0.1:0\nstorage: {path: %s}\n", filepath.Join(dir, "h.db"))), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stop := startRun(t, Options{ConfigPath: path, Grace: 500 * time.Millisecond})
	// The config becomes a FIFO: reading it blocks until a writer comes.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}
	defer func() {
		// Let the stuck reload finish so no goroutine outlives the test.
		if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			_, _ = f.WriteString("listen: 127.0.0.1:0\n")
			f.Close()
		}
		time.Sleep(100 * time.Millisecond)
	}()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the signal arrive; the reload then blocks on the FIFO
	// stop waits at most 15 s; the grace period is 0.5 s.
	if err := stop(); err != nil {
		t.Fatalf("shutdown waited on a reload that cannot finish: %v", err)
	}
}
