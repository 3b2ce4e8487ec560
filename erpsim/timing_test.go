package erpsim

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// The tests here run in synctest bubbles: the clock is fake, so the service times are
// exact and cost no real time. The Server must be made inside the bubble.

const pageTime = 20 * time.Millisecond

// finishTimes sends the requests at once, each on its client, and returns when each
// finished, relative to the start, sorted.
func finishTimes(t *testing.T, clients []*client, paths []string) []time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var times []time.Duration
	for i, path := range paths {
		wg.Go(func() {
			a := clients[i].do("GET", path, nil)
			if a.status != 200 {
				t.Errorf("%s: %d %s", path, a.status, a.body)
			}
			mu.Lock()
			times = append(times, time.Since(start))
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(times)
	return times
}

func TestOneSessionServesOneRequestAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newServer(t, Config{Customers: 50, Products: 50, PageTime: pageTime, StepTime: 80 * time.Millisecond})
		c := newClient(t, s)
		c.login("agent", "secret")
		got := finishTimes(t, []*client{c, c}, []string{"/erp/customers?page=1", "/erp/products?page=1"})
		if want := []time.Duration{pageTime, 2 * pageTime}; !slices.Equal(got, want) {
			t.Errorf("two requests on one session finished at %v, want %v", got, want)
		}
		got = finishTimes(t, []*client{c, c, c}, []string{"/erp/customers?page=1", "/erp/customers?page=2", "/erp/customers?page=3"})
		if want := []time.Duration{pageTime, 2 * pageTime, 3 * pageTime}; !slices.Equal(got, want) {
			t.Errorf("three requests on one session finished at %v, want %v", got, want)
		}
		// An order step takes the step time.
		start := time.Now()
		c.do("POST", "/erp/orders/new", nil)
		if d := time.Since(start); d != 80*time.Millisecond {
			t.Errorf("order step took %v, want 80ms", d)
		}
	})
}

func TestSessionsAreIndependent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newServer(t, Config{Customers: 50, Products: 50, PageTime: pageTime, Users: map[string]string{"a": "pa", "b": "pb"}})
		a, b := newClient(t, s), newClient(t, s)
		a.login("a", "pa")
		b.login("b", "pb")
		got := finishTimes(t, []*client{a, b}, []string{"/erp/customers?page=1", "/erp/customers?page=1"})
		if want := []time.Duration{pageTime, pageTime}; !slices.Equal(got, want) {
			t.Errorf("requests on two sessions finished at %v, want %v", got, want)
		}
		if st := s.Stats(); st.Sessions != 2 {
			t.Errorf("sessions = %d, want 2", st.Sessions)
		}
	})
}

func TestRequestsAreServedInArrivalOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newServer(t, Config{Customers: 50, Products: 50, PageTime: pageTime})
		c := newClient(t, s)
		c.login("agent", "secret")
		var mu sync.Mutex
		var order []int
		var wg sync.WaitGroup
		for i := range 5 {
			wg.Go(func() {
				c.do("GET", "/erp/customers?page=1", nil)
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
			})
			synctest.Wait() // request i is queued before request i+1 is sent
		}
		wg.Wait()
		if want := []int{0, 1, 2, 3, 4}; !slices.Equal(order, want) {
			t.Errorf("served in order %v, want %v", order, want)
		}
	})
}

func TestJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newServer(t, Config{Customers: 50, Products: 50, PageTime: pageTime, Jitter: 0.1})
		c := newClient(t, s)
		c.login("agent", "secret")
		seen := map[time.Duration]bool{}
		for range 20 {
			start := time.Now()
			c.do("GET", "/erp/customers?page=1", nil)
			d := time.Since(start)
			if d < 18*time.Millisecond || d > 22*time.Millisecond {
				t.Errorf("page took %v, want 20ms ±10%%", d)
			}
			seen[d] = true
		}
		if len(seen) < 5 {
			t.Errorf("only %d distinct service times in 20 pages: no jitter?", len(seen))
		}
	})
}

func TestClientGoingAwayStillHoldsTheSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newServer(t, Config{Customers: 50, Products: 50, PageTime: pageTime})
		c := newClient(t, s)
		c.login("agent", "secret")
		start := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Millisecond)
		defer cancel()
		if _, err := c.doCtx(ctx, "GET", "/erp/customers?page=1", nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("cancelled request: %v, want deadline exceeded", err)
		}
		if d := time.Since(start); d != 5*time.Millisecond {
			t.Errorf("the cancelled request returned after %v, want 5ms", d)
		}
		// The server goes on with the first request until 20ms; the next waits for it.
		c.do("GET", "/erp/customers?page=2", nil)
		if d := time.Since(start); d != 2*pageTime {
			t.Errorf("the next request finished at %v, want %v", d, 2*pageTime)
		}
		// The abandoned request still did its work: a list request moved the view.
		if st := s.Stats(); st.Requests != 3 {
			t.Errorf("requests = %d, want 3", st.Requests)
		}
	})
}

func TestSessionTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newServer(t, Config{Customers: 50, Products: 50, SessionTTL: 30 * time.Minute})
		c := newClient(t, s)
		c.login("agent", "secret")
		advance(29 * time.Minute) // fake clock: idle, but not long enough
		if a := c.do("GET", "/erp/customers?page=1", nil); a.status != 200 {
			t.Fatalf("after 29 idle minutes: %d %s", a.status, a.body)
		}
		advance(29 * time.Minute) // the request above renewed the session
		if a := c.do("GET", "/erp/customers?page=1", nil); a.status != 200 {
			t.Fatalf("29 minutes after the last request: %d %s", a.status, a.body)
		}
		advance(31 * time.Minute)
		if st := s.Stats(); st.Sessions != 0 {
			t.Errorf("sessions after 31 idle minutes = %d, want 0", st.Sessions)
		}
		if a := c.do("GET", "/erp/customers?page=1", nil); a.status != 401 || a.code() != "session_expired" {
			t.Errorf("after 31 idle minutes = %d %s, want 401 session_expired", a.status, a.body)
		}
		c.login("agent", "secret")
		if a := c.do("GET", "/erp/customers?page=1", nil); a.status != 200 {
			t.Errorf("after logging in again: %d %s", a.status, a.body)
		}
	})
}

func TestSlowPage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newServer(t, Config{Customers: 50, Products: 100, PageTime: pageTime})
		c := newClient(t, s)
		c.login("agent", "secret")
		if a := c.do("POST", "/erp/_admin/faults", `{"slowPages":{"products":{"page":3,"delay":"2s"}}}`); a.status != 200 {
			t.Fatalf("faults: %d %s", a.status, a.body)
		}
		for _, tt := range []struct {
			path string
			want time.Duration
		}{
			{"/erp/products?page=2", pageTime},
			{"/erp/products?page=3", pageTime + 2*time.Second},
			{"/erp/customers?page=3", pageTime},
		} {
			start := time.Now()
			if a := c.do("GET", tt.path, nil); a.status != 200 {
				t.Fatalf("%s: %d %s", tt.path, a.status, a.body)
			}
			if d := time.Since(start); d != tt.want {
				t.Errorf("%s took %v, want %v", tt.path, d, tt.want)
			}
		}
	})
}

// hang sends a request for the hung page and returns a channel that gets its outcome.
func hang(c *client, ctx context.Context) <-chan error {
	done := make(chan error, 1)
	go func() {
		a, err := c.doCtx(ctx, "GET", "/erp/prices?page=5", nil)
		if err == nil && a.status != 200 {
			err = errors.New(a.code())
		}
		done <- err
	}()
	return done
}

func TestHungPage(t *testing.T) {
	setup := func(t *testing.T) (*Server, *client) {
		s := newServer(t, Config{Customers: 50, Products: 200, PageTime: pageTime})
		c := newClient(t, s)
		c.login("agent", "secret")
		if err := s.SetFaults(Faults{HangPages: map[string]HangPage{"prices": {Page: 5}}}); err != nil {
			t.Fatal(err)
		}
		return s, c
	}
	t.Run("until the client goes away", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			_, c := setup(t)
			ctx, cancel := context.WithCancel(t.Context())
			done := hang(c, ctx)
			advance(time.Hour)
			synctest.Wait()
			select {
			case err := <-done:
				t.Fatalf("the hung page answered after an hour: %v", err)
			default:
			}
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("hung request = %v, want canceled", err)
			}
			// The hang ended with its client: the session is free again at once.
			start := time.Now()
			c.do("GET", "/erp/prices?page=4", nil)
			if d := time.Since(start); d != pageTime {
				t.Errorf("the next request took %v, want %v", d, pageTime)
			}
		})
	})
	t.Run("holds the session", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s, c := setup(t)
			done := hang(c, t.Context())
			synctest.Wait()
			next := make(chan answer, 1)
			go func() { next <- c.do("GET", "/erp/prices?page=4", nil) }()
			advance(time.Minute)
			synctest.Wait()
			if len(next) != 0 {
				t.Fatal("a request went past the hung page of its session")
			}
			start := time.Now()
			s.ClearFaults()
			if err := <-done; err != nil {
				t.Errorf("hung request after the faults were cleared: %v", err)
			}
			if a := <-next; a.status != 200 || time.Since(start) != pageTime {
				t.Errorf("queued request = %d after %v, want 200 after %v", a.status, time.Since(start), pageTime)
			}
		})
	})
	t.Run("until Close", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s, c := setup(t)
			done := hang(c, t.Context())
			synctest.Wait()
			s.Close()
			if err := <-done; err == nil || err.Error() != "unavailable" {
				t.Errorf("hung request after Close = %v, want unavailable", err)
			}
		})
	})
}
