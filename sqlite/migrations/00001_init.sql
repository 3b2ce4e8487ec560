-- The mirror of the ERP, the checkpoints of the sync runs that fill it, and the orders.
-- Times are INTEGER unix nanoseconds (UTC); NULL means "not set".

-- +goose Up
CREATE TABLE customers (
    id         TEXT NOT NULL PRIMARY KEY,
    name       TEXT NOT NULL,
    vat_number TEXT NOT NULL,
    email      TEXT NOT NULL,
    city       TEXT NOT NULL,
    -- name_fold orders and search_text matches case-insensitively (Unicode-aware: the
    -- folding is done in Go, SQLite's lower() only knows ASCII).
    name_fold   TEXT NOT NULL,
    search_text TEXT NOT NULL,
    hash        TEXT NOT NULL,
    seen_run    TEXT
) STRICT;
-- Searches walk this index in result order and stop at the limit; it covers the
-- searched text, so rows that do not match cost no table lookup.
CREATE INDEX customers_name_fold_idx ON customers (name_fold, id, search_text);
CREATE INDEX customers_vat_number_idx ON customers (vat_number);

CREATE TABLE products (
    id              TEXT NOT NULL PRIMARY KEY, -- the variant id
    article_code    TEXT NOT NULL,
    description     TEXT NOT NULL,
    product_group   TEXT NOT NULL,
    package_content INTEGER NOT NULL,
    min_qty         INTEGER NOT NULL,
    multiple_qty    INTEGER NOT NULL,
    max_qty         INTEGER NOT NULL,
    -- article_norm is the article code upper-cased without dots and spaces, so that
    -- "h1314" finds "H1.314.016"; description_fold is the lower-cased description.
    article_norm     TEXT NOT NULL,
    description_fold TEXT NOT NULL,
    hash             TEXT NOT NULL,
    seen_run         TEXT
) STRICT;
-- As for customers: result order, covering the searched columns.
CREATE INDEX products_article_code_idx ON products (article_code, id, article_norm, description_fold);
CREATE INDEX products_article_norm_idx ON products (article_norm);

CREATE TABLE prices (
    article_code     TEXT NOT NULL PRIMARY KEY,
    unit_price_cents INTEGER NOT NULL,
    currency         TEXT NOT NULL,
    valid_from       TEXT NOT NULL,
    valid_to         TEXT NOT NULL,
    hash             TEXT NOT NULL,
    seen_run         TEXT
) STRICT;

CREATE TABLE sync_runs (
    entity      TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    next_page   INTEGER NOT NULL,
    total_pages INTEGER NOT NULL,
    seen        INTEGER NOT NULL,
    inserted    INTEGER NOT NULL,
    updated     INTEGER NOT NULL,
    deleted     INTEGER NOT NULL,
    finished_at INTEGER,
    PRIMARY KEY (entity, run_id)
) STRICT;
-- At most one unfinished run per entity.
CREATE UNIQUE INDEX sync_runs_unfinished_idx ON sync_runs (entity) WHERE finished_at IS NULL;
CREATE INDEX sync_runs_finished_idx ON sync_runs (entity, finished_at);

CREATE TABLE orders (
    id              TEXT NOT NULL PRIMARY KEY,
    reference       TEXT NOT NULL,
    customer_id     TEXT NOT NULL,
    customer_name   TEXT NOT NULL,
    lines           TEXT NOT NULL, -- JSON array of archibald.OrderLine
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    error           TEXT NOT NULL,
    erp_order_id    TEXT NOT NULL,
    idempotency_key TEXT UNIQUE, -- NULL when the request had none
    request_hash    TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX orders_status_created_idx ON orders (status, created_at, id);
CREATE INDEX orders_created_idx ON orders (created_at, id);
CREATE INDEX orders_reference_idx ON orders (reference);

-- +goose Down
DROP TABLE orders;
DROP TABLE sync_runs;
DROP TABLE prices;
DROP TABLE products;
DROP TABLE customers;
