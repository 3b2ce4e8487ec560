package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"archibald"
	"archibald/postgres"
	"archibald/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// defaultDSN is the local test server (trust authentication).
const defaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// serverDSN returns the DSN of the test server. ARCHIBALD_TEST_POSTGRES=off skips the
// tests locally; in CI (CI=true) the tests never skip: a missing server fails them.
func serverDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv("ARCHIBALD_TEST_POSTGRES")
	if dsn == "off" {
		if os.Getenv("CI") == "true" {
			tb.Fatal("ARCHIBALD_TEST_POSTGRES=off, but CI=true: the PostgreSQL tests must run in CI")
		}
		tb.Skip("ARCHIBALD_TEST_POSTGRES=off")
	}
	if dsn == "" {
		dsn = defaultDSN
	}
	return dsn
}

// adminExec runs one statement on a connection of its own.
func adminExec(tb testing.TB, dsn, stmt string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatalf("cannot reach the PostgreSQL test server (set ARCHIBALD_TEST_POSTGRES to its DSN, or to \"off\" to skip locally): %v", err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, stmt); err != nil {
		tb.Fatalf("%s: %v", stmt, err)
	}
}

// withSearchPath returns dsn with the schema as its search_path.
func withSearchPath(tb testing.TB, dsn, schema string) string {
	tb.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			tb.Fatalf("ARCHIBALD_TEST_POSTGRES: %v", err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}

// newSchema creates a schema with a random name, dropped when tb ends, and returns a
// DSN that uses it.
func newSchema(tb testing.TB) string {
	tb.Helper()
	dsn := serverDSN(tb)
	var b [8]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	adminExec(tb, dsn, "CREATE SCHEMA "+schema)
	// Registered before the store's Close, so it runs after it.
	tb.Cleanup(func() { adminExec(tb, dsn, "DROP SCHEMA "+schema+" CASCADE") })
	return withSearchPath(tb, dsn, schema)
}

// opener gives each (test, name) its own schema; a name opened again within the test
// reopens the same schema.
func opener() storetest.Opener {
	type key struct {
		t    *testing.T
		name string
	}
	var mu sync.Mutex
	dsns := map[key]string{}
	return func(t *testing.T, name string) archibald.Store {
		t.Helper()
		k := key{t, name}
		mu.Lock()
		dsn, ok := dsns[k]
		mu.Unlock()
		if !ok {
			dsn = newSchema(t)
			mu.Lock()
			dsns[k] = dsn
			mu.Unlock()
			t.Cleanup(func() {
				mu.Lock()
				delete(dsns, k)
				mu.Unlock()
			})
		}
		return open(t, dsn)
	}
}

func open(tb testing.TB, dsn string) *postgres.DB {
	tb.Helper()
	db, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestStore(t *testing.T) {
	// One clear failure (or skip) rather than one per subtest.
	adminExec(t, serverDSN(t), "SELECT 1")
	storetest.Run(t, opener())
}

func TestMigrationsOnceAndIdempotent(t *testing.T) {
	dsn := newSchema(t)
	countVersions := func() (rows, maxVersion int) {
		t.Helper()
		c, err := pgx.Connect(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		err = c.QueryRow(t.Context(), "SELECT count(*), coalesce(max(version_id), 0) FROM goose_db_version WHERE version_id > 0").
			Scan(&rows, &maxVersion)
		if err != nil {
			t.Fatalf("goose_db_version: %v", err)
		}
		return rows, maxVersion
	}
	open(t, dsn).Close()
	rows1, v1 := countVersions()
	if rows1 == 0 || v1 == 0 {
		t.Fatalf("after the first Open: %d applied migrations, version %d; want some", rows1, v1)
	}
	db := open(t, dsn)
	if err := db.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if rows2, v2 := countVersions(); rows2 != rows1 || v2 != v1 {
		t.Fatalf("reopening applied migrations again: %d rows version %d, then %d rows version %d", rows1, v1, rows2, v2)
	}
}

func TestCloseTwiceAndUseAfterClose(t *testing.T) {
	db := open(t, newSchema(t))
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := db.Ping(t.Context()); archibald.ErrorCode(err) != archibald.EUNAVAILABLE {
		t.Fatalf("Ping after Close: %v (code %q), want %s", err, archibald.ErrorCode(err), archibald.EUNAVAILABLE)
	}
	if _, err := db.BeginRun(t.Context(), archibald.EntityPrices, "r", time.Now()); err == nil {
		t.Fatal("BeginRun after Close: no error")
	}
}

func TestOpenRejectsBadInput(t *testing.T) {
	serverDSN(t) // skips with the others when the server is off
	cases := []struct {
		name, dsn, code string
	}{
		{"empty", "", archibald.EINVALID},
		{"not a DSN", "postgres://%zz", archibald.EINVALID},
		{"no server", "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2", archibald.EUNAVAILABLE},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := postgres.Open(t.Context(), c.dsn)
			if archibald.ErrorCode(err) != c.code {
				t.Fatalf("Open(%q): %v (code %q), want %s", c.dsn, err, archibald.ErrorCode(err), c.code)
			}
		})
	}
}

// TestPruneDeletesRowsNoRunSaw: rows whose seen_run is NULL (never seen by any run)
// are not seen by this run either, so prune deletes them.
func TestPruneDeletesRowsNoRunSaw(t *testing.T) {
	dsn := newSchema(t)
	db := open(t, dsn)
	adminExec(t, dsn, `INSERT INTO products (id, article_code, description, product_group, package_content,
		min_qty, multiple_qty, max_qty, article_norm, description_fold, hash, seen_run)
		VALUES ('orphan', 'A', '', '', 1, 1, 1, 0, 'A', '', 'x', NULL)`)
	ctx := t.Context()
	run, err := db.BeginRun(ctx, archibald.EntityProducts, "r1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if run, err = db.CommitPage(ctx, archibald.PageCommit{Run: run, Page: 1, Total: 1,
		Products: []archibald.Product{{ID: "seen", ArticleCode: "B"}}}); err != nil {
		t.Fatal(err)
	}
	if run, err = db.FinishRun(ctx, archibald.EntityProducts, run.ID, true, time.Now()); err != nil {
		t.Fatal(err)
	}
	all, err := db.AllProducts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if run.Counts.Deleted != 1 || len(all) != 1 || all[0].ID != "seen" {
		t.Fatalf("after prune: run %+v, mirror %+v; want the orphan deleted and counted", run.Counts, all)
	}
}

