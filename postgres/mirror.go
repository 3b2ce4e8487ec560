package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"archibald"
	"archibald/internal/mirrorrow"
)

// mirrorTable is the table that mirrors one entity and the statements that write it.
type mirrorTable struct {
	entity string
	table  string
	key    string // the key column

	selectHashes string // $1 keys → (key, hash) rows
	upsert       string // columns..., hash, seen_run
	touchMany    string // $1 seen_run, $2 keys
}

// mirrorColumns lists each table's columns as mirrorrow.FromPage fills Row.Vals, key first.
var mirrorColumns = map[string][]string{
	archibald.EntityCustomers: {"id", "name", "vat_number", "email", "city", "name_fold", "search_text"},
	archibald.EntityProducts: {"id", "article_code", "description", "product_group",
		"package_content", "min_qty", "multiple_qty", "max_qty", "article_norm", "description_fold"},
	archibald.EntityPrices: {"article_code", "unit_price_cents", "currency", "valid_from", "valid_to"},
}

// mirrorTables holds the statements of each entity's table; it is built once and
// never changed.
var mirrorTables = func() map[string]*mirrorTable {
	tables := make(map[string]*mirrorTable)
	for _, entity := range archibald.Entities {
		cols := mirrorColumns[entity]
		t := &mirrorTable{entity: entity, table: entity, key: cols[0]}
		var sets, params []string
		for _, c := range cols[1:] {
			sets = append(sets, c+" = excluded."+c)
		}
		for i := range len(cols) + 2 {
			params = append(params, fmt.Sprintf("$%d", i+1))
		}
		t.selectHashes = "SELECT " + t.key + ", hash FROM " + t.table + " WHERE " + t.key + " = ANY($1)"
		t.upsert = "INSERT INTO " + t.table + " (" + strings.Join(cols, ", ") + ", hash, seen_run) VALUES (" +
			strings.Join(params, ", ") + ") ON CONFLICT (" + t.key + ") DO UPDATE SET " +
			strings.Join(sets, ", ") + ", hash = excluded.hash, seen_run = excluded.seen_run"
		t.touchMany = "UPDATE " + t.table + " SET seen_run = $1 WHERE " + t.key + " = ANY($2)"
		tables[entity] = t
	}
	return tables
}()

const runColumns = "entity, run_id, started_at, next_page, total_pages, seen, inserted, updated, deleted, finished_at"

func scanRun(row pgx.Row) (archibald.SyncRun, error) {
	var r archibald.SyncRun
	var finished *time.Time
	err := row.Scan(&r.Entity, &r.ID, &r.StartedAt, &r.NextPage, &r.TotalPages,
		&r.Counts.Seen, &r.Counts.Inserted, &r.Counts.Updated, &r.Counts.Deleted, &finished)
	if err != nil {
		return archibald.SyncRun{}, err
	}
	r.StartedAt = r.StartedAt.UTC()
	if finished != nil {
		r.FinishedAt = finished.UTC()
	}
	return r, nil
}

func table(entity string) (*mirrorTable, error) {
	t, ok := mirrorTables[entity]
	if !ok {
		return nil, mirrorrow.UnknownEntity(entity)
	}
	return t, nil
}

// CurrentRun returns the entity's unfinished run, if any.
func (db *DB) CurrentRun(ctx context.Context, entity string) (archibald.SyncRun, bool, error) {
	if _, err := table(entity); err != nil {
		return archibald.SyncRun{}, false, err
	}
	return db.oneRun(ctx, "current run",
		"SELECT "+runColumns+" FROM sync_runs WHERE entity = $1 AND finished_at IS NULL", entity)
}

// LastFinishedRun returns the entity's most recently finished run, if any.
func (db *DB) LastFinishedRun(ctx context.Context, entity string) (archibald.SyncRun, bool, error) {
	if _, err := table(entity); err != nil {
		return archibald.SyncRun{}, false, err
	}
	return db.oneRun(ctx, "last finished run",
		"SELECT "+runColumns+` FROM sync_runs WHERE entity = $1 AND finished_at IS NOT NULL
		ORDER BY finished_at DESC, started_at DESC, run_id DESC LIMIT 1`, entity)
}

