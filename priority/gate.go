package priority

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// ErrPreempted is the cause of a batch context cancelled by Gate.Preempt
// (context.Cause(batch) returns it). A preempted batch must be redone after the resume.
var ErrPreempted = errors.New("priority: batch preempted")

// A Gate is how a background service honours pauses. The service calls Enter before
// each batch and the returned done after it; Pause waits for the batches in flight to
// end and keeps new ones out until the matching Resume.
//
// Pauses are counted, so an operator's pause of one service and the Manager's pause of
// all of them compose: the service runs again only when every pause is released.
// A Gate is safe for concurrent use; the zero value is not usable, call NewGate.
type Gate struct {
	mu sync.Mutex
	// guarded by mu
	pauses   int                 // outstanding Pause calls
	resumed  chan struct{}       // closed when pauses drops to 0; nil while running
	inFlight map[*batch]struct{} // batches entered and not yet done
	idle     chan struct{}       // closed when inFlight empties; nil when nobody waits
}

type batch struct {
	gate   *Gate
	cancel context.CancelCauseFunc
	ended  atomic.Bool
}

// end is the done func of Enter.
func (b *batch) end() {
	if b.ended.CompareAndSwap(false, true) {
		b.gate.exit(b)
	}
}

// NewGate returns an open gate.
func NewGate() *Gate {
	return &Gate{inFlight: make(map[*batch]struct{})}
}

// Enter admits one batch. It blocks while the gate is paused, until the pause is
// released or ctx ends; a ctx that is already done gives its error at once. The batch
// context is derived from ctx and is cancelled by Preempt (with cause ErrPreempted) or
// by done. done ends the batch and is safe to call more than once.
func (g *Gate) Enter(ctx context.Context) (batchCtx context.Context, done func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	for {
		g.mu.Lock()
		if g.pauses == 0 {
			bctx, cancel := context.WithCancelCause(ctx)
			b := &batch{gate: g, cancel: cancel}
			g.inFlight[b] = struct{}{}
			g.mu.Unlock()
			return bctx, b.end, nil
		}
		resumed := g.resumed
		g.mu.Unlock()
		select {
		case <-resumed:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

func (g *Gate) exit(b *batch) {
	b.cancel(context.Canceled)
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.inFlight, b)
	if len(g.inFlight) == 0 && g.idle != nil {
		close(g.idle)
		g.idle = nil
	}
}

// Pause adds one pause: no batch is admitted until the matching Resume. It returns once
// no batch is in flight. If ctx ends first it returns an error wrapping ctx.Err(); the
// gate stays paused until the matching Resume all the same.
func (g *Gate) Pause(ctx context.Context) error {
	g.mu.Lock()
	g.pauses++
	if g.pauses == 1 {
		g.resumed = make(chan struct{})
	}
	if len(g.inFlight) == 0 {
		g.mu.Unlock()
		return nil
	}
	if g.idle == nil {
		g.idle = make(chan struct{})
	}
	idle := g.idle
	g.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("priority: gate pause: %w", ctx.Err())
	}
}

// Resume releases one pause. Without an outstanding pause it does nothing.
func (g *Gate) Resume() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pauses == 0 {
		return
	}
	g.pauses--
	if g.pauses == 0 {
		close(g.resumed)
		g.resumed = nil
	}
}

// Preempt cancels the contexts of the batches now in flight, with cause ErrPreempted.
// It does not pause the gate: call it while paused to make Pause return sooner.
func (g *Gate) Preempt() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for b := range g.inFlight {
		b.cancel(ErrPreempted)
	}
}

// Paused reports whether the gate has an outstanding pause.
func (g *Gate) Paused() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.pauses > 0
}

// InFlight returns the number of batches entered and not yet done.
func (g *Gate) InFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.inFlight)
}
