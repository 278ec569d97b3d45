// Package serve runs `pathlens serve`: it loads the config, schedules every
// target, feeds each Result to storage (batched SQLite writes), Prometheus
// metrics and the in-memory state behind the web UI, and serves the UI,
// the API, /metrics and /probe. SIGHUP reloads the config (a bad reload
// keeps the old one running); cancelling the context shuts down
// gracefully: stop scheduling, let in-flight probes finish within a grace
// period, flush storage.
package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pathlens/pathlens/engine"
	"github.com/pathlens/pathlens/lab"
	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/alert"
	"github.com/pathlens/pathlens/serve/config"
	"github.com/pathlens/pathlens/serve/demo"
	"github.com/pathlens/pathlens/serve/metrics"
	"github.com/pathlens/pathlens/serve/remotewrite"
	"github.com/pathlens/pathlens/serve/sched"
	"github.com/pathlens/pathlens/serve/store"
	"github.com/pathlens/pathlens/serve/web"
)

// Options configure Run. Zero values mean "from the config file".
type Options struct {
	ConfigPath  string
	Listen      string // overrides listen
	DB          string // overrides storage.path
	Demo        bool   // start the lab in-process and probe every scenario
	CheckConfig bool   // validate, print a summary and return
	Stdout      io.Writer
	Logger      *slog.Logger
	// Ready is called with the bound address once the server listens (tests).
	Ready func(addr string)
	// Clock drives the scheduler (tests); nil = the wall clock.
	Clock sched.Clock
	// Grace is how long in-flight probes may run after shutdown starts
	// (default 5 s).
	Grace   time.Duration
	Version string
	// Pprof serves the Go runtime profiles under /debug/pprof/, to
	// loopback clients with the auth token; it needs auth.token_file.
	Pprof bool
}

// ConfigError is a bad config or flag: the CLI exits 3 on it.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// server is one running instance.
type server struct {
	o       Options
	log     *slog.Logger
	cfg     atomic.Pointer[config.Config]
	store   *store.Store
	writer  *store.Writer
	metrics *metrics.Exporter
	state   *web.State
	alerts  *alert.Manager                     // states with memory, and who is told of them
	rw      atomic.Pointer[remotewrite.Writer] // remote_write; swapped when a reload changes it
	sched   *sched.Scheduler
	reload  sync.Mutex     // held while a reload applies; guards closing
	closing bool           // shutdown began: reloads no longer apply
	loading atomic.Bool    // a reload is reading the config file
	reloads sync.WaitGroup // SIGHUP reloads under way
	// resumption is each target's ResumptionMemory, by name (see jobs).
	resumption map[string]*probe.ResumptionMemory
	// verify reuses certificate verdicts across runs and /probe calls;
	// probeMem carries /probe's resumption verdicts.
	verify   *probe.VerifyCache
	probeMem probeMemories
	srv      *http.Server
	served   chan error     // srv.Serve's return
	hup      chan os.Signal // SIGHUP: reload
	events   *web.Events    // GET /api/v1/events
	// reloadFail is the last reload's failure, nil once one succeeds.
	reloadFail atomic.Pointer[reloadFailure]
}

// Run serves until ctx is cancelled; it returns nil after a clean shutdown.
func Run(ctx context.Context, o Options) error {
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if o.Grace == 0 {
		o.Grace = 5 * time.Second
	}
	cfg, cleanup, err := loadConfig(ctx, o)
	defer cleanup()
	if err != nil || o.CheckConfig {
		return err
	}
	s, err := start(ctx, o, cfg)
	if err != nil {
		return err
	}
	return s.shutdown(s.loop(ctx, cfg))
}

