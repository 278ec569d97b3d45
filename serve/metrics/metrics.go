// Package metrics is the Prometheus side of `pathlens serve` (docs/serve.md#metrics).
//
// Two views of a probe.Result live here:
//
//   - Exporter keeps the pathlens_ series of the scheduled probes and serves
//     them on /metrics: per-target series carrying {target,module} (a
//     compact struct per target, written straight into the text exposition)
//     and per-module distributions carrying {module} (on its own registry).
//     Observe updates them from each run and Forget drops a target that a
//     config reload removed. Per-target histograms are opt-in per module
//     (SetModuleOptions).
//   - BlackboxRegistry builds a fresh registry for one /probe request, in
//     blackbox_exporter's names and semantics, so existing blackbox
//     dashboards and alerts keep working.
//
// Like every consumer of a Result, this package only reads it: probers never
// touch metrics.
package metrics

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/pathlens/pathlens/probe"
)

// Metric names (docs/serve.md#metrics). Of the first six, the two
// per-target histograms are opt-in per module; the rest are additions.
const (
	NameProbeSuccess       = "pathlens_probe_success"
	NameProbeDuration      = "pathlens_probe_duration_seconds"
	NameProbePhaseDuration = "pathlens_probe_phase_duration_seconds"
	NameProbeRuns          = "pathlens_probe_runs_total"
	NameFindingActive      = "pathlens_finding_active"
	NameTLSCertNotAfter    = "pathlens_tls_cert_not_after_timestamp_seconds"
	NameProbeErrors        = "pathlens_probe_errors_total"
	NameProbeLastRun       = "pathlens_probe_last_run_timestamp_seconds"
	NameTLSResumed         = "pathlens_tls_handshake_resumed"
	NameGRPCMessages       = "pathlens_grpc_messages_total"
	NameH2StallSeconds     = "pathlens_h2_stall_seconds_total"
	NameStoreWriteErrors   = "pathlens_store_write_errors_total"

	NameProbeLastDuration      = "pathlens_probe_last_duration_seconds"
	NameProbeLastPhaseDuration = "pathlens_probe_last_phase_duration_seconds"
	NameModuleProbeDuration    = "pathlens_module_probe_duration_seconds"
	NameModulePhaseDuration    = "pathlens_module_phase_duration_seconds"
	NameModuleProbeErrors      = "pathlens_module_probe_errors_total"
)

// Values of the result label of pathlens_probe_runs_total.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
)

// ClassOther is the class label for a failure whose error class is missing
// or not one of the contract's classes, so the label stays bounded.
const ClassOther = "other"

// errorClasses are the contract's error classes (docs/result.md). They are
// initialised to 0 for every module so that rate() and increase() see the
// first error of a class instead of a series that appears already at 1.
var errorClasses = []probe.ErrorClass{
	probe.ClassDNS, probe.ClassConnect, probe.ClassTLS, probe.ClassHTTP,
	probe.ClassProtocol, probe.ClassTimeout, probe.ClassCanceled, probe.ClassConfig,
}

