// Package orders takes agents' orders, persists them before any work starts, and
// enters them into the ERP one at a time through the bot, each under the priority
// manager's hold so that no sync page runs on the session meanwhile.
//
// An order goes queued → submitting → created | failed, and each transition is written
// before the next step. An order whose save may or may not have reached the ERP is
// settled by looking its reference up in the ERP, never by saving again blindly.
package orders

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"archibald"
	"archibald/internal/startstop"
)

// Submitter enters orders into the ERP. *bot.Bot implements it.
type Submitter interface {
	CreateOrder(ctx context.Context, o archibald.Order) (erpOrderID string, err error)
	FindOrder(ctx context.Context, reference string) (erpOrderID string, found bool, err error)
}

// Holder runs fn while the background services are paused. *priority.Manager
// implements it.
type Holder interface {
	WithPriority(ctx context.Context, fn func(context.Context) error) error
}

// Config configures the order service.
type Config struct {
	Store  archibald.OrderStore
	Mirror Mirror
	Bot    Submitter
	// Priority is held around each order. Nil runs orders without pausing anything
	// (the bench's no-priority mode).
	Priority Holder
	// Timeout bounds an order from its acceptance to its outcome (default 5m): past it the
	// order fails with a clear error instead of waiting for an ERP that does not answer.
	Timeout time.Duration
	// MaxAttempts bounds how often an order whose save was lost is submitted (default 3).
	MaxAttempts int
	// SettleRetry is the wait before looking up again orders whose outcome is unknown,
	// when the ERP could not be asked (default 5s).
	SettleRetry time.Duration
	Logger      *slog.Logger
	OnEvent     func(Event) // called for each transition; must not block
}

// Event kinds, as the SSE stream names them.
const (
	EventQueued     = "order.queued"
	EventSubmitting = "order.submitting"
	EventCreated    = "order.created"
	EventFailed     = "order.failed"
)

// Event reports an order's transition.
type Event struct {
	Kind  string
	Order archibald.Order
}

// Service accepts orders and runs the worker that enters them.
type Service struct {
	// immutable after New
	cfg  Config
	log  *slog.Logger
	wake chan struct{} // capacity 1: queued work exists

	// life runs the worker; its Stop asks it to finish the order in flight, take no other
	life startstop.Lifecycle

	mu      sync.Mutex
	waiters map[string][]chan struct{} // order id → closed when the order ends (guarded by mu)
}

// New returns an order service; Start runs its worker.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("orders: Config.Store is nil")
	case cfg.Mirror == nil:
		return nil, errors.New("orders: Config.Mirror is nil")
	case cfg.Bot == nil:
		return nil, errors.New("orders: Config.Bot is nil")
	case cfg.Timeout < 0 || cfg.MaxAttempts < 0 || cfg.SettleRetry < 0:
		return nil, errors.New("orders: negative Timeout, MaxAttempts or SettleRetry")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Minute
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.SettleRetry == 0 {
		cfg.SettleRetry = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Service{
		cfg:     cfg,
		log:     cfg.Logger,
		wake:    make(chan struct{}, 1),
		waiters: make(map[string][]chan struct{}),
	}, nil
}