// loadConfig reads the config (or starts the demo's lab and makes its
// config) and applies the flags over it; with --check-config it prints
// the verdict. cleanup stops the demo's lab; it is never nil.
func loadConfig(ctx context.Context, o Options) (cfg *config.Config, cleanup func(), err error) {
	cleanup = func() {}
	if o.Demo && o.ConfigPath != "" {
		return nil, cleanup, &ConfigError{errors.New("serve: --demo and --config exclude each other")}
	}
	if !o.Demo && o.ConfigPath == "" {
		return nil, cleanup, &ConfigError{errors.New("serve: no config: give --config FILE, or --demo to probe the built-in lab")}
	}
	var demoDir string
	if o.Demo {
		if o.CheckConfig {
			return nil, cleanup, &ConfigError{errors.New("serve: --check-config needs --config FILE")}
		}
		dir, err := os.MkdirTemp("", "pathlens-demo-")
		if err != nil {
			return nil, cleanup, err
		}
		demoDir, cleanup = dir, func() { os.RemoveAll(dir) }
		l, err := lab.Start(ctx, lab.Options{Dir: filepath.Join(dir, "lab")})
		if err != nil {
			return nil, cleanup, fmt.Errorf("serve --demo: lab: %w", err)
		}
		cleanup = func() { l.Close(); os.RemoveAll(dir) }
		cfg = demo.MustConfig(l.Manifest())
	} else {
		c, err := config.Load(o.ConfigPath)
		if err != nil {
			return nil, cleanup, &ConfigError{err}
		}
		cfg = c
	}
	if err := applyOverrides(cfg, o, demoDir); err != nil {
		return nil, cleanup, &ConfigError{err}
	}
	if o.Pprof && cfg.Auth.Token == "" {
		return nil, cleanup, &ConfigError{errors.New("serve: --pprof needs auth.token_file in the config: the profiles show the process's memory")}
	}
	if o.CheckConfig {
		fmt.Fprintf(o.Stdout, "%s: ok: %d targets, %d modules, listen %s, storage %s\n", cfg.Path, len(cfg.Targets), len(cfg.Modules), cfg.Listen, cfg.Storage.Path)
	}
	return cfg, cleanup, nil
}

// start opens the store, restores the last hour into the UI's state,
// starts the HTTP server and the scheduler, and says where it listens.
func start(ctx context.Context, o Options, cfg *config.Config) (*server, error) {
	st, err := store.Open(cfg.Storage.Path)
	if err != nil {
		// A damaged database or one another pathlens holds is for the
		// operator to resolve, like a bad config: exit 3 with the store's
		// own message, which names the file and what to do.
		var corrupt *store.CorruptError
		var inUse *store.InUseError
		if errors.As(err, &corrupt) || errors.As(err, &inUse) {
			return nil, &ConfigError{fmt.Errorf("serve: %w", err)}
		}
		return nil, fmt.Errorf("serve: storage %s: %w", cfg.Storage.Path, err)
	}
	s := &server{o: o, log: o.Logger, store: st, metrics: metrics.New(), state: web.NewState(), verify: &probe.VerifyCache{}}
	s.cfg.Store(cfg)
	s.writer = store.NewWriter(st, 200, time.Second, func(format string, args ...any) {
		s.log.Error(fmt.Sprintf(format, args...))
	})
	s.metrics.SetStoreWriteErrors(s.writer.FailedBatches)
	s.sched = sched.New(o.Clock, cfg.Defaults.Concurrency)
	registerSchedStats(s.metrics.Registry(), s.sched)
	s.metrics.SetModuleOptions(moduleMetrics(cfg.Modules))
	s.metrics.SetSLOs(sloTargets(cfg))
	s.metrics.SetTargetLabels(targetLabels(cfg))
	applyMemoryLimit(cfg)
	s.alerts, err = alert.New(cfg.AlertConfig(), s.log)
	if err != nil { // the config was checked: only a token file gone since
		s.writer.Close()
		st.Close()
		return nil, &ConfigError{fmt.Errorf("serve: %w", err)}
	}
	s.metrics.SetAlertStats(alertStats(s.alerts))
	s.events = web.NewEvents(s.state, s.alerts)
	rw, err := remotewrite.New(cfg.RemoteWrite, s.log)
	if err != nil { // checked at load: only a token file gone since
		s.alerts.Close()
		s.writer.Close()
		st.Close()
		return nil, &ConfigError{fmt.Errorf("serve: %w", err)}
	}
	s.rw.Store(rw)
	s.metrics.SetRemoteWriteStats(func() metrics.RemoteWriteStats {
		st := s.rw.Load().Stats()
		return metrics.RemoteWriteStats{Samples: st.Samples, Failed: st.Failed, Dropped: st.Dropped}
	})
	go s.alerts.Run(context.WithoutCancel(ctx)) // Close in shutdown stops it
	names := make([]string, 0, len(cfg.Targets))
	for _, t := range cfg.Targets {
		names = append(names, t.Name)
	}
	if err := s.state.Restore(ctx, st, names, time.Now()); err != nil {
		s.log.Warn("could not restore the last hour from storage", "error", err)
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		s.alerts.Close()
		s.rw.Load().Close()
		s.writer.Close()
		st.Close()
		return nil, fmt.Errorf("serve: listen %s: %w", cfg.Listen, err)
	}
	handler := web.New(web.Deps{
		Config:      s.cfg.Load,
		Store:       st,
		State:       s.state,
		Metrics:     s.metrics.Handler(),
		Probe:       s.probeOnce,
		Version:     o.Version,
		Logf:        func(format string, args ...any) { s.log.Info(fmt.Sprintf(format, args...)) },
		Health:      s.writer.Health,
		Alerts:      s.alerts,
		Pprof:       o.Pprof,
		Events:      s.events,
		ReloadError: s.reloadError,
	})
	s.srv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	s.served = make(chan error, 1)
	go func() { s.served <- s.srv.Serve(ln) }()

	// SIGHUP is caught before anyone is told the server is up, so a reload
	// signal sent right after Ready can never kill the process.
	s.hup = make(chan os.Signal, 1)
	signal.Notify(s.hup, syscall.SIGHUP)

	addr := ln.Addr().String()
	fmt.Fprintf(o.Stdout, "pathlens serve: %d targets, UI at http://%s/  (metrics /metrics, probe /probe)\n", len(cfg.Targets), addr)
	if o.Ready != nil {
		o.Ready(addr)
	}
	s.sched.Set(s.jobs(cfg))
	return s, nil
}

