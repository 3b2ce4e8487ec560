package erp

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"archibald/erpsim"
)

// switchable forwards to the simulator, or, while its mode says so, fails at once
// (down) or holds the request until its ctx ends (hung).
type switchable struct {
	next http.RoundTripper
	mode atomic.Int32 // 0 up, 1 down, 2 hung
}

func (s *switchable) RoundTrip(r *http.Request) (*http.Response, error) {
	switch s.mode.Load() {
	case 1:
		return nil, errors.New("connection refused")
	case 2:
		<-r.Context().Done()
		return nil, r.Context().Err()
	}
	return s.next.RoundTrip(r)
}

func TestPingJudgesFromTheRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := newSim(t, erpsim.Config{Customers: 30, Products: 30, PageTime: 20 * time.Millisecond})
		sw := &switchable{next: sim.RoundTripper()}
		s, err := NewSession(Config{BaseURL: "http://erp.sim", Username: "agent", Password: simPassword,
			HTTPClient: &http.Client{Transport: sw}, StallAfter: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()

		// Not logged in: Ping logs in.
		if err := s.Ping(ctx); err != nil || !s.Stats().LoggedIn {
			t.Fatalf("first Ping = %v, logged in %v", err, s.Stats().LoggedIn)
		}
		before := s.Stats().Requests
		if err := s.Ping(ctx); err != nil || s.Stats().Requests != before {
			t.Fatalf("Ping of a healthy session = %v and sent %d requests; want nil and none", err, s.Stats().Requests-before)
		}

		// The ERP goes down: the next request fails, and so does Ping, until a request
		// gets an answer again.
		sw.mode.Store(1)
		if _, err := s.Customers(ctx, 1); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Customers while down = %v", err)
		}
		if err := s.Ping(ctx); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Ping after a failure = %v, want ErrUnavailable", err)
		}
		sw.mode.Store(0)
		if _, err := s.Customers(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping after a success = %v", err)
		}

		// The ERP stops answering: a request in flight past StallAfter makes Ping fail,
		// not before.
		sw.mode.Store(2)
		reqCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = s.Customers(reqCtx, 1)
		}()
		<-time.After(4 * time.Second)
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping 4s into a request = %v; the limit is 5s", err)
		}
		<-time.After(2 * time.Second)
		if err := s.Ping(ctx); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Ping 6s into an unanswered request = %v, want ErrUnavailable", err)
		}
		cancel() // the caller giving up says nothing about the ERP
		<-done
		sw.mode.Store(0)
		if _, err := s.Customers(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping after the ERP answered again = %v", err)
		}
	})
}