func (db *DB) oneRun(ctx context.Context, what, query string, args ...any) (archibald.SyncRun, bool, error) {
	var r archibald.SyncRun
	err := db.withConn(ctx, func(c *pgx.Conn) error {
		var err error
		r, err = scanRun(c.QueryRow(ctx, query, args...))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return archibald.SyncRun{}, false, nil
	}
	if err != nil {
		return archibald.SyncRun{}, false, wrap(what, err)
	}
	return r, true, nil
}

// BeginRun records a new unfinished run; Conflict if the entity has one already.
func (db *DB) BeginRun(ctx context.Context, entity, runID string, startedAt time.Time) (archibald.SyncRun, error) {
	if _, err := table(entity); err != nil {
		return archibald.SyncRun{}, err
	}
	if runID == "" {
		return archibald.SyncRun{}, archibald.FieldErrorf("runId", "is empty")
	}
	started, err := storedTime("startedAt", startedAt)
	if err != nil {
		return archibald.SyncRun{}, err
	}
	run := archibald.SyncRun{Entity: entity, ID: runID, StartedAt: started, NextPage: 1}
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		var open string
		err := tx.QueryRow(ctx, "SELECT run_id FROM sync_runs WHERE entity = $1 AND finished_at IS NULL", entity).Scan(&open)
		switch {
		case err == nil:
			return archibald.Errorf(archibald.ECONFLICT, "%s already has an unfinished run %s", entity, open)
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM sync_runs WHERE entity = $1 AND run_id = $2)",
			entity, runID).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return archibald.Errorf(archibald.ECONFLICT, "%s run %s exists already", entity, runID)
		}
		_, err = tx.Exec(ctx, `INSERT INTO sync_runs (entity, run_id, started_at, next_page, total_pages,
			seen, inserted, updated, deleted, finished_at) VALUES ($1, $2, $3, 1, 0, 0, 0, 0, 0, NULL)`,
			entity, runID, started)
		if isUniqueViolation(err) {
			// Another BeginRun of the entity committed between our check and insert.
			return archibald.Errorf(archibald.ECONFLICT, "%s already has an unfinished run or a run %s", entity, runID)
		}
		return err
	})
	if err != nil {
		return archibald.SyncRun{}, wrap("begin run", err)
	}
	return run, nil
}

// lockOpenRun loads the run, locking its row until the transaction ends, and checks
// that it is the entity's unfinished run.
func lockOpenRun(ctx context.Context, tx pgx.Tx, entity, runID string) (archibald.SyncRun, error) {
	run, err := scanRun(tx.QueryRow(ctx, "SELECT "+runColumns+" FROM sync_runs WHERE entity = $1 AND run_id = $2 FOR UPDATE",
		entity, runID))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return run, archibald.Errorf(archibald.ECONFLICT, "%s has no run %s", entity, runID)
	case err != nil:
		return run, err
	case run.Finished():
		return run, archibald.Errorf(archibald.ECONFLICT, "%s run %s is finished", entity, runID)
	}
	return run, nil
}

const saveRunSQL = `UPDATE sync_runs SET next_page = $1, total_pages = $2,
		seen = $3, inserted = $4, updated = $5, deleted = $6, finished_at = $7 WHERE entity = $8 AND run_id = $9`

func saveRunArgs(r archibald.SyncRun) []any {
	var finished *time.Time
	if r.Finished() {
		finished = &r.FinishedAt
	}
	return []any{r.NextPage, r.TotalPages, r.Counts.Seen, r.Counts.Inserted, r.Counts.Updated, r.Counts.Deleted,
		finished, r.Entity, r.ID}
}

func saveRun(ctx context.Context, tx pgx.Tx, r archibald.SyncRun) error {
	_, err := tx.Exec(ctx, saveRunSQL, saveRunArgs(r)...)
	return err
}

func queueSaveRun(b *pgx.Batch, r archibald.SyncRun) { b.Queue(saveRunSQL, saveRunArgs(r)...) }

// CommitPage upserts the page's rows and advances the run's checkpoint in one
// transaction; Conflict, writing nothing, when the page is not the run's next page.
func (db *DB) CommitPage(ctx context.Context, p archibald.PageCommit) (archibald.SyncRun, error) {
	t, err := table(p.Run.Entity)
	if err != nil {
		return archibald.SyncRun{}, err
	}
	// Validation and hashing happen before a connection is taken.
	rows, err := mirrorrow.FromPage(p)
	if err != nil {
		return archibald.SyncRun{}, err
	}
	var run archibald.SyncRun
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if run, err = lockOpenRun(ctx, tx, p.Run.Entity, p.Run.ID); err != nil {
			return err
		}
		if p.Page != run.NextPage {
			how := "was committed already"
			if p.Page > run.NextPage {
				how = "skips pages"
			}
			return archibald.Errorf(archibald.ECONFLICT, "%s run %s: page %d %s; the next page is %d",
				run.Entity, run.ID, p.Page, how, run.NextPage)
		}
		// The rows' writes and the checkpoint travel in one batch: one round trip.
		var batch pgx.Batch
		var c archibald.RowCounts
		if c, err = queueRows(ctx, tx, &batch, t, run.ID, rows); err != nil {
			return err
		}
		run.NextPage = p.Page + 1
		run.TotalPages = p.Total
		run.Counts = run.Counts.Add(c)
		queueSaveRun(&batch, run)
		return tx.SendBatch(ctx, &batch).Close()
	})
	if err != nil {
		return archibald.SyncRun{}, wrap("commit page", err)
	}
	return run, nil
}

