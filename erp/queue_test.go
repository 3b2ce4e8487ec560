package erp

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// gatedERP is an in-memory ERP (see cannedAnswer) that records the order in which it
// serves requests, holds the ones whose gate is set until the gate opens (or the
// request's ctx ends), and answers session_expired when told to.
type gatedERP struct {
	mu     sync.Mutex
	served []string                 // RequestURI of each request, in the order it reached the ERP
	gates  map[string]chan struct{} // held until closed; consumed by the first request
	opens  map[string]chan struct{} // every gate, for open
	expire map[string]int
}

func newGatedERP(held ...string) *gatedERP {
	g := &gatedERP{gates: map[string]chan struct{}{}, opens: map[string]chan struct{}{}, expire: map[string]int{}}
	for _, uri := range held {
		g.gates[uri] = make(chan struct{})
		g.opens[uri] = g.gates[uri]
	}
	return g
}

// open lets the held request for uri be answered.
func (g *gatedERP) open(uri string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.opens[uri])
}

func (g *gatedERP) RoundTrip(r *http.Request) (*http.Response, error) {
	uri := r.URL.RequestURI()
	g.mu.Lock()
	g.served = append(g.served, uri)
	gate := g.gates[uri]
	delete(g.gates, uri) // one request only
	expired := g.expire[uri] > 0
	if expired {
		g.expire[uri]--
	}
	g.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	if expired {
		return jsonResponse(401, `{"error":"session_expired","message":"expired"}`), nil
	}
	return cannedAnswer(r), nil
}

func (g *gatedERP) servedList() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.served)
}

// start runs call in a goroutine; its error arrives on the returned channel.
func start(call func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- call() }()
	return ch
}

// returned gives the error of a call that must have returned already.
func returned(t *testing.T, name string, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	default:
		t.Fatalf("%s has not returned", name)
		return nil
	}
}

func stillWaiting(t *testing.T, name string, ch <-chan error) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("%s returned early: %v", name, err)
	default:
	}
}

func customers(ctx context.Context, s *Session, page int) func() error {
	return func() error { _, err := s.Customers(ctx, page); return err }
}

func TestForegroundFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGatedERP("/erp/orders/new")
		s := memSession(t, g)
		ctx := t.Context()
		if err := s.Login(ctx); err != nil {
			t.Fatal(err)
		}
		hold := start(func() error { _, err := s.NewOrder(ctx); return err })
		synctest.Wait() // the ERP is serving it
		b1 := start(customers(ctx, s, 1))
		synctest.Wait()
		b2 := start(func() error { _, err := s.Products(ctx, 2); return err })
		synctest.Wait()
		f1 := start(func() error { return s.SetCustomer(ctx, "D1", "C1") })
		synctest.Wait()
		f2 := start(customers(WithForeground(ctx), s, 3)) // a list call made foreground
		synctest.Wait()
		if st := s.Stats(); st.WaitingForeground != 2 || st.WaitingBackground != 2 || !st.Busy {
			t.Fatalf("queued: %+v, want 2 foreground and 2 background waiting", st)
		}

		g.open("/erp/orders/new")
		synctest.Wait()
		for name, ch := range map[string]<-chan error{"hold": hold, "B1": b1, "B2": b2, "F1": f1, "F2": f2} {
			if err := returned(t, name, ch); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		want := []string{"/erp/login", "/erp/orders/new", "/erp/orders/D1/customer", "/erp/customers?page=3",
			"/erp/customers?page=1", "/erp/products?page=2"}
		if got := g.servedList(); !slices.Equal(got, want) {
			t.Fatalf("served %q\nwant   %q", got, want)
		}
	})
}

