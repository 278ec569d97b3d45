package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pathlens/pathlens/lab"
	"github.com/pathlens/pathlens/probe"
	"go.uber.org/goleak"
)

// check --frames prints the timeline under the h2 line; without it only
// the h2 line; --json carries h2 either way.
func TestCheckFrames(t *testing.T) {
	defer goleak.VerifyNone(t)
	l, err := lab.Start(context.Background(), lab.Options{Dir: t.TempDir(), Only: []string{"h2-goaway", "ok-http"}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := l.Manifest()
	s, _ := l.Scenario("h2-goaway")
	check := func(extra ...string) (int, string) {
		args := append([]string{"check", "--color", "never", "--ca", m.CAFile, "--dns-server", m.DNSServer}, extra...)
		var out, errb bytes.Buffer
		code := Run(append(args, s.Target), &out, &errb)
		if errb.Len() > 0 {
			t.Errorf("stderr: %s", errb.String())
		}
		return code, out.String()
	}

	code, out := check("--frames")
	for _, want := range []string{"\nh2    9 frames (→ 4, ← 5)", "GOAWAY NO_ERROR", "frames  → sent by pathlens, ← by the server",
		"→ SETTINGS", "← HEADERS          1  :status 200", `← GOAWAY           0  NO_ERROR  last stream 1  "lab: draining for restart"`,
		"← DATA             1  3 B  END_STREAM", "warning  H2_GOAWAY"} {
		if !strings.Contains(out, want) {
			t.Errorf("--frames output lacks %q:\n%s", want, out)
		}
	}
	if code != ExitFinding {
		t.Errorf("exit %d, want %d", code, ExitFinding)
	}
	if lines := strings.Count(out, "\n"); lines > 45 {
		t.Errorf("%d lines for one small request; want it on one screen", lines)
	}

	_, out = check()
	if !strings.Contains(out, "\nh2    9 frames") || strings.Contains(out, "frames  →") {
		t.Errorf("without --frames:\n%s", out)
	}

	_, out = check("--json")
	var r probe.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.H2 == nil || len(r.H2.Frames) != 9 || r.H2.GoAway == nil || r.H2.Settings["client"]["INITIAL_WINDOW_SIZE"] == 0 {
		t.Errorf("json h2 = %+v", r.H2)
	}
	var raw struct {
		H2 map[string]json.RawMessage `json:"h2"`
	}
	_ = json.Unmarshal([]byte(out), &raw)
	for key, prefix := range map[string]string{"settings": `{`, "frames": `[`, "stalls": `[`} {
		if v := strings.TrimSpace(string(raw.H2[key])); !strings.HasPrefix(v, prefix) {
			t.Errorf("json h2.%s = %.40s, want it present (docs/result.md), [] not null", key, v)
		}
	}
}
