package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pathlens/pathlens/engine"
	"github.com/pathlens/pathlens/output"
	"github.com/pathlens/pathlens/probe"
)

const checkHelp = `Usage: pathlens check [flags] TARGET

Probe TARGET once (or -n times), draw the phase waterfall and explain what
is wrong. TARGET: http(s)://host[:port]/path, tcp://host:port,
tls://host:port, dns://server[:port]/name?type=A, dns:///name,
icmp://host or ws(s)://host[:port]/path.

Exit status: 0 ok; 1 a warning or critical finding; 2 the probe failed;
3 bad flags or target.

Flags:
`

func runCheck(args []string, stdout, stderr io.Writer) (int, error) {
	var f checkFlags
	fs := newCheckFlagSet(&f)
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, checkHelp)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return ExitOK, nil
	}
	if err != nil {
		if de := durationFlagError(fs, err); de != nil {
			return ExitUsage, de
		}
		return ExitUsage, flagError(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.lab {
		if len(pos) > 0 {
			return ExitUsage, usagef("check: --lab takes no TARGET (got %s)", joinQuoted(pos))
		}
		return runCheckLab(ctx, &f, stdout, stderr)
	}
	switch len(pos) {
	case 0:
		return ExitUsage, usagef("check: no TARGET given (e.g. pathlens check https://example.com/)")
	case 1:
	default:
		return ExitUsage, usagef("check: want one TARGET, got %d: %s", len(pos), joinQuoted(pos))
	}
	t, err := probe.ParseTarget(pos[0])
	if err != nil {
		return ExitUsage, usagef("check: %v", unwrapPhase(err))
	}
	if !slices.Contains(probe.Kinds(), t.Kind) {
		return ExitUsage, usagef("check: %s:// probes are not available in this build (available: %v)", t.Kind, probe.Kinds())
	}
	o, err := f.options()
	if err != nil {
		return ExitUsage, err
	}
	if err := f.ws.checkKind(t.Kind); err != nil {
		return ExitUsage, err
	}
	if err := f.checkGRPCKind(t.Kind); err != nil {
		return ExitUsage, err
	}
	style := output.Style{Color: colorOn(f.color, stdout), Width: termWidth(stdout)}
	style.Frames = f.frames
	results := runRepeated(ctx, t, o, &f, stderr)
	if f.json {
		if f.n == 1 {
			err = output.JSON(stdout, results[0])
		} else {
			err = output.JSONRuns(stdout, results, output.Summarize(results))
		}
	} else if f.n == 1 {
		err = output.Human(stdout, results[0], style)
	} else {
		last := results[len(results)-1]
		if err = output.Human(stdout, last, style); err == nil {
			fmt.Fprintf(stdout, "\n%d runs (the last one shown above):\n", len(results))
			err = output.HumanSummary(stdout, output.Summarize(results), style)
		}
	}
	if err != nil {
		return ExitFailed, err
	}
	return output.ExitCode(results...), nil
}

// runRepeated runs the probe f.n times, f.interval apart. Each run is a
// fresh connection unless --reuse keeps a session between runs.
func runRepeated(ctx context.Context, t probe.Target, o *probe.Options, f *checkFlags, stderr io.Writer) []*probe.Result {
	if f.reuse {
		o.Session = &probe.Session{}
		defer o.Session.Close()
	}
	var bar *output.Progress
	if f.n > 1 && isTerminal(stderr) {
		bar = output.NewProgress(stderr, f.n, termWidth(stderr))
		defer bar.Done()
	}
	results := make([]*probe.Result, 0, f.n)
	for i := 0; i < f.n; i++ {
		if i > 0 && f.interval > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(f.interval):
			}
		}
		results = append(results, engine.Check(ctx, t, o))
		if bar != nil {
			bar.Step()
		}
		if ctx.Err() != nil {
			break
		}
	}
	return results
}

func unwrapPhase(err error) error {
	var pe *probe.PhaseError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// durationFlagError is the message for a duration flag whose value
// time.ParseDuration refuses, nil for any other error. The flag package
// only says "parse error", which reads as "not a number" for `--timeout 5`,
// a number that lacks its unit.
func durationFlagError(fs *flag.FlagSet, err error) error {
	// invalid value "5" for flag -timeout: parse error
	rest, ok := strings.CutPrefix(err.Error(), "invalid value ")
	if !ok {
		return nil
	}
	val, rest, ok := strings.Cut(rest, " for flag -")
	if !ok {
		return nil
	}
	name, _, _ := strings.Cut(rest, ": ")
	fl := fs.Lookup(name)
	if fl == nil {
		return nil
	}
	if g, ok := fl.Value.(flag.Getter); !ok {
		return nil
	} else if _, ok := g.Get().(time.Duration); !ok {
		return nil
	}
	if v, err := strconv.Unquote(val); err == nil {
		val = v
	}
	return usagef("check: --%s %s: want a duration such as 5s or 500ms", name, val)
}