// TestTimes: times keep microseconds (the nanoseconds below are dropped, as
// PostgreSQL cannot hold them) and years outside 1–9999 are refused.
func TestTimes(t *testing.T) {
	db := open(t, newSchema(t))
	ctx := t.Context()
	started := time.Date(2026, 5, 6, 7, 8, 9, 987654321, time.FixedZone("X", -5*3600))
	run, err := db.BeginRun(ctx, archibald.EntityCustomers, "r1", started)
	if err != nil {
		t.Fatal(err)
	}
	want := started.Truncate(time.Microsecond)
	got, _, err := db.CurrentRun(ctx, archibald.EntityCustomers)
	if err != nil || !got.StartedAt.Equal(want) || !run.StartedAt.Equal(want) {
		t.Fatalf("StartedAt %v, stored %v (err %v), want %v", run.StartedAt, got.StartedAt, err, want)
	}
	_, err = db.BeginRun(ctx, archibald.EntityPrices, "r1", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))
	if archibald.ErrorCode(err) != archibald.EINVALID {
		t.Fatalf("BeginRun in the year 10000: %v, want invalid", err)
	}
}

// TestCommitPageRace: two commits of the same page at once; the run's row lock lets
// exactly one through, the other gets a conflict and writes nothing.
func TestCommitPageRace(t *testing.T) {
	db := open(t, newSchema(t))
	ctx := t.Context()
	run, err := db.BeginRun(ctx, archibald.EntityPrices, "r1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	const racers = 8
	var wg sync.WaitGroup
	errs := make(chan error, racers)
	for i := range racers {
		wg.Go(func() {
			_, err := db.CommitPage(ctx, archibald.PageCommit{Run: run, Page: 1, Total: 1,
				Prices: []archibald.Price{{ArticleCode: "A", UnitPriceCents: int64(i)}}})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		switch archibald.ErrorCode(err) {
		case "":
			ok++
		case archibald.ECONFLICT:
		default:
			t.Errorf("CommitPage: %v", err)
		}
	}
	got, _, err := db.CurrentRun(ctx, archibald.EntityPrices)
	if err != nil {
		t.Fatal(err)
	}
	if ok != 1 || got.NextPage != 2 || got.Counts != (archibald.RowCounts{Seen: 1, Inserted: 1}) {
		t.Fatalf("%d commits succeeded, run %+v; want exactly one", ok, got)
	}
}
