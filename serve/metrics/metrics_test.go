package metrics

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/pathlens/pathlens/probe"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	tgt = "https://api.example.test/health"
	mod = "web"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

var (
	leaf1 = probe.Cert{Subject: "CN=api.example.test", Issuer: "CN=Test CA R1", NotAfter: day(2027, 1, 1)}      // 1798761600
	ca1   = probe.Cert{Subject: "CN=Test CA R1", Issuer: "CN=Test Root", NotAfter: day(2030, 1, 1), IsCA: true} // 1893456000
	root  = probe.Cert{Subject: "CN=Test Root", Issuer: "CN=Test Root", NotAfter: day(2035, 1, 1), IsCA: true}  // 2051222400
	leaf2 = probe.Cert{Subject: "CN=api.example.test", Issuer: "CN=Test CA R2", NotAfter: day(2027, 6, 1)}      // 1811808000
	ca2   = probe.Cert{Subject: "CN=Test CA R2", Issuer: "CN=Test Root", NotAfter: day(2031, 1, 1), IsCA: true} // 1924992000
)

// okHTTPS is a successful https run: 30 ms total, every phase present.
func okHTTPS() *probe.Result {
	return &probe.Result{
		Schema: probe.Schema, Target: tgt, Kind: "https", StartedAt: t0, Success: true, TotalMS: 30,
		Phases: []probe.Phase{
			{Name: "dns", StartMS: 0, DurationMS: 1},
			{Name: "connect", StartMS: 1, DurationMS: 2},
			{Name: "tls", StartMS: 3, DurationMS: 4},
			{Name: "request", StartMS: 7, DurationMS: 0.25},
			{Name: "wait", StartMS: 7.25, DurationMS: 20},
			{Name: "transfer", StartMS: 27.25, DurationMS: 1},
		},
		Conn: &probe.ConnInfo{RemoteAddr: "192.0.2.10:443", IPVersion: 4},
		TLS: &probe.TLSInfo{Version: "TLS 1.3", Cipher: "TLS_AES_128_GCM_SHA256", ALPN: "h2", Verified: true,
			Chain: []probe.Cert{leaf1, ca1}, VerifiedChain: []probe.Cert{leaf1, ca1, root},
			Resumption: &probe.ResumptionCheck{Tested: true, Resumed: true}},
		HTTP: &probe.HTTPInfo{Status: 200, Proto: "HTTP/2.0", BodyBytes: 1024, ContentLength: 1024, Redirects: []probe.Redirect{}},
		Findings: []probe.Finding{
			{ID: "TLS_CERT_EXPIRING", Severity: probe.SeverityWarning},
			{ID: "HTTP_NO_KEEPALIVE", Severity: probe.SeverityInfo},
		},
	}
}

// timeoutHTTPS ran out of budget in wait, after a renewed certificate
// (new leaf date, new intermediate) was sent.
func timeoutHTTPS() *probe.Result {
	return &probe.Result{
		Schema: probe.Schema, Target: tgt, Kind: "https", StartedAt: t0.Add(30 * time.Second), TotalMS: 10000,
		Error: &probe.ErrorInfo{Class: probe.ClassTimeout, Phase: "wait", Message: "budget ran out"},
		Phases: []probe.Phase{
			{Name: "dns", StartMS: 0, DurationMS: 1},
			{Name: "connect", StartMS: 1, DurationMS: 2},
			{Name: "tls", StartMS: 3, DurationMS: 4},
			{Name: "request", StartMS: 7, DurationMS: 0.25},
			{Name: "wait", StartMS: 7.25, DurationMS: 9992.75, Incomplete: true},
		},
		TLS: &probe.TLSInfo{Version: "TLS 1.3", Verified: true,
			Chain: []probe.Cert{leaf2, ca2}, VerifiedChain: []probe.Cert{leaf2, ca2, root},
			Resumption: &probe.ResumptionCheck{Error: "no budget left"}},
		HTTP:     &probe.HTTPInfo{ContentLength: -1, Redirects: []probe.Redirect{}},
		Findings: []probe.Finding{{ID: "PROBE_TIMEOUT", Severity: probe.SeverityCritical}},
	}
}

