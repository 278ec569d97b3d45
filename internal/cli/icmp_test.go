package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/pathlens/pathlens/probe"
)

// `pathlens check icmp://127.0.0.1 --icmp-count 2` pings loopback twice
// and exits 0.
func TestCheckICMPLoopback(t *testing.T) {
	defer goleak.VerifyNone(t)
	var out, errb bytes.Buffer
	code := Run([]string{"check", "icmp://127.0.0.1", "--icmp-count", "2", "--icmp-interval", "20ms", "--json"}, &out, &errb)
	var r probe.Result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("exit %d, stdout is not a Result: %v\nstdout: %s\nstderr: %s", code, err, out.String(), errb.String())
	}
	if r.Error != nil && r.Error.Class == probe.ClassConfig && r.Error.Cause == "permission" {
		t.Skipf("no ICMP socket available to this process: %s", r.Error.Message)
	}
	if code != ExitOK {
		t.Fatalf("exit %d, want 0\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	if r.Kind != "icmp" || r.ICMP == nil || r.ICMP.Sent != 2 || r.ICMP.Received != 2 {
		t.Errorf("want 2 echo requests answered: %s", out.String())
	}

	// The human form, with the flags' defaults for the interval.
	out.Reset()
	errb.Reset()
	if code := Run([]string{"check", "--icmp-count", "2", "icmp://127.0.0.1", "--color", "never"}, &out, &errb); code != ExitOK {
		t.Fatalf("human output: exit %d, want 0\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "echo") {
		t.Errorf("human output does not show the echo phase:\n%s", out.String())
	}
}

func TestICMPFlagsValidated(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--icmp-count", "0"}, "--icmp-count 0: want 1 to 1000"},
		{[]string{"--icmp-count", "1001"}, "--icmp-count 1001: want 1 to 1000"},
		{[]string{"--icmp-count", "many"}, "--icmp-count many: not a number"},
		{[]string{"--icmp-interval", "9ms"}, "--icmp-interval 9ms: want 10ms or more"},
		{[]string{"--icmp-interval", "-1s"}, "--icmp-interval -1s"},
		{[]string{"--icmp-interval", "often"}, "--icmp-interval often: want a duration such as 5s or 500ms"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Run(append([]string{"check", "icmp://127.0.0.1"}, c.args...), &out, &errb)
			if code != ExitUsage {
				t.Fatalf("exit %d, want 3 (stderr %q)", code, errb.String())
			}
			if !strings.Contains(errb.String(), c.want) {
				t.Errorf("stderr %q, want it to contain %q", errb.String(), c.want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout not empty: %q", out.String())
			}
		})
	}
	// The bounds themselves are accepted.
	f := checkFlags{}
	fs := newCheckFlagSet(&f)
	if err := fs.Parse([]string{"--icmp-count", "1000", "--icmp-interval", "10ms"}); err != nil {
		t.Fatal(err)
	}
	o, err := f.options()
	if err != nil {
		t.Fatalf("--icmp-count 1000 --icmp-interval 10ms: %v", err)
	}
	if o.ICMPCount != 1000 || o.ICMPInterval.Milliseconds() != 10 {
		t.Errorf("options: count %d interval %v", o.ICMPCount, o.ICMPInterval)
	}
}
