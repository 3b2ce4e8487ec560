package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"archibald"
	"archibald/internal/mirrorrow"
)

// Search limits: limit <= 0 means defaultLimit; larger limits are capped at maxLimit.
const (
	defaultLimit = 50
	maxLimit     = 500
)

func clampLimit(limit int) int {
	switch {
	case limit <= 0:
		return defaultLimit
	case limit > maxLimit:
		return maxLimit
	}
	return limit
}

const (
	customerColumns = "id, name, vat_number, email, city"
	productColumns  = "id, article_code, description, product_group, package_content, min_qty, multiple_qty, max_qty"
	priceColumns    = "article_code, unit_price_cents, currency, valid_from, valid_to"
)

func scanCustomer(r interface{ Scan(...any) error }) (archibald.Customer, error) {
	var c archibald.Customer
	err := r.Scan(&c.ID, &c.Name, &c.VATNumber, &c.Email, &c.City)
	return c, err
}

func scanProduct(r interface{ Scan(...any) error }) (archibald.Product, error) {
	var p archibald.Product
	err := r.Scan(&p.ID, &p.ArticleCode, &p.Description, &p.Group, &p.PackageContent, &p.MinQty, &p.MultipleQty, &p.MaxQty)
	return p, err
}

func scanPrice(r interface{ Scan(...any) error }) (archibald.Price, error) {
	var p archibald.Price
	err := r.Scan(&p.ArticleCode, &p.UnitPriceCents, &p.Currency, &p.ValidFrom, &p.ValidTo)
	return p, err
}

// queryAll runs a query on the read pool and scans every row.
func queryAll[T any](ctx context.Context, db *sql.DB, what string, scan func(interface{ Scan(...any) error }) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", what, err)
	}
	return out, nil
}

// SearchCustomers matches the query case-insensitively as a substring of the name, the
// id or the VAT number, ordered by name (case-insensitively) then id.
func (db *DB) SearchCustomers(ctx context.Context, query string, limit int) ([]archibald.Customer, error) {
	q := mirrorrow.Fold(strings.TrimSpace(query))
	if q == "" {
		return queryAll(ctx, db.read, "search customers", scanCustomer,
			"SELECT "+customerColumns+" FROM customers ORDER BY name_fold, id LIMIT ?", clampLimit(limit))
	}
	// Walking the (name_fold, id) index stops as soon as limit rows matched.
	return queryAll(ctx, db.read, "search customers", scanCustomer,
		"SELECT "+customerColumns+" FROM customers INDEXED BY customers_name_fold_idx WHERE instr(search_text, ?) > 0 ORDER BY name_fold, id LIMIT ?",
		q, clampLimit(limit))
}

// SearchProducts matches the query against the article code ignoring dots, spaces and
// case, or as a case-insensitive substring of the description; ordered by article code
// then variant id.
func (db *DB) SearchProducts(ctx context.Context, query string, limit int) ([]archibald.Product, error) {
	q := strings.TrimSpace(query)
	code := mirrorrow.NormArticle(q)
	if code == "" {
		return queryAll(ctx, db.read, "search products", scanProduct,
			"SELECT "+productColumns+" FROM products ORDER BY article_code, id LIMIT ?", clampLimit(limit))
	}
	return queryAll(ctx, db.read, "search products", scanProduct,
		"SELECT "+productColumns+` FROM products INDEXED BY products_article_code_idx
		WHERE instr(article_norm, ?) > 0 OR instr(description_fold, ?) > 0
		ORDER BY article_code, id LIMIT ?`,
		code, mirrorrow.Fold(q), clampLimit(limit))
}

// Customer returns one customer, or a NotFound error.
func (db *DB) Customer(ctx context.Context, id string) (archibald.Customer, error) {
	c, err := scanCustomer(db.read.QueryRowContext(ctx, "SELECT "+customerColumns+" FROM customers WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return c, archibald.Errorf(archibald.ENOTFOUND, "customer %q is not in the mirror", id)
	}
	if err != nil {
		return c, fmt.Errorf("sqlite: customer: %w", err)
	}
	return c, nil
}

// ProductsByArticle returns the variants of an article (exact code), ordered by id.
func (db *DB) ProductsByArticle(ctx context.Context, articleCode string) ([]archibald.Product, error) {
	return queryAll(ctx, db.read, "products by article", scanProduct,
		"SELECT "+productColumns+" FROM products WHERE article_code = ? ORDER BY id", articleCode)
}

// PricesByArticle returns the prices of an article (exact code).
func (db *DB) PricesByArticle(ctx context.Context, articleCode string) ([]archibald.Price, error) {
	return queryAll(ctx, db.read, "prices by article", scanPrice,
		"SELECT "+priceColumns+" FROM prices WHERE article_code = ?", articleCode)
}

// AllCustomers lists every customer by id.
func (db *DB) AllCustomers(ctx context.Context) ([]archibald.Customer, error) {
	return queryAll(ctx, db.read, "all customers", scanCustomer, "SELECT "+customerColumns+" FROM customers ORDER BY id")
}

// AllProducts lists every product variant by id.
func (db *DB) AllProducts(ctx context.Context) ([]archibald.Product, error) {
	return queryAll(ctx, db.read, "all products", scanProduct, "SELECT "+productColumns+" FROM products ORDER BY id")
}

// AllPrices lists every price by article code.
func (db *DB) AllPrices(ctx context.Context) ([]archibald.Price, error) {
	return queryAll(ctx, db.read, "all prices", scanPrice, "SELECT "+priceColumns+" FROM prices ORDER BY article_code")
}
