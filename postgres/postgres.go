// Package postgres is the archibald.Store on PostgreSQL, through pgx.
//
// The store keeps its own small pool of pgx connections (see pool.go) rather than
// pgxpool, and runs the goose migrations at Open through a minimal database/sql driver
// over pgx (see sqldriver.go): pgxpool and pgx's stdlib adapter need the module
// github.com/jackc/puddle/v2, which this module does not require.
//
// Every write that must be atomic is one transaction at READ COMMITTED; the checkpoint
// of a sync run is read with SELECT … FOR UPDATE, so that two commits of the same run
// serialize on its row and the second sees the first's result.
package postgres

import (
	"context"

	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"runtime"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"archibald"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// DB is an archibald.Store backed by a PostgreSQL database (the tables live in the
// first schema of the connection's search_path). Every method is safe for concurrent use.
type DB struct {
	// Immutable after Open.
	log  *slog.Logger
	pool *pgxpool.Pool

	closeOnce sync.Once
}

var _ archibald.Store = (*DB)(nil)

// Option configures Open.
type Option func(*config)

type config struct {
	log      *slog.Logger
	maxConns int
}

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.log = l
		}
	}
}

// WithMaxConns bounds the number of connections the store opens (default: the number
// of CPUs, 4 to 16).
func WithMaxConns(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxConns = n
		}
	}
}

// Open connects to the database that dsn names (a postgres:// URL or key=value
// connection string, as pgx parses them) and applies the pending migrations.
func Open(ctx context.Context, dsn string, opts ...Option) (*DB, error) {
	cfg := config{
		log:      slog.New(slog.DiscardHandler),
		maxConns: min(max(runtime.NumCPU(), 4), 16),
	}
	for _, o := range opts {
		o(&cfg)
	}
	if dsn == "" {
		return nil, archibald.FieldErrorf("dsn", "the PostgreSQL connection string is empty")
	}
	poolCfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The parse error may quote the password; say only what is wrong in general.
		return nil, archibald.FieldErrorf("dsn", "is not a valid PostgreSQL connection string")
	}
	poolCfg.MaxConns = int32(cfg.maxConns)
	connCfg := poolCfg.ConnConfig
	if _, set := connCfg.RuntimeParams["plan_cache_mode"]; !set {
		// pgx prepares and caches every statement. After five executions PostgreSQL may
		// switch a prepared statement to a generic plan, chosen without the parameters'
		// values and often while the mirror is still small: "key = ANY($1)" then stays a
		// sequential scan as the table grows, and each page costs time proportional to
		// the mirror. Custom plans cost a little planning per statement and scale.
		connCfg.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, archibald.FieldErrorf("dsn", "cannot configure the PostgreSQL pool")
	}
	db := &DB{log: cfg.log, pool: pool}
	if err := db.migrate(ctx, connCfg); err != nil {
		pool.Close()
		return nil, err
	}
	if err := db.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

func (db *DB) migrate(ctx context.Context, connCfg *pgx.ConnConfig) error {
	fsys, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	sqlDB := stdlib.OpenDBFromPool(db.pool) // goose takes a *sql.DB; closing it leaves the pool open
	defer sqlDB.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		err = fmt.Errorf("postgres: migrate %s@%s/%s: %w", connCfg.User, connCfg.Host, connCfg.Database, err)
		var ce *pgconn.ConnectError
		if errors.As(err, &ce) {
			return errors.Join(archibald.Errorf(archibald.EUNAVAILABLE, "the PostgreSQL store cannot be reached"), err)
		}
		return err
	}
	for _, r := range results {
		db.log.Info("postgres: applied migration", "database", connCfg.Database, "version", r.Source.Version,
			"file", r.Source.Path, "took", r.Duration)
	}
	return nil
}

// Ping checks that the database answers a query.
func (db *DB) Ping(ctx context.Context) error {
	err := db.withConn(ctx, func(c *pgx.Conn) error {
		var one int
		return c.QueryRow(ctx, "SELECT 1").Scan(&one)
	})
	if err != nil {
		return errors.Join(archibald.Errorf(archibald.EUNAVAILABLE, "the PostgreSQL store cannot be reached"),
			fmt.Errorf("postgres: ping: %w", err))
	}
	return nil
}

// Close closes the connections, waiting for those in use to be released. It is safe to
// call more than once.
func (db *DB) Close() error {
	db.closeOnce.Do(db.pool.Close)
	return nil
}

// withConn runs fn with a connection of the pool.
func (db *DB) withConn(ctx context.Context, fn func(c *pgx.Conn) error) error {
	c, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	return fn(c.Conn())
}

// inTx runs fn in a READ COMMITTED transaction and commits when fn returns nil.
func (db *DB) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return db.withConn(ctx, func(c *pgx.Conn) error {
		tx, err := c.Begin(ctx)
		if err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			// The error that made us roll back is the one to report; a rollback that
			// fails leaves the connection broken, and release discards it.
			_ = tx.Rollback(context.WithoutCancel(ctx))
			return err
		}
		return tx.Commit(ctx)
	})
}
