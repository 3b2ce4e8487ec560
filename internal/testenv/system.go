package testenv

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"archibald"
	"archibald/bot"
	"archibald/orders"
	"archibald/syncer"
)

// System is an Env with the three sync services running on its session and an order
// service (not started) whose bot uses the same session.
type System struct {
	*Env
	Syncs  []*syncer.Service
	Bot    *bot.Bot
	Orders *orders.Service

	keepBusy atomic.Bool
	pages    atomic.Int64
	finished chan syncer.Event

	mu          sync.Mutex
	orderEvents []orders.Event
}

// SystemOptions adjusts a System.
type SystemOptions struct {
	Orders orders.Config // Store, Mirror, Bot, Priority and OnEvent are filled in when nil
	// WrapSession wraps the bot's ERP session (to observe or disturb its steps).
	WrapSession func(*Env, bot.Session) bot.Session
	// SyncEvents, when set, also receives every sync event.
	SyncEvents func(syncer.Event)
}

// NewSystem builds the System, starts the sync services and waits until each has
// filled the mirror once. t.Cleanup stops everything.
func NewSystem(t testing.TB, o Options, so SystemOptions) *System {
	t.Helper()
	s := &System{Env: New(t, o), finished: make(chan syncer.Event, 10000)}
	for _, e := range archibald.Entities {
		var svc *syncer.Service
		svc, err := syncer.New(syncer.Config{
			Entity: e, ERP: s.Session, Store: s.Store, Manager: s.Manager, Interval: time.Hour,
			RetryBase: 100 * time.Millisecond, Logger: s.Logger,
			OnEvent: func(ev syncer.Event) {
				if so.SyncEvents != nil {
					so.SyncEvents(ev)
				}
				switch ev.Kind {
				case syncer.EventProgress:
					s.pages.Add(1)
				case syncer.EventFinished:
					s.finished <- ev
					if s.keepBusy.Load() {
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
		s.Syncs = append(s.Syncs, svc)
	}
	t.Cleanup(s.StopSyncs)
	for range archibald.Entities {
		<-s.finished
	}

	var session bot.Session = s.Session
	if so.WrapSession != nil {
		session = so.WrapSession(s.Env, session)
	}
	s.Bot = bot.New(session, s.Store, s.Logger)
	cfg := so.Orders
	if cfg.Store == nil {
		cfg.Store = s.Store
	}
	if cfg.Mirror == nil {
		cfg.Mirror = s.Store
	}
	if cfg.Bot == nil {
		cfg.Bot = s.Bot
	}
	if cfg.Priority == nil {
		cfg.Priority = s.Manager
	}
	if cfg.Logger == nil {
		cfg.Logger = s.Logger
	}
	if cfg.OnEvent == nil {
		cfg.OnEvent = s.recordOrderEvent
	}
	svc, err := orders.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Orders = svc
	return s
}

// StartOrders starts the order worker; t.Cleanup stops it.
func (s *System) StartOrders(t testing.TB) {
	t.Helper()
	if err := s.Orders.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Orders.Stop)
}

// StopSyncs stops the sync services (safe more than once).
func (s *System) StopSyncs() {
	for _, svc := range s.Syncs {
		svc.Stop()
	}
}

// KeepBusy makes each sync service start a new run as soon as one finishes (on) or
// rest between runs (off). Turning it on also starts a run of each.
func (s *System) KeepBusy(on bool) {
	s.keepBusy.Store(on)
	if on {
		for _, svc := range s.Syncs {
			svc.RunNow()
		}
	}
}

// Pages returns the number of pages the services committed so far.
func (s *System) Pages() int64 { return s.pages.Load() }

// SyncAgain stops keeping the services busy, then waits until each has completed a
// run started after this call.
func (s *System) SyncAgain() {
	s.keepBusy.Store(false)
	for len(s.finished) > 0 {
		<-s.finished
	}
	for _, svc := range s.Syncs {
		svc.RunNow()
	}
	// A run in progress finishes first, then the owed run starts: wait for both when
	// one was running.
	pending := map[string]int{}
	for _, svc := range s.Syncs {
		pending[svc.Name()] = 1
		if st := svc.Status(); st.State == syncer.StateRunning || st.State == syncer.StateWaiting {
			pending[svc.Name()] = 2
		}
	}
	for left := sum(pending); left > 0; left-- {
		ev := <-s.finished
		if pending[ev.Service] == 0 {
			left++
		} else {
			pending[ev.Service]--
		}
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func (s *System) recordOrderEvent(ev orders.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.orderEvents = append(s.orderEvents, ev)
}

// OrderEvents returns the kinds of the events of one order, in order.
func (s *System) OrderEvents(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ks []string
	for _, ev := range s.orderEvents {
		if ev.Order.ID == id {
			ks = append(ks, ev.Kind)
		}
	}
	return ks
}

// Request builds a valid order request from the simulator's data: customer i and n
// lines, each at the smallest quantity its article accepts.
func (s *System) Request(i, n int) orders.Request {
	customers := s.Sim.Customers()
	products := s.Sim.Products()
	req := orders.Request{CustomerID: customers[i%len(customers)].ID}
	for j := range n {
		p := products[(i*7+j*13)%len(products)]
		req.Items = append(req.Items, archibald.OrderLine{ArticleCode: p.ArticleCode,
			Quantity: max(p.MinQty, p.MultipleQty), DiscountPct: float64(j)})
	}
	return req
}

// Wait waits (up to an hour) for the order's outcome.
func (s *System) Wait(t testing.TB, id string) archibald.Order {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	o, err := s.Orders.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// ERPOrders returns how many orders the ERP holds with the reference.
func (s *System) ERPOrders(reference string) int {
	n := 0
	for _, o := range s.Sim.Orders() {
		if o.Reference == reference {
			n++
		}
	}
	return n
}

// Sync returns the sync service of the entity.
func (s *System) Sync(entity string) *syncer.Service {
	for _, svc := range s.Syncs {
		if svc.Name() == entity {
			return svc
		}
	}
	panic("testenv: no sync service " + entity)
}
