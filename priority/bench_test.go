package priority

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// BenchmarkGateEnter measures a batch's admission cost on an open gate.
func BenchmarkGateEnter(b *testing.B) {
	g := NewGate()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, done, err := g.Enter(ctx)
		if err != nil {
			b.Fatal(err)
		}
		done()
	}
}

// BenchmarkRWMutexFloor is the floor to compare BenchmarkGateEnter with: the cheapest
// shared admission Go offers.
func BenchmarkRWMutexFloor(b *testing.B) {
	var mu sync.RWMutex
	b.ReportAllocs()
	for b.Loop() {
		mu.RLock()
		//lint:ignore SA2001 the empty critical section is what is measured
		mu.RUnlock()
	}
}

// BenchmarkWithPriorityIdle measures a hold with three idle services: pause all, run an
// empty fn, resume all.
func BenchmarkWithPriorityIdle(b *testing.B) {
	m := New()
	for i := range 3 {
		if err := m.Register(fmt.Sprintf("s%d", i), NewGate()); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	fn := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		if err := m.WithPriority(ctx, fn); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPauseLatencyMidBatch measures the time from Pause to paused when each of three
// services is in the middle of a batch that ends as soon as the pause begins (the
// manager's own overhead on top of the batch: waking the waiters, the bookkeeping).
func BenchmarkPauseLatencyMidBatch(b *testing.B) {
	m := New(WithGrace(time.Hour))
	gates := make([]*Gate, 3)
	for i := range gates {
		gates[i] = NewGate()
		if err := m.Register(fmt.Sprintf("s%d", i), gates[i]); err != nil {
			b.Fatal(err)
		}
	}
	events, cancel := m.Subscribe(64)
	defer cancel()
	ctx := context.Background()
	dones := make([]func(), len(gates))
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for i, g := range gates {
			_, done, err := g.Enter(ctx)
			if err != nil {
				b.Fatal(err)
			}
			dones[i] = done
		}
		// The batches end as soon as the pause has started.
		var wg sync.WaitGroup
		wg.Go(func() {
			for ev := range events {
				if ev.Kind == EventPausing {
					for _, done := range dones {
						done()
					}
					return
				}
			}
		})
		b.StartTimer()
		if err := m.Pause(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		wg.Wait()
		m.Resume()
		for len(events) > 0 {
			<-events
		}
		b.StartTimer()
	}
}
