// Package metrics is the Prometheus side of `pathlens serve` (docs/serve.md#metrics).
//
// Two views of a probe.Result live here:
//
//   - Exporter keeps the pathlens_ series of the scheduled probes on its own
//     registry and serves them on /metrics. Every series carries
//     {target,module}; Observe updates them from each run and Forget drops a
//     target that a config reload removed.
//   - BlackboxRegistry builds a fresh registry for one /probe request, in
//     blackbox_exporter's names and semantics, so existing blackbox
//     dashboards and alerts keep working.
//
// Like every consumer of a Result, this package only reads it: probers never
// touch metrics.
package metrics

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pathlens/pathlens/probe"
)

// Metric names (docs/serve.md#metrics: the first six are the contract's; the rest are additions).
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
// initialised to 0 for every target so that rate() and increase() see the
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
// Fifteen buckets per series keeps the cost per target × phase moderate.
var DurationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// Exporter holds the pathlens_ series for scheduled probes, on its own
// registry (not the global one). It is safe for concurrent use.
type Exporter struct {
	reg *prometheus.Registry

	success  *prometheus.GaugeVec
	duration *prometheus.HistogramVec
	phase    *prometheus.HistogramVec
	runs     *prometheus.CounterVec
	errs     *prometheus.CounterVec
	finding  *prometheus.GaugeVec
	notAfter *prometheus.GaugeVec
	lastRun  *prometheus.GaugeVec
	resumed  *prometheus.GaugeVec
	grpcMsgs *prometheus.CounterVec
	h2Stall  *prometheus.CounterVec
	ws       wsMetrics // ws.go

	// storeErrs reads the store writer's failed batches for
	// pathlens_store_write_errors_total; nil until SetStoreWriteErrors.
	storeErrs atomic.Pointer[func() int64]

	mu      sync.Mutex
	targets map[string]*targetState
}

// targetState is what the Exporter remembers of a target to delete series
// that a later run no longer shows.
type targetState struct {
	module   string
	findings map[findingKey]bool
	subjects map[string]bool
}

type findingKey struct{ id, severity string }

// New returns an Exporter with a fresh registry that already holds the
// pathlens_ collectors and the Go and process collectors (do not register
// those again).
func New() *Exporter {
	tm := []string{"target", "module"}
	e := &Exporter{
		reg:     prometheus.NewRegistry(),
		targets: map[string]*targetState{},
		success: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: NameProbeSuccess,
			Help: "Whether the latest run of the probe succeeded (1) or failed (0).",
		}, tm),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    NameProbeDuration,
			Help:    "Total duration of probe runs in seconds, failed runs included.",
			Buckets: DurationBuckets,
		}, tm),
		phase: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    NameProbePhaseDuration,
			Help:    "Duration of completed probe phases in seconds (phase names as in the JSON result).",
			Buckets: DurationBuckets,
		}, []string{"target", "module", "phase"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameProbeRuns,
			Help: "Probe runs by result (success or failure).",
		}, []string{"target", "module", "result"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameProbeErrors,
			Help: "Failed probe runs by error class (dns, connect, tls, http, protocol, timeout, canceled, config, other).",
		}, []string{"target", "module", "class"}),
		finding: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: NameFindingActive,
			Help: "1 while the latest run of the probe shows the finding; the series is absent otherwise.",
		}, []string{"target", "module", "id", "severity"}),
		notAfter: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: NameTLSCertNotAfter,
			Help: "NotAfter of each certificate of the chain the server sent, as a Unix timestamp in seconds.",
		}, []string{"target", "module", "subject"}),
		lastRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: NameProbeLastRun,
			Help: "Unix time in seconds at which the latest run of the probe started.",
		}, tm),
		resumed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: NameTLSResumed,
			Help: "Whether a second TLS connection resumed the session (1) or needed a full handshake (0); present only when tested.",
		}, tm),
	}
	e.grpcMsgs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: NameGRPCMessages,
		Help: "gRPC response messages received by grpc/grpcs probes, failed runs included.",
	}, tm)
	e.reg.MustRegister(e.grpcMsgs)
	e.h2Stall = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: NameH2StallSeconds,
		Help: "Seconds HTTP/2 senders waited on a closed flow-control window (stalls over 100 ms), by direction: send (the probe waited on the server), recv (the server waited on the probe).",
	}, []string{"target", "module", "direction"})
	e.reg.MustRegister(e.h2Stall)
	e.ws.register(e.reg)
	e.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: NameStoreWriteErrors,
		Help: "Batches of results the history database failed to write; their results are lost (the log and /healthz say why).",
	}, func() float64 {
		if f := e.storeErrs.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	}))
	e.reg.MustRegister(e.success, e.duration, e.phase, e.runs, e.errs,
		e.finding, e.notAfter, e.lastRun, e.resumed,
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

// Registry returns the Exporter's registry (pathlens_, go_ and process_
// collectors).
func (e *Exporter) Registry() *prometheus.Registry { return e.reg }

// Handler serves the registry in the Prometheus exposition formats, with
// promhttp's own request counters. An error collecting one metric is logged
// into promhttp_metric_handler_errors_total and the rest are still served.
func (e *Exporter) Handler() http.Handler {
	return promhttp.InstrumentMetricHandler(e.reg, promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{
		Registry:      e.reg,
		ErrorHandling: promhttp.ContinueOnError,
	}))
}

