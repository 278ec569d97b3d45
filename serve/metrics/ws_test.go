package metrics

import (
	"math"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/pathlens/pathlens/probe"
)

// histogram returns the sample count and sum of a histogram series of
// target, or ok false when the series is absent.
func histogram(t *testing.T, e *Exporter, name, target string) (count uint64, sum float64, ok bool) {
	t.Helper()
	mfs, err := e.gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label(m, "target") == target {
				h := m.GetHistogram()
				return h.GetSampleCount(), h.GetSampleSum(), true
			}
		}
	}
	return 0, 0, false
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func TestWSMetrics(t *testing.T) {
	e := New()
	const tg, md = "chat", "ws"
	run := &probe.Result{Kind: "wss", Success: true, WS: &probe.WSInfo{
		PingRTTMS: []float64{1.5, 2.5, 4}, SessionMS: 2500,
		Close: &probe.WSClose{By: "server", Code: 4401, FrameReceived: true},
	}}
	e.Observe(tg, md, run)
	// A failed upgrade: no session, no pings.
	e.Observe(tg, md, &probe.Result{Kind: "wss", WS: &probe.WSInfo{UpgradeStatus: 401, PingRTTMS: []float64{}}})
	e.Observe("web", "http", &probe.Result{Kind: "https", Success: true})

	if n, sum, ok := histogram(t, e, NameWSPingRTT, tg); !ok || n != 3 || math.Abs(sum-0.008) > 1e-9 {
		t.Errorf("ping rtt: count %d sum %v (present %v), want 3 and 0.008 s", n, sum, ok)
	}
	if n, sum, ok := histogram(t, e, NameWSSession, tg); !ok || n != 1 || sum != 2.5 {
		t.Errorf("session: count %d sum %v (present %v), want 1 and 2.5 s", n, sum, ok)
	}
	if _, _, ok := histogram(t, e, NameWSSession, "web"); ok {
		t.Error("an http target has a ws session series")
	}
	e.Forget(tg)
	if _, _, ok := histogram(t, e, NameWSPingRTT, tg); ok {
		t.Error("Forget left the ping series")
	}
	if _, _, ok := histogram(t, e, NameWSSession, tg); ok {
		t.Error("Forget left the session series")
	}
}

// /probe answers a ws target in the generic blackbox names.
func TestBlackboxWS(t *testing.T) {
	r := &probe.Result{Kind: "ws", Success: true, TotalMS: 1000,
		Phases: []probe.Phase{{Name: "connect", DurationMS: 1}, {Name: "upgrade", DurationMS: 1}, {Name: "hold", DurationMS: 998}},
		WS:     &probe.WSInfo{UpgradeStatus: 101, Close: &probe.WSClose{By: "client", Code: 1000, FrameReceived: true}}}
	mfs, err := BlackboxRegistry(r).Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "probe_success" {
			found = mf.GetMetric()[0].GetGauge().GetValue() == 1
		}
	}
	if !found {
		t.Error("probe_success is not 1")
	}
}
