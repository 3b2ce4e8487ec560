package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"archibald/erpsim"
)

// runERPSim runs the ERP simulator alone until ctx ends. Every flag can also be set by an
// environment variable, ARCHIBALD_ERPSIM_<FLAG> (ARCHIBALD_ERPSIM_PAGE_TIME=3s); a flag on
// the command line wins over the environment.
func runERPSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("erpsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9090", "address to listen on")
	seed := fs.Int64("seed", 1, "seed of the generated data")
	customers := fs.Int("customers", erpsim.DefaultCustomers, "number of customers")
	products := fs.Int("products", erpsim.DefaultProducts, "number of product variants (about 1.15 per article)")
	pageSize := fs.Int("page-size", erpsim.DefaultPageSize, "rows a page")
	pageTime := fs.Duration("page-time", 20*time.Millisecond, "service time of a list page (the real ERP: about 3s)")
	stepTime := fs.Duration("step-time", 80*time.Millisecond, "service time of an order step (the real ERP: about 12s)")
	jitter := fs.Float64("jitter", 0.1, "± fraction of the service times")
	username := fs.String("username", erpsim.DefaultUsername, "the ERP account's username")
	password := fs.String("password", erpsim.DefaultPassword, "the ERP account's password")
	sessionTTL := fs.Duration("session-ttl", 30*time.Minute, "idle time after which a session expires (0: never)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: archibald erpsim [flags]\n\nRuns the ERP simulator alone. "+
			"Each flag can also be set as ARCHIBALD_ERPSIM_<FLAG>.\n\nFlags:\n")
		fs.PrintDefaults()
	}

	if err := parseFlags(fs, envPrefix+"ERPSIM_", args, stderr); err != nil {
		return err
	}
	log, err := newLogger(stderr, *logLevel, "text")
	if err != nil {
		fmt.Fprintf(stderr, "archibald erpsim: %v\n", err)
		return errUsage
	}

	sim, err := erpsim.New(erpsim.Config{
		Seed:       *seed,
		Customers:  *customers,
		Products:   *products,
		PageSize:   *pageSize,
		PageTime:   *pageTime,
		StepTime:   *stepTime,
		Jitter:     *jitter,
		Username:   *username,
		Password:   *password,
		SessionTTL: *sessionTTL,
		Logger:     log,
	})
	if err != nil {
		return err
	}
	defer sim.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	log.Info("erpsim: listening", "addr", "http://"+ln.Addr().String()+"/erp/",
		"customers", len(sim.Customers()), "products", len(sim.Products()), "prices", len(sim.Prices()),
		"pageTime", *pageTime, "stepTime", *stepTime, "user", *username)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("erpsim: shutting down")
	// Release the hung and queued requests first, or Shutdown would wait for them.
	sim.Close()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	<-served // http.ErrServerClosed
	if err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	log.Info("erpsim: stopped", "requests", sim.Stats().Requests, "orders", sim.Stats().Orders)
	return nil
}
