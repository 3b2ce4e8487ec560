// Package sqlite is the archibald.Store on SQLite (modernc.org/sqlite, no cgo).
//
// The database is opened twice: a write pool of exactly one connection, whose
// transactions begin IMMEDIATE so that writers queue in Go rather than fail with
// SQLITE_BUSY, and a read pool of several query-only connections that read committed
// snapshots beside the writer (WAL mode).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"runtime"
	"strings"
	"sync"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"archibald"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// busyTimeoutMillis bounds how long a connection waits for a lock held by another
// connection (only checkpoints and the other pool can hold one; writers queue in Go).
const busyTimeoutMillis = 5000

// DB is an archibald.Store backed by one SQLite file. Every method is safe for
// concurrent use.
type DB struct {
	// Immutable after Open.
	path  string
	log   *slog.Logger
	write *sql.DB // one connection: the only writer
	read  *sql.DB // query_only connections
	stmts *statements

	closeOnce sync.Once
	closeErr  error
}

var _ archibald.Store = (*DB)(nil)

// Option configures Open.
type Option func(*config)

type config struct {
	log       *slog.Logger
	readConns int
}

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.log = l
		}
	}
}

// WithReadConns sets the size of the read pool (default: the number of CPUs, 2 to 8).
func WithReadConns(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.readConns = n
		}
	}
}

// Open opens the SQLite database at path, creating the file if needed, and applies
// the pending migrations.
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	cfg := config{
		log:       slog.New(slog.DiscardHandler),
		readConns: min(max(runtime.NumCPU(), 2), 8),
	}
	for _, o := range opts {
		o(&cfg)
	}
	if err := checkPath(path); err != nil {
		return nil, err
	}

	write, err := sql.Open("sqlite", path+"?"+strings.Join([]string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", busyTimeoutMillis),
		"_pragma=journal_mode(WAL)",
		"_pragma=foreign_keys(1)",
		"_pragma=synchronous(NORMAL)",
		"_txlock=immediate",
	}, "&"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)

	db := &DB{path: path, log: cfg.log, write: write}
	if err := db.migrate(ctx); err != nil {
		write.Close()
		return nil, err
	}

	// The read pool is opened after the writer has switched the file to WAL, which
	// is persistent, so readers never try to change the journal mode themselves.
	read, err := sql.Open("sqlite", path+"?"+strings.Join([]string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", busyTimeoutMillis),
		"_pragma=foreign_keys(1)",
		"_query_only=1",
	}, "&"))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	read.SetMaxOpenConns(cfg.readConns)
	read.SetMaxIdleConns(cfg.readConns)
	read.SetConnMaxIdleTime(0)
	db.read = read
	if err := read.PingContext(ctx); err != nil {
		db.closePools()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}

	if db.stmts, err = prepareStatements(ctx, write); err != nil {
		db.closePools()
		return nil, fmt.Errorf("sqlite: prepare statements: %w", err)
	}
	return db, nil
}

// checkPath rejects paths that cannot work with two pools or with the DSN syntax.
func checkPath(path string) error {
	switch {
	case path == "":
		return archibald.FieldErrorf("path", "the SQLite database path is empty")
	case path == ":memory:" || strings.HasPrefix(path, "file:") || strings.Contains(path, "mode=memory"):
		// Each pool would get its own private database.
		return archibald.FieldErrorf("path", "%q is not supported: the store needs a database file that two connection pools share", path)
	case strings.ContainsAny(path, "?#"):
		return archibald.FieldErrorf("path", "%q contains '?' or '#', which the SQLite DSN cannot carry in a file name", path)
	}
	return nil
}

func (db *DB) migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("sqlite: migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db.write, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("sqlite: migrations: %w", err)
	}
	// p.Close would close db.write, which the store keeps using.
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: migrate %s: %w", db.path, err)
	}
	for _, r := range results {
		db.log.Info("sqlite: applied migration", "path", db.path, "version", r.Source.Version,
			"file", r.Source.Path, "took", r.Duration)
	}
	return nil
}

// Ping checks that the database answers a query.
func (db *DB) Ping(ctx context.Context) error {
	// The read pool answers even while a write transaction is open.
	var one int
	if err := db.read.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return errors.Join(archibald.Errorf(archibald.EUNAVAILABLE, "the SQLite store cannot be reached"),
			fmt.Errorf("sqlite: ping: %w", err))
	}
	return nil
}

// Close closes both pools. It is safe to call more than once; later calls return the
// first call's result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		var errs []error
		if db.stmts != nil {
			errs = append(errs, db.stmts.close())
		}
		errs = append(errs, db.closePools())
		db.closeErr = errors.Join(errs...)
	})
	return db.closeErr
}

func (db *DB) closePools() error {
	var errs []error
	if db.read != nil {
		errs = append(errs, db.read.Close())
	}
	// Closing the last connection checkpoints the WAL into the database file.
	errs = append(errs, db.write.Close())
	return errors.Join(errs...)
}

// inWriteTx runs fn in an IMMEDIATE transaction on the single writer connection and
// commits when fn returns nil.
func (db *DB) inWriteTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // the error that made us roll back is the one to report
		return err
	}
	return tx.Commit()
}
