package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"archibald"
)

const orderColumns = `id, reference, customer_id, customer_name, lines, status, attempts, error,
	erp_order_id, idempotency_key, request_hash, created_at, updated_at`

func scanOrder(r interface{ Scan(...any) error }) (archibald.Order, error) {
	var o archibald.Order
	var lines string
	var key sql.NullString
	var created, updated int64
	err := r.Scan(&o.ID, &o.Reference, &o.CustomerID, &o.CustomerName, &lines, &o.Status, &o.Attempts,
		&o.Error, &o.ErpOrderID, &key, &o.RequestHash, &created, &updated)
	if err != nil {
		return o, err
	}
	if err := json.Unmarshal([]byte(lines), &o.Lines); err != nil {
		return o, fmt.Errorf("order %s: lines: %w", o.ID, err)
	}
	if len(o.Lines) == 0 {
		o.Lines = nil
	}
	o.IdempotencyKey = key.String
	o.CreatedAt = fromNanos(created)
	o.UpdatedAt = fromNanos(updated)
	return o, nil
}

// CreateOrder persists a new order. When its idempotency key is already used it writes
// nothing and returns the existing order with created false.
func (db *DB) CreateOrder(ctx context.Context, o archibald.Order) (archibald.Order, bool, error) {
	if o.ID == "" {
		return archibald.Order{}, false, archibald.FieldErrorf("id", "is empty")
	}
	if o.Reference == "" {
		return archibald.Order{}, false, archibald.FieldErrorf("reference", "is empty")
	}
	if o.Status == "" {
		o.Status = archibald.OrderQueued
	}
	if err := archibald.CheckStatus("status", o.Status); err != nil {
		return archibald.Order{}, false, err
	}
	created, err := toNanos("createdAt", o.CreatedAt)
	if err != nil {
		return archibald.Order{}, false, err
	}
	if o.UpdatedAt.IsZero() {
		o.UpdatedAt = o.CreatedAt
	}
	updated, err := toNanos("updatedAt", o.UpdatedAt)
	if err != nil {
		return archibald.Order{}, false, err
	}
	lines, err := json.Marshal(o.Lines)
	if err != nil {
		return archibald.Order{}, false, archibald.FieldErrorf("items", "cannot be encoded: %v", err)
	}
	if o.Lines == nil {
		lines = []byte("[]")
	}
	key := sql.NullString{String: o.IdempotencyKey, Valid: o.IdempotencyKey != ""}

	var existing archibald.Order
	var found bool
	err = db.inWriteTx(ctx, func(tx *sql.Tx) error {
		if key.Valid {
			prev, err := scanOrder(tx.QueryRowContext(ctx, "SELECT "+orderColumns+" FROM orders WHERE idempotency_key = ?", key))
			switch {
			case err == nil:
				existing, found = prev, true
				return nil
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM orders WHERE id = ?", o.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return archibald.Errorf(archibald.ECONFLICT, "order %s exists already", o.ID)
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO orders ("+orderColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			o.ID, o.Reference, o.CustomerID, o.CustomerName, string(lines), string(o.Status), o.Attempts, o.Error,
			o.ErpOrderID, key, o.RequestHash, created, updated)
		return err
	})
	if err != nil {
		return archibald.Order{}, false, wrap("create order", err)
	}
	if found {
		return existing, false, nil
	}
	o.CreatedAt = fromNanos(created)
	o.UpdatedAt = fromNanos(updated)
	if len(o.Lines) == 0 {
		o.Lines = nil
	}
	return o, true, nil
}

// Order returns one order, or a NotFound error.
func (db *DB) Order(ctx context.Context, id string) (archibald.Order, error) {
	o, err := scanOrder(db.read.QueryRowContext(ctx, "SELECT "+orderColumns+" FROM orders WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return o, archibald.Errorf(archibald.ENOTFOUND, "order %q does not exist", id)
	}
	if err != nil {
		return o, fmt.Errorf("sqlite: order: %w", err)
	}
	return o, nil
}

// ListOrders lists orders newest first, optionally only those with the status.
func (db *DB) ListOrders(ctx context.Context, status archibald.OrderStatus, limit int) ([]archibald.Order, error) {
	if status == "" {
		return queryAll(ctx, db.read, "list orders", scanOrder,
			"SELECT "+orderColumns+" FROM orders ORDER BY created_at DESC, id DESC LIMIT ?", clampLimit(limit))
	}
	if err := archibald.CheckStatus("status", status); err != nil {
		return nil, err
	}
	return queryAll(ctx, db.read, "list orders", scanOrder,
		"SELECT "+orderColumns+" FROM orders WHERE status = ? ORDER BY created_at DESC, id DESC LIMIT ?",
		string(status), clampLimit(limit))
}

// OrdersByStatus lists every order with the status, oldest first.
func (db *DB) OrdersByStatus(ctx context.Context, status archibald.OrderStatus) ([]archibald.Order, error) {
	if err := archibald.CheckStatus("status", status); err != nil {
		return nil, err
	}
	return queryAll(ctx, db.read, "orders by status", scanOrder,
		"SELECT "+orderColumns+" FROM orders WHERE status = ? ORDER BY created_at, id", string(status))
}

// TransitionOrder compares and sets the order's status in one write: Conflict, writing
// nothing, when the order is not in t.From; NotFound when there is no such order.
func (db *DB) TransitionOrder(ctx context.Context, id string, t archibald.OrderTransition) (archibald.Order, error) {
	if err := t.Validate(); err != nil {
		return archibald.Order{}, err
	}
	at, err := toNanos("at", t.At)
	if err != nil {
		return archibald.Order{}, err
	}
	attempt := 0
	if t.To == archibald.OrderSubmitting {
		attempt = 1
	}
	var o archibald.Order
	err = db.inWriteTx(ctx, func(tx *sql.Tx) error {
		var err error
		o, err = scanOrder(tx.QueryRowContext(ctx, `UPDATE orders SET status = ?1, attempts = attempts + ?2,
			erp_order_id = CASE WHEN ?1 = 'created' THEN ?3 ELSE erp_order_id END,
			error = CASE WHEN ?1 = 'failed' THEN ?4 ELSE error END,
			updated_at = ?5
			WHERE id = ?6 AND status = ?7 RETURNING `+orderColumns,
			string(t.To), attempt, t.ErpOrderID, t.Error, at, id, string(t.From)))
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var status string
		err = tx.QueryRowContext(ctx, "SELECT status FROM orders WHERE id = ?", id).Scan(&status)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return archibald.Errorf(archibald.ENOTFOUND, "order %q does not exist", id)
		case err != nil:
			return err
		}
		return archibald.Errorf(archibald.ECONFLICT, "order %s is %s, not %s", id, status, t.From)
	})
	if err != nil {
		return archibald.Order{}, wrap("transition order", err)
	}
	return o, nil
}
