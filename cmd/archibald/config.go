package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// envPrefix prefixes the environment variable of every serve flag: --erp-url is
// ARCHIBALD_ERP_URL.
const envPrefix = "ARCHIBALD_"

// envName returns the environment variable that sets a flag.
func envName(prefix, flagName string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags sets fs's flags from the environment (prefix + FLAG_NAME), then from args, so
// that the command line wins. It returns errUsage after saying what is wrong, and
// flag.ErrHelp for --help.
func parseFlags(fs *flag.FlagSet, prefix string, args []string, stderr io.Writer) error {
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(prefix, f.Name)
		if v, ok := os.LookupEnv(name); ok && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s is not a valid value for --%s: %v", name, f.Name, err)
			}
		}
	})
	if envErr != nil {
		fmt.Fprintf(stderr, "archibald %s: %v\n", fs.Name(), envErr)
		return errUsage
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "archibald %s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return errUsage
	}
	return nil
}

// newLogger makes the process's logger.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