// refusedHTTPS never got past connect.
func refusedHTTPS() *probe.Result {
	return &probe.Result{
		Schema: probe.Schema, Target: tgt, Kind: "https", StartedAt: t0.Add(60 * time.Second), TotalMS: 3,
		Error: &probe.ErrorInfo{Class: probe.ClassConnect, Phase: "connect", Message: "connection refused", Cause: "refused"},
		Phases: []probe.Phase{
			{Name: "dns", StartMS: 0, DurationMS: 1},
			{Name: "connect", StartMS: 1, DurationMS: 2, Incomplete: true},
		},
		Conn:     &probe.ConnInfo{IPVersion: 4},
		Findings: []probe.Finding{{ID: "TCP_REFUSED", Severity: probe.SeverityCritical}},
	}
}

func expect(t *testing.T, e *Exporter, want string, names ...string) {
	t.Helper()
	if err := testutil.GatherAndCompare(e.gatherer(), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}

const (
	helpSuccess  = "# HELP pathlens_probe_success Whether the latest run of the probe succeeded (1) or failed (0).\n# TYPE pathlens_probe_success gauge\n"
	helpRuns     = "# HELP pathlens_probe_runs_total Probe runs by result (success or failure).\n# TYPE pathlens_probe_runs_total counter\n"
	helpErrors   = "# HELP pathlens_probe_errors_total Failed probe runs by error class (dns, connect, tls, http, protocol, timeout, canceled, config, other); a class appears with the target's first failure of that class.\n# TYPE pathlens_probe_errors_total counter\n"
	helpFinding  = "# HELP pathlens_finding_active 1 while the latest run of the probe shows the finding; the series is absent otherwise.\n# TYPE pathlens_finding_active gauge\n"
	helpNotAfter = "# HELP pathlens_tls_cert_not_after_timestamp_seconds NotAfter of each certificate of the chain the server sent, as a Unix timestamp in seconds.\n# TYPE pathlens_tls_cert_not_after_timestamp_seconds gauge\n"
	helpLastRun  = "# HELP pathlens_probe_last_run_timestamp_seconds Unix time in seconds at which the latest run of the probe started.\n# TYPE pathlens_probe_last_run_timestamp_seconds gauge\n"
	helpResumed  = "# HELP pathlens_tls_handshake_resumed Whether a second TLS connection resumed the session (1) or needed a full handshake (0); present only when tested.\n# TYPE pathlens_tls_handshake_resumed gauge\n"
	helpDuration = "# HELP pathlens_probe_duration_seconds Total duration of probe runs in seconds, failed runs included.\n# TYPE pathlens_probe_duration_seconds histogram\n"
	helpPhase    = "# HELP pathlens_probe_phase_duration_seconds Duration of completed probe phases in seconds (phase names as in the JSON result).\n# TYPE pathlens_probe_phase_duration_seconds histogram\n"
)

// errorsText is pathlens_probe_errors_total of tgt: a series for each
// class that has failed, none for the others.
func errorsText(counts map[string]int) string {
	if len(counts) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(helpErrors)
	for _, c := range []string{"canceled", "config", "connect", "dns", "http", "other", "protocol", "timeout", "tls"} {
		if counts[c] > 0 {
			fmt.Fprintf(&b, "pathlens_probe_errors_total{class=%q,module=%q,target=%q} %d\n", c, mod, tgt, counts[c])
		}
	}
	return b.String()
}

// histText renders the expected text of one histogram series with
// DurationBuckets from a list of observations (an independent count).
func histText(name, labels string, obs ...float64) string {
	var b strings.Builder
	sum := 0.0
	for _, o := range obs {
		sum += o
	}
	for _, le := range DurationBuckets {
		n := 0
		for _, o := range obs {
			if o <= le {
				n++
			}
		}
		fmt.Fprintf(&b, "%s_bucket{%s,le=\"%g\"} %d\n", name, labels, le, n)
	}
	fmt.Fprintf(&b, "%s_bucket{%s,le=\"+Inf\"} %d\n", name, labels, len(obs))
	fmt.Fprintf(&b, "%s_sum{%s} %v\n", name, labels, sum)
	fmt.Fprintf(&b, "%s_count{%s} %d\n", name, labels, len(obs))
	return b.String()
}

// allOptIns turns on every opt-in series.
var allOptIns = ModuleMetrics{PerTargetHistograms: true, PerTargetPhases: true, LastRunTimestamp: true, TLSResumed: true}

func TestObserveSequence(t *testing.T) {
	e := New()
	e.SetModuleOptions(map[string]ModuleMetrics{mod: allOptIns})

	// Run 1: success.
	e.Observe(tgt, mod, okHTTPS())
	expect(t, e, helpSuccess+`pathlens_probe_success{module="web",target="https://api.example.test/health"} 1
`+helpRuns+`pathlens_probe_runs_total{module="web",result="failure",target="https://api.example.test/health"} 0
pathlens_probe_runs_total{module="web",result="success",target="https://api.example.test/health"} 1
`+helpLastRun+`pathlens_probe_last_run_timestamp_seconds{module="web",target="https://api.example.test/health"} 1795255200
`+helpFinding+`pathlens_finding_active{id="HTTP_NO_KEEPALIVE",module="web",severity="info",target="https://api.example.test/health"} 1
pathlens_finding_active{id="TLS_CERT_EXPIRING",module="web",severity="warning",target="https://api.example.test/health"} 1
`+helpNotAfter+`pathlens_tls_cert_not_after_timestamp_seconds{module="web",subject="CN=Test CA R1",target="https://api.example.test/health"} 1893456000
pathlens_tls_cert_not_after_timestamp_seconds{module="web",subject="CN=api.example.test",target="https://api.example.test/health"} 1798761600
`+helpResumed+`pathlens_tls_handshake_resumed{module="web",target="https://api.example.test/health"} 1
`+errorsText(nil),
		NameProbeSuccess, NameProbeRuns, NameProbeLastRun, NameFindingActive, NameTLSCertNotAfter, NameTLSResumed, NameProbeErrors)

	// The total histogram, written out: one run of 30 ms.
	expect(t, e, helpDuration+`pathlens_probe_duration_seconds_bucket{module="web",target="https://api.example.test/health",le="0.0005"} 0
pathlens_probe_duration_seconds_bucket{module="web",target="https://api.example.test/health",le="0.001"} 0
pathlens_probe_duration_seconds_bucket{module="web",target="https://api.example.test/health",le="0.0025"} 0
pathlens_probe_duration_seconds_bucket{module="web",target="https://api.example.test/health",le="0.005"} 0
pathlens_probe_duration_seconds_bucket{module="web",target="https://api.example.test/health",le="0.01"} 0
pathlens_probe_duration_seconds_bucket{module="web",target="https://api.example.test/health",le="0.025"} 0
pathlens_probe_duration_seconds_bucket{module="web",target="https://api.example.test/health",le="0.05"} 1
pathlens_probe_duration_seconds_bucket{module="web",target="https://api.example.test/health",le="0.1"} 1
pathlens_probe_duration_seconds_bucket{module="web",target="https://api.example.test/health",le="0.25"} 1
pathlens_probe_duration_seconds_bucket{module="web",target="https://api.example.test/health",le="0.5"} 1
pathlens_probe_duration_seconds_bucket{module="web",target="https://api.example.test/health",le="1"} 1
pathlens_probe_duration_seconds_bucket{module="web",target="https://api.example.test/health",le="2.5"} 1
pathlens_probe_duration_seconds_bucket{module="web",target="https://api.example.test/health",le="5"} 1
pathlens_probe_duration_seconds_bucket{module="web",target="https://api.example.test/health",le="10"} 1
pathlens_probe_duration_seconds_bucket{module="web",target="https://api.example.test/health",le="30"} 1
pathlens_probe_duration_seconds_bucket{module="web",target="https://api.example.test/health",le="+Inf"} 1
pathlens_probe_duration_seconds_sum{module="web",target="https://api.example.test/health"} 0.03
pathlens_probe_duration_seconds_count{module="web",target="https://api.example.test/health"} 1
`, NameProbeDuration)

	// One phase written out (tls, 4 ms → first bucket 5 ms).
	tlsLabels := `module="web",phase="tls",target="https://api.example.test/health"`
	if got, want := histText(NameProbePhaseDuration, tlsLabels, 0.004), `pathlens_probe_phase_duration_seconds_bucket{module="web",phase="tls",target="https://api.example.test/health",le="0.0025"} 0
pathlens_probe_phase_duration_seconds_bucket{module="web",phase="tls",target="https://api.example.test/health",le="0.005"} 1
`; !strings.Contains(got, want) {
		t.Fatalf("histText helper is off:\n%s", got)
	}

	// Run 2: timeout in wait, renewed certificate, no resumption check.
	e.Observe(tgt, mod, timeoutHTTPS())
	expect(t, e, helpSuccess+`pathlens_probe_success{module="web",target="https://api.example.test/health"} 0
`+helpRuns+`pathlens_probe_runs_total{module="web",result="failure",target="https://api.example.test/health"} 1
pathlens_probe_runs_total{module="web",result="success",target="https://api.example.test/health"} 1
`+helpLastRun+`pathlens_probe_last_run_timestamp_seconds{module="web",target="https://api.example.test/health"} 1795255230
`+helpFinding+`pathlens_finding_active{id="PROBE_TIMEOUT",module="web",severity="critical",target="https://api.example.test/health"} 1
`+helpNotAfter+`pathlens_tls_cert_not_after_timestamp_seconds{module="web",subject="CN=Test CA R2",target="https://api.example.test/health"} 1924992000
pathlens_tls_cert_not_after_timestamp_seconds{module="web",subject="CN=api.example.test",target="https://api.example.test/health"} 1811808000
`+helpResumed+`pathlens_tls_handshake_resumed{module="web",target="https://api.example.test/health"} 1
`+errorsText(map[string]int{"timeout": 1}),
		NameProbeSuccess, NameProbeRuns, NameProbeLastRun, NameFindingActive, NameTLSCertNotAfter, NameTLSResumed, NameProbeErrors)

	// Run 3: refused. No TLS, so the certificate series stay as they were.
	e.Observe(tgt, mod, refusedHTTPS())
	expect(t, e, helpSuccess+`pathlens_probe_success{module="web",target="https://api.example.test/health"} 0
`+helpRuns+`pathlens_probe_runs_total{module="web",result="failure",target="https://api.example.test/health"} 2
pathlens_probe_runs_total{module="web",result="success",target="https://api.example.test/health"} 1
`+helpFinding+`pathlens_finding_active{id="TCP_REFUSED",module="web",severity="critical",target="https://api.example.test/health"} 1
`+helpNotAfter+`pathlens_tls_cert_not_after_timestamp_seconds{module="web",subject="CN=Test CA R2",target="https://api.example.test/health"} 1924992000
pathlens_tls_cert_not_after_timestamp_seconds{module="web",subject="CN=api.example.test",target="https://api.example.test/health"} 1811808000
`+helpResumed+`pathlens_tls_handshake_resumed{module="web",target="https://api.example.test/health"} 1
`+errorsText(map[string]int{"timeout": 1, "connect": 1}),
		NameProbeSuccess, NameProbeRuns, NameFindingActive, NameTLSCertNotAfter, NameTLSResumed, NameProbeErrors)

	// Histograms after three runs: incomplete phases (wait in run 2,
	// connect in run 3) are not observed.
	lbl := func(phase string) string {
		return fmt.Sprintf(`module="web",phase=%q,target="https://api.example.test/health"`, phase)
	}
	expect(t, e, helpPhase+
		histText(NameProbePhaseDuration, lbl("connect"), 0.002, 0.002)+
		histText(NameProbePhaseDuration, lbl("dns"), 0.001, 0.001, 0.001)+
		histText(NameProbePhaseDuration, lbl("request"), 0.00025, 0.00025)+
		histText(NameProbePhaseDuration, lbl("tls"), 0.004, 0.004)+
		histText(NameProbePhaseDuration, lbl("transfer"), 0.001)+
		histText(NameProbePhaseDuration, lbl("wait"), 0.02),
		NameProbePhaseDuration)
	expect(t, e, helpDuration+histText(NameProbeDuration, `module="web",target="https://api.example.test/health"`, 0.03, 10, 0.003),
		NameProbeDuration)

	// Run 4: a successful run without TLS (the target dropped it) removes
	// the certificate and resumption series, and the findings.
	plain := okHTTPS()
	plain.TLS, plain.Findings = nil, nil
	e.Observe(tgt, mod, plain)
	if n, err := testutil.GatherAndCount(e.gatherer(), NameTLSCertNotAfter, NameTLSResumed, NameFindingActive); err != nil || n != 0 {
		t.Errorf("after a run without TLS or findings: %d cert/resumption/finding series (err %v), want 0", n, err)
	}
}

func TestFindingSeverityChangeReplacesSeries(t *testing.T) {
	e := New()
	r := okHTTPS()
	r.Findings = []probe.Finding{{ID: "ICMP_LOSS", Severity: probe.SeverityWarning}, {ID: "ICMP_LOSS", Severity: probe.SeverityWarning}}
	e.Observe(tgt, mod, r)
	r = okHTTPS()
	r.Findings = []probe.Finding{{ID: "ICMP_LOSS", Severity: probe.SeverityCritical}}
	e.Observe(tgt, mod, r)
	expect(t, e, helpFinding+`pathlens_finding_active{id="ICMP_LOSS",module="web",severity="critical",target="https://api.example.test/health"} 1
`, NameFindingActive)
}

func TestUnknownErrorClassIsOther(t *testing.T) {
	e := New()
	r := refusedHTTPS()
	r.Error.Class = "weird"
	e.Observe(tgt, mod, r)
	r = refusedHTTPS()
	r.Error = nil // failed without an error: still bounded
	e.Observe(tgt, mod, r)
	expect(t, e, errorsText(map[string]int{"other": 2}), NameProbeErrors)
}

func TestDuplicateSubjectKeepsEarliest(t *testing.T) {
	e := New()
	r := okHTTPS()
	cross := ca1
	cross.NotAfter = day(2028, 1, 1) // 1830297600
	r.TLS.Chain = []probe.Cert{leaf1, ca1, cross}
	e.Observe(tgt, mod, r)
	expect(t, e, helpNotAfter+`pathlens_tls_cert_not_after_timestamp_seconds{module="web",subject="CN=Test CA R1",target="https://api.example.test/health"} 1830297600
pathlens_tls_cert_not_after_timestamp_seconds{module="web",subject="CN=api.example.test",target="https://api.example.test/health"} 1798761600
`, NameTLSCertNotAfter)
}

// seriesOf counts the series, over every pathlens_ family, whose target
// label is target.
func seriesOf(t *testing.T, e *Exporter, target string) int {
	t.Helper()
	mfs, err := e.gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "target" && lp.GetValue() == target {
					n++
				}
			}
		}
	}
	return n
}

