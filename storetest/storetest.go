// Package storetest is the test suite every archibald.Store implementation must pass.
//
// An implementation's tests call Run with an Opener:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, name string) archibald.Store { … })
//	}
//
// The suite knows nothing of any particular database; it checks the behaviour that the
// interfaces in package archibald document.
package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"archibald"
)

// Opener opens the store called name for the test t. Opening a name again within the
// same test, after the store previously opened under it was closed, must give back the
// same data (the suite uses it to test restarts); different names, and different tests,
// are independent, empty stores. The Opener fails t when it cannot open the store,
// closes the store when t ends (Close must be safe to call twice: the suite closes
// some stores itself), and is called from parallel subtests.
type Opener func(t *testing.T, name string) archibald.Store

// Run runs the whole suite against the stores that open returns.
func Run(t *testing.T, open Opener) {
	t.Run("Mirror", func(t *testing.T) { t.Parallel(); testMirror(t, open) })
	t.Run("Reader", func(t *testing.T) { t.Parallel(); testReader(t, open) })
	t.Run("Orders", func(t *testing.T) { t.Parallel(); testOrders(t, open) })
	t.Run("Concurrency", func(t *testing.T) { t.Parallel(); testConcurrency(t, open) })
	t.Run("Lifecycle", func(t *testing.T) { t.Parallel(); testLifecycle(t, open) })
}

// baseTime has microseconds and a zone other than UTC, so that a store that rounds
// times to milliseconds or seconds, or drops the zone offset, fails the round trips.
// Stores must keep at least microseconds (PostgreSQL's precision); times are compared
// as instants (time.Equal).
var baseTime = time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.FixedZone("CET", 3600))

func at(minutes int) time.Time { return baseTime.Add(time.Duration(minutes) * time.Minute) }

// wantCode fails t unless err carries the error code.
func wantCode(t *testing.T, err error, code, what string) {
	t.Helper()
	if got := archibald.ErrorCode(err); got != code {
		t.Fatalf("%s: error code %q (err %v), want %q", what, got, err, code)
	}
}

