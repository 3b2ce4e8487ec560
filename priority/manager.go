// Package priority gives order creation absolute priority over the background sync
// services that share its ERP session.
//
// A Manager knows every background service (each a Pausable, usually through a Gate).
// A caller that needs the session to itself takes a hold with Pause, or runs a function
// with WithPriority: the first hold pauses every service at its next batch boundary, the
// holders run alone, and the last release resumes the services where they stopped.
// Holds are counted, every wait takes a context, and a service that will not reach a
// boundary in time is preempted after a grace period.
package priority

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Errors returned by Register and Unregister.
var (
	ErrDuplicate = errors.New("priority: a service with this name is already registered")
	ErrUnknown   = errors.New("priority: no service with this name is registered")
)

const defaultGrace = 10 * time.Second

// Option configures a Manager.
type Option func(*Manager)

// WithLogger sets the logger; by default the Manager logs nothing.
func WithLogger(l *slog.Logger) Option {
	return func(m *Manager) {
		if l != nil {
			m.logger = l
		}
	}
}

// WithGrace sets how long a service may take to reach a batch boundary before it is
// preempted (default 10s). A value <= 0 preempts at once.
func WithGrace(d time.Duration) Option { return func(m *Manager) { m.grace = max(d, 0) } }

// WithLinger delays the final resume by d: a new holder arriving within it finds the
// services still paused and runs at once (default 0, resume at once).
func WithLinger(d time.Duration) Option { return func(m *Manager) { m.linger = max(d, 0) } }

// State is what the Manager is doing with the services.
type State int

const (
	StateRunning  State = iota // no holds; services run
	StatePausing               // holds exist; services are being paused
	StatePaused                // every service is paused; holders run
	StateResuming              // the last hold was released; services resume when the linger ends
)

var stateNames = [...]string{"running", "pausing", "paused", "resuming"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// MarshalText makes a State read as its name in JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Status is a snapshot of the Manager.
type Status struct {
	State    State
	Holders  int
	Paused   []string // names of services the manager has paused, sorted
	Services []ServiceStatus
	Pauses   int64         // completed pauses since start
	LastTook time.Duration // time to quiesce of the last pause
}

// ServiceStatus is one registered service in a Status.
type ServiceStatus struct {
	Name   string
	Paused bool // paused by the manager
}

// Manager pauses the registered services while holds exist. It is safe for concurrent
// use. It starts no goroutine of its own outside a pause: each service's Pause runs in a
// goroutine that ends when that call returns.
type Manager struct {
	// immutable after New
	logger *slog.Logger
	grace  time.Duration
	linger time.Duration

	mu sync.Mutex
	// guarded by mu
	services    map[string]*service
	holds       int // holds taken, including callers still waiting for the pause
	state       State
	epoch       *epoch // the pause in progress; nil while running
	lingerTimer *time.Timer
	pauses      int64
	lastTook    time.Duration
	subscribers map[*subscriber]struct{}
	dropped     int64
}

// service is one registered Pausable.
type service struct {
	name string
	p    Pausable
	// guarded by Manager.mu
	call *pauseCall // the manager's outstanding Pause on it; nil when it runs freely
}

// pauseCall is one call of Pausable.Pause made by the Manager in an epoch. Exactly one
// Resume undoes it: by the Manager when the epoch ends after the call returned, or by the
// call's goroutine when the call returns after the epoch ended.
type pauseCall struct {
	ep       *epoch
	counted  bool          // part of the epoch's initial quiesce (ep.pending)
	returned chan struct{} // closed when Pause returned
	err      error         // what Pause returned; set before returned is closed
	done     bool          // Pause returned (guarded by Manager.mu)
}

// epoch is one pause of the services, from the first hold to the final resume.
type epoch struct {
	ctx      context.Context // given to every Pause call; cancelled when the epoch ends
	cancel   context.CancelFunc
	started  time.Time
	pausedAt time.Time
	pending  int           // counted calls still to return before the services are paused
	ready    chan struct{} // closed when every service is paused, or when the pause failed
	err      error         // why the pause failed; set before ready is closed
	ended    bool
	lingers  int // lingers started; a linger timer ends the epoch only if it is the latest
}

// New returns a Manager with no services.
func New(opts ...Option) *Manager {
	m := &Manager{
		logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		grace:       defaultGrace,
		services:    make(map[string]*service),
		subscribers: make(map[*subscriber]struct{}),
	}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Configure applies options to a Manager that is not in use yet — typically Default(),
// which is made without options. Options applied while services are registered or holds
// exist would race with them; Configure refuses then and returns an error.
func (m *Manager) Configure(opts ...Option) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.services) > 0 || m.holds > 0 || m.epoch != nil {
		return errors.New("priority: Configure on a manager in use")
	}
	for _, o := range opts {
		o(m)
	}
	return nil
}

