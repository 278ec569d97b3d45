package serve

import (
	"context"
	"os"
	"runtime/debug"
	"time"

	"github.com/pathlens/pathlens/serve/alert"
	"github.com/pathlens/pathlens/serve/config"
	"github.com/pathlens/pathlens/serve/metrics"
)

// alertStats reads m's counters for the metrics.
func alertStats(m *alert.Manager) func() metrics.AlertStats {
	return func() metrics.AlertStats {
		st := m.Stats()
		return metrics.AlertStats{
			AlertsSent: st.AlertsSent, WebhooksSent: st.WebhooksSent,
			AlertmanagerErrors: st.AlertmanagerErrors, WebhookErrors: st.WebhookErrors,
			Dropped: st.Dropped, Firing: m.Firing(),
		}
	}
}

// sloTargets lists the targets of cfg with an objective, for the
// metrics, with their modules.
func sloTargets(cfg *config.Config) (map[string]metrics.SLO, map[string]string) {
	slos, mods := map[string]metrics.SLO{}, map[string]string{}
	for _, t := range cfg.Targets {
		if t.SLO != nil {
			slos[t.Name] = metrics.SLO{Objective: t.SLO.Objective, Latency: t.SLO.Latency}
			mods[t.Name] = t.Module
		}
	}
	return slos, mods
}

// targetLabels is each target's own labels, for the metrics.
func targetLabels(cfg *config.Config) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, t := range cfg.Targets {
		if len(t.Labels) > 0 {
			out[t.Name] = t.Labels
		}
	}
	return out
}

// applyMemoryLimit sets the runtime's soft memory limit from
// memory_limit, unless GOMEMLIMIT is set (the environment wins, as for
// any Go program); 0 leaves the limit as it is.
func applyMemoryLimit(cfg *config.Config) {
	if cfg.MemoryLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(cfg.MemoryLimit)
	}
}

// rollupsKept is, for each target whose objective's window is longer
// than the retention, how far back its hour roll-ups are kept: the
// window and an hour, so that its error budget covers the whole window
// while its runs still go after the retention.
func rollupsKept(cfg *config.Config, now time.Time) map[string]time.Time {
	var out map[string]time.Time
	for _, t := range cfg.Targets {
		if t.SLO != nil && t.SLO.Window > cfg.Storage.Retention {
			if out == nil {
				out = map[string]time.Time{}
			}
			out[t.Name] = now.Add(-t.SLO.Window - time.Hour)
		}
	}
	return out
}

// budgetEvery is how often the error budgets of the targets with an
// objective are computed again from the store.
var budgetEvery = time.Minute // a var for tests

// refreshBudgets computes each objective's error budget left over its
// window from the stored runs, for pathlens_slo_error_budget_remaining_ratio.
// One store query per target with an objective (a few milliseconds over
// 30 days); a failed query leaves the previous value.
func (s *server) refreshBudgets(ctx context.Context) {
	cfg := s.cfg.Load()
	now := time.Now()
	for _, t := range cfg.Targets {
		if t.SLO == nil || ctx.Err() != nil {
			continue
		}
		av, err := s.store.Availability(ctx, t.Name, []time.Duration{t.SLO.Window}, t.SLO.Latency, now)
		if err != nil {
			s.log.Warn("error budget", "target", t.Name, "error", err)
			continue
		}
		if av[0].Runs > 0 {
			s.metrics.SetErrorBudget(t.Name, 1-(1-av[0].GoodRatio())/t.SLO.Budget())
		}
	}
}
