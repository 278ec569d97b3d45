package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve"
	"github.com/spf13/pflag"
)

const serveHelp = `Usage: pathlens serve [--config FILE] [--listen ADDR] [--db FILE] [--demo] [--check-config] [--pprof]

Probe every configured target on its schedule, keep the history in SQLite,
and serve the web UI, the JSON API, /metrics (Prometheus) and /probe
(blackbox_exporter compatible). SIGHUP reloads the config; SIGINT or
SIGTERM shuts down gracefully.

  --demo          start the built-in lab and probe every scenario (no config needed)
  --check-config  validate the config, print a summary and exit (3 on an error)

Flags:
`

func runServe(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("serve")
	cfgPath := fs.String("config", "", "config `FILE` (YAML, see docs/config.md)")
	listen := fs.String("listen", "", "listen address `ADDR`, overrides the config (default 127.0.0.1:9116)")
	db := fs.String("db", "", "SQLite `FILE`, overrides storage.path")
	demo := fs.Bool("demo", false, "start the lab in-process and probe every scenario")
	check := fs.Bool("check-config", false, "validate the config and exit")
	pprofOn := fs.Bool("pprof", false, "serve Go runtime profiles at /debug/pprof/ to loopback clients with the auth token (needs auth.token_file)")
	pos, err := parseArgs(fs, args)
	if errors.Is(err, pflag.ErrHelp) {
		fmt.Fprint(stdout, serveHelp)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return ExitOK, nil
	}
	if err != nil {
		return ExitUsage, flagError("serve", fs, err)
	}
	if len(pos) > 0 {
		return ExitUsage, usagef("serve: unexpected argument %q", pos[0])
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	// Debug, not info: a config error must stay the only line on stderr.
	switch soft, hard, err := raiseNoFile(); {
	case err == nil:
		logger.Debug("open-file limit", "soft", soft, "hard", hard)
	case !errors.Is(err, errors.ErrUnsupported):
		logger.Warn("could not raise the open-file limit", "soft", soft, "hard", hard, "err", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = serve.Run(ctx, serve.Options{
		ConfigPath: *cfgPath, Listen: *listen, DB: *db, Demo: *demo, CheckConfig: *check, Pprof: *pprofOn,
		Stdout: stdout, Logger: logger, Version: probe.Version,
	})
	var ce *serve.ConfigError
	switch {
	case errors.As(err, &ce):
		return ExitUsage, &usageError{ce.Error()}
	case err != nil:
		return ExitFailed, err
	}
	return ExitOK, nil
}