var (
	defaultOnce    sync.Once
	defaultManager *Manager
)

// Default returns the process-wide Manager, made on first use with the default options.
func Default() *Manager {
	defaultOnce.Do(func() { defaultManager = New() })
	return defaultManager
}

// Register adds a service. If holds exist, the service is paused before Register
// returns; if that pause fails, the service is not registered and the error is returned.
// A duplicate name gives ErrDuplicate.
//
// The Manager calls the service's Resume while holding its own lock, so that a resume
// is never overtaken by the next pause: Resume must return quickly and must not call
// the Manager. Pause runs in a goroutine of its own and may block.
func (m *Manager) Register(name string, s Pausable) error {
	if s == nil {
		return fmt.Errorf("priority: register %q: nil service", name)
	}
	m.mu.Lock()
	if _, ok := m.services[name]; ok {
		m.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrDuplicate, name)
	}
	svc := &service{name: name, p: s}
	m.services[name] = svc
	if m.epoch == nil {
		m.mu.Unlock()
		m.logger.Debug("priority: service registered", "service", name)
		return nil
	}
	call := m.startPauseLocked(m.epoch, svc, m.state == StatePausing)
	m.mu.Unlock()

	<-call.returned
	m.mu.Lock()
	defer m.mu.Unlock()
	if call.err != nil && !call.ep.ended {
		// The epoch goes on without this service (when the failure ended the epoch, the
		// service stays registered and runs).
		if m.services[name] == svc {
			delete(m.services, name)
		}
		svc.call = nil
		s.Resume()
		return call.err
	}
	m.logger.Debug("priority: service registered", "service", name, "paused", svc.call != nil)
	return nil
}

// Unregister removes a service, resuming it if the manager had paused it. An unknown
// name gives ErrUnknown.
func (m *Manager) Unregister(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	svc, ok := m.services[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknown, name)
	}
	delete(m.services, name)
	if call := svc.call; call != nil {
		svc.call = nil
		if call.done {
			svc.p.Resume()
			m.emitLocked(Event{Kind: EventServiceResumed, Service: name})
		}
		// Otherwise its goroutine sees the call orphaned and resumes it on return.
		if call.counted && !call.done && m.state == StatePausing && call.ep == m.epoch {
			call.counted = false
			m.quiescedOneLocked(call.ep)
		}
	}
	m.logger.Debug("priority: service unregistered", "service", name)
	return nil
}

// Pause takes one hold. The first hold starts pausing every registered service; every
// caller waits until all are paused and then returns nil. While the services are paused,
// Pause returns nil at once. If ctx ends first, Pause returns an error wrapping ctx.Err()
// and holds nothing. If a service cannot be paused, every waiting caller gets an error
// naming it and holds nothing. Each nil return must be matched by one Resume.
func (m *Manager) Pause(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("priority: pause: %w", err)
	}
	m.mu.Lock()
	m.holds++
	switch m.state {
	case StateRunning:
		m.beginEpochLocked()
	case StateResuming:
		// A new holder inside the linger: the services are still paused.
		m.lingerTimer.Stop()
		m.lingerTimer = nil
		m.state = StatePaused
		m.logger.Debug("priority: hold taken within the linger; services stay paused", "holders", m.holds)
	}
	ep := m.epoch
	if m.state == StatePaused {
		m.mu.Unlock()
		return nil
	}
	m.mu.Unlock()

	select {
	case <-ep.ready:
		// ep.err is written before ready is closed; a failure already dropped our hold.
		return ep.err
	case <-ctx.Done():
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-ep.ready:
		if ep.err != nil {
			return ep.err
		}
	default:
	}
	// Give the hold back: the caller leaves with nothing. When it was the last one, the
	// pause is abandoned (or, if it just completed, undone).
	m.releaseLocked(false)
	return fmt.Errorf("priority: pause: %w", ctx.Err())
}

