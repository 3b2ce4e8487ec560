package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"archibald"
	"archibald/bot"
	"archibald/erp"
	"archibald/erpsim"
	"archibald/orders"
	"archibald/priority"
	"archibald/sqlite"
	"archibald/syncer"
)

// The simulator's accounts: the one the measured system uses, and one per entity for
// the initial fill.
const (
	username = "agent"
	password = "bench-password"
)

func fillUser(entity string) string { return "fill-" + entity }

// env is the simulator and store of one mode or sweep size.
type env struct {
	sim   *erpsim.Server
	store *sqlite.DB
	log   *slog.Logger
}

func newEnv(ctx context.Context, o Options, products int, dbPath string) (*env, error) {
	users := map[string]string{username: password}
	for _, e := range archibald.Entities {
		users[fillUser(e)] = password
	}
	sim, err := erpsim.New(erpsim.Config{
		Seed: o.Seed, Customers: o.Customers, Products: products,
		PageTime: o.PageTime, StepTime: o.StepTime, Jitter: 0.1,
		Users: users, Logger: o.Logger,
	})
	if err != nil {
		return nil, err
	}
	store, err := sqlite.Open(ctx, dbPath, sqlite.WithLogger(o.Logger))
	if err != nil {
		sim.Close()
		return nil, err
	}
	return &env{sim: sim, store: store, log: o.Logger}, nil
}

func (e *env) close() {
	e.sim.Close()
	if err := e.store.Close(); err != nil {
		e.log.Warn("closing the bench store", "err", err)
	}
}

// session logs in as user to the simulator, through its in-memory transport.
func (e *env) session(user string) (*erp.Session, error) {
	return erp.NewSession(erp.Config{
		BaseURL: "http://erp.sim", Username: user, Password: password,
		HTTPClient: &http.Client{Transport: e.sim.RoundTripper()}, Logger: e.log,
	})
}

