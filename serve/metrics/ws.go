package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pathlens/pathlens/probe"
)

// WebSocket series (additions to the contract's metrics, docs/serve.md#metrics).
const (
	NameWSPingRTT = "pathlens_ws_ping_rtt_seconds"
	NameWSSession = "pathlens_ws_session_seconds"
)

// WSSessionBuckets are the buckets of pathlens_ws_session_seconds: from a
// session refused at once (0.1 s) to one held for an hour, with the
// common proxy idle timeouts (30 s, 60 s, 100 s, 5 min) between bounds so
// a session that dies at one of them lands in a bucket of its own.
var WSSessionBuckets = []float64{.1, .5, 1, 2.5, 5, 10, 20, 45, 90, 120, 240, 600, 1800, 3600}

// wsMetrics are the ws/wss series of the Exporter.
type wsMetrics struct {
	pingRTT *prometheus.HistogramVec
	session *prometheus.HistogramVec
}

func (w *wsMetrics) register(reg *prometheus.Registry) {
	tm := []string{"target", "module"}
	w.pingRTT = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    NameWSPingRTT,
		Help:    "Round-trip time of WebSocket pings answered by a pong, in seconds (ws/wss probes with a ping interval).",
		Buckets: DurationBuckets,
	}, tm)
	w.session = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    NameWSSession,
		Help:    "Lifetime of WebSocket sessions in seconds, from the end of the upgrade to the close (by either side).",
		Buckets: WSSessionBuckets,
	}, tm)
	reg.MustRegister(w.pingRTT, w.session)
}

// observe records a ws run: every answered ping's RTT, and the session's
// lifetime when the upgrade succeeded.
func (w *wsMetrics) observe(target, module string, r *probe.Result) {
	if r.WS == nil {
		return
	}
	for _, rtt := range r.WS.PingRTTMS {
		w.pingRTT.WithLabelValues(target, module).Observe(micros(rtt))
	}
	if r.WS.Close != nil {
		w.session.WithLabelValues(target, module).Observe(micros(max(r.WS.SessionMS, 0)))
	}
}

func (w *wsMetrics) forget(l prometheus.Labels) {
	w.pingRTT.DeletePartialMatch(l)
	w.session.DeletePartialMatch(l)
}
