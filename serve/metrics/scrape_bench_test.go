package metrics

// The scale benchmark of /metrics: 100,000 targets of the lab mix
// (bench/serve_load.sh's: http, https with h2, https with http/1.1, tcp,
// slow http), each observed three times, then one scrape per iteration.
//
//	go test -run '^$' -bench Scrape100k -benchtime 3x ./serve/metrics/
//
// Modes: default (no opt-ins), phases (PerTargetPhases on every module)
// and histograms (PerTargetHistograms, LastRunTimestamp and TLSResumed on
// every module: the per-target series of earlier versions, the baseline). Each reports, beside the
// time of a scrape, MB (uncompressed exposition), gzipMB (as served to a
// client that accepts gzip), series/target, B/target (exposition) and
// heapB/target (live heap the filled Exporter holds, per target), and for
// default and phases the ratio of bytes and heap to the baseline.

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
)

const benchTargets = 100_000

// labScenario is one kind of target of the lab mix.
type labScenario struct {
	name, module string
	kind         string
	phases       []probe.Phase // durations as the lab measures them
	tls          string        // leaf subject, "" without TLS
	h2           bool
	finding      probe.Finding
}

var labMix = []labScenario{
	{name: "ok-http", module: "web", kind: "http", phases: []probe.Phase{
		{Name: "connect", DurationMS: 0.21}, {Name: "request", DurationMS: 0.078}, {Name: "wait", DurationMS: 0.298}, {Name: "transfer", DurationMS: 0.032}}},
	{name: "ok-h2", module: "web", kind: "https", tls: "CN=ok-h2.lab.test,O=pathlens lab", h2: true, phases: httpsPhases(0.452)},
	{name: "ok-https", module: "web", kind: "https", tls: "CN=ok-https.lab.test,O=pathlens lab", phases: httpsPhases(0.139),
		finding: probe.Finding{ID: "HTTP_NO_H2", Severity: probe.SeverityInfo}},
	{name: "ok-tcp", module: "tcp", kind: "tcp", phases: []probe.Phase{{Name: "connect", DurationMS: 0.341}}},
	{name: "http-slow", module: "web", kind: "http", phases: []probe.Phase{
		{Name: "connect", DurationMS: 0.405}, {Name: "request", DurationMS: 0.07}, {Name: "wait", DurationMS: 400.728}, {Name: "transfer", DurationMS: 0.129}},
		finding: probe.Finding{ID: "HTTP_SERVER_SLOW", Severity: probe.SeverityWarning}},
}

func httpsPhases(wait float64) []probe.Phase {
	return []probe.Phase{{Name: "dns", DurationMS: 0.599}, {Name: "connect", DurationMS: 0.112}, {Name: "tls", DurationMS: 1.722},
		{Name: "request", DurationMS: 0.082}, {Name: "wait", DurationMS: wait}, {Name: "transfer", DurationMS: 0.053}}
}

// result builds a fresh Result of the scenario, as a prober would: its
// own strings, durations jittered. A failed run times out in wait (or in
// connect for tcp).
func (s labScenario) result(rng *rand.Rand, started time.Time, fail bool) *probe.Result {
	r := &probe.Result{Schema: probe.Schema, Kind: s.kind, StartedAt: started, Success: !fail}
	at := 0.0
	for _, p := range s.phases {
		p.StartMS, p.DurationMS = at, p.DurationMS*(0.7+0.6*rng.Float64())
		at += p.DurationMS
		r.Phases = append(r.Phases, p)
		if fail && (p.Name == "wait" || s.kind == "tcp") {
			r.Phases[len(r.Phases)-1].Incomplete = true
			r.Error = &probe.ErrorInfo{Class: probe.ClassTimeout, Phase: p.Name, Message: "budget ran out"}
			r.Findings = append(r.Findings, probe.Finding{ID: "PROBE_TIMEOUT", Severity: probe.SeverityCritical})
			at = 5000
			break
		}
	}
	r.TotalMS = at + 0.05
	if s.tls != "" {
		r.TLS = &probe.TLSInfo{Version: "TLS 1.3", Verified: true, Chain: []probe.Cert{
			{Subject: strings.Clone(s.tls), NotAfter: day(2027, 3, 2)},
			{Subject: strings.Clone("CN=pathlens lab intermediate,O=pathlens lab"), NotAfter: day(2031, 12, 2), IsCA: true}},
			Resumption: &probe.ResumptionCheck{Tested: true, Resumed: true}}
	}
	if s.h2 {
		r.H2 = &probe.H2Info{}
	}
	if s.finding.ID != "" && !fail {
		r.Findings = append(r.Findings, s.finding)
	}
	return r
}

// fillLab observes n targets of the lab mix three times each; 1% of them
// failed their second run.
func fillLab(e *Exporter, n int) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		s := labMix[i%len(labMix)]
		name := fmt.Sprintf("t%05d-%s", i, s.name)
		for run := range 3 {
			fail := i%100 == 7 && run == 1
			e.Observe(name, s.module, s.result(rng, t0.Add(time.Duration(run)*10*time.Second+time.Duration(i)*time.Millisecond), fail))
		}
	}
}

// filledExporter is one mode's Exporter with what it cost.
type filledExporter struct {
	e               *Exporter
	heapPerTarget   float64
	bytes, gzBytes  int64
	seriesPerTarget float64
}

