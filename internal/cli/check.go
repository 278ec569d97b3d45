package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/pathlens/pathlens/engine"
	"github.com/pathlens/pathlens/output"
	"github.com/pathlens/pathlens/probe"
	"github.com/spf13/pflag"
)

const checkHelp = `Usage: pathlens check [flags] TARGET

Probe TARGET once (or -n times), draw the phase waterfall, explain what is
wrong. Flags may come before or after TARGET. TARGET is one of:
  http://host[:port]/path  https://host[:port]/path  tcp://host:port
  tls://host:port  dns://server[:port]/name?type=A  dns:///name  icmp://host
  grpc://host:port  grpcs://host:port  ws://host[:port]/path  wss://host/path
Exit status: 0 ok; 1 a warning or critical finding; 2 the probe failed;
3 bad flags or target (one line on stderr).

`

func runCheck(args []string, stdout, stderr io.Writer) (int, error) {
	var f checkFlags
	fs := newCheckFlagSet(&f)
	pos, err := parseArgs(fs, args)
	if errors.Is(err, pflag.ErrHelp) {
		fmt.Fprint(stdout, checkHelpText(fs))
		return ExitOK, nil
	}
	if err != nil {
		return ExitUsage, flagError("check", fs, err)
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