// loop prunes the store on its cadence and starts reloads on SIGHUP until
// ctx is cancelled or the HTTP server stops; it returns the server's error.
func (s *server) loop(ctx context.Context, cfg *config.Config) error {
	pruneEvery := min(cfg.Storage.Retention/10, 10*time.Minute)
	pruneTicker := time.NewTicker(pruneEvery)
	defer pruneTicker.Stop()
	budgetTicker := time.NewTicker(budgetEvery)
	defer budgetTicker.Stop()
	// At most one budget refresh at a time, off the loop; cancelled and
	// waited for on the way out, before shutdown closes the store.
	bctx, bcancel := context.WithCancel(ctx)
	var budgets sync.WaitGroup
	var refreshing atomic.Bool
	defer func() { bcancel(); budgets.Wait() }()
	refresh := func() {
		if !refreshing.CompareAndSwap(false, true) {
			return
		}
		budgets.Add(1)
		go func() { defer budgets.Done(); defer refreshing.Store(false); s.refreshBudgets(bctx) }()
	}
	s.prune(ctx)
	refresh()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.hup:
			// Off the loop: a slow load must never hold up shutdown.
			s.reloads.Add(1)
			go func() { defer s.reloads.Done(); s.Reload() }()
		case <-pruneTicker.C:
			s.prune(ctx)
		case <-budgetTicker.C:
			refresh()
		case err := <-s.served:
			return err
		}
	}
}

