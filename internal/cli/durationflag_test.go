package cli

import (
	"bytes"
	"strings"
	"testing"
)

// A duration flag given a bare number (or any text time.ParseDuration
// refuses) asks for a duration with its unit; a number flag still says
// "not a number".
func TestDurationFlagError(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"check", "--timeout", "5", "http://127.0.0.1:1/"}, "pathlens: check: --timeout 5: want a duration such as 5s or 500ms\n"},
		{[]string{"check", "http://127.0.0.1:1/", "--interval=2"}, "pathlens: check: --interval 2: want a duration such as 5s or 500ms\n"},
		{[]string{"check", "--hold", "1", "ws://127.0.0.1:1/"}, "pathlens: check: --hold 1: want a duration such as 5s or 500ms\n"},
		{[]string{"check", "--timeout", "soon", "http://127.0.0.1:1/"}, "pathlens: check: --timeout soon: want a duration such as 5s or 500ms\n"},
	} {
		var out, errb bytes.Buffer
		if code := Run(tc.args, &out, &errb); code != ExitUsage || errb.String() != tc.want || out.Len() != 0 {
			t.Errorf("%q: exit %d, stderr %q, stdout %q; want exit %d, stderr %q", tc.args, code, errb.String(), out.String(), ExitUsage, tc.want)
		}
	}
	var out, errb bytes.Buffer
	if code := Run([]string{"check", "-n", "x", "http://127.0.0.1:1/"}, &out, &errb); code != ExitUsage || !strings.Contains(errb.String(), "not a number") {
		t.Errorf("-n x: exit %d, stderr %q; want exit %d and not a number", code, errb.String(), ExitUsage)
	}
}
