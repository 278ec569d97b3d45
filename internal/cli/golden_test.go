package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/lab"
	"github.com/pathlens/pathlens/output"
	"go.uber.org/goleak"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite internal/cli/testdata/golden from this run")

// TestLabJSONGolden pins the --json Result of every lab scenario, so a
// refactor of options, probers or output is proved to change nothing a
// script reads. What varies from run to run — times, ports, temporary
// paths, key material, timing-dependent lists — is normalised first (see
// normalizeGolden); everything else (keys and their order, kinds, phases,
// error classes and causes, finding IDs, severities and every word of the
// messages) must match byte for byte.
//
// Regenerate after an intended change with
//
//	go test ./internal/cli -run TestLabJSONGolden -update-golden
func TestLabJSONGolden(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // runs after the lab's cleanup
	ctx := context.Background()
	m := probetest.StartLab(t).Manifest()
	dir := filepath.Join("testdata", "golden")
	for _, s := range m.Scenarios {
		t.Run(s.Name, func(t *testing.T) {
			path := filepath.Join(dir, s.Name+".json")
			want, _ := os.ReadFile(path)
			var got []byte
			// A second try only where the first differs: on a loaded
			// machine a timing can truly cross a threshold once; a real
			// change differs every time.
			for try := 0; try < 2 && (try == 0 || !bytes.Equal(got, want)); try++ {
				run, err := ProbeScenario(ctx, m, s)
				for retry := 0; retry < 2 && err == nil && !run.OK && onlyExtraTiming(run.Got, s.Expect); retry++ {
					run, err = ProbeScenario(ctx, m, s) // machine load, as in TestLabScenarios
				}
				if err != nil {
					t.Fatal(err)
				}
				if !run.OK {
					t.Skipf("findings %v, want %v: TestLabScenarios reports this", run.Got, s.Expect)
				}
				var b bytes.Buffer
				if err := output.JSON(&b, run.Result); err != nil {
					t.Fatal(err)
				}
				if got, err = normalizeGolden(b.Bytes(), m); err != nil {
					t.Fatal(err)
				}
				if *updateGolden {
					break
				}
			}
			if *updateGolden {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if want == nil {
				t.Fatalf("no golden file %s (run with -update-golden)", path)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("--json output changed for %s:\n%s", s.Name, lineDiff(string(want), string(got)))
			}
		})
	}
}

// Keys whose integer values are facts, not measurements: kept as they are.
var goldenKeptNumbers = map[string]bool{
	"status": true, "status_code": true, "close_code": true, "ip_version": true, "expect_messages": true,
	"content_length": true, "max_body": true,
}

// Keys whose value depends on timing or on the run (how many frames,
// pings or connect attempts happened): only their presence is compared.
var goldenCollapsed = map[string]bool{
	"frames": true, "messages": true, "attempts": true, "gaps_ms": true, "ping_rtt_ms": true,
	"counts": true, "streams": true, "stalls": true, "settings": true, "frames_total": true,
	"frames_dropped": true, "chain": true, "verified_chain": true, "window_exhausted": true,
	"evidence": true, "phases": true, "ocsp": true, "denied": true, "token_fingerprint": true, "pings": true,
}

var (
	goldenTime   = regexp.MustCompile(`\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?`)
	goldenPort   = regexp.MustCompile(`(127\.0\.0\.1|\[::1\]|::1|localhost|\.lab\.test|\.test):\d+`)
	goldenHex    = regexp.MustCompile(`[0-9a-fA-F]{16,}`)
	goldenNumber = regexp.MustCompile(`\d+(\.\d+)?`)
)

// normalizeGolden rewrites a --json Result into its run-independent form.
func normalizeGolden(b []byte, m lab.Manifest) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	labDir := filepath.Dir(m.CAFile)
	var walk func(key string, v any) any
	walk = func(key string, v any) any {
		if goldenCollapsed[key] {
			return "…"
		}
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				x[k] = walk(k, e)
			}
			return x
		case []any:
			for i, e := range x {
				x[i] = walk(key, e)
			}
			return x
		case json.Number:
			if goldenKeptNumbers[key] {
				return x
			}
			return json.Number("0")
		case string:
			s := strings.ReplaceAll(x, labDir, "LAB")
			s = strings.ReplaceAll(s, m.DNSServer, "DNS")
			s = goldenTime.ReplaceAllString(s, "TIME")
			s = goldenPort.ReplaceAllString(s, "${1}:PORT")
			s = goldenHex.ReplaceAllString(s, "HEX")
			return goldenNumber.ReplaceAllString(s, "N")
		}
		return v
	}
	v = walk("", v)
	// encoding/json sorts map keys; the order of the real output is pinned
	// by output's own golden tests.
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// lineDiff lists the lines that differ between want and got, a few at most.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	seen := map[string]int{}
	for _, l := range w {
		seen[l]++
	}
	var missing, extra []string
	for _, l := range g {
		if seen[l] > 0 {
			seen[l]--
			continue
		}
		extra = append(extra, "+ "+l)
	}
	for l, n := range seen {
		for range n {
			missing = append(missing, "- "+l)
		}
	}
	sort.Strings(missing)
	out := append(missing, extra...)
	if len(out) > 30 {
		out = append(out[:30], "…")
	}
	return strings.Join(out, "\n")
}
