package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	neturl "net/url"
	"strings"
	"time"

	"archibald"
	"archibald/bot"
	"archibald/erp"
	"archibald/erpsim"
	"archibald/httpapi"
	"archibald/orders"
	"archibald/postgres"
	"archibald/priority"
	"archibald/sqlite"
	"archibald/syncer"
)

// serveConfig is the configuration of archibald serve.
type serveConfig struct {
	addr        string
	db          string
	erpURL      string
	erpUsername string
	erpPassword string
	apiToken    string
	logLevel    string
	logFormat   string
	intervals   map[string]time.Duration
	grace       time.Duration
	linger      time.Duration
	orderTTL    time.Duration
	shutdown    time.Duration
	erpStall    time.Duration
}

func serveFlags(stderr io.Writer) (*flag.FlagSet, *serveConfig) {
	c := &serveConfig{intervals: map[string]time.Duration{}}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "address the HTTP API listens on")
	fs.StringVar(&c.db, "db", "archibald.db", "the store: a SQLite file (created if missing), or a postgres:// URL")
	fs.StringVar(&c.erpURL, "erp-url", "", "base URL of the ERP; empty starts the ERP simulator in this process")
	fs.StringVar(&c.erpUsername, "erp-username", erpsim.DefaultUsername, "ERP account username")
	fs.StringVar(&c.erpPassword, "erp-password", erpsim.DefaultPassword, "ERP account password (prefer the environment variable)")
	fs.StringVar(&c.apiToken, "api-token", "", "bearer token for /api; empty generates one, prints it once, and listens on loopback only")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	for _, e := range archibald.Entities {
		c.intervals[e] = syncer.DefaultInterval(e)
		fs.Func("sync-"+e+"-interval", fmt.Sprintf("time between %s sync runs (default %v)", e, syncer.DefaultInterval(e)),
			durationSetter(c.intervals, e))
	}
	fs.DurationVar(&c.grace, "priority-grace", 10*time.Second, "how long a sync page may run on after an order asks for the ERP before it is preempted")
	fs.DurationVar(&c.linger, "priority-linger", 0, "delay before the services resume after the last order; an order within it finds them still paused")
	fs.DurationVar(&c.orderTTL, "order-timeout", 5*time.Minute, "time allowed from an order's acceptance to its outcome")
	fs.DurationVar(&c.erpStall, "erp-stall-after", 30*time.Second, "an ERP request unanswered this long makes /api/ready report the ERP as not answering")
	fs.DurationVar(&c.shutdown, "shutdown-timeout", 30*time.Second, "how long shutdown waits for requests in progress")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: archibald [serve] [flags]\n\n"+
			"Runs the HTTP API, the three sync services and the order worker. Each flag can also be\n"+
			"set by the environment variable %s<FLAG> (--erp-url is %s); the command line wins.\n\nFlags:\n",
			envPrefix, envName(envPrefix, "erp-url"))
		fs.PrintDefaults()
	}
	return fs, c
}

func durationSetter(m map[string]time.Duration, key string) func(string) error {
	return func(s string) error {
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		if d <= 0 {
			return errors.New("must be positive")
		}
		m[key] = d
		return nil
	}
}

// check validates the configuration and fills in the token.
func (c *serveConfig) check() (generatedToken bool, err error) {
	host, _, err := net.SplitHostPort(c.addr)
	if err != nil {
		return false, fmt.Errorf("--addr %q: %v", c.addr, err)
	}
	if c.apiToken == "" {
		if !isLoopback(host) {
			return false, fmt.Errorf("--addr %q is not a loopback address: set --api-token (or %s) to listen on it",
				c.addr, envName(envPrefix, "api-token"))
		}
		var b [24]byte
		_, _ = rand.Read(b[:])
		c.apiToken = hex.EncodeToString(b[:])
		generatedToken = true
	} else if len(c.apiToken) < 16 {
		return false, errors.New("--api-token is shorter than 16 characters")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"priority-grace", c.grace}, {"order-timeout", c.orderTTL}, {"shutdown-timeout", c.shutdown}, {"erp-stall-after", c.erpStall}} {
		if d.v <= 0 {
			return false, fmt.Errorf("--%s must be positive, got %v", d.name, d.v)
		}
	}
	if c.linger < 0 {
		return false, fmt.Errorf("--priority-linger must not be negative, got %v", c.linger)
	}
	return generatedToken, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// runServe is archibald serve.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfg := serveFlags(stderr)
	if err := parseFlags(fs, envPrefix, args, stderr); err != nil {
		return err
	}
	log, err := newLogger(stderr, cfg.logLevel, cfg.logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "archibald serve: %v\n", err)
		return errUsage
	}
	generated, err := cfg.check()
	if err != nil {
		fmt.Fprintf(stderr, "archibald serve: %v\n", err)
		return errUsage
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	app, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer app.close()

	url := "http://" + ln.Addr().String()
	if generated {
		fmt.Fprintf(stdout, "API token (generated, shown once): %s\nStatus page: %s/#token=%s\n", cfg.apiToken, url, cfg.apiToken)
	} else {
		fmt.Fprintf(stdout, "Status page: %s/\n", url)
	}
	log.Info("archibald serving", "url", url, "db", redactDSN(cfg.db))
	return app.serve(ctx, ln, cfg.shutdown)
}

