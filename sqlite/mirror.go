package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"archibald"
	"archibald/internal/mirrorrow"
)

// mirrorTable is the table that mirrors one entity and the statements that write it.
type mirrorTable struct {
	entity string
	table  string
	key    string // the key column

	selectHashes *sql.Stmt // JSON array of keys → (key, hash) rows
	upsert       *sql.Stmt // columns..., hash, seen_run
	touchMany    *sql.Stmt // seen_run, JSON array of keys
}

// mirrorColumns lists each table's columns as mirrorrow.FromPage fills Row.Vals, key first.
var mirrorColumns = map[string][]string{
	archibald.EntityCustomers: {"id", "name", "vat_number", "email", "city", "name_fold", "search_text"},
	archibald.EntityProducts: {"id", "article_code", "description", "product_group",
		"package_content", "min_qty", "multiple_qty", "max_qty", "article_norm", "description_fold"},
	archibald.EntityPrices: {"article_code", "unit_price_cents", "currency", "valid_from", "valid_to"},
}

// statements are the write path's statements, prepared once at Open on the single
// writer connection and reused by every transaction.
type statements struct {
	all    []*sql.Stmt
	tables map[string]*mirrorTable

	runByID   *sql.Stmt
	runUpdate *sql.Stmt
}

func prepareStatements(ctx context.Context, write *sql.DB) (*statements, error) {
	s := &statements{tables: make(map[string]*mirrorTable)}
	var err error
	prep := func(query string) *sql.Stmt {
		if err != nil {
			return nil
		}
		st, e := write.PrepareContext(ctx, query)
		if e != nil {
			err = fmt.Errorf("prepare %q: %w", query, e)
			return nil
		}
		s.all = append(s.all, st)
		return st
	}
	for _, entity := range archibald.Entities {
		cols := mirrorColumns[entity]
		t := &mirrorTable{entity: entity, table: entity, key: cols[0]}
		var sets []string
		for _, c := range cols[1:] {
			sets = append(sets, c+" = excluded."+c)
		}
		// A page's keys travel as one JSON array, so that reading the old hashes and
		// marking the unchanged rows seen take one statement each, whatever the page size.
		t.selectHashes = prep("SELECT " + t.key + ", hash FROM " + t.table + " WHERE " + t.key + " IN (SELECT value FROM json_each(?))")
		t.upsert = prep("INSERT INTO " + t.table + " (" + strings.Join(cols, ", ") + ", hash, seen_run) VALUES (" +
			strings.Repeat("?, ", len(cols)+1) + "?) ON CONFLICT (" + t.key + ") DO UPDATE SET " +
			strings.Join(sets, ", ") + ", hash = excluded.hash, seen_run = excluded.seen_run")
		t.touchMany = prep("UPDATE " + t.table + " SET seen_run = ? WHERE " + t.key + " IN (SELECT value FROM json_each(?))")
		s.tables[entity] = t
	}
	s.runByID = prep("SELECT " + runColumns + " FROM sync_runs WHERE entity = ? AND run_id = ?")
	s.runUpdate = prep(`UPDATE sync_runs SET next_page = ?, total_pages = ?,
		seen = ?, inserted = ?, updated = ?, deleted = ?, finished_at = ? WHERE entity = ? AND run_id = ?`)
	if err != nil {
		return nil, errors.Join(err, s.close())
	}
	return s, nil
}

