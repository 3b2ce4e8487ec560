package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"

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

func scanCustomer(r pgx.Row) (archibald.Customer, error) {
	var c archibald.Customer
	err := r.Scan(&c.ID, &c.Name, &c.VATNumber, &c.Email, &c.City)
	return c, err
}

func scanProduct(r pgx.Row) (archibald.Product, error) {
	var p archibald.Product
	err := r.Scan(&p.ID, &p.ArticleCode, &p.Description, &p.Group, &p.PackageContent, &p.MinQty, &p.MultipleQty, &p.MaxQty)
	return p, err
}

func scanPrice(r pgx.Row) (archibald.Price, error) {
	var p archibald.Price
	err := r.Scan(&p.ArticleCode, &p.UnitPriceCents, &p.Currency, &p.ValidFrom, &p.ValidTo)
	return p, err
}

// queryAll runs a query and scans every row.
func queryAll[T any](ctx context.Context, db *DB, what string, scan func(pgx.Row) (T, error), query string, args ...any) ([]T, error) {
	var out []T
	err := db.withConn(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			v, err := scan(rows)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrap(what, err)
	}
	return out, nil
}

// SearchCustomers matches the query case-insensitively as a substring of the name, the
// id or the VAT number, ordered by name (case-insensitively) then id. The text is
// folded in Go on both sides and matched with strpos, so that no character of the
// query is a wildcard and non-ASCII letters fold as in the SQLite store.
func (db *DB) SearchCustomers(ctx context.Context, query string, limit int) ([]archibald.Customer, error) {
	q := mirrorrow.Fold(strings.TrimSpace(query))
	if q == "" {
		return queryAll(ctx, db, "search customers", scanCustomer,
			"SELECT "+customerColumns+" FROM customers ORDER BY name_fold, id LIMIT $1", clampLimit(limit))
	}
	return queryAll(ctx, db, "search customers", scanCustomer,
		"SELECT "+customerColumns+" FROM customers WHERE strpos(search_text, $1) > 0 ORDER BY name_fold, id LIMIT $2",
		q, clampLimit(limit))
}

// SearchProducts matches the query against the article code ignoring dots, spaces and
// case, or as a case-insensitive substring of the description; ordered by article code
// then variant id.
func (db *DB) SearchProducts(ctx context.Context, query string, limit int) ([]archibald.Product, error) {
	q := strings.TrimSpace(query)
	code := mirrorrow.NormArticle(q)
	if code == "" {
		return queryAll(ctx, db, "search products", scanProduct,
			"SELECT "+productColumns+" FROM products ORDER BY article_code, id LIMIT $1", clampLimit(limit))
	}
	return queryAll(ctx, db, "search products", scanProduct,
		"SELECT "+productColumns+` FROM products
		WHERE strpos(article_norm, $1) > 0 OR strpos(description_fold, $2) > 0
		ORDER BY article_code, id LIMIT $3`,
		code, mirrorrow.Fold(q), clampLimit(limit))
}

// Customer returns one customer, or a NotFound error.
func (db *DB) Customer(ctx context.Context, id string) (archibald.Customer, error) {
	var c archibald.Customer
	err := db.withConn(ctx, func(conn *pgx.Conn) error {
		var err error
		c, err = scanCustomer(conn.QueryRow(ctx, "SELECT "+customerColumns+" FROM customers WHERE id = $1", id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return c, archibald.Errorf(archibald.ENOTFOUND, "customer %q is not in the mirror", id)
	}
	if err != nil {
		return c, wrap("customer", err)
	}
	return c, nil
}

// ProductsByArticle returns the variants of an article (exact code), ordered by id.
func (db *DB) ProductsByArticle(ctx context.Context, articleCode string) ([]archibald.Product, error) {
	return queryAll(ctx, db, "products by article", scanProduct,
		"SELECT "+productColumns+" FROM products WHERE article_code = $1 ORDER BY id", articleCode)
}

// PricesByArticle returns the prices of an article (exact code).
func (db *DB) PricesByArticle(ctx context.Context, articleCode string) ([]archibald.Price, error) {
	return queryAll(ctx, db, "prices by article", scanPrice,
		"SELECT "+priceColumns+" FROM prices WHERE article_code = $1", articleCode)
}

// AllCustomers lists every customer by id.
func (db *DB) AllCustomers(ctx context.Context) ([]archibald.Customer, error) {
	return queryAll(ctx, db, "all customers", scanCustomer, "SELECT "+customerColumns+" FROM customers ORDER BY id")
}

// AllProducts lists every product variant by id.
func (db *DB) AllProducts(ctx context.Context) ([]archibald.Product, error) {
	return queryAll(ctx, db, "all products", scanProduct, "SELECT "+productColumns+" FROM products ORDER BY id")
}

// AllPrices lists every price by article code.
func (db *DB) AllPrices(ctx context.Context) ([]archibald.Price, error) {
	return queryAll(ctx, db, "all prices", scanPrice, "SELECT "+priceColumns+" FROM prices ORDER BY article_code")
}