var (
	fillsMu sync.Mutex
	fills   = map[string]*filledExporter{}
)

// benchModes are the options of every module per mode; histograms has the
// per-target series of earlier versions.
var benchModes = map[string]ModuleMetrics{
	"default":    {},
	"phases":     {PerTargetPhases: true},
	"histograms": {PerTargetHistograms: true, LastRunTimestamp: true, TLSResumed: true},
}

// ageCounters sets every target's success count to about 30 days of runs
// at a 10 s interval, so that the exposition has the counters' steady-state
// width rather than three runs'.
func ageCounters(e *Exporter) {
	for _, ts := range e.targets {
		ts.mu.Lock()
		ts.runs[1] += 30 * 8640
		ts.mu.Unlock()
	}
}

// filled returns the filled Exporter of mode, filling it (and measuring
// it) on first use.
func filled(b *testing.B, mode string) *filledExporter {
	fillsMu.Lock()
	defer fillsMu.Unlock()
	if f := fills[mode]; f != nil {
		return f
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	e := New()
	o := benchModes[mode]
	e.SetModuleOptions(map[string]ModuleMetrics{"web": o, "tcp": o})
	fillLab(e, benchTargets)
	f := &filledExporter{e: e}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	f.heapPerTarget = (float64(m1.HeapAlloc) - float64(m0.HeapAlloc)) / benchTargets
	ageCounters(e)
	sc := &seriesCounter{}
	scrapeOnce(e, sc, "")
	f.bytes, f.seriesPerTarget = sc.n, float64(sc.series)/benchTargets
	w := &countingWriter{}
	scrapeOnce(e, w, "gzip")
	f.gzBytes = w.n
	fills[mode] = f
	return f
}

// countingWriter is an http.ResponseWriter that counts the body bytes.
type countingWriter struct {
	h http.Header
	n int64
}

func (w *countingWriter) Header() http.Header {
	if w.h == nil {
		w.h = http.Header{}
	}
	return w.h
}
func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }
func (w *countingWriter) WriteHeader(int)             {}

// seriesCounter is a countingWriter that also counts the sample lines
// with a target label.
type seriesCounter struct {
	countingWriter
	series         int64
	comment, found bool
	col, match     int
}

func (w *seriesCounter) Write(p []byte) (int, error) {
	const pat = `target="`
	w.n += int64(len(p))
	for _, c := range p {
		switch {
		case c == '\n':
			if w.found && !w.comment {
				w.series++
			}
			w.col, w.match, w.comment, w.found = 0, 0, false, false
			continue
		case w.col == 0 && c == '#':
			w.comment = true
		case c == pat[w.match]:
			if w.match++; w.match == len(pat) {
				w.found, w.match = true, 0
			}
		case c == pat[0]:
			w.match = 1
		default:
			w.match = 0
		}
		w.col++
	}
	return len(p), nil
}

func scrapeOnce(e *Exporter, w http.ResponseWriter, acceptEncoding string) {
	req, _ := http.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	if acceptEncoding != "" {
		req.Header.Set("Accept-Encoding", acceptEncoding)
	}
	e.Handler().ServeHTTP(w, req)
}

func BenchmarkScrape100k(b *testing.B) {
	for _, mode := range []string{"histograms", "default", "phases"} {
		for _, enc := range []string{"text", "gzip"} {
			b.Run(mode+"/"+enc, func(b *testing.B) {
				f := filled(b, mode)
				ae := ""
				if enc == "gzip" {
					ae = "gzip"
				}
				for b.Loop() {
					scrapeOnce(f.e, &countingWriter{}, ae)
				}
				b.ReportMetric(float64(f.bytes)/1e6, "MB")
				b.ReportMetric(float64(f.gzBytes)/1e6, "gzipMB")
				b.ReportMetric(float64(f.bytes)/benchTargets, "B/target")
				b.ReportMetric(f.seriesPerTarget, "series/target")
				b.ReportMetric(f.heapPerTarget, "heapB/target")
				if mode != "histograms" {
					base := filled(b, "histograms")
					b.ReportMetric(float64(f.bytes)/float64(base.bytes), "bytes/baseline")
					b.ReportMetric(f.heapPerTarget/base.heapPerTarget, "heap/baseline")
				}
			})
		}
	}
}

// BenchmarkObserve is the steady-state cost of one run's Observe (an
// existing https target, default options) on a filled Exporter.
func BenchmarkObserve(b *testing.B) {
	f := filled(b, "default")
	rng := rand.New(rand.NewPCG(3, 4))
	s := labMix[1]
	rs := make([]*probe.Result, 64)
	for i := range rs {
		rs[i] = s.result(rng, t0, i%16 == 3)
	}
	i := 0
	for b.Loop() {
		f.e.Observe("t00001-ok-h2", s.module, rs[i%len(rs)])
		i++
	}
}

// BenchmarkForget is the cost of dropping a target (and adding it back
// with one run) on a filled Exporter: what a config reload pays per
// removed target.
func BenchmarkForget(b *testing.B) {
	f := filled(b, "default")
	rng := rand.New(rand.NewPCG(5, 6))
	s := labMix[2]
	r := s.result(rng, t0, false)
	for b.Loop() {
		f.e.Forget("t00002-ok-https")
		f.e.Observe("t00002-ok-https", s.module, r)
	}
}
