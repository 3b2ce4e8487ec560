// Package testenv builds the in-process system that tests of several packages share:
// the ERP simulator, an ERP session talking to it without a network, a SQLite store in a
// temporary directory and a priority manager. It works inside testing/synctest bubbles.
package testenv

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"archibald/erp"
	"archibald/erpsim"
	"archibald/priority"
	"archibald/sqlite"
)

// Options sizes the environment; zero values take small, fast defaults.
type Options struct {
	Customers, Products int           // simulator data (default 100 and 150)
	PageTime, StepTime  time.Duration // simulator service times (default 20ms and 80ms)
	NoServiceTime       bool          // serve every request at once (throughput benchmarks)
	Grace               time.Duration // priority grace (default 10s)
	Seed                int64
	DBPath              string // default: a file in t.TempDir()
	// Transport, when set, wraps the in-memory transport to the simulator (to inject
	// network faults).
	Transport func(http.RoundTripper) http.RoundTripper
	Logger    *slog.Logger
}

// Env is one in-process system.
type Env struct {
	Sim     *erpsim.Server
	Session *erp.Session
	Store   *sqlite.DB
	Manager *priority.Manager
	DBPath  string
	Logger  *slog.Logger
}

// Username and Password are the simulator account of every Env.
const (
	Username = "agent"
	Password = "s3cret-test-password"
)

// New builds an Env; t.Cleanup closes it.
func New(t testing.TB, o Options) *Env {
	t.Helper()
	if o.Customers == 0 {
		o.Customers = 100
	}
	if o.Products == 0 {
		o.Products = 150
	}
	if o.PageTime == 0 {
		o.PageTime = 20 * time.Millisecond
	}
	if o.StepTime == 0 {
		o.StepTime = 80 * time.Millisecond
	}
	if o.NoServiceTime {
		o.PageTime, o.StepTime = 0, 0
	}
	if o.Grace == 0 {
		o.Grace = 10 * time.Second
	}
	if o.DBPath == "" {
		o.DBPath = filepath.Join(t.TempDir(), "archibald.db")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	sim, err := erpsim.New(erpsim.Config{
		Seed: o.Seed, Customers: o.Customers, Products: o.Products,
		PageTime: o.PageTime, StepTime: o.StepTime, Jitter: 0.1,
		Username: Username, Password: Password, Logger: o.Logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	transport := sim.RoundTripper()
	if o.Transport != nil {
		transport = o.Transport(transport)
	}
	sess, err := erp.NewSession(erp.Config{
		BaseURL: "http://erp.sim", Username: Username, Password: Password,
		HTTPClient: &http.Client{Transport: transport}, Logger: o.Logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	store := OpenStore(t, o.DBPath)
	m := priority.New(priority.WithGrace(o.Grace), priority.WithLogger(o.Logger))
	if err := m.Register("erp", sess); err != nil {
		t.Fatal(err)
	}
	return &Env{Sim: sim, Session: sess, Store: store, Manager: m, DBPath: o.DBPath, Logger: o.Logger}
}

// OpenStore opens the SQLite store at path; t.Cleanup closes it (a second Close is a no-op).
func OpenStore(t testing.TB, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}
