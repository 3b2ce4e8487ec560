package erp

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"archibald"
	"archibald/erpsim"
)

// The integration tests below talk to the real simulator: in memory inside a synctest
// bubble (its service times then pass on the fake clock, at no cost), and once over real
// HTTP.

const simPassword = "sim-Pw-4711"

func newSim(t *testing.T, cfg erpsim.Config) *erpsim.Server {
	t.Helper()
	cfg.Username, cfg.Password = "agent", simPassword
	sim, err := erpsim.New(cfg)
	if err != nil {
		t.Fatalf("erpsim.New: %v", err)
	}
	t.Cleanup(sim.Close)
	return sim
}

func simSession(t *testing.T, sim *erpsim.Server, password string) *Session {
	t.Helper()
	s, err := NewSession(Config{BaseURL: "http://erp.sim", Username: "agent", Password: password,
		HTTPClient: &http.Client{Transport: sim.RoundTripper()}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// acceptedQuantity returns the smallest quantity the variant accepts.
func acceptedQuantity(t *testing.T, p archibald.Product) int {
	for q := max(1, p.MinQty); q < 100000; q++ {
		if p.AcceptsQuantity(q) {
			return q
		}
	}
	t.Fatalf("variant %s accepts no quantity", p.ID)
	return 0
}

func TestSimulatorPagesAndOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := newSim(t, erpsim.Config{Seed: 7, Customers: 45, Products: 70, PageSize: 20,
			PageTime: 20 * time.Millisecond, StepTime: 80 * time.Millisecond})
		s := simSession(t, sim, simPassword)
		ctx := t.Context()

		// Every customer page, then the whole list equals the simulator's.
		var got []archibald.Customer
		for page, total := 1, 1; page <= total; page++ {
			p, err := s.Customers(ctx, page)
			if err != nil {
				t.Fatalf("customers page %d: %v", page, err)
			}
			total = p.TotalPages
			got = append(got, p.Rows...)
		}
		if want := sim.Customers(); !slices.Equal(got, want) {
			t.Fatalf("customers read page by page (%d) differ from the simulator's (%d)", len(got), len(want))
		}
		if _, err := s.Customers(ctx, 99); !errors.Is(err, ErrPageOutOfRange) {
			t.Errorf("page 99: %v, want ErrPageOutOfRange", err)
		}
		products, err := s.Products(ctx, 1)
		if err != nil || len(products.Rows) == 0 {
			t.Fatalf("products: %+v, %v", products, err)
		}
		prices, err := s.Prices(ctx, 1)
		if err != nil || len(prices.Rows) == 0 {
			t.Fatalf("prices: %+v, %v", prices, err)
		}

		// A full order: four steps, then found by its reference.
		variant := products.Rows[0]
		qty := acceptedQuantity(t, variant)
		began := time.Now()
		draft, err := s.NewOrder(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetCustomer(ctx, draft, got[0].ID); err != nil {
			t.Fatal(err)
		}
		line := Line{VariantID: variant.ID, Quantity: qty, DiscountPct: 5}
		if n, err := s.AddLine(ctx, draft, line); err != nil || n != 1 {
			t.Fatalf("AddLine: %d, %v", n, err)
		}
		id, err := s.Save(ctx, draft, "REF-sim-1")
		if err != nil || !strings.HasPrefix(id, "ORD-") {
			t.Fatalf("Save: %q, %v", id, err)
		}
		if took := time.Since(began); took < 4*72*time.Millisecond || took > 4*88*time.Millisecond {
			t.Errorf("four steps took %v of fake time, want about 320ms", took)
		}
		orders, err := s.FindOrders(ctx, "REF-sim-1")
		if err != nil || len(orders) != 1 {
			t.Fatalf("FindOrders: %+v, %v", orders, err)
		}
		if o := orders[0]; o.OrderID != id || o.CustomerID != got[0].ID || !slices.Equal(o.Lines, []Line{line}) {
			t.Errorf("found %+v", o)
		}
		if none, err := s.FindOrders(ctx, "REF-none"); err != nil || len(none) != 0 {
			t.Errorf("FindOrders of an unknown reference: %+v, %v", none, err)
		}

		// The ERP's refusals arrive typed, with its message.
		draft, err = s.NewOrder(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetCustomer(ctx, draft, "NO-SUCH-CUSTOMER"); !errors.Is(err, ErrUnknownCustomer) {
			t.Errorf("unknown customer: %v", err)
		}
		if _, err := s.AddLine(ctx, draft, Line{VariantID: "NO-SUCH-VARIANT", Quantity: 1}); !errors.Is(err, ErrUnknownVariant) {
			t.Errorf("unknown variant: %v", err)
		}
		picky := slices.IndexFunc(products.Rows, func(p archibald.Product) bool { return badQuantity(p) > 0 })
		if picky < 0 {
			t.Fatal("no variant on page 1 refuses any quantity; pick another seed")
		}
		bad := badQuantity(products.Rows[picky])
		_, err = s.AddLine(ctx, draft, Line{VariantID: products.Rows[picky].ID, Quantity: bad})
		var ae *APIError
		if !errors.Is(err, ErrInvalidQuantity) || !errors.As(err, &ae) || ae.Message == "" {
			t.Errorf("quantity %d of %+v: %v, want ErrInvalidQuantity with a message", bad, products.Rows[picky], err)
		}
		t.Logf("the ERP refused quantity %d: %v", bad, err)
		if _, err := s.Save(ctx, draft, "REF-sim-2"); !errors.Is(err, ErrIncompleteOrder) || errors.Is(err, ErrUnknownOutcome) {
			t.Errorf("saving an empty draft: %v, want ErrIncompleteOrder, a known outcome", err)
		}
		// A list request moves the view: the draft is gone.
		if _, err := s.Customers(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if err := s.SetCustomer(ctx, draft, got[0].ID); !errors.Is(err, ErrViewLost) {
			t.Errorf("step after a list request: %v, want ErrViewLost", err)
		}

		// An expired session is renewed once, transparently.
		sim.ExpireSessions()
		if _, err := s.Prices(ctx, 1); err != nil {
			t.Fatalf("after ExpireSessions: %v", err)
		}
		if st := s.Stats(); st.Logins != 2 || st.Relogins != 1 {
			t.Errorf("stats %+v, want 2 logins and 1 relogin", st)
		}

		// Paused: background requests are refused, foreground ones go on.
		_ = s.Pause(ctx)
		if _, err := s.Products(ctx, 1); !errors.Is(err, ErrWithdrawn) {
			t.Errorf("background while paused: %v", err)
		}
		if _, err := s.Products(WithForeground(ctx), 1); err != nil {
			t.Errorf("foreground while paused: %v", err)
		}
		s.Resume()
	})
}

// badQuantity returns a quantity the variant refuses, or 0 if it accepts every one.
func badQuantity(p archibald.Product) int {
	for q := 1; q < 1000; q++ {
		if !p.AcceptsQuantity(q) {
			return q
		}
	}
	return 0
}

// TestSimulatorQueueOrder: with list pages queued behind a request the simulator is
// serving, an order step made later still goes first.
func TestSimulatorQueueOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := newSim(t, erpsim.Config{Seed: 3, Customers: 100, Products: 30,
			PageTime: 20 * time.Millisecond, StepTime: 80 * time.Millisecond})
		s := simSession(t, sim, simPassword)
		ctx := t.Context()
		if err := s.Login(ctx); err != nil {
			t.Fatal(err)
		}
		first := start(customers(ctx, s, 1))
		synctest.Wait()
		pages := []<-chan error{start(customers(ctx, s, 2)), start(customers(ctx, s, 3))}
		synctest.Wait()
		var pagesDone time.Time
		order := start(func() error {
			_, err := s.NewOrder(ctx)
			return err
		})
		synctest.Wait()
		began := time.Now()
		if err := <-first; err != nil {
			t.Fatal(err)
		}
		if err := <-order; err != nil {
			t.Fatal(err)
		}
		orderTook := time.Since(began)
		for _, ch := range pages {
			if err := <-ch; err != nil {
				t.Fatal(err)
			}
		}
		pagesDone = time.Now()
		// The order step followed the page in service (≤ 20ms left + 80ms), not the two
		// queued pages as well.
		if orderTook > 100*time.Millisecond {
			t.Errorf("the order step waited %v; it should have gone before the queued pages", orderTook)
		}
		if pagesDone.Sub(began) < 120*time.Millisecond {
			t.Errorf("the queued pages finished after %v, before the order step could have", pagesDone.Sub(began))
		}
	})
}

