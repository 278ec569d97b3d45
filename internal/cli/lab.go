package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/pathlens/pathlens/engine"
	"github.com/pathlens/pathlens/lab"
	"github.com/pathlens/pathlens/probe"
	"github.com/spf13/pflag"
)

const labHelp = `Usage: pathlens lab [--json] [--dir DIR]

Start one local server per failure scenario on 127.0.0.1 (free ports), a
DNS server for the zone lab.test and a CA, print scenario → target →
expected findings, and serve until interrupted. Probe a scenario with:
  pathlens check --ca CA_FILE --dns-server DNS_SERVER [args] TARGET

Flags:
`

func runLab(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("lab")
	asJSON := fs.Bool("json", false, "print one manifest line (JSON), then serve")
	dir := fs.String("dir", "", "write the CA file into `DIR` (default: a temporary directory)")
	pos, err := parseArgs(fs, args)
	if errors.Is(err, pflag.ErrHelp) {
		fmt.Fprint(stdout, labHelp)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return ExitOK, nil
	}
	if err != nil {
		return ExitUsage, flagError("lab", fs, err)
	}
	if len(pos) > 0 {
		return ExitUsage, usagef("lab: unexpected argument %q", pos[0])
	}
	if *dir != "" {
		if st, err := os.Stat(*dir); err != nil || !st.IsDir() {
			return ExitUsage, usagef("lab: --dir %s: not a directory", *dir)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	l, err := lab.Start(ctx, lab.Options{Dir: *dir})
	if err != nil {
		return ExitFailed, fmt.Errorf("lab: %w", err)
	}
	defer l.Close()
	m := l.Manifest()
	if *asJSON {
		b, err := json.Marshal(m)
		if err != nil {
			return ExitFailed, err
		}
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		printManifest(stdout, m)
		fmt.Fprintln(stdout, "\nserving; press Ctrl-C to stop")
	}
	if f, ok := stdout.(*os.File); ok {
		_ = f.Sync()
	}
	<-ctx.Done()
	return ExitOK, nil
}

func printManifest(w io.Writer, m lab.Manifest) {
	fmt.Fprintf(w, "CA file:    %s\nDNS server: %s (zone %s)\n\n", m.CAFile, m.DNSServer, m.Zone)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tTARGET\tARGS\tEXPECT")
	for _, s := range m.Scenarios {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.Target, strings.Join(s.Args, " "), orDash(strings.Join(s.Expect, ",")))
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// LabRun is the outcome of probing one lab scenario.
type LabRun struct {
	Scenario lab.Scenario
	Result   *probe.Result
	Got      []string
	OK       bool
}

// ProbeScenario probes one lab scenario through the same path as
// `pathlens check --ca CA --dns-server DNS [args] TARGET`. It lives in the
// CLI, not in lab, because a scenario's Args are check flags: proving the
// flags → options path is the point. Scenario.Check asserts the facts
// behind its findings.
func ProbeScenario(ctx context.Context, m lab.Manifest, s lab.Scenario) (*LabRun, error) {
	var f checkFlags
	fs := newCheckFlagSet(&f)
	args := append([]string{"--ca", m.CAFile, "--dns-server", m.DNSServer}, s.Args...)
	args = append(args, s.Target)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, flagError("check", fs, err)
	}
	t, err := probe.ParseTarget(pos[0])
	if err != nil {
		return nil, err
	}
	o, err := f.options()
	if err != nil {
		return nil, err
	}
	r := engine.Check(ctx, t, o)
	run := &LabRun{Scenario: s, Result: r}
	for _, fd := range r.Findings {
		run.Got = append(run.Got, fd.ID)
	}
	run.OK = sameSet(run.Got, s.Expect)
	return run, nil
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// runCheckLab starts the lab in-process and probes every scenario: the
// quick start's "does it work on this machine" command.
func runCheckLab(ctx context.Context, f *checkFlags, stdout, stderr io.Writer) (int, error) {
	l, err := lab.Start(ctx, lab.Options{})
	if err != nil {
		return ExitFailed, fmt.Errorf("lab: %w", err)
	}
	defer l.Close()
	m := l.Manifest()
	var runs []*LabRun
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	if !f.json {
		fmt.Fprintf(stdout, "lab: %d scenarios, DNS %s, CA %s\n\n", len(m.Scenarios), m.DNSServer, m.CAFile)
		fmt.Fprintln(tw, "\tSCENARIO\tTOTAL\tFINDINGS\tEXPECTED")
	}
	bad := 0
	for _, s := range m.Scenarios {
		if s.Hostile && !f.labAll {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		run, err := ProbeScenario(ctx, m, s)
		if err != nil {
			return ExitFailed, fmt.Errorf("scenario %s: %w", s.Name, err)
		}
		runs = append(runs, run)
		mark := "ok"
		if !run.OK {
			mark = "MISMATCH"
			bad++
		}
		if !f.json {
			fmt.Fprintf(tw, "%s\t%s\t%.1f ms\t%s\t%s\n", mark, s.Name, run.Result.TotalMS, orDash(strings.Join(run.Got, ",")), orDash(strings.Join(s.Expect, ",")))
		}
	}
	if f.json {
		type jsonRun struct {
			Scenario string        `json:"scenario"`
			Expect   []string      `json:"expect"`
			OK       bool          `json:"ok"`
			Result   *probe.Result `json:"result"`
		}
		out := make([]jsonRun, 0, len(runs))
		for _, r := range runs {
			out = append(out, jsonRun{r.Scenario.Name, r.Scenario.Expect, r.OK, r.Result})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return ExitFailed, err
		}
	} else {
		tw.Flush()
		fmt.Fprintf(stdout, "\n%d of %d scenarios gave exactly the expected findings.\n", len(runs)-bad, len(runs))
		fmt.Fprintln(stdout, "Look at one closely: pathlens lab  (then)  pathlens check --ca CA --dns-server DNS TARGET")
	}
	if bad > 0 {
		return ExitFailed, nil
	}
	return ExitOK, nil
}
