package priority

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestGateEnterWhileOpen(t *testing.T) {
	g := NewGate()
	bctx, done := startBatch(t, g)
	if got := g.InFlight(); got != 1 {
		t.Fatalf("InFlight = %d, want 1", got)
	}
	done()
	done() // safe twice
	if got := g.InFlight(); got != 0 {
		t.Fatalf("InFlight after done = %d, want 0", got)
	}
	if bctx.Err() == nil {
		t.Fatal("batch context still live after done")
	}
}

func TestGateEnterWithDoneContextFailsAtOnce(t *testing.T) {
	for _, paused := range []bool{false, true} {
		g := NewGate()
		if paused {
			if err := g.Pause(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, _, err := g.Enter(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("paused=%v: Enter with cancelled ctx = %v, want context.Canceled", paused, err)
		}
	}
}

func TestGateEnterBlocksWhilePaused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGate()
		if err := g.Pause(context.Background()); err != nil {
			t.Fatal(err)
		}
		entered := make(chan struct{})
		go func() {
			_, done, err := g.Enter(context.Background())
			if err != nil {
				t.Errorf("Enter: %v", err)
				return
			}
			done()
			close(entered)
		}()
		synctest.Wait()
		select {
		case <-entered:
			t.Fatal("Enter returned while the gate was paused")
		default:
		}
		g.Resume()
		<-entered
	})
}

func TestGateEnterWaitEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGate()
		_ = g.Pause(context.Background())
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		_, _, err := g.Enter(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Enter = %v, want DeadlineExceeded", err)
		}
		if waited := time.Since(start); waited != 5*time.Second {
			t.Fatalf("Enter waited %v, want exactly 5s", waited)
		}
	})
}

func TestGatePausesAreCounted(t *testing.T) {
	g := NewGate()
	_ = g.Pause(context.Background()) // the operator
	_ = g.Pause(context.Background()) // the manager
	g.Resume()
	if !g.Paused() {
		t.Fatal("gate open after one of two pauses was released")
	}
	g.Resume()
	if g.Paused() {
		t.Fatal("gate still paused after both pauses were released")
	}
	g.Resume() // without a pause: nothing
	if g.Paused() {
		t.Fatal("extra Resume paused the gate")
	}
	startBatch(t, g)
}

func TestGatePauseWaitsForBatchesInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGate()
		_, done1 := startBatch(t, g)
		_, done2 := startBatch(t, g)
		paused := make(chan error, 1)
		go func() { paused <- g.Pause(context.Background()) }()
		synctest.Wait()
		done1()
		synctest.Wait()
		select {
		case <-paused:
			t.Fatal("Pause returned with a batch still in flight")
		default:
		}
		done2()
		if err := <-paused; err != nil {
			t.Fatalf("Pause = %v", err)
		}
	})
}

func TestGatePauseContextEndsButStaysPaused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGate()
		_, done := startBatch(t, g)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := g.Pause(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Pause = %v, want DeadlineExceeded", err)
		}
		if !g.Paused() {
			t.Fatal("gate not paused after a Pause whose ctx ended")
		}
		done()
		g.Resume()
		if g.Paused() {
			t.Fatal("gate paused after the matching Resume")
		}
	})
}

func TestGatePreemptCancelsBatchesInFlight(t *testing.T) {
	g := NewGate()
	bctx, done := startBatch(t, g)
	defer done()
	g.Preempt()
	<-bctx.Done()
	if cause := context.Cause(bctx); !errors.Is(cause, ErrPreempted) {
		t.Fatalf("cause = %v, want ErrPreempted", cause)
	}
	// A batch entered after the preemption is not affected.
	bctx2, done2 := startBatch(t, g)
	defer done2()
	if bctx2.Err() != nil {
		t.Fatal("a later batch was cancelled by an earlier Preempt")
	}
}
