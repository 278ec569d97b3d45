package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad input: one clear line on stderr naming what is wrong, exit 3, and
// nothing on stdout.
func TestBadInputExits3(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not a certificate"), 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{}, "Usage"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"check"}, "no TARGET"},
		{[]string{"check", "example.com"}, "no scheme"},
		{[]string{"check", "gopher://x/"}, `unknown scheme "gopher"`},
		{[]string{"check", "tcp://host"}, "need a port"},
		{[]string{"check", "https://h:0/"}, "out of range"},
		{[]string{"check", "http://a/", "http://b/"}, "want one TARGET"},
		{[]string{"check", "--bogus", "http://a/"}, "unknown flag --bogus"},
		{[]string{"check", "--timeout", "soon", "http://a/"}, "--timeout soon: want a duration such as 5s or 500ms"},
		{[]string{"check", "--timeout", "-1s", "http://a/"}, "--timeout -1s"},
		{[]string{"check", "-n", "0", "http://a/"}, "-n 0"},
		{[]string{"check", "--ca", filepath.Join(dir, "missing.pem"), "https://a/"}, "--ca"},
		{[]string{"check", "--ca", junk, "https://a/"}, "no PEM certificate"},
		{[]string{"check", "--cert", junk, "https://a/"}, "--cert and --key go together"},
		{[]string{"check", "--resolve", "a:b", "http://a/"}, "--resolve"},
		{[]string{"check", "--dns-server", "1.2.3.4:99999", "http://a/"}, "--dns-server"},
		{[]string{"check", "--max-body", "lots", "http://a/"}, "--max-body"},
		{[]string{"check", "--valid-status", "200-100", "http://a/"}, "--valid-status"},
		{[]string{"check", "--http1.1", "--h2c", "http://a/"}, "exclude each other"},
		{[]string{"check", "-H", "NoColon", "http://a/"}, "-H"},
		{[]string{"check", "--color", "pink", "http://a/"}, "--color"},
		{[]string{"check", "--timeout"}, "--timeout needs a value"},
		{[]string{"lab", "--nope"}, "unknown flag --nope"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Run(c.args, &out, &errb)
			if code != ExitUsage {
				t.Fatalf("exit = %d, want 3 (stderr %q)", code, errb.String())
			}
			if !strings.Contains(errb.String(), c.want) {
				t.Errorf("stderr = %q, want it to contain %q", errb.String(), c.want)
			}
			if len(c.args) > 0 && strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 {
				t.Errorf("stderr has more than one line: %q", errb.String())
			}
			if out.Len() != 0 {
				t.Errorf("stdout not empty: %q", out.String())
			}
		})
	}
}

// A secret in a header never shows up in an error message.
func TestHeaderSecretNotEchoed(t *testing.T) {
	var out, errb bytes.Buffer
	Run([]string{"check", "-H", "Authorization Bearer s3cr3t-token", "http://a/"}, &out, &errb)
	if strings.Contains(errb.String(), "s3cr3t") {
		t.Errorf("stderr leaks the token: %q", errb.String())
	}
}
