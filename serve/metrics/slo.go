package metrics

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pathlens/pathlens/probe"
)

// The SLO series (docs/alerting.md#slos), only for targets that set an
// objective: counters from which Prometheus computes burn rates over any
// window (deploy/alerts.yml), and the error budget left over the SLO's own
// window as pathlens computes it from its history.
const (
	NameSLOObjective       = "pathlens_slo_objective_ratio"
	NameSLORuns            = "pathlens_slo_runs_total"
	NameSLOGoodRuns        = "pathlens_slo_good_runs_total"
	NameSLOBudgetRemaining = "pathlens_slo_error_budget_remaining_ratio"
)

// SLO is what the Exporter needs of a target's objective.
type SLO struct {
	Objective float64       // e.g. 0.999
	Latency   time.Duration // 0: a successful run is good whatever its duration
}

// Good reports whether r counts as a good run under s: it succeeded, and
// within the latency bound when there is one.
func (s SLO) Good(r *probe.Result) bool {
	return r.Success && (s.Latency <= 0 || r.TotalMS <= float64(s.Latency)/float64(time.Millisecond))
}

type sloSeries struct {
	module    string
	slo       SLO
	runs      uint64
	good      uint64
	remaining float64 // NaN until SetErrorBudget
}

// sloCollector holds the SLO series; SLO targets are few and opt-in, so a
// plain collector on the Exporter's registry serves them.
type sloCollector struct {
	mu      sync.Mutex
	targets map[string]*sloSeries

	objective, runs, good, remaining *prometheus.Desc
}

func newSLOCollector() *sloCollector {
	l := []string{"target", "module"}
	return &sloCollector{
		targets:   map[string]*sloSeries{},
		objective: prometheus.NewDesc(NameSLOObjective, "The target's availability objective (slo.objective) as a ratio.", l, nil),
		runs:      prometheus.NewDesc(NameSLORuns, "Runs of a target with an objective.", l, nil),
		good:      prometheus.NewDesc(NameSLOGoodRuns, "Runs that count as good under the target's objective: succeeded, within slo.latency when set.", l, nil),
		remaining: prometheus.NewDesc(NameSLOBudgetRemaining, "Share of the error budget left over the objective's window (slo.window), from the stored history; negative once overspent.", l, nil),
	}
}

func (c *sloCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.objective
	ch <- c.runs
	ch <- c.good
	ch <- c.remaining
}

func (c *sloCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := make([]string, 0, len(c.targets))
	for n := range c.targets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := c.targets[n]
		ch <- prometheus.MustNewConstMetric(c.objective, prometheus.GaugeValue, s.slo.Objective, n, s.module)
		ch <- prometheus.MustNewConstMetric(c.runs, prometheus.CounterValue, float64(s.runs), n, s.module)
		ch <- prometheus.MustNewConstMetric(c.good, prometheus.CounterValue, float64(s.good), n, s.module)
		if !math.IsNaN(s.remaining) {
			ch <- prometheus.MustNewConstMetric(c.remaining, prometheus.GaugeValue, s.remaining, n, s.module)
		}
	}
}

// SetSLOs sets the targets that have an objective, by name, with their
// modules: their series appear at once (counters at 0), those of targets
// no longer listed are dropped, and a target whose module or objective
// changed starts its counters again.
func (e *Exporter) SetSLOs(slos map[string]SLO, modules map[string]string) {
	c := e.slo
	c.mu.Lock()
	defer c.mu.Unlock()
	for n, s := range c.targets {
		if nw, ok := slos[n]; !ok || nw != s.slo || modules[n] != s.module {
			delete(c.targets, n)
		}
	}
	for n, s := range slos {
		if c.targets[n] == nil {
			c.targets[n] = &sloSeries{module: modules[n], slo: s, remaining: math.NaN()}
		}
	}
}

// SetErrorBudget sets the share of target's error budget left over its
// SLO window (1 - bad share / (1 - objective)); ignored for a target
// without an objective.
func (e *Exporter) SetErrorBudget(target string, remaining float64) {
	c := e.slo
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.targets[target]; s != nil {
		s.remaining = remaining
	}
}

// observeSLO counts r for target when it has an objective.
func (c *sloCollector) observe(target string, r *probe.Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.targets[target]
	if s == nil {
		return
	}
	s.runs++
	if s.slo.Good(r) {
		s.good++
	}
}
