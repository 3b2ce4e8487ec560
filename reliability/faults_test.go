package reliability_test

import (
	"context"
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
	"archibald/syncer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestFivePercentOfERPRequestsFail: every sync run completes and the mirror equals the
// ERP; each order succeeds or fails with a clear error; none is entered twice.
func TestFivePercentOfERPRequestsFail(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := testenv.NewSystem(t, testenv.Options{Customers: 200, Products: 300},
			testenv.SystemOptions{Orders: orders.Config{SettleRetry: time.Second}})
		if err := s.Sim.SetFaults(erpsim.Faults{ErrorRate: 0.05}); err != nil {
			t.Fatal(err)
		}
		s.StartOrders(t)
		s.KeepBusy(true)
		var ids []string
		for i := range 30 {
			o, _, err := s.Orders.Submit(context.Background(), s.Request(i, 1+i%4), "")
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, o.ID)
			<-time.After(100 * time.Millisecond)
		}
		created, failed := 0, 0
		for _, id := range ids {
			o := s.Wait(t, id)
			switch o.Status {
			case archibald.OrderCreated:
				created++
			case archibald.OrderFailed:
				failed++
				if !strings.HasPrefix(o.Error, "the order was not entered") && !strings.HasPrefix(o.Error, "the ERP refused") {
					t.Errorf("order %s failed with an unclear error %q", id, o.Error)
				}
			default:
				t.Fatalf("order %s ended %s", id, o.Status)
			}
			if n := s.ERPOrders(o.Reference); n > 1 || (o.Status == archibald.OrderCreated) != (n == 1) {
				t.Fatalf("order %s (%s) is %d times in the ERP", id, o.Status, n)
			}
		}
		t.Logf("with 5%% of requests failing: %d orders created, %d failed", created, failed)
		if created < len(ids)/2 {
			t.Fatalf("only %d of %d orders created", created, len(ids))
		}
		s.SyncAgain()
		s.StopSyncs()
		if err := s.Sim.CompareMirror(context.Background(), s.Store); err != nil {
			t.Fatal(err)
		}
	})
}

// TestHungPageIsPreemptedAndTheOrderGoesThrough: a products page hangs; an order
// arrives; the page is preempted at the grace period, the order is created, and the page
// is fetched again once the ERP serves it.
func TestHungPageIsPreemptedAndTheOrderGoesThrough(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const grace = 3 * time.Second
		productsAtPage := make(chan int, 1000)
		s := testenv.NewSystem(t, testenv.Options{Grace: grace}, testenv.SystemOptions{
			SyncEvents: func(ev syncer.Event) {
				if ev.Kind == syncer.EventProgress && ev.Service == archibald.EntityProducts {
					productsAtPage <- ev.Page
				}
			},
		})
		events, cancel := s.Manager.Subscribe(100)
		defer cancel()
		if err := s.Sim.SetFaults(erpsim.Faults{HangPages: map[string]erpsim.HangPage{archibald.EntityProducts: {Page: 3}}}); err != nil {
			t.Fatal(err)
		}
		s.StartOrders(t)
		s.Sync(archibald.EntityProducts).RunNow() // alone on the session: its page 3 reaches the ERP
		for p := range productsAtPage {
			if p == 2 {
				break
			}
		}
		<-time.After(time.Second) // page 3 is hanging in the ERP
		submitted := time.Now()
		o, _, err := s.Orders.Submit(context.Background(), s.Request(1, 3), "")
		if err != nil {
			t.Fatal(err)
		}
		got := s.Wait(t, o.ID)
		if got.Status != archibald.OrderCreated {
			t.Fatalf("order ended %+v", got)
		}
		if took := time.Since(submitted); took < grace || took > grace+2*time.Second {
			t.Fatalf("the order took %v; want the grace %v plus its own steps", took, grace)
		}
		preempted := false
		for len(events) > 0 {
			ev := <-events
			preempted = preempted || (ev.Kind == priority.EventPreempted && ev.Service == archibald.EntityProducts)
		}
		if !preempted {
			t.Fatal("the products service was not preempted")
		}
		s.Sim.ClearFaults()
		s.SyncAgain()
		s.StopSyncs()
		if err := s.Sim.CompareMirror(context.Background(), s.Store); err != nil {
			t.Fatal(err)
		}
	})
}

// expiringSession ends every ERP session the first time the bot adds a line, as an ERP
// whose session times out in the middle of an order would.
type expiringSession struct {
	bot.Session
	sim     *erpsim.Server
	expired atomic.Bool
}

func (e *expiringSession) AddLine(ctx context.Context, draft string, l erp.Line) (int, error) {
	if e.expired.CompareAndSwap(false, true) {
		e.sim.ExpireSessions()
	}
	return e.Session.AddLine(ctx, draft, l)
}

// TestSessionExpiresMidOrder: the client logs in again; the draft of the old session is
// gone, so the bot makes it again, and the order is entered exactly once.
func TestSessionExpiresMidOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var es *expiringSession
		s := testenv.NewSystem(t, testenv.Options{}, testenv.SystemOptions{
			WrapSession: func(env *testenv.Env, sess bot.Session) bot.Session {
				es = &expiringSession{Session: sess, sim: env.Sim}
				return es
			},
		})
		s.StartOrders(t)
		relogins := s.Session.Stats().Relogins
		o, _, err := s.Orders.Submit(context.Background(), s.Request(2, 2), "")
		if err != nil {
			t.Fatal(err)
		}
		got := s.Wait(t, o.ID)
		if got.Status != archibald.OrderCreated || !es.expired.Load() {
			t.Fatalf("order ended %+v (session expired: %v)", got, es.expired.Load())
		}
		if n := s.ERPOrders(got.Reference); n != 1 {
			t.Fatalf("the order is %d times in the ERP", n)
		}
		if s.Session.Stats().Relogins <= relogins {
			t.Fatal("the session did not log in again")
		}
	})
}
