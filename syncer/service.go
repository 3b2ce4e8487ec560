// Package syncer keeps the local mirror of the ERP's customers, products and prices.
//
// One engine runs three services, one per entity. A run walks the ERP list from page 1
// to the last page; each page is one batch under the service's priority.Gate, and its
// rows are committed together with the run's checkpoint, so a run interrupted by a
// pause, a preemption, an error or a restart goes on from the first page not committed,
// with the same run id. Rows that vanished from the ERP are deleted only after a complete
// run, and only when the run saw a plausible number of rows.
package syncer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"archibald"
	"archibald/internal/startstop"
	"archibald/priority"
)

// DefaultInterval returns how often an entity is synced when Config.Interval is zero.
func DefaultInterval(entity string) time.Duration {
	if entity == archibald.EntityCustomers {
		return 30 * time.Minute
	}
	return time.Hour
}

// Config configures one sync service.
type Config struct {
	Entity string                // archibald.EntityCustomers, EntityProducts or EntityPrices
	ERP    ERP                   // where the rows come from
	Store  archibald.MirrorStore // where they go
	// Manager, when set, is the priority manager the service registers with (under its
	// entity name) on Start and leaves on Stop.
	Manager *priority.Manager

	Interval  time.Duration // between runs; 0 means DefaultInterval(Entity)
	Jitter    float64       // ± fraction of Interval added to each wait; default 0.1
	Retries   int           // retries of a page after a transient error; default 5
	RetryBase time.Duration // first retry delay, doubling up to RetryMax; default 250ms
	RetryMax  time.Duration // default 15s

	Logger  *slog.Logger
	OnEvent func(Event) // called for each event, from the service's goroutine; must not block
}

// Event kinds, as the SSE stream names them.
const (
	EventStarted  = "sync.started"  // a run started or continued after a restart
	EventProgress = "sync.progress" // a page was committed
	EventFinished = "sync.finished" // a run completed
	EventFailed   = "sync.failed"   // a run gave up; it goes on from its checkpoint next time
)

// Event reports a service's progress.
type Event struct {
	Kind       string              `json:"-"`
	Service    string              `json:"service"`
	RunID      string              `json:"runId"`
	Page       int                 `json:"page"`
	TotalPages int                 `json:"totalPages"`
	Rows       archibald.RowCounts `json:"rows"`
	Error      string              `json:"error,omitempty"`
	At         time.Time           `json:"at"`
}

// The states a service reports.
const (
	StateIdle    = "idle"    // no run in progress
	StateRunning = "running" // a run is fetching pages
	StatePaused  = "paused"  // paused, with no run due
	StateWaiting = "waiting" // a run is due or in progress, held at the gate by a pause
)

// Status is what a service reports (GET /api/sync).
type Status struct {
	Name          string              `json:"name"`
	State         string              `json:"state"`
	RunID         string              `json:"runId"`
	Page          int                 `json:"page"` // the last page committed
	TotalPages    int                 `json:"totalPages"`
	Rows          archibald.RowCounts `json:"rows"`
	MirrorRows    int                 `json:"mirrorRows"`
	StartedAt     *time.Time          `json:"startedAt"`
	LastSuccessAt *time.Time          `json:"lastSuccessAt"`
	LastError     string              `json:"lastError"`
	NextRunAt     *time.Time          `json:"nextRunAt"`
}

var errStopping = errors.New("syncer: service stopping")

// Service mirrors one entity. It implements priority.Pausable and priority.Preemptible
// through its Gate, so the manager and an operator can pause it; the pauses compose.
type Service struct {
	// immutable after New
	cfg   Config
	name  string
	fetch pageFetcher
	gate  *priority.Gate
	log   *slog.Logger
	runs  chan struct{} // capacity 1: a run is owed; sends never block, so owed runs coalesce

	// life runs the loop; its Stop asks it to finish the page in flight and start no other
	life startstop.Lifecycle

	mu sync.Mutex
	// guarded by mu
	status     Status
	inRun      bool               // a run is in progress
	cancelWait context.CancelFunc // ends the current wait at the gate; nil when not waiting
}

// New returns a service for cfg.Entity. It does not start it.
func New(cfg Config) (*Service, error) {
	fetch, err := fetcherFor(cfg.Entity, cfg.ERP)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.ERP == nil:
		return nil, fmt.Errorf("syncer %s: Config.ERP is nil", cfg.Entity)
	case cfg.Store == nil:
		return nil, fmt.Errorf("syncer %s: Config.Store is nil", cfg.Entity)
	case cfg.Interval < 0, cfg.RetryBase < 0, cfg.RetryMax < 0, cfg.Retries < 0:
		return nil, fmt.Errorf("syncer %s: negative interval, retries or retry delay", cfg.Entity)
	case cfg.Jitter < 0 || cfg.Jitter >= 1:
		return nil, fmt.Errorf("syncer %s: Jitter %v is outside [0, 1)", cfg.Entity, cfg.Jitter)
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval(cfg.Entity)
	}
	if cfg.Jitter == 0 {
		cfg.Jitter = 0.1
	}
	if cfg.Retries == 0 {
		cfg.Retries = 5
	}
	if cfg.RetryBase == 0 {
		cfg.RetryBase = 250 * time.Millisecond
	}
	if cfg.RetryMax == 0 {
		cfg.RetryMax = 15 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Service{
		cfg:    cfg,
		name:   cfg.Entity,
		fetch:  fetch,
		gate:   priority.NewGate(),
		log:    cfg.Logger.With("service", cfg.Entity),
		runs:   make(chan struct{}, 1),
		status: Status{Name: cfg.Entity, State: StateIdle},
	}, nil
}