// Observe updates every series of (target, module) from one Result. A nil
// Result is ignored. When a target shows up under another module than
// before (a config reload changed it), its old series are dropped first.
func (e *Exporter) Observe(target, module string, r *probe.Result) {
	if r == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()

	st := e.targets[target]
	if st != nil && st.module != module {
		e.forgetLocked(target)
		st = nil
	}
	if st == nil {
		st = &targetState{module: module, findings: map[findingKey]bool{}, subjects: map[string]bool{}}
		e.targets[target] = st
		// Counters start at 0 so that the first failure is an increase.
		e.runs.WithLabelValues(target, module, ResultSuccess)
		e.runs.WithLabelValues(target, module, ResultFailure)
		for _, c := range errorClasses {
			e.errs.WithLabelValues(target, module, string(c))
		}
	}

	started := r.StartedAt
	if started.IsZero() {
		started = time.Now()
	}
	e.lastRun.WithLabelValues(target, module).Set(float64(started.UnixNano()) / 1e9)
	e.success.WithLabelValues(target, module).Set(boolFloat(r.Success))
	e.duration.WithLabelValues(target, module).Observe(r.TotalMS / 1000)
	for _, p := range r.Phases {
		// A phase cut short by a timeout or error measures the budget or
		// the failure, not the phase: it would drag the quantiles of the
		// healthy phase. Failures are counted in errors_total instead.
		if p.Incomplete || p.Name == "" {
			continue
		}
		e.phase.WithLabelValues(target, module, p.Name).Observe(p.DurationMS / 1000)
	}
	if r.Success {
		e.runs.WithLabelValues(target, module, ResultSuccess).Inc()
	} else {
		e.runs.WithLabelValues(target, module, ResultFailure).Inc()
		e.errs.WithLabelValues(target, module, errorClass(r)).Inc()
	}

	e.observeFindings(st, target, module, r)
	e.observeCerts(st, target, module, r)
	e.observeResumption(target, module, r)
	e.observeGRPC(target, module, r)
	e.observeH2(target, module, r)
	e.ws.observe(target, module, r)
}

// observeH2 adds a run's HTTP/2 flow-control stall time per direction.
// Both direction series exist (from 0) for every target that has run over
// HTTP/2, so rate() sees the first stall.
func (e *Exporter) observeH2(target, module string, r *probe.Result) {
	if r.H2 == nil {
		return
	}
	var secs [2]float64
	for _, st := range r.H2.Stalls {
		switch st.Dir {
		case probe.H2Send:
			secs[0] += max(st.DurationMS, 0) / 1000
		case probe.H2Recv:
			secs[1] += max(st.DurationMS, 0) / 1000
		}
	}
	e.h2Stall.WithLabelValues(target, module, probe.H2Send).Add(secs[0])
	e.h2Stall.WithLabelValues(target, module, probe.H2Recv).Add(secs[1])
}

// observeGRPC counts a gRPC probe's response messages. The series exists
// (from 0) for every target that has run a gRPC probe, so rate() sees the
// first messages.
func (e *Exporter) observeGRPC(target, module string, r *probe.Result) {
	if r.GRPC == nil {
		return
	}
	e.grpcMsgs.WithLabelValues(target, module).Add(float64(max(r.GRPC.Messages, 0)))
}