// Resume releases one hold. The last release resumes the services the manager paused,
// after the linger. Without a hold it does nothing but log a warning.
func (m *Manager) Resume() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.holds == 0 {
		m.logger.Warn("priority: resume without a hold ignored")
		return
	}
	m.releaseLocked(true)
}

// releaseLocked drops one hold; the last one out ends the epoch (after the linger when
// linger is true and the services are paused).
func (m *Manager) releaseLocked(linger bool) {
	m.holds--
	if m.holds > 0 {
		return
	}
	if linger && m.linger > 0 && m.state == StatePaused {
		m.state = StateResuming
		ep := m.epoch
		ep.lingers++
		n := ep.lingers
		m.lingerTimer = time.AfterFunc(m.linger, func() { m.lingerEnded(ep, n) })
		return
	}
	m.endEpochLocked(nil)
}

func (m *Manager) lingerEnded(ep *epoch, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// A holder may have arrived (and maybe left again, with a new timer) since this
	// timer fired; only the epoch's latest linger may end it.
	if m.epoch != ep || ep.lingers != n || m.state != StateResuming || m.holds > 0 {
		return
	}
	m.endEpochLocked(nil)
}

// WithPriority takes a hold, runs fn, and releases the hold on every path: fn's error
// (returned unchanged), a panic (re-panicked after the release) and ctx's end.
func (m *Manager) WithPriority(ctx context.Context, fn func(context.Context) error) error {
	if err := m.Pause(ctx); err != nil {
		return err
	}
	m.logger.Debug("priority lock acquired")
	defer func() {
		m.Resume()
		m.logger.Debug("priority lock released")
	}()
	return fn(ctx)
}

// Do is WithPriority for a function that returns a value.
func Do[T any](ctx context.Context, m *Manager, fn func(context.Context) (T, error)) (T, error) {
	var v T
	err := m.WithPriority(ctx, func(ctx context.Context) error {
		var err error
		v, err = fn(ctx)
		return err
	})
	return v, err
}

// Status returns a snapshot of the manager.
func (m *Manager) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := Status{
		State:    m.state,
		Holders:  m.holds,
		Paused:   []string{},
		Services: make([]ServiceStatus, 0, len(m.services)),
		Pauses:   m.pauses,
		LastTook: m.lastTook,
	}
	for name, svc := range m.services {
		paused := svc.call != nil && svc.call.done && svc.call.err == nil
		st.Services = append(st.Services, ServiceStatus{Name: name, Paused: paused})
		if paused {
			st.Paused = append(st.Paused, name)
		}
	}
	slices.Sort(st.Paused)
	slices.SortFunc(st.Services, func(a, b ServiceStatus) int { return cmp.Compare(a.Name, b.Name) })
	return st
}

// beginEpochLocked starts pausing every registered service.
func (m *Manager) beginEpochLocked() {
	ctx, cancel := context.WithCancel(context.Background())
	ep := &epoch{ctx: ctx, cancel: cancel, started: time.Now(), ready: make(chan struct{})}
	m.epoch = ep
	m.state = StatePausing
	m.emitLocked(Event{Kind: EventPausing})
	m.logger.Info("pausing background services", "holders", m.holds, "services", len(m.services))
	for _, svc := range m.services {
		m.startPauseLocked(ep, svc, true)
	}
	if ep.pending == 0 {
		m.pausedLocked(ep)
	}
}

// startPauseLocked calls svc's Pause in a goroutine, preempting it after the grace.
func (m *Manager) startPauseLocked(ep *epoch, svc *service, counted bool) *pauseCall {
	call := &pauseCall{ep: ep, counted: counted, returned: make(chan struct{})}
	svc.call = call
	if counted {
		ep.pending++
	}
	go func() {
		grace := time.AfterFunc(m.grace, func() { m.preempt(svc, call) })
		err := svc.p.Pause(ep.ctx)
		grace.Stop()
		m.pauseReturned(svc, call, err)
	}()
	return call
}

