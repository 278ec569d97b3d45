package serve

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pathlens/pathlens/lab"
)

// Assertions run in serve's scheduled probes and in /probe alike: a
// target's failed assertion is an active ASSERTION_FAILED of its
// severity on /metrics, the probe still a success; /probe with a module
// runs the module's.
func TestServeAssertions(t *testing.T) {
	l, err := lab.Start(context.Background(), lab.Options{Dir: t.TempDir(), Only: []string{"ok-http"}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s, _ := l.Scenario("ok-http")
	base := startServe(t, fmt.Sprintf(`defaults: {interval: 2s, timeout: 1s}
modules:
  web: {kind: http, assert: ['r.http.status == 200']}
  strict: {kind: http, assert: ['r.http.status == 201']}
targets:
  - {name: holds, url: %[1]q, module: web}
  - name: breaks
    url: %[1]q
    module: web
    assert: [{expr: 'body.contains("ready")', severity: warning}]
probe_endpoint:
  allow: ["http://127.0.0.1:*"]
  modules: [strict]
`, s.Target))
	eventually(t, "both targets probed", func() bool {
		_, body := get(t, base+"/metrics")
		return strings.Contains(body, `pathlens_probe_success{module="web",target="holds"} 1`) &&
			strings.Contains(body, `pathlens_probe_success{module="web",target="breaks"} 1`)
	})
	_, metrics := get(t, base+"/metrics")
	if want := `pathlens_finding_active{id="ASSERTION_FAILED",module="web",severity="warning",target="breaks"} 1`; !strings.Contains(metrics, want) {
		t.Errorf("/metrics lacks %s", want)
	}
	for _, line := range strings.Split(metrics, "\n") {
		if strings.Contains(line, `id="ASSERTION_FAILED"`) && !strings.Contains(line, `target="breaks"`) {
			t.Errorf("an ASSERTION_FAILED of another target: %s", line)
		}
	}

	body := probeVia(t, base, s.Target, "strict")
	for _, want := range []string{"probe_success 1", `pathlens_finding_active{id="ASSERTION_FAILED",severity="critical"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("/probe?module=strict lacks %s:\n%s", want, body)
		}
	}
	if body := probeVia(t, base, s.Target, ""); strings.Contains(body, "ASSERTION_FAILED") {
		t.Errorf("/probe with the default module has ASSERTION_FAILED:\n%s", body)
	}
}
