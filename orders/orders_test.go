package orders_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"archibald"
	"archibald/bot"
	"archibald/erp"
	"archibald/erpsim"
	"archibald/internal/testenv"
	"archibald/orders"
	"archibald/priority"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// checkedSession is the bot's ERP session, checking at every order step that the
// manager holds every service paused: the steps run strictly inside the hold.
type checkedSession struct {
	bot.Session
	manager    *priority.Manager
	services   int // services the manager must have paused
	steps      atomic.Int64
	violations atomic.Int64
}

func (c *checkedSession) check() {
	c.steps.Add(1)
	st := c.manager.Status()
	if st.State != priority.StatePaused || len(st.Paused) != c.services {
		c.violations.Add(1)
	}
}

func (c *checkedSession) NewOrder(ctx context.Context) (string, error) {
	c.check()
	return c.Session.NewOrder(ctx)
}
func (c *checkedSession) SetCustomer(ctx context.Context, d, id string) error {
	c.check()
	return c.Session.SetCustomer(ctx, d, id)
}
func (c *checkedSession) AddLine(ctx context.Context, d string, l erp.Line) (int, error) {
	c.check()
	return c.Session.AddLine(ctx, d, l)
}
func (c *checkedSession) Save(ctx context.Context, d, ref string) (string, error) {
	c.check()
	return c.Session.Save(ctx, d, ref)
}

type fixture struct {
	*testenv.System
	session *checkedSession
}

// newFixture builds the system: the mirror filled by the three sync services (left
// running), and the order service (not started) whose bot's steps are checked.
func newFixture(t *testing.T, o testenv.Options, cfg orders.Config) *fixture {
	t.Helper()
	f := &fixture{}
	f.System = testenv.NewSystem(t, o, testenv.SystemOptions{
		Orders: cfg,
		WrapSession: func(env *testenv.Env, s bot.Session) bot.Session {
			f.session = &checkedSession{Session: s, manager: env.Manager, services: 4}
			return f.session
		},
	})
	return f
}

func wait(t *testing.T, s *orders.Service, id string) archibald.Order {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	o, err := s.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestOrdersWhileSyncing submits 20 orders while the three services run on the same
// ERP session: all succeed, every step runs inside the hold, no draft is lost.
func TestOrdersWhileSyncing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testenv.Options{Customers: 300, Products: 600}, orders.Config{})
		f.StartOrders(t)
		f.KeepBusy(true) // the services sync without rest during the orders
		pagesBefore := f.Pages()
		var ids []string
		for i := range 20 {
			o, created, err := f.Orders.Submit(context.Background(), f.Request(i, 1+i%5), "")
			if err != nil || !created || o.Status != archibald.OrderQueued {
				t.Fatalf("Submit %d = %+v, %v, %v", i, o, created, err)
			}
			ids = append(ids, o.ID)
			<-time.After(50 * time.Millisecond)
		}
		for _, id := range ids {
			o := wait(t, f.Orders, id)
			if o.Status != archibald.OrderCreated || o.ErpOrderID == "" || o.Attempts != 1 {
				t.Fatalf("order %s ended %+v", id, o)
			}
			if got := f.OrderEvents(id); !slices.Equal(got, []string{orders.EventQueued, orders.EventSubmitting, orders.EventCreated}) {
				t.Fatalf("order %s events %v", id, got)
			}
			if n := f.ERPOrders(o.Reference); n != 1 {
				t.Fatalf("order %s is %d times in the ERP", id, n)
			}
		}
		if v := f.Sim.Stats().ViewLost; v != 0 {
			t.Fatalf("the simulator counted %d view losses", v)
		}
		if v, n := f.session.violations.Load(), f.session.steps.Load(); v != 0 || n == 0 {
			t.Fatalf("%d of %d order steps ran outside the hold", v, n)
		}
		synctest.Wait() // the last hold is released just after its outcome is recorded
		if st := f.Manager.Status(); st.State != priority.StateRunning || st.Pauses < 1 {
			t.Fatalf("manager after the orders: %+v", st)
		}
		// Between two orders the services get the session back for a page or so.
		if pages := f.Pages() - pagesBefore; pages < 10 {
			t.Fatalf("the services committed only %d pages during the orders", pages)
		}
		t.Logf("the services committed %d pages during the 20 orders", f.Pages()-pagesBefore)
		f.SyncAgain()
		f.StopSyncs()
		if err := f.Sim.CompareMirror(context.Background(), f.Store); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSubmitValidatesAgainstTheMirror(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testenv.Options{}, orders.Config{})
		good := f.Request(0, 2)
		var multiple archibald.Product
		for _, p := range f.Sim.Products() {
			if p.MultipleQty > 1 {
				multiple = p
				break
			}
		}
		tests := []struct {
			name      string
			mutate    func(r *orders.Request)
			wantField string
			wantMsg   string
		}{
			{"unknown customer", func(r *orders.Request) { r.CustomerID = "C-NOPE" }, "customerId", "unknown customer"},
			{"unknown article", func(r *orders.Request) { r.Items[1].ArticleCode = "Z9.999.999" }, "items[1].articleCode", "unknown article"},
			{"zero quantity", func(r *orders.Request) { r.Items[0].Quantity = 0 }, "items[0].quantity", "1 to"},
			{"quantity no variant accepts", func(r *orders.Request) {
				r.Items[0] = archibald.OrderLine{ArticleCode: multiple.ArticleCode, Quantity: multiple.MultipleQty*1000 + 1}
			}, "items[0].quantity", "multiples of"},
			{"discount over 100", func(r *orders.Request) { r.Items[0].DiscountPct = 150 }, "items[0].discountPct", "0 to 100"},
			{"no items", func(r *orders.Request) { r.Items = nil }, "items", "at least one"},
			{"bad reference", func(r *orders.Request) { r.Reference = "ref with spaces" }, "reference", "letters, digits"},
		}
		for _, tt := range tests {
			req := good
			req.Items = slices.Clone(good.Items)
			tt.mutate(&req)
			_, _, err := f.Orders.Submit(context.Background(), req, "")
			var e *archibald.Error
			if !errors.As(err, &e) || e.Code != archibald.EINVALID || e.Field != tt.wantField || !strings.Contains(e.Message, tt.wantMsg) {
				t.Errorf("%s: err = %v, want field %s with %q", tt.name, err, tt.wantField, tt.wantMsg)
			}
		}
		if list, _ := f.Store.ListOrders(context.Background(), "", 100); len(list) != 0 {
			t.Fatalf("invalid requests stored %d orders", len(list))
		}
	})
}

