package erp

import (
	"context"
	"sync"
)

// class is the priority of a request: the bot's order steps are foreground, the sync
// services' list pages background.
type class uint8

const (
	background class = iota
	foreground
)

func (c class) String() string {
	if c == foreground {
		return "foreground"
	}
	return "background"
}

// waiter is one request waiting for the slot. ready receives exactly one value: nil when
// the slot is handed to it, ErrWithdrawn when a pause withdraws it.
type waiter struct {
	ready chan error // buffered (1): the sender never blocks
	// guarded by slot.mu
	prev, next *waiter
	queued     bool
}

// waitList is a FIFO of waiters, intrusive so that a waiter whose ctx ends leaves it in
// O(1) without searching.
type waitList struct {
	head, tail *waiter
	n          int
}

func (l *waitList) push(w *waiter) {
	w.prev, w.next, w.queued = l.tail, nil, true
	if l.tail == nil {
		l.head = w
	} else {
		l.tail.next = w
	}
	l.tail = w
	l.n++
}

func (l *waitList) remove(w *waiter) {
	if w.prev == nil {
		l.head = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		l.tail = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.prev, w.next, w.queued = nil, nil, false
	l.n--
}

func (l *waitList) pop() *waiter {
	w := l.head
	if w != nil {
		l.remove(w)
	}
	return w
}

// slot lets one request at a time talk to the ERP. Waiting requests are served
// foreground first, FIFO within a class; release hands the slot straight to the next
// waiter, so there is no polling and no window in which a newcomer can jump the queue.
// The background class can be paused: a pause withdraws the waiting background requests
// and refuses new ones until the matching resume.
type slot struct {
	// immutable after construction; a test hook called after a waiter joins a queue
	onQueued func(class)

	mu        sync.Mutex
	busy      bool // a request holds the slot
	fg, bg    waitList
	pauses    int   // outstanding pauses of the background class
	withdrawn int64 // background requests withdrawn or refused by a pause, ever
}

// acquire takes the slot, waiting in cl's queue if it is busy. It returns ctx.Err() if ctx
// ends first (the waiter leaves the queue at once) and ErrWithdrawn if cl is background
// and the class is or becomes paused. After a nil return the caller must call release.
func (s *slot) acquire(ctx context.Context, cl class) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if cl == background && s.pauses > 0 {
		s.withdrawn++
		s.mu.Unlock()
		return ErrWithdrawn
	}
	if !s.busy {
		// Nobody waits when the slot is free: release hands it over while anyone does.
		s.busy = true
		s.mu.Unlock()
		return nil
	}
	w := &waiter{ready: make(chan error, 1)}
	s.list(cl).push(w)
	s.mu.Unlock()
	if s.onQueued != nil {
		s.onQueued(cl)
	}

	select {
	case err := <-w.ready:
		return err
	case <-ctx.Done():
		s.mu.Lock()
		if w.queued {
			s.list(cl).remove(w)
			s.mu.Unlock()
			return ctx.Err()
		}
		s.mu.Unlock()
		// The slot was handed over, or the waiter withdrawn, just as ctx ended. A slot
		// we will not use goes to the next waiter.
		if err := <-w.ready; err == nil {
			s.release()
		}
		return ctx.Err()
	}
}

// release gives the slot to the next waiter, or frees it.
func (s *slot) release() {
	s.mu.Lock()
	w := s.fg.pop()
	if w == nil {
		w = s.bg.pop()
	}
	if w == nil {
		s.busy = false
	}
	s.mu.Unlock()
	if w != nil {
		w.ready <- nil
	}
}

// pause adds one pause of the background class and withdraws its waiting requests.
func (s *slot) pause() (withdrawn int) {
	s.mu.Lock()
	s.pauses++
	var ws []*waiter
	for w := s.bg.pop(); w != nil; w = s.bg.pop() {
		ws = append(ws, w)
	}
	s.withdrawn += int64(len(ws))
	s.mu.Unlock()
	for _, w := range ws {
		w.ready <- ErrWithdrawn
	}
	return len(ws)
}

// resume undoes one pause; it reports false when there was none to undo.
func (s *slot) resume() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pauses == 0 {
		return false
	}
	s.pauses--
	return true
}

func (s *slot) list(cl class) *waitList {
	if cl == foreground {
		return &s.fg
	}
	return &s.bg
}

type slotStats struct {
	waitingFG, waitingBG int
	pauses               int
	withdrawn            int64
	busy                 bool
}

func (s *slot) stats() slotStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slotStats{waitingFG: s.fg.n, waitingBG: s.bg.n, pauses: s.pauses, withdrawn: s.withdrawn, busy: s.busy}
}
