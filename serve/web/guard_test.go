package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/config"
)

// fetchHost sends GET path to base with the Host header set to host, as a
// browser does after a DNS rebinding.
func fetchHost(t *testing.T, base, path, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDNSRebinding: a token-less UI on loopback answers only to loopback
// names, IP literals, the listen host and allowed_hosts; any other Host —
// what a browser sends after a page rebinds its own name to 127.0.0.1 —
// gets 421 on every route, /probe and the API included.
func TestDNSRebinding(t *testing.T) {
	f := getFixture(t)
	cfg, err := config.Parse(filepath.Join(f.dir, "rebind.yaml"), []byte("listen: \"127.0.0.1:9116\"\nallowed_hosts: [pathlens.corp.example, \"*.mon.example\"]\n"+f.yaml))
	if err != nil {
		t.Fatal(err)
	}
	probed := atomic.Int32{}
	h := New(Deps{Config: func() *config.Config { return cfg }, Store: f.store, State: f.state,
		Probe: func(ctx context.Context, target, module string) (*probe.Result, error) {
			probed.Add(1)
			return &probe.Result{Schema: probe.Schema, Target: target, Kind: "http", Success: true}, nil
		}})
	base := newTestServer(t, h)
	okHTTP, _ := f.lab.Scenario("ok-http")
	probePath := "/probe?target=" + url.QueryEscape(okHTTP.Target)
	for _, host := range []string{"evil.example", "evil.example:9116", "127.0.0.1.evil.example", "localhost.evil.example", "mon.example", "x.pathlens.corp.example"} {
		for _, path := range []string{"/", "/api/v1/targets", "/healthz", "/metrics", probePath, "/targets/ok-http"} {
			code, body := fetchHost(t, base, path, host)
			if code != http.StatusMisdirectedRequest || !strings.Contains(body, "allowed_hosts") {
				t.Errorf("Host %s %s: %d %q, want 421 naming allowed_hosts", host, path, code, body)
			}
		}
	}
	if n := probed.Load(); n != 0 {
		t.Fatalf("a refused host made /probe run %d probes", n)
	}
	for _, host := range []string{"127.0.0.1:9116", "127.0.0.1", "[::1]:9116", "localhost:9116", "LOCALHOST", "app.localhost", "10.1.2.3:9116",
		"pathlens.corp.example", "PathLens.Corp.Example.:9116", "a.mon.example", "a.b.mon.example:80"} {
		if code, body := fetchHost(t, base, "/api/v1/targets", host); code != http.StatusOK {
			t.Errorf("Host %s: %d %q, want 200", host, code, body)
		}
	}
	if code, _ := fetchHost(t, base, probePath, "localhost"); code != http.StatusOK || probed.Load() != 1 {
		t.Errorf("/probe from localhost: %d, %d probes", code, probed.Load())
	}
}

// TestProbeConcurrencyCap: /probe runs at most probe_endpoint.max_concurrent
// probes at once; a request that finds no slot within queue_timeout gets
// 429 with Retry-After, and a freed slot serves the next one.
func TestProbeConcurrencyCap(t *testing.T) {
	f := getFixture(t)
	cfg, err := config.Parse(filepath.Join(f.dir, "cap.yaml"), []byte(strings.Replace(f.yaml, "probe_endpoint:\n", "probe_endpoint:\n  max_concurrent: 2\n  queue_timeout: 200ms\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ProbeEndpoint.MaxConcurrent != 2 {
		t.Fatalf("max_concurrent = %d", cfg.ProbeEndpoint.MaxConcurrent)
	}
	var running, peak atomic.Int32
	block := make(chan struct{})
	started := make(chan struct{}, 10)
	h := New(Deps{Config: func() *config.Config { return cfg },
		Probe: func(ctx context.Context, target, module string) (*probe.Result, error) {
			n := running.Add(1)
			defer running.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			started <- struct{}{}
			select {
			case <-block:
			case <-ctx.Done():
			}
			return &probe.Result{Schema: probe.Schema, Target: target, Kind: "http", Success: true}, nil
		}})
	base := newTestServer(t, h)
	okHTTP, _ := f.lab.Scenario("ok-http")
	probePath := "/probe?target=" + url.QueryEscape(okHTTP.Target)

	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _ := fetchHost(t, base, probePath, "127.0.0.1")
			codes <- code
		}()
	}
	<-started
	<-started
	// Both slots are taken: the third waits queue_timeout, then 429.
	req, _ := http.NewRequest(http.MethodGet, base+probePath, nil)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "probe_endpoint.max_concurrent") {
		t.Errorf("third concurrent /probe: %d Retry-After=%q %q, want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	close(block)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusOK {
			t.Errorf("a probe holding a slot answered %d", c)
		}
	}
	if p := peak.Load(); p != 2 {
		t.Errorf("peak concurrent probes %d, want 2", p)
	}
	// The slots are free again.
	if code, body := fetchHost(t, base, probePath, "127.0.0.1"); code != http.StatusOK {
		t.Errorf("after the burst: %d %q", code, body)
	}
	if n := h.(*server).probes.inFlight(); n != 0 {
		t.Errorf("%d slots still held after every request ended", n)
	}
}

