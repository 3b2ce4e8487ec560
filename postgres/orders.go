package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"archibald"
)

const orderColumns = `id, reference, customer_id, customer_name, lines, status, attempts, error,
	erp_order_id, idempotency_key, request_hash, created_at, updated_at`

func scanOrder(r pgx.Row) (archibald.Order, error) {
	var o archibald.Order
	var lines string
	var key *string
	err := r.Scan(&o.ID, &o.Reference, &o.CustomerID, &o.CustomerName, &lines, &o.Status, &o.Attempts,
		&o.Error, &o.ErpOrderID, &key, &o.RequestHash, &o.CreatedAt, &o.UpdatedAt)
	if err != nil {
		return o, err
	}
	if err := json.Unmarshal([]byte(lines), &o.Lines); err != nil {
		return o, fmt.Errorf("order %s: lines: %w", o.ID, err)
	}
	if len(o.Lines) == 0 {
		o.Lines = nil
	}
	if key != nil {
		o.IdempotencyKey = *key
	}
	o.CreatedAt = o.CreatedAt.UTC()
	o.UpdatedAt = o.UpdatedAt.UTC()
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
	var err error
	if o.CreatedAt, err = storedTime("createdAt", o.CreatedAt); err != nil {
		return archibald.Order{}, false, err
	}
	if o.UpdatedAt.IsZero() {
		o.UpdatedAt = o.CreatedAt
	}
	if o.UpdatedAt, err = storedTime("updatedAt", o.UpdatedAt); err != nil {
		return archibald.Order{}, false, err
	}
	lines, err := json.Marshal(o.Lines)
	if err != nil {
		return archibald.Order{}, false, archibald.FieldErrorf("items", "cannot be encoded: %v", err)
	}
	if o.Lines == nil {
		lines = []byte("[]")
	}
	var key *string
	if o.IdempotencyKey != "" {
		key = &o.IdempotencyKey
	}

	var existing archibald.Order
	var found bool
	err = db.withConn(ctx, func(c *pgx.Conn) error {
		// ON CONFLICT on the key makes a concurrent request with the same key wait for
		// the first one's commit and then insert nothing; a taken id still fails.
		tag, err := c.Exec(ctx, "INSERT INTO orders ("+orderColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
			ON CONFLICT (idempotency_key) DO NOTHING`,
			o.ID, o.Reference, o.CustomerID, o.CustomerName, string(lines), string(o.Status), o.Attempts, o.Error,
			o.ErpOrderID, key, o.RequestHash, o.CreatedAt, o.UpdatedAt)
		switch {
		case isUniqueViolation(err):
			return archibald.Errorf(archibald.ECONFLICT, "order %s exists already", o.ID)
		case err != nil:
			return err
		case tag.RowsAffected() == 1:
			return nil
		}
		existing, err = scanOrder(c.QueryRow(ctx, "SELECT "+orderColumns+" FROM orders WHERE idempotency_key = $1", key))
		found = err == nil
		return err
	})
	if err != nil {
		return archibald.Order{}, false, wrap("create order", err)
	}
	if found {
		return existing, false, nil
	}
	if len(o.Lines) == 0 {
		o.Lines = nil
	}
	return o, true, nil
}

// Order returns one order, or a NotFound error.
func (db *DB) Order(ctx context.Context, id string) (archibald.Order, error) {
	var o archibald.Order
	err := db.withConn(ctx, func(c *pgx.Conn) error {
		var err error
		o, err = scanOrder(c.QueryRow(ctx, "SELECT "+orderColumns+" FROM orders WHERE id = $1", id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return o, archibald.Errorf(archibald.ENOTFOUND, "order %q does not exist", id)
	}
	if err != nil {
		return o, wrap("order", err)
	}
	return o, nil
}

// ListOrders lists orders newest first, optionally only those with the status.
func (db *DB) ListOrders(ctx context.Context, status archibald.OrderStatus, limit int) ([]archibald.Order, error) {
	if status == "" {
		return queryAll(ctx, db, "list orders", scanOrder,
			"SELECT "+orderColumns+" FROM orders ORDER BY created_at DESC, id DESC LIMIT $1", clampLimit(limit))
	}
	if err := archibald.CheckStatus("status", status); err != nil {
		return nil, err
	}
	return queryAll(ctx, db, "list orders", scanOrder,
		"SELECT "+orderColumns+" FROM orders WHERE status = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
		string(status), clampLimit(limit))
}

// OrdersByStatus lists every order with the status, oldest first.
func (db *DB) OrdersByStatus(ctx context.Context, status archibald.OrderStatus) ([]archibald.Order, error) {
	if err := archibald.CheckStatus("status", status); err != nil {
		return nil, err
	}
	return queryAll(ctx, db, "orders by status", scanOrder,
		"SELECT "+orderColumns+" FROM orders WHERE status = $1 ORDER BY created_at, id", string(status))
}

// TransitionOrder compares and sets the order's status in one statement: Conflict,
// writing nothing, when the order is not in t.From; NotFound when there is no such order.
func (db *DB) TransitionOrder(ctx context.Context, id string, t archibald.OrderTransition) (archibald.Order, error) {
	if err := t.Validate(); err != nil {
		return archibald.Order{}, err
	}
	at, err := storedTime("at", t.At)
	if err != nil {
		return archibald.Order{}, err
	}
	attempt := 0
	if t.To == archibald.OrderSubmitting {
		attempt = 1
	}
	var o archibald.Order
	err = db.withConn(ctx, func(c *pgx.Conn) error {
		var err error
		o, err = scanOrder(c.QueryRow(ctx, `UPDATE orders SET status = $1::text, attempts = attempts + $2,
			erp_order_id = CASE WHEN $1::text = 'created' THEN $3::text ELSE erp_order_id END,
			error = CASE WHEN $1::text = 'failed' THEN $4::text ELSE error END,
			updated_at = $5
			WHERE id = $6 AND status = $7 RETURNING `+orderColumns,
			string(t.To), attempt, t.ErpOrderID, t.Error, at, id, string(t.From)))
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		// The update wrote nothing; this read only says why.
		var status string
		err = c.QueryRow(ctx, "SELECT status FROM orders WHERE id = $1", id).Scan(&status)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
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
