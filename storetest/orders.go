package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"archibald"
)

func newOrder(id string, created time.Time) archibald.Order {
	return archibald.Order{
		ID:           id,
		Reference:    "REF-" + id,
		CustomerID:   "C001",
		CustomerName: "Bianchi SRL",
		Lines: []archibald.OrderLine{
			{ArticleCode: "H1.314.016", Quantity: 10},
			{ArticleCode: "H2.100.010", Quantity: 3, DiscountPct: 12.5},
		},
		Status:    archibald.OrderQueued,
		CreatedAt: created,
		UpdatedAt: created,
	}
}

// checkOrder fails t unless got equals want, comparing times as instants.
func checkOrder(t *testing.T, what string, got, want archibald.Order) {
	t.Helper()
	g, w := got, want
	g.CreatedAt, g.UpdatedAt, w.CreatedAt, w.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	same := g.ID == w.ID && g.Reference == w.Reference && g.CustomerID == w.CustomerID &&
		g.CustomerName == w.CustomerName && slices.Equal(g.Lines, w.Lines) && g.Status == w.Status &&
		g.Attempts == w.Attempts && g.Error == w.Error && g.ErpOrderID == w.ErpOrderID &&
		g.IdempotencyKey == w.IdempotencyKey && g.RequestHash == w.RequestHash
	if !same || !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func orderIDs(os []archibald.Order) []string {
	out := []string{}
	for _, o := range os {
		out = append(out, o.ID)
	}
	return out
}

func createOrder(t *testing.T, s archibald.Store, o archibald.Order) archibald.Order {
	t.Helper()
	got, created, err := s.CreateOrder(t.Context(), o)
	if err != nil || !created {
		t.Fatalf("CreateOrder(%s): created %v, err %v", o.ID, created, err)
	}
	return got
}

func testOrders(t *testing.T, open Opener) {
	t.Run("CreateAndRead", func(t *testing.T) {
		t.Parallel()
		s := open(t, "main")
		o := newOrder("o1", at(0))
		o.IdempotencyKey, o.RequestHash = "key-1", "hash-1"
		got := createOrder(t, s, o)
		checkOrder(t, "CreateOrder result", got, o)
		checkOrder(t, "Order after create", must[archibald.Order](t, "Order")(s.Order(t.Context(), "o1")), o)

		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = open(t, "main")
		checkOrder(t, "Order after reopen", must[archibald.Order](t, "Order")(s.Order(t.Context(), "o1")), o)

		_, err := s.Order(t.Context(), "o2")
		wantCode(t, err, archibald.ENOTFOUND, "Order of an unknown id")

		dup := newOrder("o1", at(1))
		dup.Reference = "other"
		_, _, err = s.CreateOrder(t.Context(), dup)
		wantCode(t, err, archibald.ECONFLICT, "CreateOrder with an existing id")
		checkOrder(t, "Order after refused duplicate", must[archibald.Order](t, "Order")(s.Order(t.Context(), "o1")), o)
	})

	t.Run("Idempotency", func(t *testing.T) {
		t.Parallel()
		s := open(t, "main")
		first := newOrder("o1", at(0))
		first.IdempotencyKey, first.RequestHash = "key-1", "hash-1"
		createOrder(t, s, first)

		again := newOrder("o2", at(1))
		again.IdempotencyKey, again.RequestHash = "key-1", "hash-2"
		got, created, err := s.CreateOrder(t.Context(), again)
		if err != nil || created {
			t.Fatalf("CreateOrder with a used key: created %v, err %v; want the existing order", created, err)
		}
		checkOrder(t, "order returned for a used key", got, first)
		_, err = s.Order(t.Context(), "o2")
		wantCode(t, err, archibald.ENOTFOUND, "the order refused for its key")

		// Orders without a key never collide.
		createOrder(t, s, newOrder("o3", at(2)))
		createOrder(t, s, newOrder("o4", at(3)))
		other := newOrder("o5", at(4))
		other.IdempotencyKey = "key-2"
		createOrder(t, s, other)
		all := must[[]archibald.Order](t, "ListOrders")(s.ListOrders(t.Context(), "", 0))
		if ids := orderIDs(all); !slices.Equal(ids, []string{"o5", "o4", "o3", "o1"}) {
			t.Fatalf("ListOrders = %v", ids)
		}
	})

	t.Run("Transitions", func(t *testing.T) {
		t.Parallel()
		s := open(t, "main")
		ctx := t.Context()
		o := createOrder(t, s, newOrder("o1", at(0)))

		step := func(from, to archibald.OrderStatus, minute int, mod func(*archibald.OrderTransition)) archibald.Order {
			t.Helper()
			tr := archibald.OrderTransition{From: from, To: to, At: at(minute)}
			if mod != nil {
				mod(&tr)
			}
			return must[archibald.Order](t, fmt.Sprintf("transition %s→%s", from, to))(s.TransitionOrder(ctx, "o1", tr))
		}
		want := o
		got := step(archibald.OrderQueued, archibald.OrderSubmitting, 1, nil)
		want.Status, want.Attempts, want.UpdatedAt = archibald.OrderSubmitting, 1, at(1)
		checkOrder(t, "after queued→submitting", got, want)
		checkOrder(t, "Order after queued→submitting", must[archibald.Order](t, "Order")(s.Order(ctx, "o1")), want)

		// Compare-and-set: the order is no longer queued.
		_, err := s.TransitionOrder(ctx, "o1", archibald.OrderTransition{From: archibald.OrderQueued, To: archibald.OrderSubmitting, At: at(2)})
		wantCode(t, err, archibald.ECONFLICT, "queued→submitting of a submitting order")
		checkOrder(t, "Order after refused transition", must[archibald.Order](t, "Order")(s.Order(ctx, "o1")), want)

		// Recovery puts it back in the queue; the next attempt counts.
		got = step(archibald.OrderSubmitting, archibald.OrderQueued, 3, nil)
		want.Status, want.UpdatedAt = archibald.OrderQueued, at(3)
		checkOrder(t, "after submitting→queued", got, want)
		got = step(archibald.OrderQueued, archibald.OrderSubmitting, 4, nil)
		want.Status, want.Attempts, want.UpdatedAt = archibald.OrderSubmitting, 2, at(4)
		checkOrder(t, "after the second queued→submitting", got, want)

		got = step(archibald.OrderSubmitting, archibald.OrderCreated, 5, func(tr *archibald.OrderTransition) { tr.ErpOrderID = "ERP-42" })
		want.Status, want.ErpOrderID, want.UpdatedAt = archibald.OrderCreated, "ERP-42", at(5)
		checkOrder(t, "after submitting→created", got, want)
		checkOrder(t, "Order after submitting→created", must[archibald.Order](t, "Order")(s.Order(ctx, "o1")), want)

		// Another order fails.
		createOrder(t, s, newOrder("o2", at(6)))
		tr := archibald.OrderTransition{From: archibald.OrderQueued, To: archibald.OrderSubmitting, At: at(7)}
		must[archibald.Order](t, "o2 submitting")(s.TransitionOrder(ctx, "o2", tr))
		tr = archibald.OrderTransition{From: archibald.OrderSubmitting, To: archibald.OrderFailed, Error: "customer blocked", At: at(8)}
		failed := must[archibald.Order](t, "o2 failed")(s.TransitionOrder(ctx, "o2", tr))
		if failed.Status != archibald.OrderFailed || failed.Error != "customer blocked" || failed.ErpOrderID != "" ||
			failed.Attempts != 1 || !failed.UpdatedAt.Equal(at(8)) || !failed.CreatedAt.Equal(at(6)) {
			t.Fatalf("failed order: %+v", failed)
		}

		_, err = s.TransitionOrder(ctx, "nope", archibald.OrderTransition{From: archibald.OrderQueued, To: archibald.OrderSubmitting, At: at(9)})
		wantCode(t, err, archibald.ENOTFOUND, "transition of an unknown order")
	})

	t.Run("Lists", func(t *testing.T) {
		t.Parallel()
		s := open(t, "main")
		ctx := t.Context()
		// Created out of order; o3 and o4 at the same instant (ties break by id).
		for _, c := range []struct {
			id     string
			minute int
		}{{"o2", 2}, {"o1", 1}, {"o4", 3}, {"o3", 3}, {"o5", 5}} {
			createOrder(t, s, newOrder(c.id, at(c.minute)))
		}
		for _, id := range []string{"o2", "o4"} {
			must[archibald.Order](t, "submit")(s.TransitionOrder(ctx, id,
				archibald.OrderTransition{From: archibald.OrderQueued, To: archibald.OrderSubmitting, At: at(10)}))
		}
		cases := []struct {
			status archibald.OrderStatus
			limit  int
			want   []string
		}{
			{"", 0, []string{"o5", "o4", "o3", "o2", "o1"}},
			{"", 2, []string{"o5", "o4"}},
			{archibald.OrderQueued, 0, []string{"o5", "o3", "o1"}},
			{archibald.OrderSubmitting, 0, []string{"o4", "o2"}},
			{archibald.OrderCreated, 0, []string{}},
		}
		for _, c := range cases {
			got := must[[]archibald.Order](t, "ListOrders")(s.ListOrders(ctx, c.status, c.limit))
			if ids := orderIDs(got); !slices.Equal(ids, c.want) {
				t.Errorf("ListOrders(%q, %d) = %v, want %v", c.status, c.limit, ids, c.want)
			}
		}
		byStatus := []struct {
			status archibald.OrderStatus
			want   []string
		}{
			{archibald.OrderQueued, []string{"o1", "o3", "o5"}},
			{archibald.OrderSubmitting, []string{"o2", "o4"}},
			{archibald.OrderFailed, []string{}},
		}
		for _, c := range byStatus {
			got := must[[]archibald.Order](t, "OrdersByStatus")(s.OrdersByStatus(ctx, c.status))
			if ids := orderIDs(got); !slices.Equal(ids, c.want) {
				t.Errorf("OrdersByStatus(%q) = %v, want %v", c.status, ids, c.want)
			}
		}
		// The lists carry whole orders.
		got := must[[]archibald.Order](t, "OrdersByStatus")(s.OrdersByStatus(ctx, archibald.OrderQueued))
		checkOrder(t, "first queued order", got[0], newOrder("o1", at(1)))
	})

	t.Run("ListLimit", func(t *testing.T) {
		t.Parallel()
		s := open(t, "main")
		for i := range 60 {
			createOrder(t, s, newOrder(fmt.Sprintf("o%02d", i), at(i)))
		}
		if got := must[[]archibald.Order](t, "ListOrders")(s.ListOrders(t.Context(), "", 0)); len(got) != 50 || got[0].ID != "o59" {
			t.Fatalf("ListOrders with the default limit: %d orders, first %v; want 50, o59 first", len(got), orderIDs(got)[:1])
		}
		if got := must[[]archibald.Order](t, "OrdersByStatus")(s.OrdersByStatus(t.Context(), archibald.OrderQueued)); len(got) != 60 {
			t.Fatalf("OrdersByStatus: %d orders, want every one of 60", len(got))
		}
	})

	t.Run("InvalidInput", func(t *testing.T) {
		t.Parallel()
		s := open(t, "main")
		ctx := t.Context()
		createOrder(t, s, newOrder("o1", at(0)))
		bad := func(mod func(*archibald.Order)) archibald.Order {
			o := newOrder("x", at(1))
			mod(&o)
			return o
		}
		trans := func(mod func(*archibald.OrderTransition)) archibald.OrderTransition {
			tr := archibald.OrderTransition{From: archibald.OrderQueued, To: archibald.OrderSubmitting, At: at(2)}
			mod(&tr)
			return tr
		}
		cases := []struct {
			name string
			call func() error
		}{
			{"CreateOrder with an unknown status", func() error {
				_, _, err := s.CreateOrder(ctx, bad(func(o *archibald.Order) { o.Status = "done" }))
				return err
			}},
			{"CreateOrder without an id", func() error {
				_, _, err := s.CreateOrder(ctx, bad(func(o *archibald.Order) { o.ID = "" }))
				return err
			}},
			{"CreateOrder without a creation time", func() error {
				_, _, err := s.CreateOrder(ctx, bad(func(o *archibald.Order) { o.CreatedAt = time.Time{} }))
				return err
			}},
			{"ListOrders with an unknown status", func() error { _, err := s.ListOrders(ctx, "done", 0); return err }},
			{"OrdersByStatus with an unknown status", func() error { _, err := s.OrdersByStatus(ctx, "done"); return err }},
			{"OrdersByStatus with no status", func() error { _, err := s.OrdersByStatus(ctx, ""); return err }},
			{"TransitionOrder to an unknown status", func() error {
				_, err := s.TransitionOrder(ctx, "o1", trans(func(tr *archibald.OrderTransition) { tr.To = "done" }))
				return err
			}},
			{"TransitionOrder from an unknown status", func() error {
				_, err := s.TransitionOrder(ctx, "o1", trans(func(tr *archibald.OrderTransition) { tr.From = "QUEUED" }))
				return err
			}},
		}
		for _, c := range cases {
			wantCode(t, c.call(), archibald.EINVALID, c.name)
		}
		if _, err := s.Order(ctx, "x"); archibald.ErrorCode(err) != archibald.ENOTFOUND {
			t.Fatalf("a refused CreateOrder stored an order (err %v)", err)
		}
		checkOrder(t, "order after refused transitions", must[archibald.Order](t, "Order")(s.Order(ctx, "o1")), newOrder("o1", at(0)))
	})
}
