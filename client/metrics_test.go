package client_test

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/pathlens/pathlens/client"
	"github.com/pathlens/pathlens/internal/probetest"
)

func newRegistry() *prometheus.Registry { return prometheus.NewRegistry() }

func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }

// family returns the gathered family name, or nil.
func family(t *testing.T, reg *prometheus.Registry, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil
}

// counterValue is the value of the series of name with label=value
// (label "" for an unlabelled metric); gauges too.
func counterValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mf := family(t, reg, name)
	if mf == nil {
		return 0
	}
	for _, m := range mf.GetMetric() {
		match := label == ""
		for _, lp := range m.GetLabel() {
			if lp.GetName() == label && lp.GetValue() == value {
				match = true
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return 0
}

// TestMetrics: phase histograms, outcomes and pool figures over a few
// requests on one kept-alive connection.
func TestMetrics(t *testing.T) {
	hold := make(chan struct{})
	entered := make(chan struct{}, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/404", http.NotFound)
	mux.HandleFunc("/hold", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		entered <- struct{}{}
		<-hold
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	reg := newRegistry()
	c := client.New(client.WithMetrics(reg))
	defer c.CloseIdleConnections()

	for range 3 {
		get(t, c, srv.URL+"/")
	}
	get(t, c, srv.URL+"/404")

	checks := []struct {
		name, label, value string
		want               float64
	}{
		{client.MetricRequests, "outcome", "2xx", 3},
		{client.MetricRequests, "outcome", "4xx", 1},
		{client.MetricRequestDuration, "", "", 4},
		{client.MetricPhaseDuration, "phase", "connect", 1},
		{client.MetricPhaseDuration, "phase", "request", 4},
		{client.MetricPhaseDuration, "phase", "wait", 4},
		{client.MetricPhaseDuration, "phase", "transfer", 4},
		{client.MetricPhaseDuration, "phase", "dns", 0},
		{client.MetricDials, "result", "ok", 1},
		{client.MetricConnsOpen, "", "", 1},
		{client.MetricConnsIdle, "", "", 1},
		{client.MetricConnsInUse, "", "", 0},
	}
	for _, ck := range checks {
		if got := counterValue(t, reg, ck.name, ck.label, ck.value); got != ck.want {
			t.Errorf("%s{%s=%q} = %v, want %v", ck.name, ck.label, ck.value, got, ck.want)
		}
	}

	// A request holding the connection: in use 1, idle 0.
	resp, err := c.Get(srv.URL + "/hold")
	if err != nil {
		t.Fatal(err)
	}
	<-entered
	if u, i := counterValue(t, reg, client.MetricConnsInUse, "", ""), counterValue(t, reg, client.MetricConnsIdle, "", ""); u != 1 || i != 0 {
		t.Errorf("while held: in use %v idle %v", u, i)
	}
	close(hold)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if u := counterValue(t, reg, client.MetricConnsInUse, "", ""); u != 0 {
		t.Errorf("after: in use %v", u)
	}

	// Closing the pool closes the connection.
	c.CloseIdleConnections()
	deadline := time.Now().Add(2 * time.Second)
	for counterValue(t, reg, client.MetricConnsOpen, "", "") != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if o, i := counterValue(t, reg, client.MetricConnsOpen, "", ""), counterValue(t, reg, client.MetricConnsIdle, "", ""); o != 0 || i != 0 {
		t.Errorf("after CloseIdleConnections: open %v idle %v", o, i)
	}

	// A dial that fails is counted.
	get2 := client.New(client.WithMetrics(reg))
	defer get2.CloseIdleConnections()
	if _, err := get2.Get("http://" + probetest.ClosedPort(t) + "/"); err == nil {
		t.Fatal("dead address answered")
	}
	if got := counterValue(t, reg, client.MetricDials, "result", "error"); got != 1 {
		t.Errorf("dial errors %v", got)
	}
	if got := counterValue(t, reg, client.MetricRequests, "outcome", "connect"); got != 1 {
		t.Errorf("requests{connect} %v", got)
	}
}

// TestMetricsNames: every metric is prefixed, documented by Help, and
// two clients can share a registry.
func TestMetricsNames(t *testing.T) {
	reg := newRegistry()
	a := client.New(client.WithMetrics(reg))
	b := client.New(client.WithMetrics(reg)) // no panic: series shared
	defer a.CloseIdleConnections()
	defer b.CloseIdleConnections()
	srv := okServer(t)
	get(t, a, srv.URL)
	get(t, b, srv.URL)
	if got := counterValue(t, reg, client.MetricRequests, "outcome", "2xx"); got != 2 {
		t.Errorf("shared requests counter %v", got)
	}
	n, err := testutil.GatherAndCount(reg)
	if err != nil || n == 0 {
		t.Fatalf("gather: %d %v", n, err)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "pathlens_client_") || mf.GetHelp() == "" {
			t.Errorf("metric %s help %q", mf.GetName(), mf.GetHelp())
		}
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

// TestMetricsRegistryConflict: a foreign collector with the same name
// makes New panic, like MustRegister.
func TestMetricsRegistryConflict(t *testing.T) {
	reg := newRegistry()
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: client.MetricRequests, Help: "not ours"}))
	defer func() {
		if recover() == nil {
			t.Fatal("no panic on a conflicting metric")
		}
	}()
	client.New(client.WithMetrics(reg))
}