func (s *statements) close() error {
	var errs []error
	for _, st := range s.all {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}

const runColumns = "entity, run_id, started_at, next_page, total_pages, seen, inserted, updated, deleted, finished_at"

func scanRun(row interface{ Scan(...any) error }) (archibald.SyncRun, error) {
	var r archibald.SyncRun
	var started int64
	var finished sql.NullInt64
	err := row.Scan(&r.Entity, &r.ID, &started, &r.NextPage, &r.TotalPages,
		&r.Counts.Seen, &r.Counts.Inserted, &r.Counts.Updated, &r.Counts.Deleted, &finished)
	if err != nil {
		return archibald.SyncRun{}, err
	}
	r.StartedAt = fromNanos(started)
	if finished.Valid {
		r.FinishedAt = fromNanos(finished.Int64)
	}
	return r, nil
}

func (db *DB) table(entity string) (*mirrorTable, error) {
	t, ok := db.stmts.tables[entity]
	if !ok {
		return nil, mirrorrow.UnknownEntity(entity)
	}
	return t, nil
}

// CurrentRun returns the entity's unfinished run, if any.
func (db *DB) CurrentRun(ctx context.Context, entity string) (archibald.SyncRun, bool, error) {
	if _, err := db.table(entity); err != nil {
		return archibald.SyncRun{}, false, err
	}
	return db.oneRun(ctx, "current run",
		"SELECT "+runColumns+" FROM sync_runs WHERE entity = ? AND finished_at IS NULL", entity)
}

// LastFinishedRun returns the entity's most recently finished run, if any.
func (db *DB) LastFinishedRun(ctx context.Context, entity string) (archibald.SyncRun, bool, error) {
	if _, err := db.table(entity); err != nil {
		return archibald.SyncRun{}, false, err
	}
	return db.oneRun(ctx, "last finished run",
		"SELECT "+runColumns+` FROM sync_runs WHERE entity = ? AND finished_at IS NOT NULL
		ORDER BY finished_at DESC, started_at DESC, run_id DESC LIMIT 1`, entity)
}

func (db *DB) oneRun(ctx context.Context, what, query string, args ...any) (archibald.SyncRun, bool, error) {
	r, err := scanRun(db.read.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return archibald.SyncRun{}, false, nil
	}
	if err != nil {
		return archibald.SyncRun{}, false, fmt.Errorf("sqlite: %s: %w", what, err)
	}
	return r, true, nil
}

// BeginRun records a new unfinished run; Conflict if the entity has one already.
func (db *DB) BeginRun(ctx context.Context, entity, runID string, startedAt time.Time) (archibald.SyncRun, error) {
	if _, err := db.table(entity); err != nil {
		return archibald.SyncRun{}, err
	}
	if runID == "" {
		return archibald.SyncRun{}, archibald.FieldErrorf("runId", "is empty")
	}
	started, err := toNanos("startedAt", startedAt)
	if err != nil {
		return archibald.SyncRun{}, err
	}
	run := archibald.SyncRun{Entity: entity, ID: runID, StartedAt: fromNanos(started), NextPage: 1}
	err = db.inWriteTx(ctx, func(tx *sql.Tx) error {
		var open string
		err := tx.QueryRowContext(ctx, "SELECT run_id FROM sync_runs WHERE entity = ? AND finished_at IS NULL", entity).Scan(&open)
		switch {
		case err == nil:
			return archibald.Errorf(archibald.ECONFLICT, "%s already has an unfinished run %s", entity, open)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sync_runs WHERE entity = ? AND run_id = ?", entity, runID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return archibald.Errorf(archibald.ECONFLICT, "%s run %s exists already", entity, runID)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO sync_runs (entity, run_id, started_at, next_page, total_pages,
			seen, inserted, updated, deleted, finished_at) VALUES (?, ?, ?, 1, 0, 0, 0, 0, 0, NULL)`, entity, runID, started)
		return err
	})
	if err != nil {
		return archibald.SyncRun{}, wrap("begin run", err)
	}
	return run, nil
}

// openRunInTx loads the run and checks that it is the entity's unfinished run.
func (db *DB) openRunInTx(ctx context.Context, tx *sql.Tx, entity, runID string) (archibald.SyncRun, error) {
	run, err := scanRun(tx.StmtContext(ctx, db.stmts.runByID).QueryRowContext(ctx, entity, runID))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return run, archibald.Errorf(archibald.ECONFLICT, "%s has no run %s", entity, runID)
	case err != nil:
		return run, err
	case run.Finished():
		return run, archibald.Errorf(archibald.ECONFLICT, "%s run %s is finished", entity, runID)
	}
	return run, nil
}

func (db *DB) saveRunInTx(ctx context.Context, tx *sql.Tx, r archibald.SyncRun) error {
	var finished sql.NullInt64
	if r.Finished() {
		finished = sql.NullInt64{Int64: r.FinishedAt.UnixNano(), Valid: true}
	}
	_, err := tx.StmtContext(ctx, db.stmts.runUpdate).ExecContext(ctx, r.NextPage, r.TotalPages,
		r.Counts.Seen, r.Counts.Inserted, r.Counts.Updated, r.Counts.Deleted, finished, r.Entity, r.ID)
	return err
}

// CommitPage upserts the page's rows and advances the run's checkpoint in one
// transaction; Conflict, writing nothing, when the page is not the run's next page.
func (db *DB) CommitPage(ctx context.Context, p archibald.PageCommit) (archibald.SyncRun, error) {
	t, err := db.table(p.Run.Entity)
	if err != nil {
		return archibald.SyncRun{}, err
	}
	// Validation and hashing happen before the write lock is taken.
	rows, err := mirrorrow.FromPage(p)
	if err != nil {
		return archibald.SyncRun{}, err
	}
	var run archibald.SyncRun
	err = db.inWriteTx(ctx, func(tx *sql.Tx) error {
		var err error
		if run, err = db.openRunInTx(ctx, tx, p.Run.Entity, p.Run.ID); err != nil {
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
		var c archibald.RowCounts
		if c, err = db.writeRows(ctx, tx, t, run.ID, rows); err != nil {
			return err
		}
		run.NextPage = p.Page + 1
		run.TotalPages = p.Total
		run.Counts = run.Counts.Add(c)
		return db.saveRunInTx(ctx, tx, run)
	})
	if err != nil {
		return archibald.SyncRun{}, wrap("commit page", err)
	}
	return run, nil
}

// writeRows upserts rows (their keys are unique), comparing content hashes to count
// inserts and updates; unchanged rows are only marked seen.
func (db *DB) writeRows(ctx context.Context, tx *sql.Tx, t *mirrorTable, runID string, rows []mirrorrow.Row) (archibald.RowCounts, error) {
	c := archibald.RowCounts{Seen: len(rows)}
	if len(rows) == 0 {
		return c, nil
	}
	keys := make([]string, len(rows))
	for i, r := range rows {
		keys[i] = r.Key
	}
	keysJSON, err := json.Marshal(keys)
	if err != nil {
		return c, err
	}
	old := make(map[string]string, len(rows))
	res, err := tx.StmtContext(ctx, t.selectHashes).QueryContext(ctx, string(keysJSON))
	if err != nil {
		return c, err
	}
	for res.Next() {
		var k, h string
		if err := res.Scan(&k, &h); err != nil {
			res.Close()
			return c, err
		}
		old[k] = h
	}
	if err := res.Close(); err != nil {
		return c, err
	}
	if err := res.Err(); err != nil {
		return c, err
	}

	upsert := tx.StmtContext(ctx, t.upsert)
	args := make([]any, 0, len(rows[0].Vals)+2)
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
		args = append(append(args[:0], r.Vals...), r.Hash, runID)
		if _, err := upsert.ExecContext(ctx, args...); err != nil {
			return c, err
		}
	}
	if len(unchanged) > 0 {
		touchJSON, err := json.Marshal(unchanged)
		if err != nil {
			return c, err
		}
		if _, err := tx.StmtContext(ctx, t.touchMany).ExecContext(ctx, runID, string(touchJSON)); err != nil {
			return c, err
		}
	}
	return c, nil
}

// FinishRun marks the run finished, first deleting (when prune is true) the entity's
// rows that the run did not see, in the same transaction.
func (db *DB) FinishRun(ctx context.Context, entity, runID string, prune bool, finishedAt time.Time) (archibald.SyncRun, error) {
	t, err := db.table(entity)
	if err != nil {
		return archibald.SyncRun{}, err
	}
	finished, err := toNanos("finishedAt", finishedAt)
	if err != nil {
		return archibald.SyncRun{}, err
	}
	var run archibald.SyncRun
	err = db.inWriteTx(ctx, func(tx *sql.Tx) error {
		var err error
		if run, err = db.openRunInTx(ctx, tx, entity, runID); err != nil {
			return err
		}
		if prune {
			// IS NOT is NULL-safe: rows never seen by any run go too.
			res, err := tx.ExecContext(ctx, "DELETE FROM "+t.table+" WHERE seen_run IS NOT ?", runID)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			run.Counts.Deleted += int(n)
		}
		run.FinishedAt = fromNanos(finished)
		return db.saveRunInTx(ctx, tx, run)
	})
	if err != nil {
		return archibald.SyncRun{}, wrap("finish run", err)
	}
	if prune {
		db.log.Debug("sqlite: pruned rows a run did not see", "entity", entity, "run", runID, "deleted", run.Counts.Deleted)
	}
	return run, nil
}

// MirrorCount returns the number of rows the mirror holds for the entity.
func (db *DB) MirrorCount(ctx context.Context, entity string) (int, error) {
	t, err := db.table(entity)
	if err != nil {
		return 0, err
	}
	var n int
	if err := db.read.QueryRowContext(ctx, "SELECT count(*) FROM "+t.table).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count %s: %w", entity, err)
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
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// toNanos converts a time to the stored form, unix nanoseconds; the zero time and times
// outside the years 1678–2262 cannot be stored.
func toNanos(field string, t time.Time) (int64, error) {
	if t.IsZero() {
		return 0, archibald.FieldErrorf(field, "is not set")
	}
	n := t.UnixNano()
	if !time.Unix(0, n).Equal(t) {
		return 0, archibald.FieldErrorf(field, "%s is outside the years 1678 to 2262", t.Format(time.RFC3339))
	}
	return n, nil
}

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }
