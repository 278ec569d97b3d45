package metrics

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pathlens/pathlens/probe"
)

// gatherer is everything /metrics serves as a prometheus.Gatherer, for
// testutil: the exposition Handler writes, parsed back by expfmt's text
// parser and sorted as a registry sorts (labels by name, series by label
// values, families by name).
func (e *Exporter) gatherer() prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		mfs, gerr := e.reg.Gather()
		var buf bytes.Buffer
		if err := e.writeText(&buf, mfs); err != nil {
			return nil, err
		}
		out, err := parseText(buf.String())
		if err != nil {
			return nil, err
		}
		return out, gerr
	})
}

func parseText(text string) ([]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	byName, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	out := make([]*dto.MetricFamily, 0, len(byName))
	for _, mf := range byName {
		for _, m := range mf.Metric {
			slices.SortFunc(m.Label, func(a, b *dto.LabelPair) int { return cmp.Compare(a.GetName(), b.GetName()) })
		}
		slices.SortFunc(mf.Metric, func(a, b *dto.Metric) int {
			for i := range min(len(a.Label), len(b.Label)) {
				if c := cmp.Compare(a.Label[i].GetValue(), b.Label[i].GetValue()); c != 0 {
					return c
				}
			}
			return cmp.Compare(len(a.Label), len(b.Label))
		})
		out = append(out, mf)
	}
	slices.SortFunc(out, func(a, b *dto.MetricFamily) int { return cmp.Compare(a.GetName(), b.GetName()) })
	return out, nil
}

// checkFamiliesOnce fails unless every family of text has one HELP and
// one TYPE line and all its samples right after them, families in name
// order.
func checkFamiliesOnce(t *testing.T, text string) {
	t.Helper()
	seen := map[string]bool{}
	cur, typ, prev := "", "", ""
	for i, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if name, ok := strings.CutPrefix(l, "# HELP "); ok {
			name, _, _ = strings.Cut(name, " ")
			if seen[name] {
				t.Fatalf("line %d: family %s a second time", i+1, name)
			}
			if name < prev {
				t.Errorf("line %d: family %s after %s", i+1, name, prev)
			}
			seen[name], cur, prev = true, name, name
			continue
		}
		if rest, ok := strings.CutPrefix(l, "# TYPE "); ok {
			name, tp, _ := strings.Cut(rest, " ")
			if name != cur {
				t.Fatalf("line %d: TYPE of %s under HELP of %s", i+1, name, cur)
			}
			typ = tp
			continue
		}
		name, _, _ := strings.Cut(l, "{")
		name, _, _ = strings.Cut(name, " ")
		if typ == "histogram" || typ == "summary" {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				name = strings.TrimSuffix(name, suf)
			}
		}
		if name != cur {
			t.Fatalf("line %d: sample of %s inside family %s: %q", i+1, name, cur, l)
		}
	}
}

func TestDefaultSeries(t *testing.T) {
	e := New()
	e.Observe(tgt, mod, okHTTPS())
	r := okHTTPS()
	r.StartedAt, r.TotalMS = t0.Add(30*time.Second), 45.5
	e.Observe(tgt, mod, r)
	// No per-target histograms or phase gauges by default.
	for _, name := range []string{NameProbeDuration, NameProbePhaseDuration, NameProbeLastPhaseDuration, NameProbeLastRun, NameTLSResumed,
		NameProbeErrors, NameH2StallSeconds} {
		if got := familyOf(t, e, name); got != nil {
			t.Errorf("default has %s: %v", name, got)
		}
	}
	expect(t, e, `# HELP pathlens_probe_last_duration_seconds Total duration of the latest run of the probe in seconds, failed runs included.
# TYPE pathlens_probe_last_duration_seconds gauge
pathlens_probe_last_duration_seconds{module="web",target="https://api.example.test/health"} 0.0455
`, NameProbeLastDuration)
	// The per-module distributions count both runs.
	mf := familyOf(t, e, NameModuleProbeDuration)
	if mf == nil || len(mf.Metric) != 1 || label(mf.Metric[0], "module") != mod ||
		mf.Metric[0].GetHistogram().GetSampleCount() != 2 || math.Abs(mf.Metric[0].GetHistogram().GetSampleSum()-0.0755) > 1e-9 {
		t.Errorf("%s: %v", NameModuleProbeDuration, mf)
	}
	phases := familyOf(t, e, NameModulePhaseDuration)
	if phases == nil || len(phases.Metric) != 6 {
		t.Fatalf("%s: %v", NameModulePhaseDuration, phases)
	}
	for _, m := range phases.Metric {
		if label(m, "target") != "" || m.GetHistogram().GetSampleCount() != 2 {
			t.Errorf("%s: %v", NameModulePhaseDuration, m)
		}
	}
	// Every class of the module from 0.
	errs := familyOf(t, e, NameModuleProbeErrors)
	if errs == nil || len(errs.Metric) != 9 {
		t.Errorf("%s: %v", NameModuleProbeErrors, errs)
	}
	e.Observe(tgt, mod, refusedHTTPS())
	for _, m := range familyOf(t, e, NameModuleProbeErrors).GetMetric() {
		want := 0.0
		if label(m, "class") == "connect" {
			want = 1
		}
		if m.GetCounter().GetValue() != want {
			t.Errorf("%s{class=%q} = %v, want %v", NameModuleProbeErrors, label(m, "class"), m.GetCounter().GetValue(), want)
		}
	}
	expect(t, e, errorsText(map[string]int{"connect": 1}), NameProbeErrors)
}