func TestForget(t *testing.T) {
	e := New()
	other := "tcp://db.internal:5432"
	e.Observe(tgt, mod, okHTTPS())
	e.Observe(tgt, mod, timeoutHTTPS())
	e.Observe(other, "db", refusedHTTPS())
	before := seriesOf(t, e, other)
	if seriesOf(t, e, tgt) == 0 || before == 0 {
		t.Fatal("no series before Forget")
	}
	e.Forget(tgt)
	if n := seriesOf(t, e, tgt); n != 0 {
		t.Errorf("Forget left %d series of %s", n, tgt)
	}
	if n := seriesOf(t, e, other); n != before {
		t.Errorf("Forget(%s) changed %s: %d series, want %d", tgt, other, n, before)
	}
	// A forgotten target starts afresh.
	e.Observe(tgt, mod, refusedHTTPS())
	expect(t, e, helpRuns+`pathlens_probe_runs_total{module="web",result="failure",target="https://api.example.test/health"} 1
pathlens_probe_runs_total{module="web",result="success",target="https://api.example.test/health"} 0
pathlens_probe_runs_total{module="db",result="failure",target="tcp://db.internal:5432"} 1
pathlens_probe_runs_total{module="db",result="success",target="tcp://db.internal:5432"} 0
`, NameProbeRuns)
	e.Forget("never-seen") // no-op
}