func TestSimulatorBadCredentials(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := newSim(t, erpsim.Config{Seed: 1, Customers: 10, Products: 10})
		s := simSession(t, sim, "wrong")
		if err := s.Login(t.Context()); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("Login: %v, want ErrInvalidCredentials", err)
		}
	})
}

func TestSimulatorOverHTTP(t *testing.T) {
	sim := newSim(t, erpsim.Config{Seed: 2, Customers: 30, Products: 30})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	s, err := NewSession(Config{BaseURL: srv.URL, Username: "agent", Password: simPassword})
	if err != nil {
		t.Fatal(err)
	}
	defer s.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	products, err := s.Products(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	cust, err := s.Customers(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	draft, err := s.NewOrder(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetCustomer(ctx, draft, cust.Rows[0].ID); err != nil {
		t.Fatal(err)
	}
	v := products.Rows[0]
	if _, err := s.AddLine(ctx, draft, Line{VariantID: v.ID, Quantity: acceptedQuantity(t, v)}); err != nil {
		t.Fatal(err)
	}
	id, err := s.Save(ctx, draft, "REF-http")
	if err != nil {
		t.Fatal(err)
	}
	orders, err := s.FindOrders(ctx, "REF-http")
	if err != nil || len(orders) != 1 || orders[0].OrderID != id {
		t.Fatalf("FindOrders: %+v, %v", orders, err)
	}
}
