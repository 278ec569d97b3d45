package cli

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestCheckHelp: `check --help` lists every registered flag exactly once
// (its alias on the same line), under one of the group headings, names the
// target forms including grpc:// and grpcs:// and the exit codes, and stays
// short.
func TestCheckHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Run([]string{"check", "--help"}, &out, &errb); code != ExitOK || errb.Len() != 0 {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	help := out.String()
	if n := strings.Count(help, "\n"); n > 70 {
		t.Errorf("help has %d lines, want 70 or fewer", n)
	}
	for _, g := range checkGroups {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(g) + `:$`).MatchString(help) {
			t.Errorf("no heading %q", g+":")
		}
	}
	for _, s := range []string{"http://", "https://", "tcp://", "tls://", "dns://", "dns:///", "icmp://", "grpc://", "grpcs://", "ws://", "wss://", "Exit status: 0", "3 bad flags"} {
		if !strings.Contains(help, s) {
			t.Errorf("help lacks %q", s)
		}
	}
	var f checkFlags
	fs := newCheckFlagSet(&f)
	n := 0
	fs.VisitAll(func(fl *pflag.Flag) {
		n++
		if g := fl.Annotations[groupKey]; len(g) != 1 {
			t.Errorf("%s: groups %q, want one", flagSpelling(fl), g)
		}
		// The flag's spelling as a whole word, at the start of a flag line
		// or after its alias.
		re := regexp.MustCompile(`(?m)^  (-[A-Za-z0-9], |    )?` + regexp.QuoteMeta(flagSpelling(fl)) + `( |$)`)
		if c := len(re.FindAllString(help, -1)); c != 1 {
			t.Errorf("%s appears %d times as a flag line, want 1", flagSpelling(fl), c)
		}
		if fl.Shorthand != "" && fl.Shorthand != fl.Name {
			alias := regexp.MustCompile(`(?m)^  -` + regexp.QuoteMeta(fl.Shorthand) + `, --` + regexp.QuoteMeta(fl.Name) + ` `)
			if !alias.MatchString(help + " ") {
				t.Errorf("-%s is not on the line of --%s", fl.Shorthand, fl.Name)
			}
		}
	})
	if lines := regexp.MustCompile(`(?m)^  (-|    --)`).FindAllString(help, -1); len(lines) != n {
		t.Errorf("help has %d flag lines, the set %d flags", len(lines), n)
	}
	for _, l := range strings.Split(help, "\n") {
		if len([]rune(l)) > 80 {
			t.Errorf("line longer than 80 columns: %q", l)
		}
	}
}

// Every documented name and alias parses, before or after TARGET, GNU
// style; `--` ends the flags.
func TestCheckFlagForms(t *testing.T) {
	var f checkFlags
	fs := newCheckFlagSet(&f)
	pos, err := parseArgs(fs, []string{"-n", "3", "http://a/", "-4", "-k", "-X", "put", "-H", "A: b",
		"-d", "x", "--json", "--timeout=2s", "-H", "C: d", "--interval", "-1s", "--", "--not-a-flag"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pos) != 2 || pos[0] != "http://a/" || pos[1] != "--not-a-flag" {
		t.Errorf("positional %q", pos)
	}
	if f.n != 3 || !f.ipv4 || !f.insecure || f.method != "put" || f.data != "x" || !f.json ||
		f.timeout.String() != "2s" || len(f.headers) != 2 || f.interval.String() != "-1s" {
		t.Errorf("flags: %+v", f)
	}
	f = checkFlags{}
	fs = newCheckFlagSet(&f)
	if _, err := parseArgs(fs, []string{"--n", "2", "--ipv6", "--insecure", "--method", "GET", "--data", "y", "-n4"}); err != nil {
		t.Fatal(err)
	}
	if f.n != 4 || !f.ipv6 || !f.insecure || f.method != "GET" || f.data != "y" {
		t.Errorf("long forms: %+v", f)
	}
}

// Bad flags: one line naming the flag, in the project's words rather than
// pflag's, exit 3, nothing on stdout.
func TestFlagErrorMessages(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"check", "--foo", "http://a/"}, "pathlens: check: unknown flag --foo\n"},
		{[]string{"check", "--foo=1", "http://a/"}, "pathlens: check: unknown flag --foo\n"},
		{[]string{"check", "-z", "http://a/"}, "pathlens: check: unknown flag -z\n"},
		{[]string{"check", "-json", "http://a/"}, "pathlens: check: unknown flag -json (long flags take two dashes: --json)\n"},
		{[]string{"check", "-timeout=5s", "http://a/"}, "pathlens: check: unknown flag -timeout (long flags take two dashes: --timeout)\n"},
		{[]string{"check", "--timeout", "5", "http://a/"}, "pathlens: check: --timeout 5: want a duration such as 5s or 500ms\n"},
		{[]string{"check", "--icmp-interval=x", "icmp://a"}, "pathlens: check: --icmp-interval x: want a duration such as 5s or 500ms\n"},
		{[]string{"check", "-n", "x", "http://a/"}, "pathlens: check: -n x: not a number\n"},
		{[]string{"check", "-nx", "http://a/"}, "pathlens: check: -n x: not a number\n"},
		{[]string{"check", "-n", "99999999999999999999", "http://a/"}, "pathlens: check: -n 99999999999999999999: out of range\n"},
		{[]string{"check", "--max-redirects", "lots", "http://a/"}, "pathlens: check: --max-redirects lots: not a number\n"},
		{[]string{"check", "--json=maybe", "http://a/"}, "pathlens: check: --json maybe: want true or false\n"},
		{[]string{"check", "--timeout"}, "pathlens: check: --timeout needs a value\n"},
		{[]string{"check", "http://a/", "-X"}, "pathlens: check: --method needs a value\n"},
		{[]string{"check", "http://a/", "-H"}, "pathlens: check: -H needs a value\n"},
		{[]string{"check", "---x", "http://a/"}, "pathlens: check: bad flag syntax ---x\n"},
		{[]string{"lab", "--nope"}, "pathlens: lab: unknown flag --nope\n"},
		{[]string{"lab", "--json=2"}, "pathlens: lab: --json 2: want true or false\n"},
		{[]string{"serve", "--config"}, "pathlens: serve: --config needs a value\n"},
	} {
		var out, errb bytes.Buffer
		if code := Run(c.args, &out, &errb); code != ExitUsage || errb.String() != c.want || out.Len() != 0 {
			t.Errorf("%q: exit %d, stderr %q, stdout %q; want exit 3, stderr %q", c.args, code, errb.String(), out.String(), c.want)
		}
	}
}

// -h, --help and Go's old -help print the help, exit 0.
func TestHelpForms(t *testing.T) {
	for _, cmd := range []string{"check", "lab", "serve"} {
		for _, h := range []string{"-h", "--help", "-help"} {
			var out, errb bytes.Buffer
			if code := Run([]string{cmd, h}, &out, &errb); code != ExitOK || !strings.HasPrefix(out.String(), "Usage: pathlens "+cmd) || errb.Len() != 0 {
				t.Errorf("%s %s: exit %d, stdout %.40q, stderr %q", cmd, h, code, out.String(), errb.String())
			}
		}
	}
}
