package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pathlens/pathlens/probe"
)

// ModuleMetrics are a module's opt-in per-target series. The zero value is
// the default, sized for 100,000 targets: per-module distributions, and per
// target its success, runs, last duration, findings and certificates
// (docs/serve.md#metrics has the bytes each costs).
type ModuleMetrics struct {
	// PerTargetHistograms adds pathlens_probe_duration_seconds{target,module}
	// and pathlens_probe_phase_duration_seconds{target,module,phase} for
	// every target of the module: 18 series per histogram, about 10 KB of
	// exposition per target.
	PerTargetHistograms bool
	// PerTargetPhases adds pathlens_probe_last_phase_duration_seconds
	// {target,module,phase}: the completed phases of each target's latest
	// run, one series per phase (about 100 bytes each).
	PerTargetPhases bool
	// LastRunTimestamp adds pathlens_probe_last_run_timestamp_seconds
	// {target,module}. By default a stalled schedule shows as
	// pathlens_probe_runs_total no longer changing.
	LastRunTimestamp bool
	// TLSResumed adds pathlens_tls_handshake_resumed{target,module}. By
	// default a session that does not resume shows as the finding
	// TLS_NO_RESUMPTION.
	TLSResumed bool
}

// moduleState is what the Exporter shares between the targets of one
// module.
type moduleState struct {
	name string
	n    int // targets of the module; guarded by Exporter.mu
}

// moduleMetrics are the per-module families, on the Exporter's registry:
// their cardinality is modules × phases, whatever the number of targets.
//
// The distributions are classic histograms on DurationBuckets, not native
// ones: /metrics is served in the text format (expose.go), which cannot
// carry native histograms, and at a few hundred series per module the
// buckets cost nothing worth saving; they also aggregate across modules
// and query the same way as the per-target histograms of earlier versions.
type moduleMetrics struct {
	duration *prometheus.HistogramVec
	phase    *prometheus.HistogramVec
	errs     *prometheus.CounterVec
}

func (m *moduleMetrics) register(reg *prometheus.Registry) {
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    NameModuleProbeDuration,
		Help:    "Total duration of the module's probe runs in seconds, failed runs included (all targets of the module).",
		Buckets: DurationBuckets,
	}, []string{"module"})
	m.phase = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    NameModulePhaseDuration,
		Help:    "Duration of completed probe phases of the module's runs in seconds (all targets of the module; phase names as in the JSON result).",
		Buckets: DurationBuckets,
	}, []string{"module", "phase"})
	m.errs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: NameModuleProbeErrors,
		Help: "Failed probe runs of the module's targets by error class (dns, connect, tls, http, protocol, timeout, canceled, config, other).",
	}, []string{"module", "class"})
	reg.MustRegister(m.duration, m.phase, m.errs)
}

// add creates the series of a new module: every error class from 0, so
// that rate() and increase() see the first error of a class.
func (m *moduleMetrics) add(module string) {
	m.duration.WithLabelValues(module)
	for _, c := range errorClasses {
		m.errs.WithLabelValues(module, string(c))
	}
	m.errs.WithLabelValues(module, ClassOther)
}

func (m *moduleMetrics) observe(module string, r *probe.Result) {
	m.duration.WithLabelValues(module).Observe(micros(r.TotalMS))
	for _, p := range r.Phases {
		if !p.Incomplete && p.Name != "" { // as observeDurations
			m.phase.WithLabelValues(module, p.Name).Observe(micros(p.DurationMS))
		}
	}
	if !r.Success {
		m.errs.WithLabelValues(module, errorClass(r)).Inc()
	}
}

// forget drops the series of a module that has no targets left.
func (m *moduleMetrics) forget(module string) {
	l := prometheus.Labels{"module": module}
	m.duration.DeletePartialMatch(l)
	m.phase.DeletePartialMatch(l)
	m.errs.DeletePartialMatch(l)
}
