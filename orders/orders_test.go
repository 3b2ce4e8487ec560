package orders_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
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
	"archibald/syncer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// orderEvents collects the order service's events.
type orderEvents struct {
	mu     sync.Mutex
	events []orders.Event
}

func (r *orderEvents) on(ev orders.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *orderEvents) kinds(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ks []string
	for _, ev := range r.events {
		if ev.Order.ID == id {
			ks = append(ks, ev.Kind)
		}
	}
	return ks
}

// checkedSession is the bot's ERP session, checking at every order step that the
// manager holds every service paused: the steps run strictly inside the hold.
type checkedSession struct {
	*erp.Session
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
	keepBusy atomic.Bool  // restart each sync run as soon as it finishes
	pages    atomic.Int64 // pages the services committed
	env      *testenv.Env
	services []*syncer.Service
	finished chan syncer.Event
	session  *checkedSession
	bot      *bot.Bot
	events   *orderEvents
	orders   *orders.Service
}

// newFixture builds the environment, fills the mirror with the three sync services
// (left running), and makes the order service (not started).
func newFixture(t *testing.T, o testenv.Options, cfg orders.Config) *fixture {
	t.Helper()
	env := testenv.New(t, o)
	f := &fixture{env: env, finished: make(chan syncer.Event, 1000), events: &orderEvents{}}
	for _, e := range archibald.Entities {
		var svc *syncer.Service
		svc, err := syncer.New(syncer.Config{
			Entity: e, ERP: env.Session, Store: env.Store, Manager: env.Manager, Interval: time.Hour,
			OnEvent: func(ev syncer.Event) {
				if ev.Kind == syncer.EventProgress {
					f.pages.Add(1)
				}
				if ev.Kind == syncer.EventFinished {
					f.finished <- ev
					if f.keepBusy.Load() {
						svc.RunNow()
					}
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		f.services = append(f.services, svc)
	}
	t.Cleanup(f.stopSyncs)
	for range archibald.Entities {
		<-f.finished
	}
	f.session = &checkedSession{Session: env.Session, manager: env.Manager, services: 4}
	f.bot = bot.New(f.session, env.Store, nil)
	if cfg.Store == nil {
		cfg.Store = env.Store
	}
	cfg.Mirror = env.Store
	if cfg.Bot == nil {
		cfg.Bot = f.bot
	}
	if cfg.Priority == nil {
		cfg.Priority = env.Manager
	}
	cfg.OnEvent = f.events.on
	svc, err := orders.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.orders = svc
	return f
}

func (f *fixture) stopSyncs() {
	for _, s := range f.services {
		s.Stop()
	}
}

func (f *fixture) start(t *testing.T) {
	t.Helper()
	if err := f.orders.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.orders.Stop)
}

// runSyncsAgain starts a run of every service and waits for them to finish.
func (f *fixture) runSyncsAgain() {
	for _, s := range f.services {
		s.RunNow()
	}
	for range f.services {
		<-f.finished
	}
}

// request builds a valid order request from the mirror: customer i, and n lines.
func request(t *testing.T, env *testenv.Env, i, n int) orders.Request {
	t.Helper()
	customers := env.Sim.Customers()
	products := env.Sim.Products()
	req := orders.Request{CustomerID: customers[i%len(customers)].ID}
	for j := range n {
		p := products[(i*7+j*13)%len(products)]
		req.Items = append(req.Items, archibald.OrderLine{ArticleCode: p.ArticleCode, Quantity: max(p.MinQty, p.MultipleQty), DiscountPct: float64(j)})
	}
	return req
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

func erpOrdersWithReference(f *fixture, ref string) int {
	n := 0
	for _, o := range f.env.Sim.Orders() {
		if o.Reference == ref {
			n++
		}
	}
	return n
}

// TestOrdersWhileSyncing submits 20 orders while the three services run on the same
// ERP session: all succeed, every step runs inside the hold, no draft is lost.
func TestOrdersWhileSyncing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testenv.Options{Customers: 300, Products: 600}, orders.Config{})
		f.start(t)
		f.keepBusy.Store(true) // the services sync without rest during the orders
		for _, s := range f.services {
			s.RunNow()
		}
		pagesBefore := f.pages.Load()
		var ids []string
		for i := range 20 {
			o, created, err := f.orders.Submit(context.Background(), request(t, f.env, i, 1+i%5), "")
			if err != nil || !created || o.Status != archibald.OrderQueued {
				t.Fatalf("Submit %d = %+v, %v, %v", i, o, created, err)
			}
			ids = append(ids, o.ID)
			<-time.After(50 * time.Millisecond)
		}
		for _, id := range ids {
			o := wait(t, f.orders, id)
			if o.Status != archibald.OrderCreated || o.ErpOrderID == "" || o.Attempts != 1 {
				t.Fatalf("order %s ended %+v", id, o)
			}
			if got := f.events.kinds(id); !slices.Equal(got, []string{orders.EventQueued, orders.EventSubmitting, orders.EventCreated}) {
				t.Fatalf("order %s events %v", id, got)
			}
			if n := erpOrdersWithReference(f, o.Reference); n != 1 {
				t.Fatalf("order %s is %d times in the ERP", id, n)
			}
		}
		if v := f.env.Sim.Stats().ViewLost; v != 0 {
			t.Fatalf("the simulator counted %d view losses", v)
		}
		if v, n := f.session.violations.Load(), f.session.steps.Load(); v != 0 || n == 0 {
			t.Fatalf("%d of %d order steps ran outside the hold", v, n)
		}
		if st := f.env.Manager.Status(); st.State != priority.StateRunning || st.Pauses < 1 {
			t.Fatalf("manager after the orders: %+v", st)
		}
		f.keepBusy.Store(false)
		// Between two orders the services get the session back for a page or so.
		if pages := f.pages.Load() - pagesBefore; pages < 10 {
			t.Fatalf("the services committed only %d pages during the orders", pages)
		}
		t.Logf("the services committed %d pages during the 20 orders", f.pages.Load()-pagesBefore)
		for len(f.finished) > 0 {
			<-f.finished
		}
		f.runSyncsAgain()
		f.stopSyncs()
		if err := testenv.MirrorMatches(context.Background(), f.env.Sim, f.env.Store); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSubmitValidatesAgainstTheMirror(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testenv.Options{}, orders.Config{})
		good := request(t, f.env, 0, 2)
		var multiple archibald.Product
		for _, p := range f.env.Sim.Products() {
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
			_, _, err := f.orders.Submit(context.Background(), req, "")
			var e *archibald.Error
			if !errors.As(err, &e) || e.Code != archibald.EINVALID || e.Field != tt.wantField || !strings.Contains(e.Message, tt.wantMsg) {
				t.Errorf("%s: err = %v, want field %s with %q", tt.name, err, tt.wantField, tt.wantMsg)
			}
		}
		if list, _ := f.env.Store.ListOrders(context.Background(), "", 100); len(list) != 0 {
			t.Fatalf("invalid requests stored %d orders", len(list))
		}
	})
}

