// Package archibald holds the domain types that every part of the backend shares: the rows
// mirrored from the ERP, the sync runs that fill the mirror, and the interfaces that stores
// implement. Adapters live in their own packages (sqlite, erp, httpapi, …) and depend on
// this one, never the other way round.
package archibald

import (
	"context"
	"time"
)

// Customer is a customer as the ERP lists it.
type Customer struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	VATNumber string `json:"vatNumber"`
	Email     string `json:"email"`
	City      string `json:"city"`
}

// Product is one package variant of an article. An article (ArticleCode) may be sold in
// several variants that differ in package size and so in the quantities they accept.
type Product struct {
	ID             string `json:"id"` // the variant id
	ArticleCode    string `json:"articleCode"`
	Description    string `json:"description"`
	Group          string `json:"group"`
	PackageContent int    `json:"packageContent"`
	MinQty         int    `json:"minQty"`
	MultipleQty    int    `json:"multipleQty"`
	MaxQty         int    `json:"maxQty"`
}

// AcceptsQuantity reports whether the variant can be ordered in quantity q.
func (p Product) AcceptsQuantity(q int) bool {
	if q <= 0 || q < p.MinQty || (p.MaxQty > 0 && q > p.MaxQty) {
		return false
	}
	return p.MultipleQty <= 0 || q%p.MultipleQty == 0
}

// Price is the list price of an article. Money is integer cents everywhere.
type Price struct {
	ArticleCode    string `json:"articleCode"`
	UnitPriceCents int64  `json:"unitPriceCents"`
	Currency       string `json:"currency"`
	ValidFrom      string `json:"validFrom"` // YYYY-MM-DD
	ValidTo        string `json:"validTo"`   // YYYY-MM-DD
}

// The names of the mirrored entities. Each is also the name of the sync service that
// mirrors it and of the ERP list it is read from.
const (
	EntityCustomers = "customers"
	EntityProducts  = "products"
	EntityPrices    = "prices"
)

// Entities lists the mirrored entities in the order the services are started.
var Entities = []string{EntityCustomers, EntityProducts, EntityPrices}

// SyncRun is the durable state of one walk over an ERP list, from page 1 to the last page.
// It is the checkpoint that lets a run interrupted by a pause, an error or a restart go on
// where it stopped: NextPage is the first page whose rows are not committed yet.
type SyncRun struct {
	Entity     string    `json:"entity"`
	ID         string    `json:"runId"`
	StartedAt  time.Time `json:"startedAt"`
	NextPage   int       `json:"nextPage"`   // 1-based; pages before it are committed
	TotalPages int       `json:"totalPages"` // as the ERP reported on the last page read; 0 before
	Counts     RowCounts `json:"rows"`
	// FinishedAt is set when the run walked every page and the vanished rows were pruned.
	FinishedAt time.Time `json:"finishedAt,omitzero"`
}

// Finished reports whether the run has completed.
func (r SyncRun) Finished() bool { return !r.FinishedAt.IsZero() }

// RowCounts counts what a run did to the mirror.
type RowCounts struct {
	Seen     int `json:"seen"`
	Inserted int `json:"inserted"`
	Updated  int `json:"updated"`
	Deleted  int `json:"deleted"`
}

// Add returns the sum of two counts.
func (c RowCounts) Add(o RowCounts) RowCounts {
	return RowCounts{
		Seen:     c.Seen + o.Seen,
		Inserted: c.Inserted + o.Inserted,
		Updated:  c.Updated + o.Updated,
		Deleted:  c.Deleted + o.Deleted,
	}
}

// PageCommit is one page of a run, written by MirrorStore.CommitPage in one transaction.
// Exactly one of Customers, Products and Prices is used, the one matching Run.Entity.
type PageCommit struct {
	Run       SyncRun // the run before this page; the store advances NextPage to Page+1
	Page      int
	Total     int // total pages the ERP reported with this page
	Customers []Customer
	Products  []Product
	Prices    []Price
}

// MirrorStore keeps the local mirror of the ERP and the checkpoints of the sync runs.
// Every method is safe for concurrent use.
type MirrorStore interface {
	// CurrentRun returns the entity's unfinished run, if any (ok false when there is none).
	CurrentRun(ctx context.Context, entity string) (run SyncRun, ok bool, err error)
	// LastFinishedRun returns the entity's most recent finished run (ok false when none).
	LastFinishedRun(ctx context.Context, entity string) (run SyncRun, ok bool, err error)
	// BeginRun records a new unfinished run with NextPage 1. It fails with a Conflict
	// error if the entity already has an unfinished run.
	BeginRun(ctx context.Context, entity, runID string, startedAt time.Time) (SyncRun, error)
	// CommitPage upserts the page's rows, marking them seen by the run, and advances the
	// run's checkpoint past the page, all in one transaction. Rows whose content hash is
	// unchanged are counted as seen, not updated. It fails with a Conflict error, writing
	// nothing, when p.Page is not the run's NextPage (a page committed twice or skipped).
	// It returns the run after the page.
	CommitPage(ctx context.Context, p PageCommit) (SyncRun, error)
	// FinishRun marks the run finished. When prune is true it first deletes, in the same
	// transaction, the entity's rows that the run did not see. It returns the finished run.
	FinishRun(ctx context.Context, entity, runID string, prune bool, finishedAt time.Time) (SyncRun, error)
	// MirrorCount returns the number of rows the mirror holds for the entity.
	MirrorCount(ctx context.Context, entity string) (int, error)
}

