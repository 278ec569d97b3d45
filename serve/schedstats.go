package serve

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pathlens/pathlens/serve/config"
	"github.com/pathlens/pathlens/serve/metrics"
	"github.com/pathlens/pathlens/serve/sched"
)

// Scheduler series on /metrics: whether runs start on time is what a
// loaded instance shows first (docs/serve.md#metrics).
const (
	nameSchedOnTime  = "pathlens_scheduler_runs_on_time_total"
	nameSchedLate    = "pathlens_scheduler_runs_late_total"
	nameSchedSkipped = "pathlens_scheduler_runs_skipped_total"
	nameSchedWaiting = "pathlens_scheduler_runs_waiting"
	nameSchedRunning = "pathlens_scheduler_runs_running"
	nameSchedMaxLate = "pathlens_scheduler_max_lateness_seconds"
)

// registerSchedStats adds the scheduler's counters to the exporter's
// registry, read from s at each scrape.
func registerSchedStats(reg *prometheus.Registry, s *sched.Scheduler) {
	stat := func(f func(sched.Stats) float64) func() float64 {
		return func() float64 { return f(s.Stats()) }
	}
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: nameSchedOnTime,
			Help: "Scheduled runs that started within 1 s of their slot."},
			stat(func(st sched.Stats) float64 { return float64(st.OnTime) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: nameSchedLate,
			Help: "Scheduled runs that started more than 1 s after their slot (every worker was busy: raise defaults.concurrency or lengthen intervals)."},
			stat(func(st sched.Stats) float64 { return float64(st.Late) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: nameSchedSkipped,
			Help: "Slots skipped because the target's previous run, or its wait for a worker, was still going."},
			stat(func(st sched.Stats) float64 { return float64(st.Skipped) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: nameSchedWaiting,
			Help: "Due runs waiting for a worker."},
			stat(func(st sched.Stats) float64 { return float64(st.Waiting) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: nameSchedRunning,
			Help: "Scheduled runs in progress."},
			stat(func(st sched.Stats) float64 { return float64(st.Running) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: nameSchedMaxLate,
			Help: "The greatest start delay of a scheduled run since serve started, in seconds."},
			stat(func(st sched.Stats) float64 { return st.MaxLate.Seconds() })),
	)
}

// moduleMetrics is the exporter's view of the modules' metrics sections.
func moduleMetrics(mods map[string]*config.Module) map[string]metrics.ModuleMetrics {
	out := make(map[string]metrics.ModuleMetrics, len(mods))
	for name, m := range mods {
		out[name] = metrics.ModuleMetrics(m.Metrics)
	}
	return out
}