// Name returns the service's name, its entity.
func (s *Service) Name() string { return s.name }

// Pause stops the service at its next page boundary (see priority.Gate.Pause).
func (s *Service) Pause(ctx context.Context) error { return s.gate.Pause(ctx) }

// Resume undoes one Pause.
func (s *Service) Resume() { s.gate.Resume() }

// Preempt aborts the page in flight; it is fetched again after the resume.
func (s *Service) Preempt() { s.gate.Preempt() }

// Paused reports whether the service has an outstanding pause.
func (s *Service) Paused() bool { return s.gate.Paused() }

// RunNow asks for a run as soon as possible. A request made while a run is in progress
// is owed and starts after it; several requests coalesce into one run.
func (s *Service) RunNow() {
	select {
	case s.runs <- struct{}{}:
	default:
	}
}

// Start registers the service with the manager (if any) and starts its loop. The loop
// ends when ctx ends (cancelling the page in flight) or at Stop (after it).
func (s *Service) Start(ctx context.Context) error {
	register := func() error {
		if m := s.cfg.Manager; m != nil {
			return m.Register(s.name, s)
		}
		return nil
	}
	if err := s.life.Start(register, func(stopping <-chan struct{}) { s.loop(ctx, stopping) }); err != nil {
		return fmt.Errorf("syncer %s: %w", s.name, err)
	}
	return nil
}

// Stop lets the page in flight finish, starts no other, waits for the loop to return
// and leaves the manager. A run in progress keeps its checkpoint. Stop is safe to call
// more than once, and before Start.
func (s *Service) Stop() {
	// A wait at the gate (for a pause to end) is cut short; a batch in flight is not.
	endWait := func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.cancelWait != nil {
			s.cancelWait()
		}
	}
	if !s.life.Stop(endWait) {
		return
	}
	if m := s.cfg.Manager; m != nil {
		if err := m.Unregister(s.name); err != nil {
			s.log.Warn("leaving the priority manager", "err", err)
		}
	}
}

// Status returns a snapshot of the service.
func (s *Service) Status() Status {
	paused := s.gate.Paused()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	switch {
	case s.inRun && paused:
		st.State = StateWaiting
	case s.inRun:
		st.State = StateRunning
	case paused:
		st.State = StatePaused
	default:
		st.State = StateIdle
	}
	return st
}

func (s *Service) loop(ctx context.Context, stopping <-chan struct{}) {
	timer := time.NewTimer(time.Until(s.firstRunAt(ctx)))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-stopping:
			return
		case <-timer.C:
		case <-s.runs:
		}
		err := s.run(ctx)
		if ctx.Err() != nil || errors.Is(err, errStopping) {
			return
		}
		next := time.Now().Add(s.jittered(s.cfg.Interval))
		s.mu.Lock()
		s.status.NextRunAt = &next
		s.mu.Unlock()
		timer.Reset(time.Until(next))
	}
}

// firstRunAt decides when the first run starts: at once when a run was interrupted, when
// the mirror is empty, or when the last complete run is older than the interval.
func (s *Service) firstRunAt(ctx context.Context) time.Time {
	now := time.Now()
	store := s.cfg.Store
	if _, ok, err := store.CurrentRun(ctx, s.name); err != nil || ok {
		return now
	}
	n, err := store.MirrorCount(ctx, s.name)
	if err != nil || n == 0 {
		return now
	}
	last, ok, err := store.LastFinishedRun(ctx, s.name)
	if err != nil || !ok {
		return now
	}
	s.mu.Lock()
	s.status.MirrorRows = n
	s.status.LastSuccessAt = &last.FinishedAt
	next := last.FinishedAt.Add(s.jittered(s.cfg.Interval))
	s.status.NextRunAt = &next
	s.mu.Unlock()
	if next.Before(now) {
		return now
	}
	return next
}

func (s *Service) jittered(d time.Duration) time.Duration {
	j := time.Duration(float64(d) * s.cfg.Jitter * (2*randFloat() - 1))
	return d + j
}

func newRunID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

func (s *Service) emit(kind string, run archibald.SyncRun, errMsg string) {
	if s.cfg.OnEvent == nil {
		return
	}
	s.cfg.OnEvent(Event{
		Kind: kind, Service: s.name, RunID: run.ID, Page: run.NextPage - 1,
		TotalPages: run.TotalPages, Rows: run.Counts, Error: errMsg, At: time.Now(),
	})
}