// MirrorReader answers the agents' searches of the mirror.
type MirrorReader interface {
	// SearchCustomers matches the query case-insensitively against name, id and VAT
	// number; an empty query lists customers by name. limit <= 0 means a default of 50.
	SearchCustomers(ctx context.Context, query string, limit int) ([]Customer, error)
	// SearchProducts matches the query against the article code, ignoring dots and
	// spaces, or the description (case-insensitively).
	SearchProducts(ctx context.Context, query string, limit int) ([]Product, error)
	Customer(ctx context.Context, id string) (Customer, error)                    // NotFound error when absent
	ProductsByArticle(ctx context.Context, articleCode string) ([]Product, error) // variants; empty when absent
	PricesByArticle(ctx context.Context, articleCode string) ([]Price, error)
	// AllCustomers, AllProducts and AllPrices list the whole mirror, ordered by key; they
	// exist for comparisons with the ERP in tests and benchmarks.
	AllCustomers(ctx context.Context) ([]Customer, error)
	AllProducts(ctx context.Context) ([]Product, error)
	AllPrices(ctx context.Context) ([]Price, error)
}

// OrderStatus is where an order is in its life: queued → submitting → created | failed.
type OrderStatus string

const (
	OrderQueued     OrderStatus = "queued"     // persisted, waiting for the worker
	OrderSubmitting OrderStatus = "submitting" // the bot is entering it into the ERP
	OrderCreated    OrderStatus = "created"    // saved in the ERP; ErpOrderID is set
	OrderFailed     OrderStatus = "failed"     // refused or abandoned; Error says why
)

// Valid reports whether s is one of the four statuses.
func (s OrderStatus) Valid() bool {
	switch s {
	case OrderQueued, OrderSubmitting, OrderCreated, OrderFailed:
		return true
	}
	return false
}

// OrderLine is one item of an order as the agent asked for it.
type OrderLine struct {
	ArticleCode string  `json:"articleCode"`
	Quantity    int     `json:"quantity"`
	DiscountPct float64 `json:"discountPct,omitempty"`
}

// Order is an order an agent asked to enter into the ERP.
type Order struct {
	ID           string      `json:"id"`
	Reference    string      `json:"reference"` // carried into the ERP; finds the order there
	CustomerID   string      `json:"customerId"`
	CustomerName string      `json:"customerName,omitempty"`
	Lines        []OrderLine `json:"items"`
	Status       OrderStatus `json:"status"`
	Attempts     int         `json:"attempts"` // times the worker started submitting it
	Error        string      `json:"error,omitempty"`
	ErpOrderID   string      `json:"erpOrderId,omitempty"`
	// IdempotencyKey and RequestHash make a repeated request return the same order.
	IdempotencyKey string    `json:"-"`
	RequestHash    string    `json:"-"`
	CreatedAt      time.Time `json:"createdAt"`
	UpdatedAt      time.Time `json:"updatedAt"`
}

// CheckStatus returns an EINVALID error naming field unless s is one of the four
// statuses.
func CheckStatus(field string, s OrderStatus) error {
	if !s.Valid() {
		return FieldErrorf(field, "unknown order status %q (want queued, submitting, created or failed)", s)
	}
	return nil
}

// OrderTransition moves an order from one status to the next.
type OrderTransition struct {
	From, To   OrderStatus
	ErpOrderID string // with To == OrderCreated
	Error      string // with To == OrderFailed
	At         time.Time
}

// Validate checks what every store requires of a transition: known statuses, the ERP's
// id for a created order, and a reason for a failed one.
func (t OrderTransition) Validate() error {
	if err := CheckStatus("from", t.From); err != nil {
		return err
	}
	if err := CheckStatus("to", t.To); err != nil {
		return err
	}
	if t.To == OrderCreated && t.ErpOrderID == "" {
		return FieldErrorf("erpOrderId", "is empty; an order is created only with the ERP's id")
	}
	if t.To == OrderFailed && t.Error == "" {
		return FieldErrorf("error", "is empty; a failed order says why")
	}
	return nil
}

// OrderStore persists orders. Every method is safe for concurrent use.
type OrderStore interface {
	// CreateOrder persists a new order (its ID, Reference and CreatedAt set by the
	// caller). When o.IdempotencyKey is not empty and an order with that key exists, it
	// writes nothing and returns the existing order with created false; the caller
	// compares RequestHash.
	CreateOrder(ctx context.Context, o Order) (stored Order, created bool, err error)
	// Order returns one order, or a NotFound error.
	Order(ctx context.Context, id string) (Order, error)
	// ListOrders lists orders newest first; an empty status lists all; limit <= 0 means 50.
	ListOrders(ctx context.Context, status OrderStatus, limit int) ([]Order, error)
	// OrdersByStatus lists every order with the status, oldest first (for the worker
	// and for recovery at start).
	OrdersByStatus(ctx context.Context, status OrderStatus) ([]Order, error)
	// TransitionOrder applies t in one write, comparing and setting the status: it fails
	// with a Conflict error, writing nothing, when the order is not in t.From. Moving to
	// OrderSubmitting adds one to Attempts. It returns the order after the change.
	TransitionOrder(ctx context.Context, id string, t OrderTransition) (Order, error)
}

// Store is everything a complete storage backend provides.
type Store interface {
	MirrorStore
	MirrorReader
	OrderStore
	// Ping checks that the store can be reached (for readiness).
	Ping(ctx context.Context) error
	Close() error
}