// DurationBuckets are the histogram buckets, in seconds, of the total and
// per-phase probe durations.
//
// Why 0.5 ms … 30 s: the fastest thing measured is a loopback or same-rack
// phase (DNS from a local cache, a TCP connect to 127.0.0.1, a tiny response
// transfer), which takes a few hundred microseconds, so the first bound is
// 0.5 ms — anything below that is "instant" for the questions these
// histograms answer. Intercontinental round trips are 100–300 ms and a TLS
// handshake is 1–3 of them, hence the dense 1-2.5-5 steps through that
// range where p50/p99 actually sit. The default probe budget is 10 s and a
// module may raise it, so 10 s and a last bound of 30 s catch slow and timed
// out runs without a long tail of empty buckets (+Inf catches the rest).
// Fifteen buckets per series keeps the cost per module × phase (and per
// target × phase where a module opts in) moderate.
var DurationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// Exporter holds the pathlens_ series for scheduled probes. It is safe for
// concurrent use.
//
// The per-target families (one or more series per target: success, runs,
// findings, certificates, last values, opt-in histograms) are not
// client_golang metrics: each target's series are fields of one
// targetSeries, and Handler writes them straight into the exposition
// (expose.go). At 100,000 targets a client_golang child per series cost
// gigabytes of labels and buckets and seconds of Gather per scrape. The
// families whose cardinality does not grow with the targets (per-module,
// ws, store, go_, process_, promhttp_) stay on the Exporter's registry.
type Exporter struct {
	reg         *prometheus.Registry // not the global one
	mod         moduleMetrics        // module.go
	ws          wsMetrics            // ws.go
	handlerErrs *prometheus.CounterVec
	slo         *sloCollector    // slo.go
	alerts      alertStats       // alerts.go
	rw          remoteWriteStats // remotewrite.go

	// storeErrs reads the store writer's failed batches for
	// pathlens_store_write_errors_total; nil until SetStoreWriteErrors.
	storeErrs atomic.Pointer[func() int64]

	mu      sync.RWMutex
	targets map[string]*targetSeries
	modules map[string]*moduleState
	opts    map[string]ModuleMetrics
	labels  map[string][]string // each target's own labels (SetTargetLabels)
	sorted  []*targetSeries     // targets by name for scrapes; nil once targets changed
	gen     uint64              // counts changes of targets
}

// New returns an Exporter with a fresh registry that already holds the
// pathlens_ collectors and the Go and process collectors (do not register
// those again).
func New() *Exporter {
	e := &Exporter{
		reg:     prometheus.NewRegistry(),
		targets: map[string]*targetSeries{},
		modules: map[string]*moduleState{},
		slo:     newSLOCollector(),
	}
	e.reg.MustRegister(e.slo)
	e.alerts.register(e.reg)
	e.rw.register(e.reg)
	e.mod.register(e.reg)
	e.ws.register(e.reg)
	e.handlerErrs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "promhttp_metric_handler_errors_total",
		Help: "Total number of internal errors encountered by the promhttp metric handler.",
	}, []string{"cause"})
	e.reg.MustRegister(e.handlerErrs, prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: NameStoreWriteErrors,
		Help: "Batches of results the history database failed to write; their results are lost (the log and /healthz say why).",
	}, func() float64 {
		if f := e.storeErrs.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	}),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return e
}

// SetStoreWriteErrors makes pathlens_store_write_errors_total report
// failed(): how many batches the store writer has failed to commit so far
// (store.Writer.FailedBatches). A history that silently stops growing is
// otherwise only visible in the log; this series lets an alert on
// increase() catch it. Until it is called (or with nil) the series is 0.
func (e *Exporter) SetStoreWriteErrors(failed func() int64) {
	if failed == nil {
		e.storeErrs.Store(nil)
		return
	}
	e.storeErrs.Store(&failed)
}

// SetModuleOptions sets the opt-in series of every module (a module not in
// opts gets the zero ModuleMetrics, the default). It replaces the previous
// options: the opt-in series of a module that no longer asks for them are
// dropped now; those of a module that newly asks for them appear with its
// targets' next runs.
func (e *Exporter) SetModuleOptions(opts map[string]ModuleMetrics) {
	cp := make(map[string]ModuleMetrics, len(opts))
	for m, o := range opts {
		if o != (ModuleMetrics{}) {
			cp[m] = o
		}
	}
	e.updateTargets(func() { e.opts = cp }, func(ts *targetSeries) { ts.dropOptedOut(cp[ts.mod.name]) })
}

// updateTargets runs set under the Exporter's lock, then apply to every
// target's series under that target's own lock, so that scrapes and
// Observes of other targets do not wait for the whole pass.
func (e *Exporter) updateTargets(set func(), apply func(*targetSeries)) {
	e.mu.Lock()
	set()
	all := make([]*targetSeries, 0, len(e.targets))
	for _, ts := range e.targets {
		all = append(all, ts)
	}
	e.mu.Unlock()
	for _, ts := range all {
		ts.mu.Lock()
		apply(ts)
		ts.mu.Unlock()
	}
}