// TestProbeLimiterUnderLoad: many callers, a cap of 3: never more than 3
// at once, and every caller either ran or was told 429.
func TestProbeLimiterUnderLoad(t *testing.T) {
	l := newProbeLimiter()
	var running, peak, ran, refused atomic.Int32
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, ok := l.acquire(context.Background(), 3, 20*time.Millisecond)
			if !ok {
				refused.Add(1)
				return
			}
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(time.Millisecond)
			running.Add(-1)
			ran.Add(1)
			release()
			release() // a second call is a no-op
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > 3 {
		t.Errorf("peak %d over the cap of 3", p)
	}
	if ran.Load()+refused.Load() != 200 || ran.Load() < 3 {
		t.Errorf("ran %d, refused %d", ran.Load(), refused.Load())
	}
	if l.inFlight() != 0 {
		t.Errorf("in flight %d after all released", l.inFlight())
	}
	// A cancelled caller gives up at once.
	ctx, cancel := context.WithCancel(context.Background())
	hold, _ := l.acquire(context.Background(), 1, time.Second)
	cancel()
	if _, ok := l.acquire(ctx, 1, time.Minute); ok {
		t.Error("a cancelled caller got a slot that was taken")
	}
	hold()
}

// TestProbeModulesOptIn: /probe uses the built-in default module and the
// modules listed in probe_endpoint.modules only, so a module's
// credentials cannot be borrowed by whoever reaches /probe.
func TestProbeModulesOptIn(t *testing.T) {
	f := getFixture(t)
	y := "modules:\n  secret: {kind: http, http: {headers: {X-Api-Key: k3y-do-not-leak}}}\n" + strings.Replace(f.yaml, "modules:\n", "", 1)
	cfg, err := config.Parse(filepath.Join(f.dir, "optin.yaml"), []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	var probed atomic.Int32
	h := New(Deps{Config: func() *config.Config { return cfg },
		Probe: func(ctx context.Context, target, module string) (*probe.Result, error) {
			probed.Add(1)
			return &probe.Result{Schema: probe.Schema, Target: target, Kind: "http", Success: true}, nil
		}})
	base := newTestServer(t, h)
	okHTTP, _ := f.lab.Scenario("ok-http")
	for _, tc := range []struct {
		module string
		want   int
	}{{"secret", 403}, {"", 200}, {"default", 200}, {"lab", 200}} {
		code, body := fetchHost(t, base, fmt.Sprintf("/probe?module=%s&target=%s", tc.module, url.QueryEscape(okHTTP.Target)), "127.0.0.1")
		if code != tc.want {
			t.Errorf("module %q: %d %q, want %d", tc.module, code, body, tc.want)
		}
		if code == 403 && !strings.Contains(body, "probe_endpoint.modules") {
			t.Errorf("module %q: the refusal does not say how to open it: %q", tc.module, body)
		}
	}
	if probed.Load() != 3 {
		t.Errorf("%d probes ran, want 3 (the refused module must not run)", probed.Load())
	}
}

// TestProbeLimiterQueueBounded: once maxWaiting callers wait, the next is
// refused at once instead of being parked for the queue timeout.
func TestProbeLimiterQueueBounded(t *testing.T) {
	l := newProbeLimiter()
	hold, ok := l.acquire(context.Background(), 1, time.Second)
	if !ok {
		t.Fatal("no first slot")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range maxWaiting(1) {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = l.acquire(ctx, 1, time.Minute) }()
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		l.mu.Lock()
		w := l.waiting
		l.mu.Unlock()
		if w == maxWaiting(1) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiting, want %d", w, maxWaiting(1))
		}
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if _, ok := l.acquire(context.Background(), 1, time.Minute); ok {
		t.Fatal("a caller past the queue got a slot")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the refusal took %v: it waited instead of refusing", d)
	}
	cancel()
	wg.Wait()
	hold()
	if l.waiting != 0 || l.inFlight() != 0 {
		t.Errorf("waiting %d, in flight %d after all ended", l.waiting, l.inFlight())
	}
}
