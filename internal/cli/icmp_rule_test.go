package cli

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/pathlens/pathlens/serve/config"
)

// The icmp limits are one rule: `check` flags and `serve` modules refuse
// the same values with the same words, each naming its own flag or key.
func TestICMPLimitsOneRule(t *testing.T) {
	for _, tc := range []struct {
		count, interval string
		field           string // count or interval
		rule            string
	}{
		{"2000000000", "200ms", "count", "want 1 to 1000"},
		{"1001", "200ms", "count", "want 1 to 1000"},
		{"0", "200ms", "count", "want 1 to 1000"},
		{"-5", "200ms", "count", "want 1 to 1000"},
		{"3", "1ns", "interval", "want 10ms or more"},
		{"3", "9ms", "interval", "want 10ms or more"},
		{"3", "0s", "interval", "want 10ms or more"},
		{"3", "-1s", "interval", "want 10ms or more"},
	} {
		t.Run(tc.count+"/"+tc.interval, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Run([]string{"check", "icmp://127.0.0.1", "--icmp-count", tc.count, "--icmp-interval", tc.interval}, &out, &errb)
			flag, val := "--icmp-count", tc.count
			if tc.field == "interval" {
				flag, val = "--icmp-interval", tc.interval
			}
			wantCLI := fmt.Sprintf("check: %s %s: %s", flag, val, tc.rule)
			if code != ExitUsage || !strings.Contains(errb.String(), wantCLI) {
				t.Errorf("check: exit %d, stderr %q; want exit %d and %q", code, errb.String(), ExitUsage, wantCLI)
			}

			text := fmt.Sprintf("modules:\n  ping:\n    kind: icmp\n    icmp:\n      count: %s\n      interval: %s\n", tc.count, tc.interval)
			_, err := config.Parse("c.yaml", []byte(text))
			line := 5
			if tc.field == "interval" {
				line = 6
			}
			wantCfg := fmt.Sprintf("c.yaml:%d: modules.ping.icmp.%s: %s, got %s", line, tc.field, tc.rule, val)
			if err == nil || err.Error() != wantCfg {
				t.Errorf("config: %v; want %s", err, wantCfg)
			}
		})
	}
}
