package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// The alerting series (docs/alerting.md#metrics).
const (
	NameAlertsSent    = "pathlens_alerts_sent_total"
	NameAlertsFiring  = "pathlens_alerts_firing"
	NameWebhooksSent  = "pathlens_webhooks_sent_total"
	NameAlertErrors   = "pathlens_alert_errors_total"
	NameAlertsDropped = "pathlens_alerts_dropped_total"
)

// AlertStats is what the alert manager has sent, failed to send and
// dropped, and how many alerts it has firing.
type AlertStats struct {
	AlertsSent, WebhooksSent          uint64
	AlertmanagerErrors, WebhookErrors uint64
	Dropped                           uint64
	Firing                            int
}

// alertStats serves the alerting series from a function set later.
type alertStats struct {
	f atomic.Pointer[func() AlertStats]
}

func (a *alertStats) get() AlertStats {
	if f := a.f.Load(); f != nil {
		return (*f)()
	}
	return AlertStats{}
}

func (a *alertStats) register(reg prometheus.Registerer) {
	counter := func(name, help string, labels prometheus.Labels, v func(AlertStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels},
			func() float64 { return float64(v(a.get())) })
	}
	errHelp := "Notifications given up on after their retries, by receiver kind (alertmanager, webhook)."
	reg.MustRegister(
		counter(NameAlertsSent, "Alerts Alertmanagers accepted (each alert of each request, resends included).", nil, func(s AlertStats) uint64 { return s.AlertsSent }),
		counter(NameWebhooksSent, "Webhook documents delivered.", nil, func(s AlertStats) uint64 { return s.WebhooksSent }),
		counter(NameAlertsDropped, "Alert changes and webhook documents a full queue turned away.", nil, func(s AlertStats) uint64 { return s.Dropped }),
		counter(NameAlertErrors, errHelp, prometheus.Labels{"receiver": "alertmanager"}, func(s AlertStats) uint64 { return s.AlertmanagerErrors }),
		counter(NameAlertErrors, errHelp, prometheus.Labels{"receiver": "webhook"}, func(s AlertStats) uint64 { return s.WebhookErrors }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: NameAlertsFiring, Help: "Alerts pathlens has told Alertmanagers are firing."},
			func() float64 { return float64(a.get().Firing) }),
	)
}

// SetAlertStats makes the alerting series report f() (the serve wiring
// passes its alert manager's counters); until then they are 0.
func (e *Exporter) SetAlertStats(f func() AlertStats) {
	if f == nil {
		e.alerts.f.Store(nil)
		return
	}
	e.alerts.f.Store(&f)
}
