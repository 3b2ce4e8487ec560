-- The mirror of the ERP, the checkpoints of the sync runs that fill it, and the orders.
-- Text that is sorted or compared byte-wise uses COLLATE "C", so that the order does not
-- depend on the server's locale and matches the SQLite store's. The *_fold and *_norm
-- columns are computed in Go (Unicode-aware folding, which lower() under "C" is not).

-- +goose Up
CREATE TABLE customers (
    id          text COLLATE "C" NOT NULL PRIMARY KEY,
    name        text NOT NULL,
    vat_number  text NOT NULL,
    email       text NOT NULL,
    city        text NOT NULL,
    name_fold   text COLLATE "C" NOT NULL,
    search_text text NOT NULL, -- folded name, id and VAT number, separated by U+001F
    hash        text NOT NULL,
    seen_run    text
);
CREATE INDEX customers_name_fold_idx ON customers (name_fold, id);

CREATE TABLE products (
    id               text COLLATE "C" NOT NULL PRIMARY KEY, -- the variant id
    article_code     text COLLATE "C" NOT NULL,
    description      text NOT NULL,
    product_group    text NOT NULL,
    package_content  bigint NOT NULL,
    min_qty          bigint NOT NULL,
    multiple_qty     bigint NOT NULL,
    max_qty          bigint NOT NULL,
    article_norm     text NOT NULL, -- upper-cased, without dots and spaces
    description_fold text NOT NULL,
    hash             text NOT NULL,
    seen_run         text
);
CREATE INDEX products_article_code_idx ON products (article_code, id);

CREATE TABLE prices (
    article_code     text COLLATE "C" NOT NULL PRIMARY KEY,
    unit_price_cents bigint NOT NULL,
    currency         text NOT NULL,
    valid_from       text NOT NULL,
    valid_to         text NOT NULL,
    hash             text NOT NULL,
    seen_run         text
);

CREATE TABLE sync_runs (
    entity      text COLLATE "C" NOT NULL,
    run_id      text COLLATE "C" NOT NULL,
    started_at  timestamptz NOT NULL,
    next_page   bigint NOT NULL,
    total_pages bigint NOT NULL,
    seen        bigint NOT NULL,
    inserted    bigint NOT NULL,
    updated     bigint NOT NULL,
    deleted     bigint NOT NULL,
    finished_at timestamptz,
    PRIMARY KEY (entity, run_id)
);
-- At most one unfinished run per entity.
CREATE UNIQUE INDEX sync_runs_unfinished_idx ON sync_runs (entity) WHERE finished_at IS NULL;
CREATE INDEX sync_runs_finished_idx ON sync_runs (entity, finished_at);

CREATE TABLE orders (
    id              text COLLATE "C" NOT NULL PRIMARY KEY,
    reference       text NOT NULL,
    customer_id     text NOT NULL,
    customer_name   text NOT NULL,
    lines           text NOT NULL, -- JSON array of archibald.OrderLine, as encoded
    status          text NOT NULL,
    attempts        bigint NOT NULL,
    error           text NOT NULL,
    erp_order_id    text NOT NULL,
    idempotency_key text UNIQUE, -- NULL when the request had none
    request_hash    text NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX orders_status_created_idx ON orders (status, created_at, id);
CREATE INDEX orders_created_idx ON orders (created_at, id);
CREATE INDEX orders_reference_idx ON orders (reference);

-- +goose Down
DROP TABLE orders;
DROP TABLE sync_runs;
DROP TABLE prices;
DROP TABLE products;
DROP TABLE customers;