// Submit validates the request against the mirror and persists it as a queued order,
// before any work on it starts. With an idempotency key that was seen before, it returns
// that order (created false) when the body is the same, and an ECONFLICT error when it
// is not. Invalid requests get an EINVALID *archibald.Error naming the field; nothing is
// stored for them.
func (s *Service) Submit(ctx context.Context, req Request, idempotencyKey string) (o archibald.Order, created bool, err error) {
	if len(idempotencyKey) > 200 {
		return o, false, archibald.FieldErrorf("Idempotency-Key", "is at most 200 characters long")
	}
	if err := req.Validate(); err != nil {
		return o, false, err
	}
	if err := req.ValidateAgainst(ctx, s.cfg.Mirror); err != nil {
		return o, false, err
	}
	now := time.Now().UTC()
	ref := req.Reference
	if ref == "" {
		ref = newReference(now)
	}
	o = archibald.Order{
		ID: newID(), Reference: ref, CustomerID: req.CustomerID, CustomerName: req.CustomerName,
		Lines: req.Items, Status: archibald.OrderQueued,
		IdempotencyKey: idempotencyKey, RequestHash: req.Hash(),
		CreatedAt: now, UpdatedAt: now,
	}
	stored, created, err := s.cfg.Store.CreateOrder(ctx, o)
	if err != nil {
		return o, false, fmt.Errorf("orders: storing the order: %w", err)
	}
	if !created {
		if stored.RequestHash != o.RequestHash {
			return stored, false, archibald.Errorf(archibald.ECONFLICT,
				"the Idempotency-Key %q was already used for another order (%s) with a different body", idempotencyKey, stored.ID)
		}
		return stored, false, nil
	}
	s.log.Info("order queued", "order", stored.ID, "reference", stored.Reference, "items", len(stored.Lines))
	s.emit(EventQueued, stored)
	s.kick()
	return stored, true, nil
}

// Order returns one order.
func (s *Service) Order(ctx context.Context, id string) (archibald.Order, error) {
	return s.cfg.Store.Order(ctx, id)
}

// Wait returns the order once it is created or failed, or as it is when ctx ends
// first (with a nil error: the order is still pending).
func (s *Service) Wait(ctx context.Context, id string) (archibald.Order, error) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.waiters[id] = append(s.waiters[id], ch)
	s.mu.Unlock()
	defer s.dropWaiter(id, ch)

	o, err := s.cfg.Store.Order(ctx, id)
	if err != nil || terminal(o.Status) {
		return o, err
	}
	select {
	case <-ch:
	case <-ctx.Done():
	}
	return s.cfg.Store.Order(context.WithoutCancel(ctx), id)
}

func (s *Service) dropWaiter(id string, ch chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.waiters[id]
	for i, c := range list {
		if c == ch {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(s.waiters, id)
	} else {
		s.waiters[id] = list
	}
}

func (s *Service) notify(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range s.waiters[id] {
		close(ch)
	}
	delete(s.waiters, id)
}

func terminal(st archibald.OrderStatus) bool {
	return st == archibald.OrderCreated || st == archibald.OrderFailed
}

func (s *Service) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Service) emit(kind string, o archibald.Order) {
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(Event{Kind: kind, Order: o})
	}
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "ord_" + hex.EncodeToString(b[:])
}

// newReference makes a reference for an order whose client gave none: unique, and
// readable over the phone.
func newReference(now time.Time) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return "ARC-" + now.Format("060102") + "-" + base32.StdEncoding.EncodeToString(b[:])
}

// Start settles orders left submitting by a previous process, then runs the worker
// until Stop or until ctx ends.
func (s *Service) Start(ctx context.Context) error {
	if err := s.life.Start(nil, func(stopping <-chan struct{}) { s.loop(ctx, stopping) }); err != nil {
		return fmt.Errorf("orders: %w", err)
	}
	return nil
}

// Stop lets the order in flight finish (its outcome is persisted), takes no other, and
// waits for the worker. Safe to call more than once, and before Start.
func (s *Service) Stop() { s.life.Stop(nil) }

// loop is the worker: one order at a time, oldest first.
func (s *Service) loop(ctx context.Context, stopping <-chan struct{}) {
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		unsettled := s.settle(ctx)
		queued, err := s.cfg.Store.OrdersByStatus(ctx, archibald.OrderQueued)
		if err != nil && ctx.Err() == nil {
			s.log.Error("listing queued orders", "err", err)
			unsettled = true
		}
		for _, o := range queued {
			if ctx.Err() != nil || s.life.StopRequested() {
				return
			}
			s.process(ctx, o)
		}
		if len(queued) > 0 {
			continue // more may have arrived meanwhile
		}
		var retryC <-chan time.Time
		if unsettled {
			retry.Reset(s.cfg.SettleRetry)
			retryC = retry.C
		}
		select {
		case <-ctx.Done():
			return
		case <-stopping:
			return
		case <-s.wake:
		case <-retryC:
		}
	}
}
