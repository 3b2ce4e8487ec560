// Command archibald is the backend for sales agents who enter orders into the company
// ERP from their phones. Its subcommands are serve (the default), erpsim and bench; run
// "archibald help" for their summaries and "archibald <command> --help" for their flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand. run is nil for a command that is not built yet.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands lists the subcommands in the order usage shows them; the first is the default.
var commands = []command{
	{"serve", "run the HTTP API, the sync services and the order worker (the default)", runServe},
	{"erpsim", "run the ERP simulator alone", runERPSim},
	{"bench", "run the scenario benchmark: orders while the sync services run", runBench},
}

// errUsage marks an error in the command line; it exits with status 2.
var errUsage = errors.New("usage error")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand and returns the process's exit status: 0 on success
// (and for help), 1 when the command failed, 2 for a usage error or a command not built.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	name := commands[0].name
	if len(args) > 0 {
		switch a := args[0]; {
		case a == "help" || a == "-h" || a == "-help" || a == "--help":
			usage(stdout)
			return 0
		case len(a) > 0 && a[0] != '-':
			name, args = a, args[1:]
		}
	}
	var cmd *command
	for i := range commands {
		if commands[i].name == name {
			cmd = &commands[i]
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "archibald: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}
	if cmd.run == nil {
		fmt.Fprintf(stderr, "archibald: the %s command is not built yet\n", name)
		return 2
	}
	err := cmd.run(ctx, args, stdout, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		// The flag package has already said what was wrong.
		return 2
	default:
		fmt.Fprintf(stderr, "archibald %s: %v\n", name, err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: archibald [command] [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun \"archibald <command> --help\" for the flags of a command.\n")
}