// familyOf returns the family name of the exposition, nil when absent.
func familyOf(t *testing.T, e *Exporter, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := e.gatherer().Gather()
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

// targetsOf returns the targets that have a series in family name.
func targetsOf(t *testing.T, e *Exporter, name string) []string {
	t.Helper()
	var out []string
	for _, m := range familyOf(t, e, name).GetMetric() {
		if tg := label(m, "target"); !slices.Contains(out, tg) {
			out = append(out, tg)
		}
	}
	slices.Sort(out)
	return out
}

func TestOptInOnlyForOptedModules(t *testing.T) {
	e := New()
	e.SetModuleOptions(map[string]ModuleMetrics{
		"web":  {PerTargetHistograms: true},
		"api":  {PerTargetPhases: true},
		"tls":  {LastRunTimestamp: true, TLSResumed: true},
		"none": {},
	})
	for _, m := range []string{"web", "api", "tls", "db"} {
		e.Observe("t-"+m, m, okHTTPS())
	}
	for name, want := range map[string][]string{
		NameProbeDuration:          {"t-web"},
		NameProbePhaseDuration:     {"t-web"},
		NameProbeLastPhaseDuration: {"t-api"},
		NameProbeLastRun:           {"t-tls"},
		NameTLSResumed:             {"t-tls"},
		NameProbeLastDuration:      {"t-api", "t-db", "t-tls", "t-web"},
	} {
		if got := targetsOf(t, e, name); !slices.Equal(got, want) {
			t.Errorf("%s: targets %v, want %v", name, got, want)
		}
	}
	expect(t, e, `# HELP pathlens_probe_last_phase_duration_seconds Duration of each completed phase of the latest run of the probe in seconds (phase names as in the JSON result).
# TYPE pathlens_probe_last_phase_duration_seconds gauge
pathlens_probe_last_phase_duration_seconds{module="api",phase="connect",target="t-api"} 0.002
pathlens_probe_last_phase_duration_seconds{module="api",phase="dns",target="t-api"} 0.001
pathlens_probe_last_phase_duration_seconds{module="api",phase="request",target="t-api"} 0.00025
pathlens_probe_last_phase_duration_seconds{module="api",phase="tls",target="t-api"} 0.004
pathlens_probe_last_phase_duration_seconds{module="api",phase="transfer",target="t-api"} 0.001
pathlens_probe_last_phase_duration_seconds{module="api",phase="wait",target="t-api"} 0.02
`, NameProbeLastPhaseDuration)
	// A failed run keeps only its completed phases.
	e.Observe("t-api", "api", refusedHTTPS())
	if mf := familyOf(t, e, NameProbeLastPhaseDuration); len(mf.GetMetric()) != 1 || label(mf.Metric[0], "phase") != "dns" {
		t.Errorf("after a refused run: %v", mf)
	}

	// Turning the option off drops the series at once; on again, they
	// come back with the next run, from empty.
	e.SetModuleOptions(nil)
	for _, name := range []string{NameProbeDuration, NameProbePhaseDuration, NameProbeLastPhaseDuration, NameProbeLastRun, NameTLSResumed} {
		if got := targetsOf(t, e, name); len(got) != 0 {
			t.Errorf("options off: %s still has %v", name, got)
		}
	}
	e.SetModuleOptions(map[string]ModuleMetrics{"db": {PerTargetHistograms: true}})
	e.Observe("t-db", "db", okHTTPS())
	if got := targetsOf(t, e, NameProbeDuration); !slices.Equal(got, []string{"t-db"}) {
		t.Errorf("db on: %s targets %v", NameProbeDuration, got)
	}
	if n, _, _ := histogram(t, e, NameProbeDuration, "t-db"); n != 1 {
		t.Errorf("db on: %d observations, want 1", n)
	}
}

func TestForgetDropsModuleSeries(t *testing.T) {
	e := New()
	e.Observe("a", "web", okHTTPS())
	e.Observe("b", "web", okHTTPS())
	e.Observe("c", "db", refusedHTTPS())
	e.Forget("a")
	modules := func() []string {
		var out []string
		for _, name := range []string{NameModuleProbeDuration, NameModulePhaseDuration, NameModuleProbeErrors} {
			for _, m := range familyOf(t, e, name).GetMetric() {
				if md := label(m, "module"); !slices.Contains(out, md) {
					out = append(out, md)
				}
			}
		}
		slices.Sort(out)
		return out
	}
	if got := modules(); !slices.Equal(got, []string{"db", "web"}) {
		t.Errorf("after Forget(a): modules %v", got)
	}
	e.Forget("b")
	if got := modules(); !slices.Equal(got, []string{"db"}) {
		t.Errorf("after Forget(b), web's last target: modules %v", got)
	}
	for _, name := range []string{"a", "b"} {
		if n := seriesOf(t, e, name); n != 0 {
			t.Errorf("Forget(%s) left %d series", name, n)
		}
	}
}

func TestFindingClearedDeletesSeries(t *testing.T) {
	e := New()
	e.Observe(tgt, mod, timeoutHTTPS())
	text := scrape(t, e)
	if !strings.Contains(text, `pathlens_finding_active{id="PROBE_TIMEOUT",module="web",severity="critical",target="https://api.example.test/health"} 1`) {
		t.Fatalf("no PROBE_TIMEOUT series:\n%s", text)
	}
	r := okHTTPS()
	r.Findings = nil
	e.Observe(tgt, mod, r)
	if text := scrape(t, e); strings.Contains(text, NameFindingActive) {
		t.Errorf("a cleared finding is still exposed:\n%s", text)
	}
}

func TestLabelEscaping(t *testing.T) {
	e := New()
	e.SetModuleOptions(map[string]ModuleMetrics{`m"1`: allOptIns})
	weird := "https://x.example/?q=\"a\\b\"\nc"
	r := okHTTPS()
	r.TLS.Chain = []probe.Cert{{Subject: `CN=a\"b,O=q` + "\n", NotAfter: day(2027, 1, 1)}}
	e.Observe(weird, `m"1`, r)
	text := scrape(t, e)
	checkFamiliesOnce(t, text)
	mfs, err := parseText(text)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	n := 0
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if label(m, "target") == "" {
				continue
			}
			n++
			if label(m, "target") != weird || label(m, "module") != `m"1` {
				t.Errorf("%s: labels %v", mf.GetName(), m.GetLabel())
			}
			if mf.GetName() == NameTLSCertNotAfter && label(m, "subject") != `CN=a\"b,O=q`+"\n" {
				t.Errorf("subject %q", label(m, "subject"))
			}
		}
	}
	if n < 10 {
		t.Errorf("%d series of the target, want ≥ 10", n)
	}
}

