package priority

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestStressInvariant has 24 goroutines take holds at once — returning errors, panicking,
// and giving up on cancelled contexts — while three services run batches back to back.
// It checks from both sides that no batch is ever in flight while a holder runs, and that
// afterwards nothing is held and every service made progress.
func TestStressInvariant(t *testing.T) {
	const (
		holders       = 24
		holdsEach     = 150
		servicesCount = 3
	)
	m := New(WithGrace(time.Hour))
	var (
		inFlight   [servicesCount]atomic.Int32 // batches between Enter and done, per service
		batches    [servicesCount]atomic.Int64
		holding    atomic.Int32 // holders inside fn
		violations atomic.Int64
		held       atomic.Int64 // holds that ran fn
	)
	checkNoBatch := func() {
		for i := range inFlight {
			if inFlight[i].Load() != 0 {
				violations.Add(1)
			}
		}
	}

	ctx, stopServices := context.WithCancel(context.Background())
	var services sync.WaitGroup
	for i := range servicesCount {
		g := NewGate()
		if err := m.Register(fmt.Sprintf("svc%d", i), g); err != nil {
			t.Fatal(err)
		}
		services.Go(func() {
			for {
				_, done, err := g.Enter(ctx)
				if err != nil {
					return
				}
				inFlight[i].Add(1)
				if holding.Load() != 0 {
					violations.Add(1)
				}
				runtime.Gosched() // a batch takes a moment
				if holding.Load() != 0 {
					violations.Add(1)
				}
				inFlight[i].Add(-1)
				batches[i].Add(1)
				done()
			}
		})
	}

	errRefused := errors.New("refused")
	var wg sync.WaitGroup
	for h := range holders {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(h), 42))
			for range holdsEach {
				for range rng.IntN(200) { // time away between orders, so pauses end and start again
					runtime.Gosched()
				}
				hctx, cancel := context.WithCancel(context.Background())
				switch rng.IntN(5) {
				case 0:
					cancel() // gives up before it starts
				case 1:
					go cancel() // gives up while waiting, or not
				}
				err := func() (err error) {
					defer func() {
						if r := recover(); r != nil {
							err = fmt.Errorf("panic: %v", r)
						}
					}()
					return m.WithPriority(hctx, func(context.Context) error {
						holding.Add(1)
						defer holding.Add(-1)
						held.Add(1)
						checkNoBatch()
						runtime.Gosched()
						checkNoBatch()
						switch rng.IntN(4) {
						case 0:
							return errRefused
						case 1:
							panic("bot crashed")
						}
						return nil
					})
				}()
				cancel()
				if err != nil && !errors.Is(err, errRefused) && !errors.Is(err, context.Canceled) &&
					err.Error() != "panic: bot crashed" {
					t.Errorf("unexpected error: %v", err)
				}
			}
		})
	}
	wg.Wait()

	// Every service must run again now that nothing is held: wait for fresh batches.
	deadline := time.Now().Add(30 * time.Second)
	for i := range servicesCount {
		before := batches[i].Load()
		for batches[i].Load() < before+10 {
			if time.Now().After(deadline) {
				t.Fatalf("service %d made no progress after the holds ended", i)
			}
			runtime.Gosched()
		}
	}
	stopServices()
	services.Wait()

	if v := violations.Load(); v != 0 {
		t.Fatalf("%d times a batch was in flight while a holder ran", v)
	}
	st := m.Status()
	if st.Holders != 0 || st.State != StateRunning || len(st.Paused) != 0 {
		t.Fatalf("after the stress: %+v, want nothing held", st)
	}
	if held.Load() == 0 || st.Pauses == 0 {
		t.Fatalf("holders ran %d times over %d pauses: the stress exercised nothing", held.Load(), st.Pauses)
	}
	t.Logf("%d holds ran over %d pauses; batches per service %d %d %d",
		held.Load(), st.Pauses, batches[0].Load(), batches[1].Load(), batches[2].Load())
}