// shutdown stops reloads, the HTTP server and the scheduler (each within
// the grace period), then flushes the writer and closes the store.
func (s *server) shutdown(serveErr error) error {
	signal.Stop(s.hup)
	s.reload.Lock()
	s.closing = true // a reload still loading its file will not apply it
	s.reload.Unlock()
	s.log.Info("shutting down", "grace", s.o.Grace)
	shutCtx, cancel := context.WithTimeout(context.Background(), s.o.Grace)
	defer cancel()
	s.events.Close() // Shutdown waits for handlers; an event stream's would not end
	_ = s.srv.Shutdown(shutCtx)
	s.sched.Stop(s.o.Grace)
	waitFor(&s.reloads, s.o.Grace) // a reload stuck reading its file is left behind, not waited on forever
	s.alerts.Close()
	s.rw.Load().Close()
	werr := s.writer.Close()
	cerr := s.store.Close()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return errors.Join(werr, cerr)
}

// waitFor waits for wg, at most d.
func waitFor(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

func applyOverrides(cfg *config.Config, o Options, demoDir string) error {
	if o.Listen != "" {
		cfg.Listen = o.Listen
	}
	if o.DB != "" {
		cfg.Storage.Path = o.DB
	}
	if cfg.Storage.Path == "" && demoDir != "" {
		cfg.Storage.Path = filepath.Join(demoDir, "pathlens.db")
	}
	if err := config.CheckListen(cfg.Listen, cfg.Auth.Token != ""); err != nil {
		return fmt.Errorf("serve: --listen: %w", err)
	}
	return nil
}

// jobs turns the config's targets into scheduler jobs. Each target's
// ResumptionMemory (kept across reloads by name) goes into its options
// at each run, so scheduled probes test TLS resumption every
// tls.resumption_check_every instead of on every run; the options
// themselves stay shared by the module's targets (config.Target.Options).
// Callers hold s.reload or run before the server starts.
func (s *server) jobs(cfg *config.Config) []sched.Job {
	out := make([]sched.Job, 0, len(cfg.Targets))
	mems := make(map[string]*probe.ResumptionMemory, len(cfg.Targets))
	for _, t := range cfg.Targets {
		var m *probe.ResumptionMemory
		if !t.Options.SkipResumptionCheck {
			every := probe.DefaultResumptionEvery
			if mod := cfg.Modules[t.Module]; mod != nil {
				every = mod.TLS.ResumptionEvery
			}
			m = s.resumption[t.Name]
			if m == nil || m.Every != every {
				m = &probe.ResumptionMemory{Every: every}
			}
			mems[t.Name] = m
		}
		out = append(out, sched.Job{Key: t.Name, Interval: t.Interval, Run: func(ctx context.Context) { s.runTarget(ctx, t, m) }})
	}
	s.resumption = mems
	return out
}

// runTarget probes one target and hands the Result to every consumer.
// The options are copied per run (a few hundred bytes, next to a probe's
// tens of kilobytes) to carry the target's ResumptionMemory.
func (s *server) runTarget(ctx context.Context, t *config.Target, m *probe.ResumptionMemory) {
	opts := *t.Options
	opts.Resumption, opts.VerifyCache = m, s.verify
	r := engine.Check(ctx, t.Parsed, &opts)
	if ctx.Err() != nil && r.Error != nil && r.Error.Class == probe.ClassCanceled {
		return // shutting down or removed: not a measurement
	}
	s.writer.Add(store.Record{Target: t.Name, Module: t.Module, Result: r})
	s.metrics.Observe(t.Name, t.Module, r)
	prior := s.events.Before(t.Name)
	s.state.Record(t.Name, t.Module, r, 0)
	s.alerts.Observe(t.Name, t.Module, t.Labels, r)
	s.events.After(prior, t.Name, r)
	s.rw.Load().Observe(t.Name, t.Module, t.Labels, r)
}

// probeOnce serves /probe: one probe of an arbitrary (allowed) target.
func (s *server) probeOnce(ctx context.Context, target, module string) (*probe.Result, error) {
	cfg := s.cfg.Load()
	t, err := probe.ParseTarget(target)
	if err != nil {
		return nil, err
	}
	// The handler put the scrape's budget on ctx; make it the probe's own
	// budget so a timeout names the phase in flight.
	var budget time.Duration
	if dl, ok := ctx.Deadline(); ok {
		budget = time.Until(dl).Round(time.Millisecond) // the scrape timeout as given, not a few µs short
	}
	opts, err := cfg.ModuleOptions(module, budget)
	if err != nil {
		return nil, err
	}
	name := module
	if name == "" {
		name = config.DefaultModule
	}
	if err := cfg.Modules[name].Accepts(t); err != nil {
		return nil, err
	}
	// The allow list holds for every hop, not just the first: a redirect
	// from an allowed host must not turn /probe into a relay to any other.
	pe := cfg.ProbeEndpoint
	opts.CheckRedirect = func(next *url.URL) error {
		if !pe.Allowed(next.String()) {
			return errors.New("it matches no probe_endpoint.allow pattern")
		}
		return nil
	}
	opts.DenyNetworks = pe.DenyNetworks
	opts.VerifyCache = s.verify
	if !opts.SkipResumptionCheck {
		opts.Resumption = s.probeMem.get(name, target, cfg.Modules[name].TLS.ResumptionEvery)
	}
	return engine.Check(ctx, t, opts), nil
}

// Reload re-reads the config file. A bad file is logged and the running
// config stays; a good one replaces targets and modules.
//
// The file is read and checked without holding the lock, so a slow file
// never blocks shutdown; a SIGHUP that arrives while one reload is still
// reading is dropped with a log line (the running reload reads the file
// as it is then).
func (s *server) Reload() {
	if s.o.ConfigPath == "" {
		s.log.Info("SIGHUP: nothing to reload (built-in --demo config)")
		return
	}
	if !s.loading.CompareAndSwap(false, true) {
		s.log.Warn("SIGHUP: a reload is already reading the config; this one is dropped")
		return
	}
	cfg, err := config.Load(s.o.ConfigPath)
	s.loading.Store(false)
	if err == nil {
		err = applyOverrides(cfg, s.o, "")
	}
	s.reload.Lock()
	defer s.reload.Unlock()
	if s.closing {
		return
	}
	old := s.cfg.Load()
	if err == nil && (cfg.Listen != old.Listen || cfg.Storage.Path != old.Storage.Path) {
		err = errors.New("listen and storage.path cannot change on reload; restart instead")
	}
	var rw *remotewrite.Writer
	if err == nil && !slices.Equal(cfg.RemoteWrite, old.RemoteWrite) {
		rw, err = remotewrite.New(cfg.RemoteWrite, s.log)
	}
	if err == nil {
		err = s.alerts.Reload(cfg.AlertConfig())
	}
	if err != nil && rw != nil {
		rw.Close()
	}
	if err != nil {
		s.log.Error("reload failed; keeping the running config", "error", err)
		s.reloadFail.Store(&reloadFailure{at: time.Now(), err: err})
		return
	}
	s.reloadFail.Store(nil)
	s.metrics.SetModuleOptions(moduleMetrics(cfg.Modules))
	s.metrics.SetSLOs(sloTargets(cfg))
	s.metrics.SetTargetLabels(targetLabels(cfg))
	applyMemoryLimit(cfg)
	if rw != nil {
		s.rw.Swap(rw).Close() // runs under way may still Observe the old one: a no-op once closed
	}
	s.sched.Set(s.jobs(cfg))
	keep := map[string]bool{}
	for _, t := range cfg.Targets {
		keep[t.Name] = true
	}
	for _, t := range old.Targets {
		if !keep[t.Name] {
			s.metrics.Forget(t.Name)
			s.state.Forget(t.Name)
			s.alerts.Forget(t.Name)
		}
	}
	s.cfg.Store(cfg)
	s.log.Info("config reloaded", "targets", len(cfg.Targets))
}

func (s *server) prune(ctx context.Context) {
	cfg := s.cfg.Load()
	now := time.Now()
	n, err := s.store.PruneKeeping(ctx, now.Add(-cfg.Storage.Retention), statusRollupsKept(cfg, now, rollupsKept(cfg, now)))
	if err != nil {
		s.log.Error("prune failed", "error", err)
	} else if n > 0 {
		s.log.Info("pruned old results", "results", n)
	}
}
