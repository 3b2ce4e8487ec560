// Package startstop is the lifecycle archibald's background workers share: Start runs
// the worker's goroutine once; Stop asks it to finish what it is doing, then waits for
// it (the first phase of a two-phase stop; cancelling the context given to the worker is
// the second). The shape follows river's rivershared/startstop.
package startstop

import (
	"errors"
	"sync"
)

// ErrStarted is returned by a second Start.
var ErrStarted = errors.New("already started")

// Lifecycle runs one worker goroutine. The zero value is ready to use.
type Lifecycle struct {
	mu       sync.Mutex
	started  bool
	stopped  bool
	stopping chan struct{} // closed by Stop
	done     chan struct{} // closed when the worker has returned
}

// Start runs prepare, then run in a goroutine. It returns ErrStarted when the lifecycle
// was started before, and prepare's error (starting nothing) when prepare fails. run
// must return once stopping is closed, or sooner.
func (l *Lifecycle) Start(prepare func() error, run func(stopping <-chan struct{})) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started {
		return ErrStarted
	}
	if prepare != nil {
		if err := prepare(); err != nil {
			return err
		}
	}
	l.started = true
	l.stopping, l.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(l.done)
		run(l.stopping)
	}()
	return nil
}

// Stop closes the stopping channel, calls interrupt (when not nil) to cut short what
// the worker may be waiting for, and waits for the worker to return. It reports whether
// it stopped a running worker: false before Start and on every call after the first.
func (l *Lifecycle) Stop(interrupt func()) bool {
	l.mu.Lock()
	if !l.started || l.stopped {
		l.mu.Unlock()
		return false
	}
	l.stopped = true
	close(l.stopping)
	l.mu.Unlock()
	if interrupt != nil {
		interrupt()
	}
	<-l.done
	return true
}

// Stopping returns the channel Stop closes; nil (blocking for ever) before Start.
func (l *Lifecycle) Stopping() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stopping
}

// StopRequested reports whether Stop has been called.
func (l *Lifecycle) StopRequested() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stopped
}