func TestIdempotency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testenv.Options{}, orders.Config{})
		req := f.Request(1, 2)
		first, created, err := f.Orders.Submit(context.Background(), req, "key-1")
		if err != nil || !created {
			t.Fatal(err)
		}
		again, created, err := f.Orders.Submit(context.Background(), req, "key-1")
		if err != nil || created || again.ID != first.ID {
			t.Fatalf("same key and body: %+v created=%v err=%v, want order %s", again, created, err, first.ID)
		}
		other := req
		other.Items = slices.Clone(req.Items)
		other.Items[0].Quantity *= 2
		_, _, err = f.Orders.Submit(context.Background(), other, "key-1")
		if archibald.ErrorCode(err) != archibald.ECONFLICT {
			t.Fatalf("same key, other body: err = %v, want a conflict", err)
		}
		if list, _ := f.Store.ListOrders(context.Background(), "", 100); len(list) != 1 {
			t.Fatalf("%d orders stored, want 1", len(list))
		}
	})
}

// TestERPRefusalFailsTheOrder: the ERP refuses a customer the mirror still has; the
// order fails with a clear error and the services resume.
func TestERPRefusalFailsTheOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testenv.Options{}, orders.Config{})
		f.StartOrders(t)
		before := f.Sim.Customers()
		f.Sim.Mutate(erpsimRemoveCustomers(5))
		removed := missingCustomer(before, f.Sim.Customers())
		req := f.Request(0, 1)
		req.CustomerID = removed
		o, _, err := f.Orders.Submit(context.Background(), req, "")
		if err != nil {
			t.Fatal(err)
		}
		o = wait(t, f.Orders, o.ID)
		if o.Status != archibald.OrderFailed || !strings.Contains(o.Error, "customerId") || !strings.Contains(o.Error, removed) {
			t.Fatalf("order ended %+v, want failed naming the customer", o)
		}
		assertResumed(t, f)
		if got := f.OrderEvents(o.ID); got[len(got)-1] != orders.EventFailed {
			t.Fatalf("events %v", got)
		}
	})
}

// assertResumed checks nothing is left paused once the worker is idle: the outcome is
// recorded before the hold is released, so Wait may return a moment before the release.
func assertResumed(t *testing.T, f *fixture) {
	t.Helper()
	synctest.Wait()
	if st := f.Manager.Status(); st.State != priority.StateRunning || st.Holders != 0 || len(st.Paused) != 0 {
		t.Fatalf("manager after the order: %+v", st)
	}
	for _, s := range f.Syncs {
		if s.Paused() {
			t.Fatalf("service %s still paused", s.Name())
		}
	}
}

// panickingBot panics in CreateOrder.
type panickingBot struct{ *bot.Bot }

func (panickingBot) CreateOrder(context.Context, archibald.Order) (string, error) {
	panic("bot exploded")
}

func TestBotPanicIsContained(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testenv.Options{}, orders.Config{})
		pb := panickingBot{f.Bot}
		svc, err := orders.New(orders.Config{Store: f.Store, Mirror: f.Store, Bot: pb, Priority: f.Manager})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer svc.Stop()
		o, _, err := svc.Submit(context.Background(), f.Request(2, 1), "")
		if err != nil {
			t.Fatal(err)
		}
		o = wait(t, svc, o.ID)
		if o.Status != archibald.OrderFailed || !strings.Contains(o.Error, "internal error") || strings.Contains(o.Error, "exploded") {
			t.Fatalf("order ended %+v, want failed with an internal error and no panic text", o)
		}
		assertResumed(t, f)
	})
}