func TestModuleChangeDropsOldSeries(t *testing.T) {
	e := New()
	e.Observe(tgt, "web", okHTTPS())
	e.Observe(tgt, "web-strict", okHTTPS())
	mfs, err := e.gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "module" && lp.GetValue() != "web-strict" {
					t.Errorf("%s still has module=%q", mf.GetName(), lp.GetValue())
				}
			}
		}
	}
}

func TestObserveNil(t *testing.T) {
	e := New()
	e.Observe(tgt, mod, nil)
	if n := seriesOf(t, e, tgt); n != 0 {
		t.Errorf("nil Result made %d series", n)
	}
}

// richExporter has seen every kind of series, the opt-in ones included
// (module web).
func richExporter() *Exporter {
	e := New()
	e.SetModuleOptions(map[string]ModuleMetrics{mod: allOptIns})
	observeSamples(e)
	return e
}

// defaultExporter has seen the runs of richExporter without its opt-ins:
// the series every deployment has.
func defaultExporter() *Exporter {
	e := New()
	e.SetSLOs(map[string]SLO{tgt: {Objective: 0.999, Latency: 300 * time.Millisecond}}, map[string]string{tgt: mod})
	observeSamples(e)
	e.SetErrorBudget(tgt, 0.5)
	return e
}

func observeSamples(e *Exporter) {
	e.Observe(tgt, mod, okHTTPS())
	e.Observe(tgt, mod, timeoutHTTPS())
	e.Observe("tcp://db.internal:5432", "db", refusedHTTPS())
}

