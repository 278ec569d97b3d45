package alert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
)

// realAM is an Alertmanager process listening on 127.0.0.1.
type realAM struct {
	url    string
	client *http.Client
}

// gettableAlert is what GET /api/v2/alerts lists.
type gettableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Status       struct {
		State string `json:"state"`
	} `json:"status"`
}

// startAlertmanager runs the Debian prometheus-alertmanager (or an
// alertmanager on PATH) with a null receiver, no clustering and its
// API on a free loopback port, and kills it at cleanup.
func startAlertmanager(t *testing.T) *realAM {
	t.Helper()
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		var err2 error
		if bin, err2 = exec.LookPath("alertmanager"); err2 != nil {
			t.Skipf("no Alertmanager to test against (%v; %v): apt-get install prometheus-alertmanager", err, err2)
		}
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(conf, []byte("route:\n  receiver: \"null\"\nreceivers:\n  - name: \"null\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	logf, err := os.Create(filepath.Join(dir, "alertmanager.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin,
		"--config.file="+conf,
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=", // no gossip
	)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	showLog := func() {
		b, _ := os.ReadFile(logf.Name())
		t.Logf("%s log:\n%s", bin, b)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			showLog()
		}
	})
	am := &realAM{url: "http://" + addr, client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := am.client.Get(am.url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			showLog()
			t.Fatalf("%s not ready on %s: %v", bin, addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return am
}

// alerts lists the alerts GET /api/v2/alerts?QUERY returns.
func (am *realAM) alerts(t *testing.T, query url.Values) []gettableAlert {
	t.Helper()
	resp, err := am.client.Get(am.url + "/api/v2/alerts?" + query.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET alerts: %s: %s", resp.Status, body)
	}
	var out []gettableAlert
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("GET alerts: %v: %s", err, body)
	}
	return out
}

// find returns the active alert named name for target, if listed.
func (am *realAM) find(t *testing.T, name, target string) (gettableAlert, bool) {
	t.Helper()
	q := url.Values{"active": {"true"}, "filter": {fmt.Sprintf("alertname=%q", name), fmt.Sprintf("target=%q", target)}}
	for _, a := range am.alerts(t, q) {
		if a.Labels[LabelAlertname] == name && a.Labels[LabelTarget] == target && a.Status.State == "active" && a.EndsAt.After(time.Now()) {
			return a, true
		}
	}
	return gettableAlert{}, false
}

func TestRealAlertmanager(t *testing.T) {
	am := startAlertmanager(t)

	// A proxy in front of the same Alertmanager that wants a bearer
	// token: the second Alertmanager of the config.
	tokenFile := writeFile(t, "token", "tok-one\n")
	var (
		mu        sync.Mutex
		bearers   []string
		proxyFail int
	)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		mu.Lock()
		bearers = append(bearers, auth)
		mu.Unlock()
		if auth != "Bearer tok-one" && auth != "Bearer tok-two" {
			mu.Lock()
			proxyFail++
			mu.Unlock()
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		resp, err := am.client.Post(am.url+r.URL.Path, r.Header.Get("Content-Type"), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(proxy.Close)

	cfg := Config{
		ExternalURL: "https://pathlens.example.com",
		Alertmanagers: []AlertmanagerConfig{
			{URL: am.url},
			{URL: proxy.URL, BearerTokenFile: tokenFile},
		},
	}
	m, logs := newTestManager(t, cfg)
	m.cfg.ResendInterval = 250 * time.Millisecond // endsAt 1 s ahead
	run(t, m)

	labels := map[string]string{"team": "shop"}
	start := time.Now().Add(-time.Minute)
	m.Observe("shop-api", "https", labels, failRun(start))
	time.Sleep(50 * time.Millisecond)
	if _, ok := am.find(t, AlertTargetDown, "shop-api"); ok {
		t.Fatal("one failed run fired the down alert")
	}
	observed := time.Now()
	m.Observe("shop-api", "https", labels, failRun(start.Add(30*time.Second)))
	var down gettableAlert
	waitFor(t, 5*time.Second, "PathlensTargetDown in Alertmanager", func() bool {
		var ok bool
		down, ok = am.find(t, AlertTargetDown, "shop-api")
		return ok
	})
	latency := time.Since(observed)
	t.Logf("alert latency (Observe of the run that made shop-api down → listed by Alertmanager's API): %s", latency)

	for k, v := range map[string]string{"alertname": AlertTargetDown, "target": "shop-api", "module": "https", "severity": "critical", "team": "shop"} {
		if down.Labels[k] != v {
			t.Errorf("label %s = %q, want %q (labels %v)", k, down.Labels[k], v, down.Labels)
		}
	}
	if !strings.HasPrefix(down.Annotations["summary"], "shop-api is down: connect: connection refused") || down.Annotations["advice"] == "" || down.Annotations["description"] == "" {
		t.Errorf("annotations %v", down.Annotations)
	}
	if down.GeneratorURL != "https://pathlens.example.com/targets/shop-api" {
		t.Errorf("generatorURL %q", down.GeneratorURL)
	}
	if d := down.StartsAt.Sub(start.Add(30 * time.Second)); d < -time.Millisecond || d > time.Millisecond { // Alertmanager keeps milliseconds
		t.Errorf("startsAt %s, want %s", down.StartsAt, start.Add(30*time.Second))
	}

	// A finding on two runs.
	w := finding("tls-cert-expiring", probe.SeverityWarning)
	m.Observe("shop-web", "https", labels, okRun(start, w))
	m.Observe("shop-web", "https", labels, okRun(start.Add(30*time.Second), w))
	var fa gettableAlert
	waitFor(t, 5*time.Second, "PathlensFinding in Alertmanager", func() bool {
		var ok bool
		fa, ok = am.find(t, AlertFinding, "shop-web")
		return ok
	})
	for k, v := range map[string]string{"alertname": AlertFinding, "target": "shop-web", "finding": w.ID, "severity": "warning", "team": "shop"} {
		if fa.Labels[k] != v {
			t.Errorf("finding label %s = %q, want %q (labels %v)", k, fa.Labels[k], v, fa.Labels)
		}
	}
	if fa.Annotations["summary"] != w.Summary || fa.Annotations["advice"] != w.Advice {
		t.Errorf("finding annotations %v", fa.Annotations)
	}

	// The token is re-read at every request.
	if err := os.WriteFile(tokenFile, []byte("tok-two"), 0o600); err != nil {
		t.Fatal(err)
	}

	// Resends keep both alive past their first endsAt (1 s).
	firstEnd := down.EndsAt
	time.Sleep(time.Until(firstEnd) + 500*time.Millisecond)
	again, ok := am.find(t, AlertTargetDown, "shop-api")
	if !ok || !again.EndsAt.After(firstEnd) {
		t.Fatalf("the down alert did not stay active through resends (first endsAt %s): %+v, %v", firstEnd, again, ok)
	}
	if _, ok := am.find(t, AlertFinding, "shop-web"); !ok {
		t.Fatal("the finding alert did not stay active through resends")
	}

	// Recovery resolves.
	recovered := time.Now()
	m.Observe("shop-api", "https", labels, okRun(start.Add(time.Minute)))
	waitFor(t, 5*time.Second, "the down alert resolved", func() bool {
		_, ok := am.find(t, AlertTargetDown, "shop-api")
		return !ok
	})
	t.Logf("resolve latency: %s", time.Since(recovered))
	for _, a := range am.alerts(t, url.Values{"filter": {`target="shop-api"`}}) {
		if a.Status.State == "active" && a.EndsAt.After(time.Now()) {
			t.Errorf("still active after the recovery: %+v", a)
		}
	}
	// The resolution stays: later resends do not bring it back.
	time.Sleep(600 * time.Millisecond)
	if _, ok := am.find(t, AlertTargetDown, "shop-api"); ok {
		t.Error("the resolved alert came back")
	}
	if _, ok := am.find(t, AlertFinding, "shop-web"); !ok {
		t.Error("the finding alert went away with shop-api's recovery")
	}

	mu.Lock()
	got := append([]string(nil), bearers...)
	fails := proxyFail
	mu.Unlock()
	var one, two bool
	for _, b := range got {
		one = one || b == "Bearer tok-one"
		two = two || b == "Bearer tok-two"
	}
	if fails != 0 || !one || !two {
		t.Errorf("Authorization headers %q (%d refused): want Bearer tok-one, then Bearer tok-two after the rotation", got, fails)
	}
	if s := m.Stats(); s.AlertmanagerErrors != 0 || s.AlertsSent == 0 {
		t.Errorf("stats %+v; log %s", s, logs)
	}
	if strings.Contains(logs.String(), "tok-") {
		t.Errorf("the log shows the token: %s", logs)
	}
}
