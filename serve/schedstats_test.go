package serve

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/internal/probetest"
)

// TestModuleMetricsAndSchedulerSeries: a module's metrics section turns
// its targets' per-target histograms on (and only theirs), and /metrics
// carries the scheduler's on-time counters.
func TestModuleMetricsAndSchedulerSeries(t *testing.T) {
	addr := probetest.ServeTCP(t, "127.0.0.1:0", func(c net.Conn) { c.Close() })
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "pathlens.yaml")
	cfg := fmt.Sprintf("listen: 127.0.0.1:0\nstorage: {path: %s}\ndefaults: {interval: 1s, timeout: 500ms}\n"+
		"modules:\n  hist: {kind: tcp, metrics: {per_target_histograms: true}}\n  plain: {kind: tcp}\n"+
		"targets:\n  - {name: a, url: \"tcp://%s\", module: hist}\n  - {name: b, url: \"tcp://%s\", module: plain}\n",
		filepath.Join(dir, "h.db"), addr, addr)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	base, _ := startRun(t, Options{ConfigPath: cfgPath, Grace: time.Second})
	var body string
	eventually(t, "both targets probed", func() bool {
		_, body = get(t, base+"/metrics")
		return strings.Contains(body, `pathlens_probe_success{module="hist",target="a"} 1`) &&
			strings.Contains(body, `pathlens_probe_success{module="plain",target="b"} 1`)
	})
	if !strings.Contains(body, `pathlens_probe_duration_seconds_count{module="hist",target="a"}`) {
		t.Error("module hist has metrics.per_target_histograms, but target a has no pathlens_probe_duration_seconds")
	}
	if strings.Contains(body, `pathlens_probe_duration_seconds_count{module="plain"`) {
		t.Error("module plain has per-target histograms it did not ask for")
	}
	for _, name := range []string{nameSchedOnTime, nameSchedLate, nameSchedSkipped, nameSchedWaiting, nameSchedRunning, nameSchedMaxLate} {
		if !strings.Contains(body, "\n"+name+" ") {
			t.Errorf("/metrics has no %s", name)
		}
	}
	if strings.Contains(body, "\n"+nameSchedOnTime+" 0\n") {
		t.Errorf("%s is 0 after two runs", nameSchedOnTime)
	}
}
