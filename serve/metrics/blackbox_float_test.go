package metrics

import (
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pathlens/pathlens/probe"
)

// exposition is reg as /probe writes it: the text format.
func exposition(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/probe", nil))
	b, err := io.ReadAll(rec.Result().Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var sampleLine = regexp.MustCompile(`(?m)^([a-z_]+)(\{[^}]*\})? (\S+)$`)

// TestBlackboxFloatFormat: durations print as Prometheus prints a float
// of whole microseconds: 49.431 ms is 0.049431 (49.431/1000 is
// 0.049430999999999996), and a sum of phases (0.1 + 0.2 ms) is 0.0003,
// not 0.00030000000000000003.
func TestBlackboxFloatFormat(t *testing.T) {
	r := &probe.Result{Kind: "http", Success: true, TotalMS: 49.431, TimeoutMS: 4999.987,
		Phases: []probe.Phase{
			{Name: "dns", DurationMS: 1.001},
			{Name: "connect", DurationMS: 0.3},
			{Name: "request", DurationMS: 0.1},
			{Name: "wait", DurationMS: 0.2},
			{Name: "transfer", DurationMS: 47.83},
		},
		HTTP: &probe.HTTPInfo{Status: 200, Proto: "HTTP/1.1", ContentLength: 2, BodyBytes: 2, Redirects: []probe.Redirect{}},
	}
	body := exposition(t, BlackboxRegistry(r))
	for _, want := range []string{
		"probe_duration_seconds 0.049431\n",
		"probe_timeout_seconds 4.999987\n",
		"probe_dns_lookup_time_seconds 0.001001\n",
		`probe_http_duration_seconds{phase="processing"} 0.0003` + "\n",
		`probe_http_duration_seconds{phase="connect"} 0.0003` + "\n",
		`probe_http_duration_seconds{phase="transfer"} 0.04783` + "\n",
		"probe_http_version 1.1\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/probe lacks %q:\n%s", want, body)
		}
	}
	checkShortFloats(t, body)
}

// checkShortFloats: every sample value is the shortest representation
// of itself, and every duration has at most 6 decimals (whole µs).
func checkShortFloats(t *testing.T, body string) {
	t.Helper()
	n := 0
	for _, m := range sampleLine.FindAllStringSubmatch(body, -1) {
		n++
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Errorf("%s: value %q does not parse", m[0], m[3])
			continue
		}
		if s := strconv.FormatFloat(v, 'g', -1, 64); s != m[3] {
			t.Errorf("%s: value printed %q, shortest is %q", m[0], m[3], s)
		}
		if strings.HasSuffix(m[1], "_seconds") && !strings.Contains(m[1], "timestamp") && !strings.Contains(m[1], "expiry") {
			if us := strconv.FormatFloat(math.Round(v*1e6)/1e6, 'g', -1, 64); us != m[3] {
				t.Errorf("%s: %s s is not a whole number of µs (%s)", m[0], m[3], us)
			}
		}
	}
	if n == 0 {
		t.Errorf("no sample in:\n%s", body)
	}
}
