package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"

	"archibald/bench"
)

// runBench runs the scenario benchmark (DESIGN.md §10) and prints its report: a table,
// or one JSON document with --json. The progress line goes to stderr.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mode := fs.String("mode", "all", "the scenario to measure: all, idle, no-priority or priority")
	nOrders := fs.Int("orders", 40, "orders entered in each mode")
	rate := fs.Float64("rate", 1, "orders submitted per second")
	pageTime := fs.Duration("page-time", 20*time.Millisecond, "the simulated ERP's service time of a list page (the real ERP: about 3s)")
	stepTime := fs.Duration("step-time", 80*time.Millisecond, "the simulated ERP's service time of an order step (the real ERP: about 12s)")
	asJSON := fs.Bool("json", false, "print the report as one JSON document")
	sweep := fs.Bool("sweep", false, "measure the time to quiesce with 1k, 10k and 100k product rows\n(alone, unless --mode is given too)")
	seed := fs.Int64("seed", 1, "seed of the simulator's data and of the orders")
	logLevel := fs.String("log-level", "error", "level of the system's logs on stderr: debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: archibald bench [flags]\n\n"+
			"Runs the ERP simulator, a temporary SQLite store, the three sync services and the\n"+
			"order worker in this process, and enters orders while the services run, in three\n"+
			"modes: idle (no sync), no-priority (sync never paused) and priority.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	usageErr := func(format string, a ...any) error {
		fmt.Fprintf(stderr, "archibald bench: "+format+"\n", a...)
		fs.Usage()
		return errUsage
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected arguments %q", fs.Args())
	}
	modeSet := false
	fs.Visit(func(f *flag.Flag) { modeSet = modeSet || f.Name == "mode" })
	opts := bench.Options{
		Orders: *nOrders, Rate: *rate, PageTime: *pageTime, StepTime: *stepTime, Seed: *seed,
		Sweep: *sweep, NoModes: *sweep && !modeSet,
	}
	if *mode != "all" {
		m, err := bench.ParseMode(*mode)
		if err != nil {
			return usageErr("--mode: %v", err)
		}
		opts.Modes = []bench.Mode{m}
	}
	switch {
	case *nOrders < 1:
		return usageErr("--orders must be at least 1, got %d", *nOrders)
	case !(*rate > 0) || math.IsInf(*rate, 0):
		return usageErr("--rate must be a positive number of orders a second, got %v", *rate)
	case *pageTime <= 0:
		return usageErr("--page-time must be positive, got %v", *pageTime)
	case *stepTime <= 0:
		return usageErr("--step-time must be positive, got %v", *stepTime)
	case *seed == 0:
		return usageErr("--seed must not be 0")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageErr("--log-level %q: want debug, info, warn or error", *logLevel)
	}
	opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	rep, err := bench.Run(ctx, opts, stderr)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteTable(stdout)
}