// SetTargetLabels sets each target's own labels (the config's
// targets[].labels), which every per-target series then carries besides
// target and module, so that dashboards and alert rules can select and
// group by them. It replaces the previous labels; a target not in labels
// has none. Identical label sets are stored once.
func (e *Exporter) SetTargetLabels(labels map[string]map[string]string) {
	byTarget := make(map[string][]string, len(labels))
	interned := map[string][]string{}
	for target, set := range labels {
		if len(set) == 0 {
			continue
		}
		names := make([]string, 0, len(set))
		for n := range set {
			names = append(names, n)
		}
		slices.Sort(names)
		pairs := make([]string, 0, 2*len(names))
		for _, n := range names {
			pairs = append(pairs, n, set[n])
		}
		key := strings.Join(pairs, "\x00")
		if p, ok := interned[key]; ok {
			pairs = p
		} else {
			interned[key] = pairs
		}
		byTarget[target] = pairs
	}
	e.updateTargets(func() { e.labels = byTarget }, func(ts *targetSeries) { ts.labels = byTarget[ts.name] })
}

// Registry returns the Exporter's registry: the per-module, ws, store,
// go_, process_ and promhttp_ families. The per-target families are not
// on it; Handler and Gatherer serve both.
func (e *Exporter) Registry() *prometheus.Registry { return e.reg }

// Observe updates every series of (target, module) from one Result. A nil
// Result is ignored. When a target shows up under another module than
// before (a config reload changed it), its old series are dropped first.
// It takes the target's own lock, not the Exporter's, for the update, so
// Observes of different targets and scrapes do not wait on each other.
func (e *Exporter) Observe(target, module string, r *probe.Result) {
	if r == nil {
		return
	}
	e.mu.RLock()
	ts := e.targets[target]
	o := e.opts[module]
	e.mu.RUnlock()
	if ts == nil || ts.mod.name != module {
		ts = e.addTarget(target, module)
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.gone {
		return // forgotten meanwhile: as if this run had come first
	}
	ts.observe(r, o)
	e.mod.observe(module, r)
	e.slo.observe(target, r)
	if r.WS != nil {
		ts.ws = true
		e.ws.observe(target, module, r)
	}
}

// addTarget returns the series of (target, module), creating them and
// dropping those of the target under another module.
func (e *Exporter) addTarget(target, module string) *targetSeries {
	e.mu.Lock()
	defer e.mu.Unlock()
	ts := e.targets[target]
	if ts != nil && ts.mod.name == module {
		return ts // another Observe created it first
	}
	if ts != nil {
		e.forgetLocked(target)
	}
	m := e.modules[module]
	if m == nil {
		m = &moduleState{name: module}
		e.modules[module] = m
		e.mod.add(module)
	}
	m.n++
	ts = newTargetSeries(target, m)
	ts.labels = e.labels[target]
	e.targets[target] = ts
	e.sorted, e.gen = nil, e.gen+1
	return ts
}

// Forget drops every series of a target (a config reload removed it), and
// the per-module series of its module when it was the module's last
// target.
func (e *Exporter) Forget(target string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.forgetLocked(target)
}

func (e *Exporter) forgetLocked(target string) {
	ts := e.targets[target]
	if ts == nil {
		return
	}
	delete(e.targets, target)
	e.sorted, e.gen = nil, e.gen+1
	ts.mu.Lock()
	ts.gone = true // from here no Observe touches ts's module or ws series
	ws := ts.ws
	ts.mu.Unlock()
	if ws {
		e.ws.forget(prometheus.Labels{"target": target})
	}
	if ts.mod.n--; ts.mod.n == 0 {
		delete(e.modules, ts.mod.name)
		e.mod.forget(ts.mod.name)
	}
}

// errorClass is the bounded class label of a failed Result.
func errorClass(r *probe.Result) string {
	if r.Error != nil {
		for _, c := range errorClasses {
			if r.Error.Class == c {
				return string(c)
			}
		}
	}
	return ClassOther
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