func TestPromlint(t *testing.T) {
	mfs, err := richExporter().gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// scrape fetches /metrics from the Exporter's Handler as Prometheus would
// (text format).
func scrape(t *testing.T, e *Exporter) string {
	t.Helper()
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q", ct)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHandlerTextParses(t *testing.T) {
	e := richExporter()
	text := scrape(t, e)
	checkFamiliesOnce(t, text)
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("expfmt cannot parse /metrics: %v\n%s", err, text)
	}
	for _, name := range []string{NameProbeSuccess, NameProbeDuration, NameProbePhaseDuration, NameProbeRuns,
		NameFindingActive, NameTLSCertNotAfter, NameProbeErrors, NameProbeLastRun, NameTLSResumed,
		NameProbeLastDuration, NameProbeLastPhaseDuration, NameModuleProbeDuration, NameModulePhaseDuration, NameModuleProbeErrors,
		"go_goroutines", "process_cpu_seconds_total", "promhttp_metric_handler_requests_total"} {
		if mfs[name] == nil {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if got := mfs[NameProbeDuration].GetType().String(); got != "HISTOGRAM" {
		t.Errorf("%s is %s", NameProbeDuration, got)
	}
	// Linting the served text catches what the exposition adds.
	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint /metrics: %s: %s", p.Metric, p.Text)
	}
	if path, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(path, "check", "metrics")
		cmd.Stdin = strings.NewReader(text)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	} else {
		t.Log("promtool not on PATH: skipped promtool check metrics")
	}
}