// observeFindings sets pathlens_finding_active to 1 for each finding of the
// latest run and DELETES the series of findings that run no longer shows.
//
// Why delete instead of setting 0: the natural alert is
// `pathlens_finding_active{severity="critical"} == 1`, and a table of active
// findings is just the series that exist. Zero-valued leftovers would pile
// up forever (one per finding a target ever had, per severity it had), make
// `count(pathlens_finding_active)` and dashboard tables lie, and force every
// query to add `== 1`. An absent series resolves the alert just the same,
// and `absent()`/`unless` still work for "gone" checks.
func (e *Exporter) observeFindings(st *targetState, target, module string, r *probe.Result) {
	now := make(map[findingKey]bool, len(r.Findings))
	for _, f := range r.Findings {
		if f.ID == "" {
			continue
		}
		k := findingKey{f.ID, string(f.Severity)}
		now[k] = true
		e.finding.WithLabelValues(target, module, k.id, k.severity).Set(1)
	}
	for k := range st.findings {
		if !now[k] {
			e.finding.DeleteLabelValues(target, module, k.id, k.severity)
		}
	}
	st.findings = now
}

// observeCerts exports NotAfter per certificate of the chain as sent.
// A Result that carries a chain replaces the target's subjects (stale ones
// are deleted). A failed Result without a chain (refused, DNS failure, …)
// says nothing about the certificate, so the last known values stay —
// dropping them would flap every expiry alert with each outage. A
// successful Result without a chain (the target no longer speaks TLS)
// deletes them.
func (e *Exporter) observeCerts(st *targetState, target, module string, r *probe.Result) {
	var chain []probe.Cert
	if r.TLS != nil {
		chain = r.TLS.Chain
	}
	if len(chain) == 0 && !r.Success {
		return
	}
	now := map[string]float64{}
	for _, c := range chain {
		if c.NotAfter.IsZero() {
			continue
		}
		ts := float64(c.NotAfter.Unix())
		// Two certificates with one subject (a cross-signed intermediate
		// sent twice) share a series: the earlier expiry is the one to watch.
		if old, ok := now[c.Subject]; !ok || ts < old {
			now[c.Subject] = ts
		}
	}
	for s, ts := range now {
		e.notAfter.WithLabelValues(target, module, s).Set(ts)
	}
	for s := range st.subjects {
		if _, ok := now[s]; !ok {
			e.notAfter.DeleteLabelValues(target, module, s)
		}
	}
	st.subjects = make(map[string]bool, len(now))
	for s := range now {
		st.subjects[s] = true
	}
}

// observeResumption sets pathlens_tls_handshake_resumed when the run
// tested resumption. Like the certificates, a failed run that did not test
// it (no budget left, never got to TLS) keeps the last known value, and a
// successful run that did not test it (no TLS, check not run) deletes it.
func (e *Exporter) observeResumption(target, module string, r *probe.Result) {
	if r.TLS != nil && r.TLS.Resumption != nil && r.TLS.Resumption.Tested {
		e.resumed.WithLabelValues(target, module).Set(boolFloat(r.TLS.Resumption.Resumed))
		return
	}
	if !r.Success {
		return
	}
	e.resumed.DeleteLabelValues(target, module)
}

// Forget drops every series of a target (a config reload removed it).
func (e *Exporter) Forget(target string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.forgetLocked(target)
}

func (e *Exporter) forgetLocked(target string) {
	delete(e.targets, target)
	l := prometheus.Labels{"target": target}
	e.success.DeletePartialMatch(l)
	e.duration.DeletePartialMatch(l)
	e.phase.DeletePartialMatch(l)
	e.runs.DeletePartialMatch(l)
	e.errs.DeletePartialMatch(l)
	e.finding.DeletePartialMatch(l)
	e.notAfter.DeletePartialMatch(l)
	e.lastRun.DeletePartialMatch(l)
	e.resumed.DeletePartialMatch(l)
	e.grpcMsgs.DeletePartialMatch(l)
	e.h2Stall.DeletePartialMatch(l)
	e.ws.forget(l)
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