func must[T any](t *testing.T, what string) func(v T, err error) T {
	t.Helper()
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

// ---- mirror fixtures -------------------------------------------------------------

// row is one mirrored row in the abstract: a key and a version of its content. Each
// fixture turns it into a customer, product or price whose every field depends on the
// version, so that any changed field must change the store's content hash.
type row struct {
	key string
	ver int
}

func rows(ver int, keys ...string) []row {
	out := make([]row, len(keys))
	for i, k := range keys {
		out[i] = row{k, ver}
	}
	return out
}

type fixture struct {
	entity string
	// fill puts the rows into the page, in order.
	fill func(p *archibald.PageCommit, rs []row)
	// build returns the typed rows, in the order given.
	build func(rs []row) any
	// all reads the whole mirror of the entity.
	all func(ctx context.Context, s archibald.Store) (any, error)
	// variants returns the rows that differ from v only in one field each, so that
	// each field is shown to take part in the content hash.
	variants func(r row) []any
}

func customer(r row) archibald.Customer {
	return archibald.Customer{
		ID:        r.key,
		Name:      fmt.Sprintf("Customer %s v%d", r.key, r.ver),
		VATNumber: fmt.Sprintf("IT%s%d", r.key, r.ver),
		Email:     fmt.Sprintf("%s.%d@example.com", r.key, r.ver),
		City:      fmt.Sprintf("City %d", r.ver),
	}
}

func product(r row) archibald.Product {
	return archibald.Product{
		ID:             r.key,
		ArticleCode:    fmt.Sprintf("A.%s.%d", r.key, r.ver),
		Description:    fmt.Sprintf("Product %s v%d", r.key, r.ver),
		Group:          fmt.Sprintf("G%d", r.ver),
		PackageContent: r.ver,
		MinQty:         r.ver,
		MultipleQty:    r.ver,
		MaxQty:         100 * r.ver,
	}
}

func price(r row) archibald.Price {
	return archibald.Price{
		ArticleCode:    r.key,
		UnitPriceCents: int64(100 * r.ver),
		Currency:       "EUR",
		ValidFrom:      fmt.Sprintf("2026-01-%02d", r.ver%28+1),
		ValidTo:        fmt.Sprintf("2027-01-%02d", r.ver%28+1),
	}
}

func mapRows[T any](rs []row, f func(row) T) []T {
	out := make([]T, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

var fixtures = []fixture{
	{
		entity: archibald.EntityCustomers,
		fill:   func(p *archibald.PageCommit, rs []row) { p.Customers = mapRows(rs, customer) },
		build:  func(rs []row) any { return mapRows(rs, customer) },
		all:    func(ctx context.Context, s archibald.Store) (any, error) { return s.AllCustomers(ctx) },
		variants: func(r row) []any {
			c := customer(r)
			return []any{
				func() archibald.Customer { v := c; v.Name += "x"; return v }(),
				func() archibald.Customer { v := c; v.VATNumber += "x"; return v }(),
				func() archibald.Customer { v := c; v.Email += "x"; return v }(),
				func() archibald.Customer { v := c; v.City += "x"; return v }(),
			}
		},
	},
	{
		entity: archibald.EntityProducts,
		fill:   func(p *archibald.PageCommit, rs []row) { p.Products = mapRows(rs, product) },
		build:  func(rs []row) any { return mapRows(rs, product) },
		all:    func(ctx context.Context, s archibald.Store) (any, error) { return s.AllProducts(ctx) },
		variants: func(r row) []any {
			p := product(r)
			return []any{
				func() archibald.Product { v := p; v.ArticleCode += "x"; return v }(),
				func() archibald.Product { v := p; v.Description += "x"; return v }(),
				func() archibald.Product { v := p; v.Group += "x"; return v }(),
				func() archibald.Product { v := p; v.PackageContent++; return v }(),
				func() archibald.Product { v := p; v.MinQty++; return v }(),
				func() archibald.Product { v := p; v.MultipleQty++; return v }(),
				func() archibald.Product { v := p; v.MaxQty++; return v }(),
			}
		},
	},
	{
		entity: archibald.EntityPrices,
		fill:   func(p *archibald.PageCommit, rs []row) { p.Prices = mapRows(rs, price) },
		build:  func(rs []row) any { return mapRows(rs, price) },
		all:    func(ctx context.Context, s archibald.Store) (any, error) { return s.AllPrices(ctx) },
		variants: func(r row) []any {
			p := price(r)
			return []any{
				func() archibald.Price { v := p; v.UnitPriceCents++; return v }(),
				func() archibald.Price { v := p; v.Currency = "CHF"; return v }(),
				func() archibald.Price { v := p; v.ValidFrom = "2025-12-31"; return v }(),
				func() archibald.Price { v := p; v.ValidTo = "2030-12-31"; return v }(),
			}
		},
	},
}

// fillAny puts one typed row (as returned by variants) into the page.
func fillAny(p *archibald.PageCommit, v any) {
	switch v := v.(type) {
	case archibald.Customer:
		p.Customers = []archibald.Customer{v}
	case archibald.Product:
		p.Products = []archibald.Product{v}
	case archibald.Price:
		p.Prices = []archibald.Price{v}
	default:
		panic(fmt.Sprintf("storetest: no page field for %T", v))
	}
}

// mirror is what a test expects the mirror of one entity to hold: key → version.
type mirror map[string]int

func (m mirror) put(rs []row) {
	for _, r := range rs {
		m[r.key] = r.ver
	}
}

func (m mirror) rows() []row {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]row, len(keys))
	for i, k := range keys {
		out[i] = row{k, m[k]}
	}
	return out
}

// checkMirror fails t unless the store's mirror of the fixture's entity holds exactly
// the expected rows, in key order, and MirrorCount agrees.
func checkMirror(t *testing.T, s archibald.Store, fx fixture, want mirror) {
	t.Helper()
	got := must[any](t, "all "+fx.entity)(fx.all(t.Context(), s))
	if !sameSlice(got, fx.build(want.rows())) {
		t.Fatalf("%s mirror:\n got %+v\nwant %+v", fx.entity, got, fx.build(want.rows()))
	}
	if n := must[int](t, "mirror count")(s.MirrorCount(t.Context(), fx.entity)); n != len(want) {
		t.Fatalf("MirrorCount(%s) = %d, want %d", fx.entity, n, len(want))
	}
}

// sameSlice compares two slices, a nil and an empty one being the same.
func sameSlice(got, want any) bool {
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	if g.Len() == 0 && w.Len() == 0 {
		return g.Type() == w.Type()
	}
	return reflect.DeepEqual(got, want)
}

func page(fx fixture, run archibald.SyncRun, n, total int, rs []row) archibald.PageCommit {
	p := archibald.PageCommit{Run: run, Page: n, Total: total}
	fx.fill(&p, rs)
	return p
}

func commit(t *testing.T, s archibald.Store, fx fixture, run archibald.SyncRun, n, total int, rs []row) archibald.SyncRun {
	t.Helper()
	return must[archibald.SyncRun](t, fmt.Sprintf("commit %s page %d", fx.entity, n))(
		s.CommitPage(t.Context(), page(fx, run, n, total, rs)))
}

func beginRun(t *testing.T, s archibald.Store, entity, id string, started time.Time) archibald.SyncRun {
	t.Helper()
	return must[archibald.SyncRun](t, "begin run "+id)(s.BeginRun(t.Context(), entity, id, started))
}

// checkRun fails t unless got equals want, comparing times as instants.
func checkRun(t *testing.T, what string, got, want archibald.SyncRun) {
	t.Helper()
	if got.Entity != want.Entity || got.ID != want.ID || got.NextPage != want.NextPage ||
		got.TotalPages != want.TotalPages || got.Counts != want.Counts ||
		!got.StartedAt.Equal(want.StartedAt) || !got.FinishedAt.Equal(want.FinishedAt) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func currentRun(t *testing.T, s archibald.Store, entity string) (archibald.SyncRun, bool) {
	t.Helper()
	r, ok, err := s.CurrentRun(t.Context(), entity)
	if err != nil {
		t.Fatalf("CurrentRun(%s): %v", entity, err)
	}
	return r, ok
}

func testLifecycle(t *testing.T, open Opener) {
	t.Run("Ping", func(t *testing.T) {
		t.Parallel()
		s := open(t, "ping")
		if err := s.Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
	t.Run("CloseTwice", func(t *testing.T) {
		t.Parallel()
		s := open(t, "close")
		if err := s.Close(); err != nil {
			t.Fatalf("first Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
	t.Run("NamesAreIndependent", func(t *testing.T) {
		t.Parallel()
		a, b := open(t, "a"), open(t, "b")
		fx := fixtures[0]
		run := beginRun(t, a, fx.entity, "r1", at(0))
		commit(t, a, fx, run, 1, 1, rows(1, "k1"))
		checkMirror(t, b, fx, mirror{})
		if _, ok := currentRun(t, b, fx.entity); ok {
			t.Fatal("store b has the run begun in store a")
		}
	})
}