func TestConcurrentObserveForgetGather(t *testing.T) {
	e := New()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			target := fmt.Sprintf("https://t%d.example.test/", i%3)
			for j := range 50 {
				switch j % 5 {
				case 0:
					e.Observe(target, mod, okHTTPS())
				case 1:
					e.Observe(target, mod, timeoutHTTPS())
				case 2:
					e.Observe(target, mod, refusedHTTPS())
				case 3:
					e.Forget(target)
				case 4:
					if _, err := e.gatherer().Gather(); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	// Whatever the interleaving, the exposed findings are those of the
	// targets the Exporter still holds.
	mfs, err := e.gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	exposed := map[string]bool{}
	for _, mf := range mfs {
		if mf.GetName() != NameFindingActive {
			continue
		}
		for _, m := range mf.GetMetric() {
			var parts []string
			for _, lp := range m.GetLabel() {
				parts = append(parts, lp.GetValue())
			}
			exposed[strings.Join(parts, "|")] = true
		}
	}
	tracked := map[string]bool{}
	e.mu.Lock()
	for target, ts := range e.targets {
		for _, k := range ts.findings {
			// label order: id, module, severity, target
			tracked[strings.Join([]string{k.id, ts.mod.name, k.severity, target}, "|")] = true
		}
	}
	e.mu.Unlock()
	if fmt.Sprint(sortedKeys(exposed)) != fmt.Sprint(sortedKeys(tracked)) {
		t.Errorf("exposed findings %v, tracked %v", sortedKeys(exposed), sortedKeys(tracked))
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestHandlerTwice(t *testing.T) {
	e := New()
	e.Observe(tgt, mod, okHTTPS())
	_ = e.Handler() // a second Handler must reuse promhttp's collectors, not panic
	if !strings.Contains(scrape(t, e), NameProbeSuccess) {
		t.Error("second Handler serves no pathlens_ series")
	}
}