// preempt aborts the in-flight batch of a service that is still busy after the grace.
func (m *Manager) preempt(svc *service, call *pauseCall) {
	m.mu.Lock()
	if call.done || call.ep.ended || svc.call != call {
		m.mu.Unlock()
		return
	}
	p, ok := svc.p.(Preemptible)
	if !ok {
		m.mu.Unlock()
		m.logger.Warn("service still busy after the grace period and cannot be preempted",
			"service", svc.name, "grace", m.grace)
		return
	}
	m.emitLocked(Event{Kind: EventPreempted, Service: svc.name})
	m.mu.Unlock()
	m.logger.Warn("preempting service still busy after the grace period", "service", svc.name, "grace", m.grace)
	p.Preempt()
}

// pauseReturned records the end of one Pause call.
func (m *Manager) pauseReturned(svc *service, call *pauseCall, err error) {
	m.mu.Lock()
	call.err = err
	call.done = true
	orphaned := call.ep.ended || svc.call != call
	if orphaned {
		// The epoch ended (or the service left) while Pause ran: undo it here.
		m.mu.Unlock()
		svc.p.Resume()
		close(call.returned)
		return
	}
	ep := call.ep
	if err != nil {
		call.err = fmt.Errorf("priority: pause service %q: %w", svc.name, err)
		m.logger.Error("a service could not be paused", "service", svc.name, "err", err)
		if call.counted && m.state == StatePausing {
			// The pause fails for every waiter; the services paused so far are resumed.
			m.endEpochLocked(call.err)
		}
		// A service registered during a hold: Register undoes the call.
		m.mu.Unlock()
		close(call.returned)
		return
	}
	m.emitLocked(Event{Kind: EventServicePaused, Service: svc.name})
	m.logger.Debug("service paused", "service", svc.name)
	if call.counted {
		m.quiescedOneLocked(ep)
	}
	m.mu.Unlock()
	close(call.returned)
}

// quiescedOneLocked counts one service of the initial pause as done.
func (m *Manager) quiescedOneLocked(ep *epoch) {
	ep.pending--
	if ep.pending == 0 && m.state == StatePausing && m.epoch == ep {
		m.pausedLocked(ep)
	}
}

// pausedLocked marks every service paused and lets the waiting holders go.
func (m *Manager) pausedLocked(ep *epoch) {
	ep.pausedAt = time.Now()
	took := ep.pausedAt.Sub(ep.started)
	m.state = StatePaused
	m.pauses++
	m.lastTook = took
	close(ep.ready)
	m.emitLocked(Event{Kind: EventPaused, Took: took})
	m.logger.Info("background services paused", "took", took, "holders", m.holds)
}

// endEpochLocked resumes every service the epoch paused. With a non-nil cause the pause
// failed: every waiter gets cause and the holds are dropped.
func (m *Manager) endEpochLocked(cause error) {
	ep := m.epoch
	if ep == nil {
		return
	}
	ep.ended = true
	ep.cancel()
	m.epoch = nil
	m.state = StateRunning
	if m.lingerTimer != nil {
		m.lingerTimer.Stop()
		m.lingerTimer = nil
	}
	if cause != nil {
		ep.err = cause
		m.holds = 0
		close(ep.ready)
		m.emitLocked(Event{Kind: EventPauseFailed, Err: cause})
		m.logger.Error("pausing background services failed; resuming the others", "err", cause)
	}
	for _, svc := range m.services {
		call := svc.call
		if call == nil || call.ep != ep {
			continue
		}
		svc.call = nil
		if call.done {
			// Resume must be quick and must not call back into the Manager.
			svc.p.Resume()
			m.emitLocked(Event{Kind: EventServiceResumed, Service: svc.name})
			m.logger.Debug("service resumed", "service", svc.name)
		}
		// A call still running is resumed by its goroutine when it returns.
	}
	switch {
	case cause != nil:
	case ep.pausedAt.IsZero():
		took := time.Since(ep.started)
		m.emitLocked(Event{Kind: EventResumed, Took: took})
		m.logger.Info("pause abandoned: no holder left; background services resumed", "after", took)
	default:
		took := time.Since(ep.pausedAt)
		m.emitLocked(Event{Kind: EventResumed, Took: took})
		m.logger.Info("background services resumed", "pausedFor", took)
	}
}