// fill runs one complete sync of each entity, the three at once, each on its own ERP
// session so that they do not queue behind each other: it is setup, not measured.
func (e *env) fill(ctx context.Context) error {
	type outcome struct {
		entity string
		err    error
	}
	results := make(chan outcome, 2*len(archibald.Entities))
	var svcs []*syncer.Service
	defer func() {
		for _, s := range svcs {
			s.Stop()
		}
	}()
	for _, entity := range archibald.Entities {
		sess, err := e.session(fillUser(entity))
		if err != nil {
			return err
		}
		svc, err := syncer.New(syncer.Config{
			Entity: entity, ERP: sess, Store: e.store, Interval: time.Hour, Logger: e.log,
			OnEvent: func(ev syncer.Event) {
				switch ev.Kind {
				case syncer.EventFinished:
					results <- outcome{entity: ev.Service}
				case syncer.EventFailed:
					results <- outcome{entity: ev.Service, err: errors.New(ev.Error)}
				}
			},
		})
		if err != nil {
			return err
		}
		if err := svc.Start(ctx); err != nil {
			return err
		}
		svcs = append(svcs, svc)
	}
	finished := map[string]bool{}
	for len(finished) < len(archibald.Entities) {
		select {
		case r := <-results:
			if r.err != nil {
				return fmt.Errorf("filling the %s mirror: %w", r.entity, r.err)
			}
			finished[r.entity] = true
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// syncWatch follows the measured sync services' events: it keeps them running, counts
// the rows they read while measuring, and tells when each finished a run after the
// settle began.
type syncWatch struct {
	mu sync.Mutex
	// guarded by mu
	services   map[string]*syncer.Service
	continuous bool // start a new run as soon as one finishes
	measuring  bool // count the rows read
	rows       int64
	lastSeen   map[string]runSeen // per service: rows seen so far by its current run
	started    map[string]chan struct{}
	settling   bool
	settleFrom time.Time
	settled    map[string]chan struct{} // closed at the first run finished after settleFrom
	failures   []string
}

type runSeen struct {
	run  string
	seen int
}

func newSyncWatch() *syncWatch {
	w := &syncWatch{
		services:   map[string]*syncer.Service{},
		continuous: true,
		lastSeen:   map[string]runSeen{},
		started:    map[string]chan struct{}{},
		settled:    map[string]chan struct{}{},
	}
	for _, e := range archibald.Entities {
		w.started[e] = make(chan struct{})
		w.settled[e] = make(chan struct{})
	}
	return w
}

// onEvent is the services' OnEvent: quick, never blocking.
func (w *syncWatch) onEvent(ev syncer.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch ev.Kind {
	case syncer.EventStarted:
		w.lastSeen[ev.Service] = runSeen{ev.RunID, ev.Rows.Seen}
		closeOnce(w.started[ev.Service])
	case syncer.EventProgress:
		last := w.lastSeen[ev.Service]
		delta := ev.Rows.Seen
		if last.run == ev.RunID {
			delta -= last.seen
		}
		w.lastSeen[ev.Service] = runSeen{ev.RunID, ev.Rows.Seen}
		if w.measuring && delta > 0 {
			w.rows += int64(delta)
		}
	case syncer.EventFinished:
		if w.continuous {
			w.services[ev.Service].RunNow()
		}
		if w.settling && !ev.At.Before(w.settleFrom) {
			closeOnce(w.settled[ev.Service])
		}
	case syncer.EventFailed:
		w.failures = append(w.failures, ev.Service+": "+ev.Error)
	}
}

func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

func (w *syncWatch) setMeasuring(on bool) {
	w.mu.Lock()
	w.measuring = on
	w.mu.Unlock()
}

// beginSettle stops the endless runs: each service finishes the run it is in (or, idle,
// runs once more at its interval) and rests.
func (w *syncWatch) beginSettle() {
	w.mu.Lock()
	w.continuous, w.settling, w.settleFrom = false, true, time.Now()
	w.mu.Unlock()
}

func (w *syncWatch) resetRows() {
	w.mu.Lock()
	w.rows = 0
	w.mu.Unlock()
}

func (w *syncWatch) snapshot() (rows int64, failures []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rows, slices.Clone(w.failures)
}

// waitAll waits until every channel in chans is closed.
func waitAll(ctx context.Context, chans map[string]chan struct{}, what string) error {
	for name, ch := range chans {
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the %s service to %s: %w", name, what, context.Cause(ctx))
		}
	}
	return nil
}

// orderResult is one order's outcome as the generator saw it.
type orderResult struct {
	latency time.Duration
	status  archibald.OrderStatus
	err     string
}

// runMode measures one mode on a fresh simulator and store.
func runMode(ctx context.Context, o Options, mode Mode, p *progressLine) (ModeReport, error) {
	rep := ModeReport{Mode: mode}
	dir, cleanup, err := workDir(o)
	if err != nil {
		return rep, err
	}
	defer cleanup()
	p.set("%s: generating the ERP data", mode)
	e, err := newEnv(ctx, o, o.Products, filepath.Join(dir, string(mode)+".db"))
	if err != nil {
		return rep, err
	}
	defer e.close()

	p.set("%s: filling the mirror", mode)
	fillStart := time.Now()
	if err := e.fill(ctx); err != nil {
		return rep, err
	}
	rep.FillMs = ms(time.Since(fillStart))
	plan, err := planOrders(ctx, e.store, o.Orders, o.Seed, mode)
	if err != nil {
		return rep, err
	}

	// The measured system: one ERP session shared by the services and the bot.
	sess, err := e.session(username)
	if err != nil {
		return rep, err
	}
	var manager *priority.Manager
	if mode == ModePriority {
		manager = priority.New(priority.WithGrace(o.Grace), priority.WithLogger(e.log))
		if err := manager.Register("erp", sess); err != nil {
			return rep, err
		}
	}
	watch := newSyncWatch()
	var svcs []*syncer.Service
	stopServices := func() {
		for _, s := range svcs {
			s.Stop()
		}
	}
	defer stopServices()
	if mode != ModeIdle {
		for _, entity := range archibald.Entities {
			svc, err := syncer.New(syncer.Config{
				Entity: entity, ERP: sess, Store: e.store, Manager: manager,
				Interval: o.SyncInterval, Logger: e.log, OnEvent: watch.onEvent,
			})
			if err != nil {
				return rep, err
			}
			watch.mu.Lock()
			watch.services[entity] = svc
			watch.mu.Unlock()
			if err := svc.Start(ctx); err != nil {
				return rep, err
			}
			svcs = append(svcs, svc)
			svc.RunNow() // the mirror is fresh, so the first run would wait an interval
		}
		p.set("%s: starting the sync services", mode)
		if err := waitAll(ctx, watch.started, "start"); err != nil {
			return rep, err
		}
		// The services alone first: their throughput against what the session serves.
		p.set("%s: the sync services alone for %v", mode, o.SyncAlone)
		watch.setMeasuring(true)
		err := sleepUntil(ctx, time.Now().Add(o.SyncAlone))
		watch.setMeasuring(false)
		if err != nil {
			return rep, err
		}
		alone, _ := watch.snapshot()
		watch.resetRows()
		rep.SyncAloneRowsPerSec = round1(float64(alone) / o.SyncAlone.Seconds())
		if o.PageTime > 0 {
			rep.ERPRowsPerSec = round1(float64(erpsim.DefaultPageSize) / o.PageTime.Seconds())
		}
	}
	ordersCfg := orders.Config{
		Store: e.store, Mirror: e.store, Bot: bot.New(sess, e.store, e.log),
		Timeout: o.OrderTimeout, Logger: e.log,
	}
	if manager != nil {
		// Only a real manager: a nil *Manager in the interface would not be nil.
		ordersCfg.Priority = manager
	}
	osvc, err := orders.New(ordersCfg)
	if err != nil {
		return rep, err
	}
	if err := osvc.Start(ctx); err != nil {
		return rep, err
	}
	defer osvc.Stop()

	var (
		pauses       <-chan priority.Event
		unsubscribe  = func() {}
		viewLostFrom = e.sim.Stats().ViewLost
	)
	if manager != nil {
		pauses, unsubscribe = manager.Subscribe(64 + 16*o.Orders)
	}
	defer unsubscribe()

	windowStart := time.Now()
	watch.setMeasuring(true)
	results, err := submitOrders(ctx, o, mode, osvc, plan, p)
	watch.setMeasuring(false)
	window := time.Since(windowStart)
	if err != nil {
		return rep, err
	}
	if manager != nil {
		unsubscribe() // closes pauses, which keeps the events sent before
		var took []time.Duration
		for ev := range pauses {
			if ev.Kind == priority.EventPaused {
				took = append(took, ev.Took)
			}
		}
		q := quiesceOf(took)
		rep.QuiesceMs = &q
		if n := manager.DroppedEvents(); n > 0 {
			return rep, fmt.Errorf("%d priority events were dropped: the time to quiesce would be incomplete", n)
		}
	}
	rep.ViewLost = e.sim.Stats().ViewLost - viewLostFrom
	rep.WindowMs = ms(window)
	rows, _ := watch.snapshot()
	if window > 0 {
		rep.SyncRowsPerSec = round1(float64(rows) / window.Seconds())
	}
	var latencies []time.Duration
	failures := map[string]int{}
	for _, r := range results {
		latencies = append(latencies, r.latency)
		if r.status == archibald.OrderCreated {
			rep.Orders.Created++
		} else {
			rep.Orders.Failed++
			failures[r.err]++
		}
	}
	rep.LatencyMs = latencyOf(latencies)
	rep.Failures = failureList(failures)

	if mode != ModeIdle {
		p.set("%s: %d/%d orders done; letting the sync services finish their runs", mode, len(results), len(plan))
		settleStart := time.Now()
		watch.beginSettle()
		sctx, cancel := context.WithTimeoutCause(ctx, o.SettleTimeout,
			fmt.Errorf("the final sync runs took longer than %v", o.SettleTimeout))
		err := waitAll(sctx, watch.settled, "finish a run")
		cancel()
		if err != nil {
			return rep, err
		}
		rep.SettleMs = ms(time.Since(settleStart))
	}
	osvc.Stop()
	stopServices() // so that no run is in progress while the mirror is compared
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	if err := e.sim.CompareMirror(ctx, e.store); err != nil {
		var mm *erpsim.Mismatch
		if !errors.As(err, &mm) {
			return rep, fmt.Errorf("comparing the mirror with the ERP: %w", err)
		}
		rep.MirrorDiff = err.Error()
	} else {
		rep.MirrorMatches = true
	}
	if _, syncFailures := watch.snapshot(); len(syncFailures) > 0 && !rep.MirrorMatches {
		rep.MirrorDiff += "; sync failures: " + fmt.Sprint(syncFailures)
	}
	return rep, nil
}

// submitOrders submits the planned orders at o.Rate and waits for their outcomes.
func submitOrders(ctx context.Context, o Options, mode Mode, svc *orders.Service, plan []orders.Request, p *progressLine) ([]orderResult, error) {
	results := make([]orderResult, len(plan))
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		done int
	)
	finished := func() {
		mu.Lock()
		done++
		n := done
		mu.Unlock()
		p.set("%s: %d/%d orders done", mode, n, len(plan))
	}
	p.set("%s: 0/%d orders done", mode, len(plan))
	start := time.Now()
	interval := float64(time.Second) / o.Rate
	var err error
	for i, req := range plan {
		if err = sleepUntil(ctx, start.Add(time.Duration(float64(i)*interval))); err != nil {
			break
		}
		submitted := time.Now()
		ord, _, serr := svc.Submit(ctx, req, "")
		if serr != nil {
			results[i] = orderResult{latency: time.Since(submitted), status: archibald.OrderFailed,
				err: "not accepted: " + serr.Error()}
			finished()
			continue
		}
		wg.Go(func() {
			got, werr := svc.Wait(ctx, ord.ID)
			r := orderResult{latency: time.Since(submitted), status: got.Status, err: got.Error}
			switch {
			case werr != nil:
				r.status, r.err = archibald.OrderFailed, "waiting for the outcome: "+werr.Error()
			case got.Status != archibald.OrderCreated && got.Status != archibald.OrderFailed:
				r.status, r.err = archibald.OrderFailed, "no outcome: the order is still "+string(got.Status)
			}
			results[i] = r
			finished()
		})
	}
	wg.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return results, err
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func failureList(m map[string]int) []Failure {
	out := make([]Failure, 0, len(m))
	for msg, n := range m {
		out = append(out, Failure{Error: msg, Count: n})
	}
	slices.SortFunc(out, func(a, b Failure) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return cmp.Compare(a.Error, b.Error)
	})
	if len(out) == 0 {
		return nil
	}
	return out
}

// workDir makes a new directory for a store, under o.Dir (default: the system's
// temporary directory), and returns the function that removes it.
func workDir(o Options) (string, func(), error) {
	dir, err := os.MkdirTemp(o.Dir, "archibald-bench-*")
	if err != nil {
		return "", nil, fmt.Errorf("making a temporary directory for the store: %w", err)
	}
	return dir, func() { _ = os.RemoveAll(dir) }, nil
}
