package serve

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/engine"
	"github.com/pathlens/pathlens/lab"
	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/alert"
	"github.com/pathlens/pathlens/serve/config"
	"github.com/pathlens/pathlens/serve/metrics"
	"github.com/pathlens/pathlens/serve/sched"
	"github.com/pathlens/pathlens/serve/web"
)

// benchMix is the lab mix of bench/serve_load.sh: scenario and module.
var benchMix = []struct{ scenario, module string }{
	{"ok-http", "web"}, {"ok-h2", "web"}, {"ok-https", "web"}, {"ok-tcp", "tcp"}, {"http-slow", "web"},
}

// BenchmarkTargetMemory measures what serve holds per target, beyond the
// probes in flight: the config's targets, the scheduler's jobs, the
// metrics and the UI's state for 100,000 targets of the lab mix. "idle"
// counts the targets loaded and scheduled with nothing probed; "one-run"
// adds one real lab Result for each (recorded in the metrics and the UI's
// state as a scheduled run records it). It reports the live heap per
// target (heapB/target) and the share of each part:
//
//	go test -run '^$' -bench TargetMemory -benchtime 1x ./serve/
func BenchmarkTargetMemory(b *testing.B) {
	const n = 100_000
	l, err := lab.Start(context.Background(), lab.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	m := l.Manifest()
	target := map[string]string{}
	for _, sc := range m.Scenarios {
		target[sc.Name] = sc.Target
	}
	var y strings.Builder
	fmt.Fprintf(&y, "storage: {path: %s/p.db}\nmodules:\n", b.TempDir())
	fmt.Fprintf(&y, "  web: {kind: http, tls: {ca_file: %s}, dns: {server: %q}}\n", m.CAFile, m.DNSServer)
	fmt.Fprintf(&y, "  tcp: {kind: tcp, dns: {server: %q}}\ntargets:\n", m.DNSServer)
	for i := range n {
		mx := benchMix[i%len(benchMix)]
		fmt.Fprintf(&y, "  - {name: t%06d-%s, url: %q, module: %s}\n", i, mx.scenario, target[mx.scenario], mx.module)
	}
	text := y.String()

	// One real Result per kind of the mix, probed before measuring.
	probe1, err := config.Parse("", []byte(text[:strings.Index(text, "targets:")]+"targets:\n"+firstTargets(text, len(benchMix))))
	if err != nil {
		b.Fatal(err)
	}
	results := make([]*probe.Result, len(benchMix))
	for i, t := range probe1.Targets {
		results[i] = engine.Check(context.Background(), t.Parsed, t.Options)
		if !results[i].Success {
			b.Fatalf("%s: lab probe failed: %+v", t.Name, results[i].Error)
		}
	}

	for b.Loop() {
		h0 := liveHeap()
		cfg, err := config.Parse("", []byte(text))
		if err != nil {
			b.Fatal(err)
		}
		h1 := liveHeap()
		s := &server{metrics: metrics.New(), state: web.NewState()}
		s.sched = sched.New(sched.NewFakeClock(time.Unix(0, 0)), 16)
		s.metrics.SetModuleOptions(moduleMetrics(cfg.Modules))
		s.sched.Set(s.jobs(cfg))
		if s.alerts, err = alert.New(cfg.AlertConfig(), nil); err != nil {
			b.Fatal(err)
		}
		h2 := liveHeap()
		for i, t := range cfg.Targets {
			r := results[i%len(results)]
			s.metrics.Observe(t.Name, t.Module, r)
			s.state.Record(t.Name, t.Module, r, 0)
			s.alerts.Observe(t.Name, t.Module, t.Labels, r)
		}
		h3 := liveHeap()
		per := func(a, z uint64) float64 { return (float64(z) - float64(a)) / n }
		b.ReportMetric(per(h0, h2), "idle-heapB/target")
		b.ReportMetric(per(h0, h3), "one-run-heapB/target")
		b.ReportMetric(per(h0, h1), "config-B/target")
		b.ReportMetric(per(h1, h2), "sched-B/target")
		b.ReportMetric(per(h2, h3), "run-B/target")
		runtime.KeepAlive(cfg)
		s.sched.Stop(time.Second)
		runtime.KeepAlive(s)
	}
}

// firstTargets is the first k target lines of the generated config.
func firstTargets(text string, k int) string {
	lines := strings.Split(text[strings.Index(text, "targets:\n")+len("targets:\n"):], "\n")
	return strings.Join(lines[:k], "\n") + "\n"
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
