package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pathlens/pathlens/probe"
)

// blackboxGRPC exports blackbox_exporter's grpc prober series:
// probe_grpc_duration_seconds{phase=resolve|check}, probe_grpc_ssl,
// probe_grpc_status_code and, for health Checks,
// probe_grpc_healthcheck_response{serving_status}.
func blackboxGRPC(reg *prometheus.Registry, r *probe.Result) {
	dur := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "probe_grpc_duration_seconds",
		Help: "Duration of gRPC request by phase",
	}, []string{"phase"})
	reg.MustRegister(dur)
	dur.WithLabelValues("resolve").Set(micros(firstLookupMS(r)))
	var check int64 // µs
	for _, p := range r.Phases {
		if p.Name != probe.PhaseDNS {
			check += usOf(p.DurationMS)
		}
	}
	dur.WithLabelValues("check").Set(usSeconds(check))
	gauge(reg, "probe_grpc_ssl", "Indicates if SSL was used for the connection", boolFloat(tlsDone(r)))
	g := r.GRPC
	code := -1.0 // no status: the call never ended on its own
	if g != nil && g.StatusOrigin != "" {
		code = float64(g.StatusCode)
	}
	gauge(reg, "probe_grpc_status_code", "Response gRPC status code", code)
	if g == nil || !g.Health {
		return
	}
	hv := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "probe_grpc_healthcheck_response",
		Help: "Response HealthCheck response",
	}, []string{"serving_status"})
	reg.MustRegister(hv)
	for _, s := range []string{"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"} {
		hv.WithLabelValues(s).Set(boolFloat(g.HealthStatus == s))
	}
}