func TestIdempotency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testenv.Options{}, orders.Config{})
		req := request(t, f.env, 1, 2)
		first, created, err := f.orders.Submit(context.Background(), req, "key-1")
		if err != nil || !created {
			t.Fatal(err)
		}
		again, created, err := f.orders.Submit(context.Background(), req, "key-1")
		if err != nil || created || again.ID != first.ID {
			t.Fatalf("same key and body: %+v created=%v err=%v, want order %s", again, created, err, first.ID)
		}
		other := req
		other.Items = slices.Clone(req.Items)
		other.Items[0].Quantity *= 2
		_, _, err = f.orders.Submit(context.Background(), other, "key-1")
		if archibald.ErrorCode(err) != archibald.ECONFLICT {
			t.Fatalf("same key, other body: err = %v, want a conflict", err)
		}
		if list, _ := f.env.Store.ListOrders(context.Background(), "", 100); len(list) != 1 {
			t.Fatalf("%d orders stored, want 1", len(list))
		}
	})
}

// TestERPRefusalFailsTheOrder: the ERP refuses a customer the mirror still has; the
// order fails with a clear error and the services resume.
func TestERPRefusalFailsTheOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testenv.Options{}, orders.Config{})
		f.start(t)
		before := f.env.Sim.Customers()
		f.env.Sim.Mutate(erpsimRemoveCustomers(5))
		removed := missingCustomer(before, f.env.Sim.Customers())
		req := request(t, f.env, 0, 1)
		req.CustomerID = removed
		o, _, err := f.orders.Submit(context.Background(), req, "")
		if err != nil {
			t.Fatal(err)
		}
		o = wait(t, f.orders, o.ID)
		if o.Status != archibald.OrderFailed || !strings.Contains(o.Error, "customerId") || !strings.Contains(o.Error, removed) {
			t.Fatalf("order ended %+v, want failed naming the customer", o)
		}
		assertResumed(t, f)
		if got := f.events.kinds(o.ID); got[len(got)-1] != orders.EventFailed {
			t.Fatalf("events %v", got)
		}
	})
}