func TestAppendFloat(t *testing.T) {
	for _, v := range []float64{0, 1, -1, 0.03, 1e-7, 0.00025, 1795255200.123, 1798761600, 1e15, 1e300, 123456789012345678,
		math.Inf(1), math.Inf(-1), 0.1 + 0.2, 5e-324} {
		s := string(appendFloat(nil, v))
		got, err := strconv.ParseFloat(s, 64) // as the text parser reads it
		if err != nil || got != v {
			t.Errorf("appendFloat(%v) = %q, parses as %v (%v)", v, s, got, err)
		}
	}
	if s := string(appendFloat(nil, math.NaN())); s != "NaN" {
		t.Errorf("NaN is %q", s)
	}
	if s := string(appendFloat(nil, 1798761600)); s != "1798761600" {
		t.Errorf("a timestamp is %q", s)
	}
}

func TestHandlerGzip(t *testing.T) {
	e := richExporter()
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()
	get := func(ae string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
		req.Header.Set("Accept-Encoding", ae) // set by hand: the client then does not decompress
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	resp, b := get("deflate, gzip;q=0.5")
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("headers %v", resp.Header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	text, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseText(string(text)); err != nil || !strings.Contains(string(text), NameProbeSuccess) {
		t.Errorf("gzip body: %v\n%s", err, text)
	}
	for _, ae := range []string{"identity", "gzip;q=0", ""} {
		resp, b := get(ae)
		if resp.Header.Get("Content-Encoding") != "" || !bytes.Contains(b, []byte(NameProbeSuccess)) {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, body %.40q", ae, resp.Header.Get("Content-Encoding"), b)
		}
	}
}

// TestConcurrentObserveScrape scrapes /metrics while targets are
// observed, forgotten and moved between modules, and the options change
// (run it with -race). Every scrape must parse, every family once.
func TestConcurrentObserveScrape(t *testing.T) {
	e := New()
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			runs := []func() *probe.Result{okHTTPS, timeoutHTTPS, refusedHTTPS}
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				target := fmt.Sprintf("t%d", (w*7+j)%20)
				switch j % 11 {
				case 5:
					e.Forget(target)
				case 7:
					e.Observe(target, "other", okHTTPS())
				case 9:
					e.SetModuleOptions(map[string]ModuleMetrics{mod: {PerTargetHistograms: j%2 == 0, PerTargetPhases: true, TLSResumed: true}})
				default:
					e.Observe(target, mod, runs[j%3]())
				}
			}
		})
	}
	for range 20 {
		text := scrape(t, e)
		checkFamiliesOnce(t, text)
		if _, err := parseText(text); err != nil {
			t.Fatalf("scrape does not parse: %v", err)
		}
	}
	close(stop)
	wg.Wait()
}