func TestPauseWithdrawsBackground(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGatedERP("/erp/orders/new")
		s := memSession(t, g)
		ctx := t.Context()
		hold := start(func() error { _, err := s.NewOrder(ctx); return err })
		synctest.Wait()
		b1 := start(customers(ctx, s, 1))
		b2 := start(customers(ctx, s, 2))
		f1 := start(func() error { return s.SetCustomer(ctx, "D1", "C1") })
		synctest.Wait()

		began := time.Now()
		if err := s.Pause(ctx); err != nil {
			t.Fatalf("Pause: %v", err)
		}
		synctest.Wait()
		for name, ch := range map[string]<-chan error{"B1": b1, "B2": b2} {
			if err := returned(t, name, ch); !errors.Is(err, ErrWithdrawn) {
				t.Errorf("%s: %v, want ErrWithdrawn", name, err)
			}
		}
		stillWaiting(t, "foreground F1", f1)
		// A background request made while paused fails at once, without queueing.
		if _, err := s.Prices(ctx, 1); !errors.Is(err, ErrWithdrawn) {
			t.Errorf("Prices while paused: %v, want ErrWithdrawn", err)
		}
		if took := time.Since(began); took != 0 {
			t.Errorf("withdrawal took %v of fake time, want none", took)
		}
		// Foreground list calls are never withdrawn.
		f2 := start(customers(WithForeground(ctx), s, 3))
		synctest.Wait()

		g.open("/erp/orders/new")
		synctest.Wait()
		for name, ch := range map[string]<-chan error{"hold": hold, "F1": f1, "F2": f2} {
			if err := returned(t, name, ch); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		s.Resume()
		if _, err := s.Customers(ctx, 1); err != nil {
			t.Errorf("Customers after Resume: %v", err)
		}
		want := []string{"/erp/login", "/erp/orders/new", "/erp/orders/D1/customer", "/erp/customers?page=3", "/erp/customers?page=1"}
		if got := g.servedList(); !slices.Equal(got, want) {
			t.Errorf("served %q\nwant   %q", got, want)
		}
		if st := s.Stats(); st.Withdrawn != 3 || st.Paused != 0 {
			t.Errorf("stats %+v, want 3 withdrawn and not paused", st)
		}
	})
}

func TestPauseIsCounted(t *testing.T) {
	s := memSession(t, roundTripFunc(func(r *http.Request) (*http.Response, error) { return cannedAnswer(r), nil }))
	ctx := t.Context()
	paused := func(want bool, when string) {
		t.Helper()
		_, err := s.Customers(ctx, 1)
		if got := errors.Is(err, ErrWithdrawn); got != want {
			t.Fatalf("%s: Customers error %v; want withdrawn %v", when, err, want)
		}
		if !want && err != nil {
			t.Fatalf("%s: %v", when, err)
		}
	}
	paused(false, "before any pause")
	_ = s.Pause(ctx)
	_ = s.Pause(ctx)
	paused(true, "after two pauses")
	s.Resume()
	paused(true, "after one of two resumes")
	s.Resume()
	paused(false, "after both resumes")
	s.Resume() // no pause to undo: must not bank a resume for later
	_ = s.Pause(ctx)
	paused(true, "after an extra resume and a new pause")
	s.Resume()
	paused(false, "at the end")
}

func TestCancelWhileQueued(t *testing.T) {
	for _, cl := range []class{background, foreground} {
		t.Run(cl.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g := newGatedERP("/erp/orders/new")
				s := memSession(t, g)
				ctx := t.Context()
				hold := start(func() error { _, err := s.NewOrder(ctx); return err })
				synctest.Wait()
				cctx, cancel := context.WithCancel(ctx)
				if cl == foreground {
					cctx = WithForeground(cctx)
				}
				gone := start(customers(cctx, s, 1))
				after := start(customers(ctx, s, 2))
				synctest.Wait()

				began := time.Now()
				cancel()
				synctest.Wait()
				if err := returned(t, "cancelled call", gone); !errors.Is(err, context.Canceled) {
					t.Fatalf("cancelled call: %v, want context.Canceled", err)
				}
				if took := time.Since(began); took != 0 {
					t.Errorf("took %v of fake time", took)
				}
				if st := s.Stats(); st.WaitingBackground+st.WaitingForeground != 1 {
					t.Errorf("stats %+v: the cancelled waiter must have left the queue", st)
				}
				stillWaiting(t, "holder", hold)
				g.open("/erp/orders/new")
				synctest.Wait()
				if err := returned(t, "holder", hold); err != nil {
					t.Fatal(err)
				}
				if err := returned(t, "next waiter", after); err != nil {
					t.Fatal(err)
				}
				want := []string{"/erp/login", "/erp/orders/new", "/erp/customers?page=2"}
				if got := g.servedList(); !slices.Equal(got, want) {
					t.Errorf("served %q, want %q", got, want)
				}
			})
		})
	}
}

func TestCancelInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGatedERP("/erp/orders/D1/save")
		s := memSession(t, g)
		ctx := t.Context()
		cctx, cancel := context.WithCancel(ctx)
		save := start(func() error { _, err := s.Save(cctx, "D1", "REF-1"); return err })
		synctest.Wait()
		next := start(customers(ctx, s, 1))
		synctest.Wait()

		began := time.Now()
		cancel()
		synctest.Wait()
		err := returned(t, "Save", save)
		if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrUnknownOutcome) || IsTransient(err) {
			t.Fatalf("Save cancelled in flight: %v; want context.Canceled and ErrUnknownOutcome, not transient", err)
		}
		if took := time.Since(began); took != 0 {
			t.Errorf("took %v of fake time", took)
		}
		// The slot went on to the next request.
		if err := returned(t, "next", next); err != nil {
			t.Fatalf("next request: %v", err)
		}
	})
}

func TestRetryAfterReloginKeepsSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGatedERP("/erp/customers?page=1")
		g.expire["/erp/customers?page=1"] = 1
		s := memSession(t, g)
		ctx := t.Context()
		if err := s.Login(ctx); err != nil {
			t.Fatal(err)
		}
		first := start(customers(ctx, s, 1))
		synctest.Wait()
		fg := start(func() error { _, err := s.NewOrder(ctx); return err })
		synctest.Wait()
		g.open("/erp/customers?page=1")
		synctest.Wait()
		for name, ch := range map[string]<-chan error{"page 1": first, "NewOrder": fg} {
			if err := returned(t, name, ch); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		// The foreground request waited although it outranks the retried background one:
		// a retry is part of the request that holds the slot.
		want := []string{"/erp/login", "/erp/customers?page=1", "/erp/login", "/erp/customers?page=1", "/erp/orders/new"}
		if got := g.servedList(); !slices.Equal(got, want) {
			t.Errorf("served %q\nwant   %q", got, want)
		}
		if st := s.Stats(); st.Logins != 2 || st.Relogins != 1 {
			t.Errorf("stats %+v, want 2 logins, 1 relogin", st)
		}
	})
}

func TestConcurrentCallersLogInOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGatedERP(loginPath)
		s := memSession(t, g)
		ctx := t.Context()
		var calls []<-chan error
		calls = append(calls, start(customers(ctx, s, 1)))
		synctest.Wait() // it is logging in
		calls = append(calls, start(customers(ctx, s, 2)), start(func() error { return s.Login(ctx) }),
			start(func() error { _, err := s.NewOrder(ctx); return err }))
		synctest.Wait()
		g.open(loginPath)
		synctest.Wait()
		for i, ch := range calls {
			if err := returned(t, "call", ch); err != nil {
				t.Errorf("call %d: %v", i, err)
			}
		}
		if st := s.Stats(); st.Logins != 1 || !st.LoggedIn {
			t.Errorf("stats %+v, want exactly one login", st)
		}
	})
}

// TestSlotHandoverRacesCancel makes the slot's hand-over (or a withdrawal) and the end
// of the waiter's ctx happen together: the hook runs after the waiter joined the queue
// and before it waits, so both are ready when it selects, and select picks either. Each
// way, the slot must end up free and the queue empty, never lost or held twice.
func TestSlotHandoverRacesCancel(t *testing.T) {
	for _, withdraw := range []bool{false, true} {
		var sl slot
		var cancel context.CancelFunc
		sl.onQueued = func(class) {
			cancel()
			if withdraw {
				sl.pause()
			} else {
				sl.release()
			}
		}
		outcomes := map[string]int{}
		for range 200 {
			if err := sl.acquire(t.Context(), foreground); err != nil {
				t.Fatal(err)
			}
			var ctx context.Context
			ctx, cancel = context.WithCancel(t.Context())
			err := sl.acquire(ctx, background)
			cancel() // the hook did already; this tells vet
			switch {
			case err == nil && !withdraw:
				outcomes["got the slot"]++
				sl.release()
			case errors.Is(err, context.Canceled):
				outcomes["saw its ctx end"]++
			case errors.Is(err, ErrWithdrawn) && withdraw:
				outcomes["withdrawn"]++
			default:
				t.Fatalf("withdraw %v: acquire: %v", withdraw, err)
			}
			if withdraw {
				sl.resume()
				sl.release()
			}
			if st := sl.stats(); st.busy || st.waitingBG+st.waitingFG != 0 || st.pauses != 0 {
				t.Fatalf("withdraw %v, after the race: %+v, want a free slot and no waiter", withdraw, st)
			}
		}
		if len(outcomes) != 2 {
			t.Errorf("withdraw %v: outcomes %v: one way of the race was never taken", withdraw, outcomes)
		}
	}
}