// queueRows reads the stored hashes of the rows (their keys are unique) and queues
// their upserts, counting inserts and updates; unchanged rows are only marked seen.
// The run's row is locked, so no other transaction writes the entity's table meanwhile.
func queueRows(ctx context.Context, tx pgx.Tx, batch *pgx.Batch, t *mirrorTable, runID string, rows []mirrorrow.Row) (archibald.RowCounts, error) {
	c := archibald.RowCounts{Seen: len(rows)}
	if len(rows) == 0 {
		return c, nil
	}
	keys := make([]string, len(rows))
	for i, r := range rows {
		keys[i] = r.Key
	}
	old := make(map[string]string, len(rows))
	res, err := tx.Query(ctx, t.selectHashes, keys)
	if err != nil {
		return c, err
	}
	var k, h string
	_, err = pgx.ForEachRow(res, []any{&k, &h}, func() error {
		old[k] = h
		return nil
	})
	if err != nil {
		return c, err
	}

	unchanged := keys[:0] // reuses keys' array: index i is read before it can be written
	for _, r := range rows {
		h, ok := old[r.Key]
		switch {
		case !ok:
			c.Inserted++
		case h == r.Hash:
			unchanged = append(unchanged, r.Key)
			continue
		default:
			c.Updated++
		}
		args := make([]any, 0, len(r.Vals)+2)
		args = append(append(args, r.Vals...), r.Hash, runID)
		batch.Queue(t.upsert, args...)
	}
	if len(unchanged) > 0 {
		batch.Queue(t.touchMany, runID, unchanged)
	}
	return c, nil
}

// FinishRun marks the run finished, first deleting (when prune is true) the entity's
// rows that the run did not see, in the same transaction.
func (db *DB) FinishRun(ctx context.Context, entity, runID string, prune bool, finishedAt time.Time) (archibald.SyncRun, error) {
	t, err := table(entity)
	if err != nil {
		return archibald.SyncRun{}, err
	}
	finished, err := storedTime("finishedAt", finishedAt)
	if err != nil {
		return archibald.SyncRun{}, err
	}
	var run archibald.SyncRun
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if run, err = lockOpenRun(ctx, tx, entity, runID); err != nil {
			return err
		}
		if prune {
			// IS DISTINCT FROM is NULL-safe: rows never seen by any run go too.
			tag, err := tx.Exec(ctx, "DELETE FROM "+t.table+" WHERE seen_run IS DISTINCT FROM $1", runID)
			if err != nil {
				return err
			}
			run.Counts.Deleted += int(tag.RowsAffected())
		}
		run.FinishedAt = finished
		return saveRun(ctx, tx, run)
	})
	if err != nil {
		return archibald.SyncRun{}, wrap("finish run", err)
	}
	if prune {
		db.log.Debug("postgres: pruned rows a run did not see", "entity", entity, "run", runID, "deleted", run.Counts.Deleted)
	}
	return run, nil
}

// MirrorCount returns the number of rows the mirror holds for the entity.
func (db *DB) MirrorCount(ctx context.Context, entity string) (int, error) {
	t, err := table(entity)
	if err != nil {
		return 0, err
	}
	var n int
	err = db.withConn(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, "SELECT count(*) FROM "+t.table).Scan(&n)
	})
	if err != nil {
		return 0, wrap("count "+entity, err)
	}
	return n, nil
}

// wrap adds the operation to internal errors; *archibald.Error passes unchanged so that
// its message stays the one a person reads.
func wrap(op string, err error) error {
	var e *archibald.Error
	if errors.As(err, &e) {
		return err
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// storedTime returns t as the database keeps it: to the microsecond (pgx truncates),
// in UTC. The zero time, and years PostgreSQL's timestamptz or the JSON encoding of
// times cannot carry, are refused.
func storedTime(field string, t time.Time) (time.Time, error) {
	if t.IsZero() {
		return time.Time{}, archibald.FieldErrorf(field, "is not set")
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return time.Time{}, archibald.FieldErrorf(field, "%s is outside the years 1 to 9999", t.Format(time.RFC3339))
	}
	return t.Truncate(time.Microsecond).UTC(), nil
}
