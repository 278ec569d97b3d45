package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/lab"
	"github.com/pathlens/pathlens/probe"
	"go.uber.org/goleak"
)

// maxHostileRSS bounds a whole pathlens process probing a hostile server.
const maxHostileRSS = 100 << 20

// Each hostile server — endless headers, endless body, trickle, gzip
// bomb, TLS noise, giant status line — is probed by a real pathlens
// process: it must end within its budget (plus start-up slack), with peak
// RSS well under 100 MB, and explain itself (a finding or a classified
// error in the JSON).
func TestHostileServersBounded(t *testing.T) {
	defer goleak.VerifyNone(t)
	l, err := lab.Start(context.Background(), lab.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := l.Manifest()
	n := 0
	for _, s := range m.Scenarios {
		if !s.Hostile {
			continue
		}
		n++
		t.Run(s.Name, func(t *testing.T) {
			args := append([]string{"check", "--json", "--ca", m.CAFile, "--dns-server", m.DNSServer}, s.Args...)
			args = append(args, s.Target)
			c := runChild(t, args)
			stdout, stderr, code, wall, rss := &c.stdout, &c.stderr, c.code, c.wall, c.rss
			var r probe.Result
			if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
				t.Fatalf("stdout is not one JSON Result: %v\n%s\nstderr: %s", err, stdout.String(), stderr.String())
			}
			t.Logf("%s: exit %d in %v, peak RSS %.1f MiB, error %+v, findings %d", s.Name, code, wall.Round(time.Millisecond), float64(rss)/(1<<20), r.Error, len(r.Findings))
			if rss > maxHostileRSS {
				t.Errorf("peak RSS %d MiB, want < %d MiB", rss>>20, maxHostileRSS>>20)
			}
			budget := time.Duration(r.TimeoutMS) * time.Millisecond
			if wall > budget+3*time.Second {
				t.Errorf("took %v with a %v budget", wall, budget)
			}
			if code == 0 {
				t.Errorf("exit 0 against a hostile server")
			}
			if len(r.Findings) == 0 && (r.Error == nil || r.Error.Class == "") {
				t.Errorf("no finding and no classified error: %s", stdout.String())
			}
			if strings.TrimSpace(stderr.String()) != "" {
				t.Errorf("stderr not empty with --json: %q", stderr.String())
			}
		})
	}
	if n < 6 {
		t.Fatalf("lab has %d hostile scenarios, want 6", n)
	}
}
