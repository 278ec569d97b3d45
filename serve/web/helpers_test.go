package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pathlens/pathlens/engine"
	"github.com/pathlens/pathlens/lab"
	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/config"
	"github.com/pathlens/pathlens/serve/store"
)

func TestMain(m *testing.M) {
	code := m.Run()
	teardownFixture()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// The shared fixture: a lab with a handful of scenarios, each probed a few
// times for real, written to a real store, recorded in a State, and a
// config (parsed from YAML) naming them.

// fixtureScenarios are the lab scenarios the fixture probes, with how many
// runs each gets. ok-h2 gets more than a target page shows (20).
var fixtureScenarios = []struct {
	name string
	runs int
}{
	{"ok-http", 3},
	{"ok-h2", 25},
	{"tls-incomplete-chain", 3},
	{"tls-expiring", 3},
	{"http-500", 3},
	{"tcp-refused", 3},
	{"dns-nxdomain", 2},
}

// testToken is the bearer token of the fixture's auth config.
const testToken = "s3cr3t-T0ken-do-not-leak-4f9a"

type fixture struct {
	lab      *lab.Lab
	dir      string
	store    *store.Store
	state    *State
	cfg      *config.Config // no auth
	authCfg  *config.Config // token, open endpoints
	closedCf *config.Config // token, endpoints closed too
	yaml     string
	authYAML string                     // yaml with the token file
	results  map[string][]*probe.Result // scenario → runs, oldest first
	expect   map[string][]string        // scenario → expected finding IDs
}

var (
	fixOnce sync.Once
	fix     *fixture
	fixErr  error
)

func getFixture(t *testing.T) *fixture {
	t.Helper()
	fixOnce.Do(func() { fix, fixErr = buildFixture() })
	if fixErr != nil {
		t.Fatalf("fixture: %v", fixErr)
	}
	return fix
}

func teardownFixture() {
	if fix == nil {
		return
	}
	if fix.store != nil {
		_ = fix.store.Close()
	}
	if fix.lab != nil {
		_ = fix.lab.Close()
	}
	_ = os.RemoveAll(fix.dir)
}

func buildFixture() (*fixture, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f := &fixture{results: map[string][]*probe.Result{}, expect: map[string][]string{}}
	dir, err := os.MkdirTemp("", "pathlens-web-test-")
	if err != nil {
		return nil, err
	}
	f.dir = dir
	fix = f // so teardown runs even when a step below fails
	var only []string
	for _, s := range fixtureScenarios {
		only = append(only, s.name)
	}
	l, err := lab.Start(ctx, lab.Options{Dir: filepath.Join(dir, "lab"), Only: only})
	if err != nil {
		return nil, err
	}
	f.lab = l
	m := l.Manifest()

	// The config, as a file would say it.
	var y strings.Builder
	fmt.Fprintf(&y, "modules:\n")
	fmt.Fprintf(&y, "  lab: {kind: http, timeout: 5s, tls: {ca_file: %q}, dns: {server: %q}}\n", m.CAFile, m.DNSServer)
	fmt.Fprintf(&y, "  labtcp: {kind: tcp, dns: {server: %q}}\n", m.DNSServer)
	fmt.Fprintf(&y, "targets:\n")
	for _, fs := range fixtureScenarios {
		sc, ok := l.Scenario(fs.name)
		if !ok {
			return nil, fmt.Errorf("lab has no scenario %s", fs.name)
		}
		mod := "lab"
		if strings.HasPrefix(sc.Target, "tcp://") {
			mod = "labtcp"
		}
		fmt.Fprintf(&y, "  - {name: %q, url: %q, module: %s, interval: 15s, labels: {scenario: %q}}\n", sc.Name, sc.Target, mod, sc.Name)
		f.expect[sc.Name] = sc.Expect
	}
	fmt.Fprintf(&y, "probe_endpoint:\n  allow: [\"http://127.0.0.1:*\", \"https://*.lab.test:*\"]\n  modules: [lab, labtcp]\n")
	f.yaml = y.String()
	cfgPath := filepath.Join(dir, "pathlens.yaml")
	if f.cfg, err = config.Parse(cfgPath, []byte(f.yaml)); err != nil {
		return nil, err
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600); err != nil {
		return nil, err
	}
	f.authYAML = fmt.Sprintf("auth: {token_file: %q}\n", tokenFile) + f.yaml
	if f.authCfg, err = config.Parse(cfgPath, []byte(f.authYAML)); err != nil {
		return nil, err
	}
	closedYAML := fmt.Sprintf("auth: {token_file: %q, open_endpoints: false}\n", tokenFile) + f.yaml
	if f.closedCf, err = config.Parse(cfgPath, []byte(closedYAML)); err != nil {
		return nil, err
	}
	if f.authCfg.Auth.Token != testToken || !f.authCfg.Auth.OpenEndpoints || f.closedCf.Auth.OpenEndpoints {
		return nil, errors.New("config did not load the token as expected")
	}

	// Probe every scenario for real. ok-http first gets an older synthetic
	// run with a finding that its real runs then clear, so there is a
	// resolved (inactive) finding span. Every run is stored and recorded
	// in State, as serve does.
	var recs []store.Record
	f.state = NewState()
	{
		sc, _ := l.Scenario("ok-http")
		tg, _ := f.cfg.Target(sc.Name)
		r := engine.Check(ctx, tg.Parsed, &probe.Options{})
		r.StartedAt = r.StartedAt.Add(-10 * time.Minute)
		r.Findings = append(r.Findings, probe.Finding{ID: "HTTP_SERVER_SLOW", Severity: probe.SeverityWarning, Phase: "wait",
			Summary: "synthetic: the server took long", Advice: "synthetic advice", Evidence: map[string]any{"wait_ms": 250}})
		recs = append(recs, store.Record{Target: sc.Name, Module: tg.Module, Result: r})
		f.state.Record(sc.Name, tg.Module, r, 0)
	}
	for _, fs := range fixtureScenarios {
		sc, _ := l.Scenario(fs.name)
		tg, _ := f.cfg.Target(sc.Name)
		opts := &probe.Options{RootCAs: l.CAPool(), DNSServer: m.DNSServer}
		for i := 0; i+1 < len(sc.Args); i++ {
			if sc.Args[i] == "--timeout" {
				d, err := time.ParseDuration(sc.Args[i+1])
				if err != nil {
					return nil, err
				}
				opts.Timeout = d
			}
		}
		for range fs.runs {
			r := engine.Check(ctx, tg.Parsed, opts)
			f.results[sc.Name] = append(f.results[sc.Name], r)
			recs = append(recs, store.Record{Target: sc.Name, Module: tg.Module, Result: r})
			f.state.Record(sc.Name, tg.Module, r, 0)
		}
	}
	if f.store, err = store.Open(filepath.Join(dir, "history.db")); err != nil {
		return nil, err
	}
	if err := f.store.Write(ctx, recs); err != nil {
		return nil, err
	}
	return f, nil
}

// testProbe is the /probe runner the serve wiring provides, built the same
// way: the module's options, lowered to the context's deadline.
func testProbe(cfg *config.Config) func(ctx context.Context, target, module string) (*probe.Result, error) {
	return func(ctx context.Context, target, module string) (*probe.Result, error) {
		t, err := probe.ParseTarget(target)
		if err != nil {
			return nil, err
		}
		var timeout time.Duration
		if dl, ok := ctx.Deadline(); ok {
			timeout = time.Until(dl)
		}
		o, err := cfg.ModuleOptions(module, timeout)
		if err != nil {
			return nil, err
		}
		return engine.Check(ctx, t, o), nil
	}
}

// newServer serves the fixture with cfg.
func newServer(t *testing.T, f *fixture, cfg *config.Config, logf ...func(string, ...any)) *httptest.Server {
	t.Helper()
	lf := t.Logf
	if len(logf) > 0 {
		lf = logf[0]
	}
	h := New(Deps{
		Config:  func() *config.Config { return cfg },
		Store:   f.store,
		State:   f.state,
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "pathlens_probe_success 1\n") }),
		Probe:   testProbe(cfg),
		Version: "test",
		Logf:    lf,
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// response is one fetched answer.
type response struct {
	status int
	header http.Header
	body   string
}

// client fetches without following redirects and without keeping
// connections (so nothing outlives a test).
type client struct {
	t       *testing.T
	base    string
	header  http.Header
	cookies []*http.Cookie
	// bodies collects every body fetched (the auth test scans them).
	bodies *[]string
}

func newClient(t *testing.T, srv *httptest.Server) *client {
	return &client{t: t, base: srv.URL, header: http.Header{}, bodies: new([]string)}
}

var httpClient = &http.Client{
	Transport:     &http.Transport{DisableKeepAlives: true},
	Timeout:       60 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func (c *client) get(path string) response {
	c.t.Helper()
	return c.do(http.MethodGet, path, nil, nil)
}

func (c *client) do(method, path string, body io.Reader, hdr http.Header) response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	for _, ck := range c.cookies {
		req.AddCookie(ck)
	}
	res, err := httpClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	*c.bodies = append(*c.bodies, string(b))
	return response{status: res.StatusCode, header: res.Header, body: string(b)}
}

// want checks the status and the content type's media type.
func (r response) want(t *testing.T, what string, status int, mediaType string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d; body:\n%.2000s", what, r.status, status, r.body)
	}
	if mediaType != "" {
		ct := r.header.Get("Content-Type")
		if !strings.HasPrefix(ct, mediaType) {
			t.Fatalf("%s: Content-Type %q, want %s", what, ct, mediaType)
		}
	}
}

func itoa(n int64) string { return fmt.Sprint(n) }

// serveProbed parses yml as the config, probes every target once through
// the real engine, stores and records the results, and serves the UI on a
// test server that Cleanup closes.
func serveProbed(t *testing.T, ctx context.Context, dir, yml string) (*config.Config, *store.Store, *httptest.Server) {
	t.Helper()
	cfg, err := config.Parse(filepath.Join(dir, "p.yaml"), []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(dir, "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	state := NewState()
	var recs []store.Record
	for _, tg := range cfg.Targets {
		r := engine.Check(ctx, tg.Parsed, tg.Options)
		recs = append(recs, store.Record{Target: tg.Name, Module: tg.Module, Result: r})
		state.Record(tg.Name, tg.Module, r, 0)
	}
	if err := st.Write(ctx, recs); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(Deps{Config: func() *config.Config { return cfg }, Store: st, State: state,
		Metrics: http.NotFoundHandler(), Probe: testProbe(cfg), Version: "test", Logf: t.Logf}))
	t.Cleanup(srv.Close)
	return cfg, st, srv
}