// app is the wired system: the store, the ERP session, the manager, the services, the
// order worker and the HTTP API.
type app struct {
	log     *slog.Logger
	store   archibald.Store
	sim     *erpsim.Server // nil with --erp-url
	simSrv  *http.Server
	session *erp.Session
	manager *priority.Manager
	api     *httpapi.Server
	syncs   []*syncer.Service
	orders  *orders.Service
	closers []func() // undo the setup, run in reverse order by close
}

func newApp(ctx context.Context, cfg *serveConfig, log *slog.Logger) (a *app, err error) {
	a = &app{log: log}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if a.store, err = openStore(ctx, cfg.db, log); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() { _ = a.store.Close() })

	erpURL := cfg.erpURL
	if erpURL == "" {
		if erpURL, err = a.startSimulator(cfg, log); err != nil {
			return nil, err
		}
	}
	if a.session, err = erp.NewSession(erp.Config{BaseURL: erpURL, Username: cfg.erpUsername,
		Password: cfg.erpPassword, Logger: log, StallAfter: cfg.erpStall}); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, a.session.CloseIdleConnections)

	a.manager = priority.Default()
	if err := a.manager.Configure(priority.WithLogger(log), priority.WithGrace(cfg.grace), priority.WithLinger(cfg.linger)); err != nil {
		return nil, err
	}
	if err := a.manager.Register("erp", a.session); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() { _ = a.manager.Unregister("erp") })

	// The services publish their events through the API, which is built after them:
	// the closures read a.api only once the services run, after it is set.
	publishSync := func(ev syncer.Event) { a.api.PublishSync(ev) }
	publishOrder := func(ev orders.Event) { a.api.PublishOrder(ev) }
	var syncs []httpapi.SyncService
	for _, e := range archibald.Entities {
		svc, err := syncer.New(syncer.Config{Entity: e, ERP: a.session, Store: a.store, Manager: a.manager,
			Interval: cfg.intervals[e], Logger: log, OnEvent: publishSync})
		if err != nil {
			return nil, err
		}
		a.syncs = append(a.syncs, svc)
		syncs = append(syncs, svc)
	}
	a.orders, err = orders.New(orders.Config{Store: a.store, Mirror: a.store, Bot: bot.New(a.session, a.store, log),
		Priority: a.manager, Timeout: cfg.orderTTL, Logger: log, OnEvent: publishOrder})
	if err != nil {
		return nil, err
	}
	a.api, err = httpapi.New(httpapi.Config{Token: cfg.apiToken, Manager: a.manager, Store: a.store, ERP: a.session,
		Logger: log, Orders: a.orders, Syncs: syncs})
	return a, err
}

// startSimulator starts the ERP simulator in this process, on a loopback port, and
// returns its URL.
func (a *app) startSimulator(cfg *serveConfig, log *slog.Logger) (string, error) {
	sim, err := erpsim.New(erpsim.Config{
		PageTime: 20 * time.Millisecond, StepTime: 80 * time.Millisecond, Jitter: 0.1,
		Username: cfg.erpUsername, Password: cfg.erpPassword, SessionTTL: 30 * time.Minute,
		Logger: log.With("component", "erpsim"),
	})
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		sim.Close()
		return "", err
	}
	a.sim = sim
	a.simSrv = &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.simSrv.Serve(ln)
	}()
	a.closers = append(a.closers, func() {
		sim.Close()
		_ = a.simSrv.Close()
		<-done
	})
	url := "http://" + ln.Addr().String()
	log.Info("no --erp-url given: started the ERP simulator in this process", "url", url,
		"customers", len(sim.Customers()), "products", len(sim.Products()), "pageTime", "20ms", "stepTime", "80ms")
	return url, nil
}

// serve runs everything until ctx ends, then shuts down in order: stop taking requests,
// let the running order finish, stop the services at a page boundary; close then closes
// the store.
func (a *app) serve(ctx context.Context, ln net.Listener, shutdownTimeout time.Duration) error {
	if err := a.api.Start(ctx); err != nil {
		return err
	}
	defer a.api.Stop()
	srv := httpapi.NewHTTPServer(ln.Addr().String(), a.api)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	// The workers run on a context of their own: at shutdown they are stopped in order,
	// not cancelled mid-step.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	if err := a.orders.Start(work); err != nil {
		return err
	}
	for _, s := range a.syncs {
		if err := s.Start(work); err != nil {
			return err
		}
	}

	var err error
	select {
	case <-ctx.Done():
		a.log.Info("shutting down: no new requests; the order in progress finishes")
	case err = <-serveErr:
		a.log.Error("the HTTP server stopped", "err", err)
	}
	a.api.Stop() // ends event streams and operator holds, so Shutdown need not wait for them
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		a.log.Warn("requests still open at the shutdown deadline were cut", "err", serr)
		_ = srv.Close()
	}
	a.orders.Stop()
	for _, s := range a.syncs {
		s.Stop()
	}
	a.log.Info("stopped: the order worker and the sync services are at rest")
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// close undoes newApp: the ERP session, the simulator, the store.
func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// openStore opens the store --db names: PostgreSQL for a postgres:// or postgresql://
// URL, a SQLite file otherwise.
func openStore(ctx context.Context, db string, log *slog.Logger) (archibald.Store, error) {
	if strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://") {
		return postgres.Open(ctx, db, postgres.WithLogger(log))
	}
	return sqlite.Open(ctx, db, sqlite.WithLogger(log))
}

// redactDSN hides the password of a database URL, for the log.
func redactDSN(db string) string {
	u, err := neturl.Parse(db)
	if err != nil || u.User == nil {
		return db
	}
	return u.Redacted()
}