// TestRecoveryAfterCrash covers both crash points of an order left submitting.
func TestRecoveryAfterCrash(t *testing.T) {
	for _, savedBeforeCrash := range []bool{true, false} {
		t.Run(fmt.Sprintf("saved=%v", savedBeforeCrash), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFixture(t, testenv.Options{}, orders.Config{})
				req := f.Request(3, 2)
				req.Reference = "REF-CRASH-1"
				o, _, err := f.Orders.Submit(context.Background(), req, "")
				if err != nil {
					t.Fatal(err)
				}
				// The previous process marked it submitting and died, after or before save.
				if _, err := f.Store.TransitionOrder(context.Background(), o.ID, archibald.OrderTransition{
					From: archibald.OrderQueued, To: archibald.OrderSubmitting, At: time.Now()}); err != nil {
					t.Fatal(err)
				}
				var erpID string
				if savedBeforeCrash {
					o.Status = archibald.OrderSubmitting
					if erpID, err = bot.New(f.Session, f.Store, nil).CreateOrder(context.Background(), o); err != nil {
						t.Fatal(err)
					}
				}
				f.StartOrders(t) // the restart
				got := wait(t, f.Orders, o.ID)
				if got.Status != archibald.OrderCreated {
					t.Fatalf("order ended %+v, want created", got)
				}
				if savedBeforeCrash && got.ErpOrderID != erpID {
					t.Fatalf("ERP id %s, want the saved order's %s", got.ErpOrderID, erpID)
				}
				if n := f.ERPOrders(req.Reference); n != 1 {
					t.Fatalf("the order is %d times in the ERP, want exactly once", n)
				}
				wantAttempts := 1
				if !savedBeforeCrash {
					wantAttempts = 2
				}
				if got.Attempts != wantAttempts {
					t.Fatalf("attempts %d, want %d", got.Attempts, wantAttempts)
				}
			})
		})
	}
}

// deadTransport stops answering while dead is set: requests hang until their ctx ends.
type deadTransport struct {
	next http.RoundTripper
	dead atomic.Bool
}

func (d *deadTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if d.dead.Load() {
		<-r.Context().Done()
		return nil, r.Context().Err()
	}
	return d.next.RoundTrip(r)
}

// TestERPStopsAnswering: the order fails at its deadline with a clear error, and
// nothing is left paused; once the ERP is back, the next order goes through.
func TestERPStopsAnswering(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dt := &deadTransport{}
		const timeout = 2 * time.Minute
		f := newFixture(t, testenv.Options{
			Grace:     5 * time.Second,
			Transport: func(rt http.RoundTripper) http.RoundTripper { dt.next = rt; return dt },
		}, orders.Config{Timeout: timeout, SettleRetry: time.Minute})
		f.StartOrders(t)
		f.KeepBusy(true)
		<-time.After(30 * time.Millisecond)
		dt.dead.Store(true)
		o, _, err := f.Orders.Submit(context.Background(), f.Request(4, 2), "")
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		got := wait(t, f.Orders, o.ID)
		if got.Status != archibald.OrderFailed || !strings.Contains(got.Error, "did not answer") {
			t.Fatalf("order ended %+v, want failed because the ERP did not answer", got)
		}
		if took := time.Since(start); took > timeout+time.Second {
			t.Fatalf("the order failed after %v, past its %v deadline", took, timeout)
		}
		assertResumed(t, f)

		dt.dead.Store(false)
		o2, _, err := f.Orders.Submit(context.Background(), f.Request(5, 1), "")
		if err != nil {
			t.Fatal(err)
		}
		if got := wait(t, f.Orders, o2.ID); got.Status != archibald.OrderCreated {
			t.Fatalf("order after the ERP came back ended %+v", got)
		}
	})
}

func TestStopFinishesTheOrderInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testenv.Options{}, orders.Config{})
		f.StartOrders(t)
		o, _, err := f.Orders.Submit(context.Background(), f.Request(6, 3), "")
		if err != nil {
			t.Fatal(err)
		}
		<-time.After(100 * time.Millisecond) // the bot is in the middle of the order
		f.Orders.Stop()
		f.Orders.Stop()
		got, err := f.Store.Order(context.Background(), o.ID)
		if err != nil || got.Status != archibald.OrderCreated {
			t.Fatalf("after Stop the order is %+v, %v; want created", got, err)
		}
	})
}

func erpsimRemoveCustomers(n int) erpsim.Mutation {
	return erpsim.Mutation{Customers: erpsim.MutationCounts{Remove: n}}
}

func missingCustomer(before, after []archibald.Customer) string {
	have := map[string]bool{}
	for _, c := range after {
		have[c.ID] = true
	}
	for _, c := range before {
		if !have[c.ID] {
			return c.ID
		}
	}
	return ""
}