// TestFamiliesDocumented: every pathlens_ family /metrics can serve, the
// opt-in ones included, has a row in docs/serve.md.
func TestFamiliesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/serve.md")
	if err != nil {
		t.Fatal(err)
	}
	e := richExporter()
	e.Observe("grpc", "stream", &probe.Result{Kind: "grpc", Success: true, GRPC: &probe.GRPCInfo{Messages: 1}})
	e.Observe("h2", mod, &probe.Result{Kind: "https", Success: true, H2: &probe.H2Info{Stalls: []probe.H2Stall{{Dir: "send", DurationMS: 200}}}})
	e.Observe("ws", "ws", &probe.Result{Kind: "ws", Success: true, WS: &probe.WSInfo{PingRTTMS: []float64{1}, SessionMS: 5, Close: &probe.WSClose{By: "server"}}})
	mfs, err := e.gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		if name := mf.GetName(); strings.HasPrefix(name, "pathlens_") {
			n++
			if !bytes.Contains(doc, []byte("| `"+name+"` |")) {
				t.Errorf("docs/serve.md has no row for %s", name)
			}
		}
	}
	if n < 19 {
		t.Errorf("only %d pathlens_ families", n)
	}
}

// A scrape that took its snapshot of the targets before a Forget does not
// write the forgotten target.
func TestScrapeSkipsForgotten(t *testing.T) {
	e := New()
	e.Observe("a", mod, okHTTPS())
	e.Observe("b", mod, okHTTPS())
	snap := e.snapshot()
	e.Forget("a")
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	for i := range targetFamilies {
		if _, err := writeTargetFamily(w, &targetFamilies[i], snap, nil); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	if text := buf.String(); strings.Contains(text, `target="a"`) || !strings.Contains(text, `target="b"`) {
		t.Errorf("in-flight scrape after Forget(a):\n%s", text)
	}
}

// TestHistogramSumShortest: a per-target histogram's _sum is kept in
// whole microseconds, so 0.1 ms + 0.2 ms prints 0.0003 (a float sum
// would print 0.00030000000000000003).
func TestHistogramSumShortest(t *testing.T) {
	e := New()
	e.SetModuleOptions(map[string]ModuleMetrics{"web": {PerTargetHistograms: true}})
	for _, ms := range []float64{0.1, 0.2} {
		r := okHTTPS()
		r.TotalMS = ms
		e.Observe("t", "web", r)
	}
	want := `pathlens_probe_duration_seconds_sum{module="web",target="t"} 0.0003` + "\n"
	if body := scrape(t, e); !strings.Contains(body, want) {
		t.Errorf("scrape lacks %q:\n%s", want, grepLines(body, "pathlens_probe_duration_seconds_sum"))
	}
}

// grepLines is the lines of body that contain s.
func grepLines(body, s string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