func assertResumed(t *testing.T, f *fixture) {
	t.Helper()
	if st := f.env.Manager.Status(); st.State != priority.StateRunning || st.Holders != 0 || len(st.Paused) != 0 {
		t.Fatalf("manager after the order: %+v", st)
	}
	for _, s := range f.services {
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
		pb := panickingBot{f.bot}
		svc, err := orders.New(orders.Config{Store: f.env.Store, Mirror: f.env.Store, Bot: pb, Priority: f.env.Manager, OnEvent: f.events.on})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer svc.Stop()
		o, _, err := svc.Submit(context.Background(), request(t, f.env, 2, 1), "")
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
				req := request(t, f.env, 3, 2)
				req.Reference = "REF-CRASH-1"
				o, _, err := f.orders.Submit(context.Background(), req, "")
				if err != nil {
					t.Fatal(err)
				}
				// The previous process marked it submitting and died, after or before save.
				if _, err := f.env.Store.TransitionOrder(context.Background(), o.ID, archibald.OrderTransition{
					From: archibald.OrderQueued, To: archibald.OrderSubmitting, At: time.Now()}); err != nil {
					t.Fatal(err)
				}
				var erpID string
				if savedBeforeCrash {
					o.Status = archibald.OrderSubmitting
					if erpID, err = bot.New(f.env.Session, f.env.Store, nil).CreateOrder(context.Background(), o); err != nil {
						t.Fatal(err)
					}
				}
				f.start(t) // the restart
				got := wait(t, f.orders, o.ID)
				if got.Status != archibald.OrderCreated {
					t.Fatalf("order ended %+v, want created", got)
				}
				if savedBeforeCrash && got.ErpOrderID != erpID {
					t.Fatalf("ERP id %s, want the saved order's %s", got.ErpOrderID, erpID)
				}
				if n := erpOrdersWithReference(f, req.Reference); n != 1 {
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
		f.start(t)
		for _, s := range f.services {
			s.RunNow()
		}
		<-time.After(30 * time.Millisecond)
		dt.dead.Store(true)
		o, _, err := f.orders.Submit(context.Background(), request(t, f.env, 4, 2), "")
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		got := wait(t, f.orders, o.ID)
		if got.Status != archibald.OrderFailed || !strings.Contains(got.Error, "did not answer") {
			t.Fatalf("order ended %+v, want failed because the ERP did not answer", got)
		}
		if took := time.Since(start); took > timeout+time.Second {
			t.Fatalf("the order failed after %v, past its %v deadline", took, timeout)
		}
		assertResumed(t, f)

		dt.dead.Store(false)
		o2, _, err := f.orders.Submit(context.Background(), request(t, f.env, 5, 1), "")
		if err != nil {
			t.Fatal(err)
		}
		if got := wait(t, f.orders, o2.ID); got.Status != archibald.OrderCreated {
			t.Fatalf("order after the ERP came back ended %+v", got)
		}
	})
}

func TestStopFinishesTheOrderInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testenv.Options{}, orders.Config{})
		f.start(t)
		o, _, err := f.orders.Submit(context.Background(), request(t, f.env, 6, 3), "")
		if err != nil {
			t.Fatal(err)
		}
		<-time.After(100 * time.Millisecond) // the bot is in the middle of the order
		f.orders.Stop()
		f.orders.Stop()
		got, err := f.env.Store.Order(context.Background(), o.ID)
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
