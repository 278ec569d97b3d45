package web

import (
	"time"

	"github.com/pathlens/pathlens/serve/alert"
)

// Alerts is what the UI and API show of the states with memory and the
// notifications (the serve wiring passes its alert.Manager).
type Alerts interface {
	Status(target string) (alert.Status, bool)
	State(target string) alert.State
	InMaintenance(target string) (until time.Time, ok bool)
	Deliveries(target string) []alert.Delivery
}

// alertView is a target's state with memory on its page.
type alertView struct {
	State       string // pending, up, degraded, down, flapping
	Since, Age  string
	Failures    int
	Findings    []string // alerting finding IDs
	Maintenance string   // until when a window holds notifications ("" when none)
	Deliveries  []deliveryView
}

type deliveryView struct {
	Time, Age, URL, Change, Error string
	Status, Attempts              int
	OK                            bool
}

// newAlertView is target's alert state, nil without an Alerts.
func (s *server) newAlertView(target string, now time.Time) *alertView {
	if s.d.Alerts == nil {
		return nil
	}
	st, _ := s.d.Alerts.Status(target)
	v := &alertView{State: string(st.State), Failures: st.ConsecutiveFailures}
	if !st.Since.IsZero() {
		v.Since, v.Age = fmtTime(st.Since), fmtAge(now, st.Since)
	}
	for _, f := range st.Findings {
		v.Findings = append(v.Findings, f.ID)
	}
	if until, ok := s.d.Alerts.InMaintenance(target); ok {
		v.Maintenance = fmtTime(until)
	}
	for _, d := range s.d.Alerts.Deliveries(target) {
		v.Deliveries = append(v.Deliveries, deliveryView{
			Time: fmtTime(d.At), Age: fmtAge(now, d.At), URL: d.URL, Change: d.Change, Error: d.Error,
			Status: d.Status, Attempts: d.Attempts, OK: d.OK(),
		})
	}
	return v
}

// apiAlertState is a target's state with memory in the JSON API.
type apiAlertState struct {
	State                string     `json:"state"`
	Since                *time.Time `json:"since,omitempty"`
	ConsecutiveFailures  int        `json:"consecutive_failures"`
	ConsecutiveSuccesses int        `json:"consecutive_successes"`
	AlertingFindings     []string   `json:"alerting_findings"`
	MaintenanceUntil     *time.Time `json:"maintenance_until,omitempty"`
}

// newAPIAlertState is target's state with memory, nil without Alerts.
func (s *server) newAPIAlertState(target string) *apiAlertState {
	if s.d.Alerts == nil {
		return nil
	}
	st, _ := s.d.Alerts.Status(target)
	a := &apiAlertState{State: string(st.State), ConsecutiveFailures: st.ConsecutiveFailures,
		ConsecutiveSuccesses: st.ConsecutiveSuccesses, AlertingFindings: []string{}}
	if !st.Since.IsZero() {
		t := st.Since.UTC()
		a.Since = &t
	}
	for _, f := range st.Findings {
		a.AlertingFindings = append(a.AlertingFindings, f.ID)
	}
	if until, ok := s.d.Alerts.InMaintenance(target); ok {
		u := until.UTC()
		a.MaintenanceUntil = &u
	}
	return a
}
