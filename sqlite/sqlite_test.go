package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"archibald"
	"archibald/sqlite"
	"archibald/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// opener gives each test its own directory; a name opened again within the test
// reopens the same file.
func opener() storetest.Opener {
	var mu sync.Mutex
	dirs := map[*testing.T]string{}
	return func(t *testing.T, name string) archibald.Store {
		t.Helper()
		mu.Lock()
		dir, ok := dirs[t]
		if !ok {
			dir = t.TempDir()
			dirs[t] = dir
			t.Cleanup(func() {
				mu.Lock()
				delete(dirs, t)
				mu.Unlock()
			})
		}
		mu.Unlock()
		return open(t, filepath.Join(dir, name+".db"))
	}
}

func open(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, opener())
}

// inspect opens the file with a plain connection, beside the store.
func inspect(t *testing.T, path string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

func TestMigrationsOnceAndIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	countVersions := func() (rows, maxVersion int) {
		t.Helper()
		raw := inspect(t, path)
		err := raw.QueryRow("SELECT count(*), max(version_id) FROM goose_db_version WHERE version_id > 0").Scan(&rows, &maxVersion)
		if err != nil {
			t.Fatalf("goose_db_version: %v", err)
		}
		raw.Close()
		return rows, maxVersion
	}
	db := open(t, path)
	db.Close()
	rows1, v1 := countVersions()
	if rows1 == 0 || v1 == 0 {
		t.Fatalf("after the first Open: %d applied migrations, version %d; want some", rows1, v1)
	}
	db = open(t, path)
	if err := db.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if rows2, v2 := countVersions(); rows2 != rows1 || v2 != v1 {
		t.Fatalf("reopening applied migrations again: %d rows version %d, then %d rows version %d", rows1, v1, rows2, v2)
	}
}

func TestPragmas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	open(t, path)
	raw := inspect(t, path)
	var mode string
	if err := raw.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Fatalf("journal_mode = %q, want wal", mode)
	}
}

func TestCloseTwiceAndUseAfterClose(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "c.db"))
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

func TestOpenRejectsBadPaths(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file:x.db?mode=memory", filepath.Join(t.TempDir(), "a?b.db")} {
		_, err := sqlite.Open(t.Context(), path)
		if archibald.ErrorCode(err) != archibald.EINVALID {
			t.Errorf("Open(%q): %v, want an invalid-path error", path, err)
		}
	}
	_, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "no", "such", "dir.db"))
	if err == nil {
		t.Error("Open in a missing directory: no error")
	}
}

// TestStricterOrderRules covers checks this store makes beyond the shared suite.
func TestStricterOrderRules(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "o.db"))
	ctx := t.Context()
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	o := archibald.Order{ID: "o1", Reference: "R1", CustomerID: "C1", CreatedAt: at}
	noRef := o
	noRef.Reference = ""
	_, _, err := db.CreateOrder(ctx, noRef)
	if archibald.ErrorCode(err) != archibald.EINVALID || !strings.Contains(err.Error(), "reference") {
		t.Fatalf("CreateOrder without a reference: %v", err)
	}
	got, created, err := db.CreateOrder(ctx, o)
	if err != nil || !created || got.Status != archibald.OrderQueued || !got.UpdatedAt.Equal(at) {
		t.Fatalf("CreateOrder with no status: %+v, %v, %v; want queued, updated at creation", got, created, err)
	}
	if _, err := db.TransitionOrder(ctx, "o1", archibald.OrderTransition{From: "queued", To: "submitting", At: at}); err != nil {
		t.Fatal(err)
	}
	_, err = db.TransitionOrder(ctx, "o1", archibald.OrderTransition{From: "submitting", To: "created", At: at})
	if archibald.ErrorCode(err) != archibald.EINVALID || !strings.Contains(err.Error(), "erpOrderId") {
		t.Fatalf("created without an ERP id: %v", err)
	}
	_, err = db.TransitionOrder(ctx, "o1", archibald.OrderTransition{From: "submitting", To: "failed", At: at})
	if archibald.ErrorCode(err) != archibald.EINVALID || !strings.Contains(err.Error(), "error") {
		t.Fatalf("failed without an error: %v", err)
	}
	_, err = db.TransitionOrder(ctx, "o1", archibald.OrderTransition{From: "submitting", To: "failed", Error: "x"})
	if archibald.ErrorCode(err) != archibald.EINVALID {
		t.Fatalf("transition without a time: %v", err)
	}
}

func TestTimesOutOfRange(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "t.db"))
	_, err := db.BeginRun(t.Context(), archibald.EntityPrices, "r1", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))
	if archibald.ErrorCode(err) != archibald.EINVALID {
		t.Fatalf("BeginRun in the year 3000: %v, want invalid", err)
	}
}

// TestPruneDeletesRowsNoRunSaw: rows whose seen_run is NULL (never seen by any run)
// are not seen by this run either, so prune deletes them.
func TestPruneDeletesRowsNoRunSaw(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.db")
	db := open(t, path)
	raw := inspect(t, path+"?_pragma=busy_timeout(5000)")
	_, err := raw.Exec(`INSERT INTO products (id, article_code, description, product_group, package_content,
		min_qty, multiple_qty, max_qty, article_norm, description_fold, hash, seen_run)
		VALUES ('orphan', 'A', '', '', 1, 1, 1, 0, 'A', '', 'x', NULL)`)
	if err != nil {
		t.Fatal(err)
	}
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

// TestNanosecondTimes: this store keeps times to the nanosecond (the shared suite asks
// only for microseconds).
func TestNanosecondTimes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ns.db")
	db := open(t, path)
	ctx := t.Context()
	started := time.Date(2026, 5, 6, 7, 8, 9, 987654321, time.FixedZone("X", -5*3600))
	created := started.Add(time.Nanosecond)
	if _, err := db.BeginRun(ctx, archibald.EntityCustomers, "r1", started); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.CreateOrder(ctx, archibald.Order{ID: "o1", Reference: "R", CreatedAt: created}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = open(t, path)
	run, _, err := db.CurrentRun(ctx, archibald.EntityCustomers)
	if err != nil || !run.StartedAt.Equal(started) {
		t.Fatalf("StartedAt %v (err %v), want %v", run.StartedAt, err, started)
	}
	o, err := db.Order(ctx, "o1")
	if err != nil || !o.CreatedAt.Equal(created) || !o.UpdatedAt.Equal(created) {
		t.Fatalf("order times %v / %v (err %v), want %v", o.CreatedAt, o.UpdatedAt, err, created)
	}
}
