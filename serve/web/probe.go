package web

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/metrics"
)

// scrapeTimeoutOffset is subtracted from Prometheus's scrape timeout so the
// answer arrives before the scraper gives up (blackbox_exporter's default).
const scrapeTimeoutOffset = 500 * time.Millisecond

func (s *server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if s.d.Metrics == nil {
		http.Error(w, "metrics not available", http.StatusNotFound)
		return
	}
	s.d.Metrics.ServeHTTP(w, r)
}

func probeText(w http.ResponseWriter, status int, format string, args ...any) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, format+"\n", args...)
}

// handleProbe answers GET /probe?target=URL&module=NAME like
// blackbox_exporter: one probe, its metrics in the Prometheus text format.
// It stays long: the checks answer the request in order, each with its own status.
func (s *server) handleProbe(w http.ResponseWriter, r *http.Request) {
	cfg := s.cfg()
	q := r.URL.Query()
	target := q.Get("target")
	module := q.Get("module")
	if target == "" {
		probeText(w, http.StatusBadRequest, "400 target parameter is missing: /probe?target=URL[&module=NAME]")
		return
	}
	parsed, err := probe.ParseTarget(target)
	if err != nil {
		probeText(w, http.StatusBadRequest, "400 bad target: %v", err)
		return
	}
	if !cfg.ProbeEndpoint.Allowed(target) {
		probeText(w, http.StatusForbidden, "403 target not allowed: /probe only probes targets matching a pattern in the config's probe_endpoint.allow list (%d pattern(s) configured), so the server cannot be used as an open relay. Add a pattern such as \"https://*.example.com/*\" to allow it.", len(cfg.ProbeEndpoint.Allow))
		return
	}
	mod := cfg.Modules[module]
	if module != "" && mod == nil {
		probeText(w, http.StatusBadRequest, "400 unknown module %q", module)
		return
	}
	if !cfg.ProbeEndpoint.ModuleAllowed(module) {
		probeText(w, http.StatusForbidden, "403 module %q is not open to /probe: a module may carry credentials, so /probe uses only the built-in default module and the modules listed in the config's probe_endpoint.modules", module)
		return
	}
	if mod != nil {
		if err := mod.Accepts(parsed); err != nil {
			probeText(w, http.StatusBadRequest, "400 module %q cannot probe this target: %v", module, err)
			return
		}
	}
	if s.d.Probe == nil {
		probeText(w, http.StatusNotImplemented, "501 probing is not available")
		return
	}

	// The budget: the module's timeout, cut to the scrape timeout less an
	// offset when Prometheus says how long it will wait.
	budget := cfg.Defaults.Timeout
	if mod != nil && mod.Timeout > 0 {
		budget = mod.Timeout
	}
	if h := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"); h != "" {
		secs, err := strconv.ParseFloat(h, 64)
		if err != nil || secs <= 0 || math.IsInf(secs, 0) || math.IsNaN(secs) {
			probeText(w, http.StatusBadRequest, "400 bad X-Prometheus-Scrape-Timeout-Seconds header %q", h)
			return
		}
		scrape := time.Duration(secs * float64(time.Second))
		if scrape > scrapeTimeoutOffset {
			scrape -= scrapeTimeoutOffset
		}
		if budget <= 0 || scrape < budget {
			budget = scrape
		}
	}
	// A slot first: the wait for one does not count against the budget,
	// and a caller that cannot get one in time is told to come back.
	release, ok := s.probes.acquire(r.Context(), cfg.ProbeEndpoint.MaxConcurrent, cfg.ProbeEndpoint.QueueTimeout)
	if !ok {
		w.Header().Set("Retry-After", "1")
		probeText(w, http.StatusTooManyRequests, "429 too many /probe requests at once: %d run at a time (probe_endpoint.max_concurrent) and none came free within %s (probe_endpoint.queue_timeout)", cfg.ProbeEndpoint.MaxConcurrent, cfg.ProbeEndpoint.QueueTimeout)
		return
	}
	defer release()
	ctx := r.Context()
	if budget > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, budget)
		defer cancel()
	}
	res, err := s.d.Probe(ctx, target, module)
	if err != nil {
		probeText(w, http.StatusBadRequest, "400 %v", err)
		return
	}
	// Always the text format, whatever the scraper's Accept header says.
	r2 := r.Clone(r.Context())
	r2.Header.Del("Accept")
	promhttp.HandlerFor(metrics.BlackboxRegistry(res), promhttp.HandlerOpts{}).ServeHTTP(w, r2)
}
