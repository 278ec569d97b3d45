package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// serve's bad input: one line naming the file, line and field, exit 3;
// --check-config on a good file: a summary and exit 0.
func TestServeBadConfigExits3(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("targets:\n  - {name: a, url: \"http://127.0.0.1:1/\", interval: 5s, timeout: 10s}\n"), 0o644)
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("targets:\n  - {name: a, url: \"http://127.0.0.1:1/\"}\n"), 0o644)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"serve", "--config", bad, "--check-config"}, ExitUsage, "bad.yaml:2: targets[0].interval: interval 5s is shorter than timeout 10s"},
		{[]string{"serve", "--config", bad}, ExitUsage, "interval 5s is shorter than timeout 10s"},
		{[]string{"serve"}, ExitUsage, "no config"},
		{[]string{"serve", "--config", good, "--listen", "0.0.0.0:9116"}, ExitUsage, "beyond loopback"},
		{[]string{"serve", "--bogus"}, ExitUsage, "unknown flag --bogus"},
		{[]string{"serve", "--config", good, "--check-config"}, ExitOK, "ok: 1 targets"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args[1:], " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Run(c.args, &out, &errb)
			if code != c.code {
				t.Fatalf("exit = %d, want %d (stderr %q)", code, c.code, errb.String())
			}
			got := errb.String()
			if c.code == ExitOK {
				got = out.String()
			} else if strings.Count(strings.TrimSpace(got), "\n") != 0 {
				t.Errorf("stderr has more than one line: %q", got)
			}
			if !strings.Contains(got, c.want) {
				t.Errorf("output %q lacks %q", got, c.want)
			}
		})
	}
}
