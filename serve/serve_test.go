package serve

import (
	"bytes"
	"context"
	"errors"
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
	"github.com/pathlens/pathlens/serve/store"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually polls cond until it holds (a bounded wait for the scheduler's
// first runs, not a sleep to synchronise).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// startRun runs Run with o (Ready filled in; Stdout and Logger default to
// discard) until the test ends and returns the base URL once it listens.
// stop cancels it and waits, at most 15 s, for Run's result; the cleanup
// calls it too and fails the test on an error.
func startRun(t *testing.T, o Options) (base string, stop func() error) {
	t.Helper()
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	addrCh := make(chan string, 1)
	o.Ready = func(a string) { addrCh <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(15 * time.Second):
				runErr = errors.New("shutdown took over 15 s")
			}
		})
		return runErr
	}
	select {
	case a := <-addrCh:
		t.Cleanup(func() {
			if err := stop(); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
		return "http://" + a, stop
	case err := <-done:
		cancel()
		t.Fatalf("Run returned early: %v", err)
	}
	return "", nil
}

func writeConfig(t *testing.T, path string, m lab.Manifest, names ...string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "listen: 127.0.0.1:0\nstorage: {path: %s}\ndefaults: {interval: 2s, timeout: 1s}\n", filepath.Join(filepath.Dir(path), "h.db"))
	fmt.Fprintf(&b, "modules:\n  lab: {kind: http, tls: {ca_file: %s}, dns: {server: %q}}\n  tcp: {kind: tcp}\ntargets:\n", m.CAFile, m.DNSServer)
	for _, n := range names {
		for _, s := range m.Scenarios {
			if s.Name == n {
				mod := "lab"
				if strings.HasPrefix(s.Target, "tcp:") {
					mod = "tcp"
				}
				fmt.Fprintf(&b, "  - {name: %s, url: %q, module: %s}\n", n, s.Target, mod)
			}
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// serve runs a real server (config file on the lab) through Run: targets
// are probed on schedule, /metrics shows them, SIGHUP reloads (a bad
// reload keeps the old config), and cancelling shuts down cleanly with
// every result flushed to SQLite.
func TestServeEndToEnd(t *testing.T) {
	l, err := lab.Start(context.Background(), lab.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := l.Manifest()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "pathlens.yaml")
	writeConfig(t, cfgPath, m, "ok-h2", "http-500", "tcp-refused")

	logs := &probetest.SyncBuffer{}
	var out bytes.Buffer
	base, stop := startRun(t, Options{ConfigPath: cfgPath, Stdout: &out, Logger: slog.New(slog.NewTextHandler(logs, nil)), Grace: 2 * time.Second})
	addr := strings.TrimPrefix(base, "http://")

	if code, body := get(t, base+"/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	eventually(t, "every target probed", func() bool {
		_, body := get(t, base+"/metrics")
		return strings.Contains(body, `pathlens_probe_success{module="lab",target="ok-h2"} 1`) &&
			strings.Contains(body, `pathlens_probe_success{module="lab",target="http-500"} 0`) &&
			strings.Contains(body, `pathlens_probe_success{module="tcp",target="tcp-refused"} 0`)
	})
	_, metrics := get(t, base+"/metrics")
	for _, want := range []string{
		`pathlens_finding_active{id="HTTP_STATUS",module="lab",severity="critical",target="http-500"} 1`,
		`pathlens_finding_active{id="TCP_REFUSED",module="tcp",severity="critical",target="tcp-refused"} 1`,
		`pathlens_module_phase_duration_seconds_bucket{module="lab",phase="tls",le="0.5"}`,
		`pathlens_probe_last_duration_seconds{module="lab",target="ok-h2"}`,
		`pathlens_tls_cert_not_after_timestamp_seconds{module="lab",subject="CN=ok-h2.lab.test,O=pathlens lab",target="ok-h2"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// A bad reload keeps the running config.
	good, _ := os.ReadFile(cfgPath)
	os.WriteFile(cfgPath, []byte("targets: [{name: x, url: \"gopher://nope\"}]\n"), 0o644)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	eventually(t, "the bad reload to be refused", func() bool { return strings.Contains(logs.String(), "reload failed; keeping the running config") })
	if !strings.Contains(logs.String(), "gopher") {
		t.Errorf("reload error does not say what is wrong: %s", logs.String())
	}
	// A good reload drops http-500 and adds ok-http.
	os.WriteFile(cfgPath, good, 0o644)
	writeConfig(t, cfgPath, m, "ok-h2", "ok-http", "tcp-refused")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	eventually(t, "the reload to take effect", func() bool {
		_, body := get(t, base+"/metrics")
		return strings.Contains(body, `target="ok-http"`) && !strings.Contains(body, `target="http-500"`)
	})

	if err := stop(); err != nil {
		t.Fatalf("Run after cancel = %v, want nil (clean shutdown)", err)
	}
	// Everything probed was flushed: the store holds results for each target.
	st, err := store.Open(filepath.Join(dir, "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, name := range []string{"ok-h2", "http-500", "tcp-refused", "ok-http"} {
		rs, err := st.Results(context.Background(), name, time.Time{}, 10)
		if err != nil || len(rs) == 0 {
			t.Errorf("store has %d results for %s (err %v)", len(rs), name, err)
		}
	}
	if !strings.Contains(out.String(), "UI at http://"+addr+"/") {
		t.Errorf("stdout does not print the URL: %q", out.String())
	}
}

func TestServeConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("listen: 127.0.0.1:9116\ntargets:\n  - {name: a, url: \"http://127.0.0.1:1/\", intervall: 5s}\n"), 0o644)
	cases := []struct {
		o    Options
		want string
	}{
		{Options{}, "no config"},
		{Options{ConfigPath: bad}, `bad.yaml:3: targets[0].intervall: unknown field "intervall"`},
		{Options{ConfigPath: filepath.Join(dir, "missing.yaml")}, "missing.yaml"},
		{Options{Demo: true, ConfigPath: bad}, "exclude each other"},
	}
	for _, c := range cases {
		c.o.Stdout = io.Discard
		err := Run(context.Background(), c.o)
		ce, ok := err.(*ConfigError)
		if !ok || !strings.Contains(ce.Error(), c.want) {
			t.Errorf("Run(%+v) = %v, want a ConfigError containing %q", c.o, err, c.want)
		}
	}
	// --listen beyond loopback without a token is refused.
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("targets:\n  - {name: a, url: \"http://127.0.0.1:1/\"}\n"), 0o644)
	err := Run(context.Background(), Options{ConfigPath: good, Listen: "0.0.0.0:0", Stdout: io.Discard})
	if _, ok := err.(*ConfigError); !ok || !strings.Contains(err.Error(), "beyond loopback") {
		t.Errorf("Run with --listen 0.0.0.0:0 = %v, want refused", err)
	}
	// --pprof without a token is refused.
	err = Run(context.Background(), Options{ConfigPath: good, Pprof: true, Stdout: io.Discard})
	if _, ok := err.(*ConfigError); !ok || !strings.Contains(err.Error(), "--pprof needs auth.token_file") {
		t.Errorf("Run with --pprof and no token = %v, want refused", err)
	}
	var out bytes.Buffer
	if err := Run(context.Background(), Options{ConfigPath: good, CheckConfig: true, Stdout: &out}); err != nil || !strings.Contains(out.String(), "ok: 1 targets") {
		t.Errorf("--check-config = %v, %q", err, out.String())
	}
}
