package syncer_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"archibald"
	"archibald/erpsim"
	"archibald/internal/testenv"
	"archibald/priority"
	"archibald/syncer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder collects the services' events; the tests wait on it. Each service's events
// are read in order through its own cursor, so waiting for one service's event never
// consumes another's.
type recorder struct {
	mu      sync.Mutex
	events  map[string][]syncer.Event // by service
	cursors map[string]int
	changed chan struct{} // closed and replaced at each event
}

func newRecorder() *recorder {
	return &recorder{events: map[string][]syncer.Event{}, cursors: map[string]int{}, changed: make(chan struct{})}
}

func (r *recorder) on(ev syncer.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events[ev.Service] = append(r.events[ev.Service], ev)
	close(r.changed)
	r.changed = make(chan struct{})
}

// next returns the service's next unread event, waiting for it until the (fake) clock
// has moved by timeout; ok is false on timeout.
func (r *recorder) next(service string, timeout time.Duration) (syncer.Event, bool) {
	expire := time.After(timeout)
	for {
		r.mu.Lock()
		if i := r.cursors[service]; i < len(r.events[service]) {
			r.cursors[service] = i + 1
			ev := r.events[service][i]
			r.mu.Unlock()
			return ev, true
		}
		changed := r.changed
		r.mu.Unlock()
		select {
		case <-changed:
		case <-expire:
			return syncer.Event{}, false
		}
	}
}

// waitFor returns the service's next event of the kind, failing after a long stretch
// of (fake) time.
func (r *recorder) waitFor(t *testing.T, kind, service string) syncer.Event {
	t.Helper()
	deadline := time.Now().Add(time.Hour)
	for {
		ev, ok := r.next(service, time.Until(deadline))
		if !ok {
			t.Fatalf("no %s event from %s within an hour", kind, service)
		}
		if ev.Kind == kind {
			return ev
		}
		if ev.Kind == syncer.EventFailed {
			t.Logf("sync failed: %+v", ev)
		}
	}
}

// waitForPage returns once the service has committed the page.
func (r *recorder) waitForPage(t *testing.T, service string, page int) syncer.Event {
	t.Helper()
	for {
		ev := r.waitFor(t, syncer.EventProgress, service)
		if ev.Page >= page {
			return ev
		}
	}
}

// logRecorder keeps the messages logged at Warn and above.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (h *logRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, r.Message)
	return nil
}
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }
func (h *logRecorder) has(msg string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.msgs {
		if m == msg {
			return true
		}
	}
	return false
}

type fixture struct {
	env      *testenv.Env
	events   *recorder
	services map[string]*syncer.Service
}

// newFixture builds the environment and the services of the entities (not started).
func newFixture(t *testing.T, o testenv.Options, logger *slog.Logger, entities ...string) *fixture {
	t.Helper()
	env := testenv.New(t, o)
	f := &fixture{env: env, events: newRecorder(), services: map[string]*syncer.Service{}}
	for _, e := range entities {
		f.services[e] = f.newService(t, e, env.Store, logger)
	}
	return f
}

func (f *fixture) newService(t *testing.T, entity string, store archibald.MirrorStore, logger *slog.Logger) *syncer.Service {
	t.Helper()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	svc, err := syncer.New(syncer.Config{
		Entity: entity, ERP: f.env.Session, Store: store, Manager: f.env.Manager,
		Interval: time.Hour, RetryBase: 50 * time.Millisecond, Logger: logger, OnEvent: f.events.on,
	})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func (f *fixture) start(t *testing.T) {
	t.Helper()
	for _, svc := range f.services {
		if err := svc.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(f.stop)
}

func (f *fixture) stop() {
	for _, svc := range f.services {
		svc.Stop()
	}
}

func assertMirror(t *testing.T, env *testenv.Env) {
	t.Helper()
	if err := env.Sim.CompareMirror(context.Background(), env.Store); err != nil {
		t.Fatal(err)
	}
}

func TestFullRunMirrorsTheERP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testenv.Options{}, nil, archibald.Entities...)
		f.start(t)
		for _, e := range archibald.Entities {
			ev := f.events.waitFor(t, syncer.EventFinished, e)
			if ev.Rows.Inserted == 0 || ev.Rows.Seen != ev.Rows.Inserted {
				t.Fatalf("%s first run counts %+v: want every row inserted", e, ev.Rows)
			}
		}
		f.stop()
		assertMirror(t, f.env)
		for _, svc := range f.services {
			st := svc.Status()
			if st.State != syncer.StateIdle || st.LastSuccessAt == nil || st.NextRunAt == nil || st.MirrorRows == 0 || st.LastError != "" {
				t.Fatalf("status after the run: %+v", st)
			}
		}
	})
}

func TestSecondRunCountsUnchangedRows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testenv.Options{}, nil, archibald.EntityCustomers)
		f.start(t)
		first := f.events.waitFor(t, syncer.EventFinished, archibald.EntityCustomers)
		f.services[archibald.EntityCustomers].RunNow()
		second := f.events.waitFor(t, syncer.EventFinished, archibald.EntityCustomers)
		if second.RunID == first.RunID {
			t.Fatal("the second run has the first run's id")
		}
		if r := second.Rows; r.Seen != first.Rows.Seen || r.Inserted != 0 || r.Updated != 0 || r.Deleted != 0 {
			t.Fatalf("second run over unchanged data counted %+v", r)
		}
	})
}

// TestPauseMidRun pauses in the middle of a run: Pause returns within one page, no page
// request reaches the ERP while paused, and after the resume the same run finishes.
func TestPauseMidRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const pageTime = 20 * time.Millisecond
		f := newFixture(t, testenv.Options{PageTime: pageTime, Products: 400}, nil, archibald.EntityProducts)
		f.start(t)
		started := f.events.waitFor(t, syncer.EventStarted, archibald.EntityProducts)
		f.events.waitForPage(t, archibald.EntityProducts, 5)
		<-time.After(pageTime / 2) // the next page is half served

		begin := time.Now()
		if err := f.env.Manager.Pause(context.Background()); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(begin); took > pageTime*11/10+time.Millisecond {
			t.Fatalf("Pause took %v, more than one page (%v)", took, pageTime)
		}
		svc := f.services[archibald.EntityProducts]
		if st := svc.Status(); st.State != syncer.StateWaiting {
			t.Fatalf("state while paused mid-run = %q, want waiting", st.State)
		}
		before := f.env.Sim.Stats().Requests
		<-time.After(10 * time.Minute)
		if after := f.env.Sim.Stats().Requests; after != before {
			t.Fatalf("%d requests reached the ERP while paused", after-before)
		}
		f.env.Manager.Resume()

		finished := f.events.waitFor(t, syncer.EventFinished, archibald.EntityProducts)
		if finished.RunID != started.RunID {
			t.Fatalf("run %s finished, want the paused run %s", finished.RunID, started.RunID)
		}
		assertProductsMatch(t, f.env)
		if rows := len(f.env.Sim.Products()); finished.Rows.Seen != rows {
			t.Fatalf("run saw %d rows, the ERP has %d: a page was lost or counted twice", finished.Rows.Seen, rows)
		}
	})
}

func assertProductsMatch(t *testing.T, env *testenv.Env) {
	t.Helper()
	got, err := env.Store.AllProducts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := env.Sim.Products()
	if len(got) != len(want) {
		t.Fatalf("mirror has %d products, the ERP %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("product %d differs: mirror %+v, ERP %+v", i, got[i], want[i])
		}
	}
}

// TestTimeToQuiesceIsOnePage pauses the three services at many points of their runs and
// checks each pause completes within one page's service time (plus its jitter): the
// session withdraws the waiting pages, so only the page the ERP is serving is waited for.
func TestTimeToQuiesceIsOnePage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const pageTime = 20 * time.Millisecond
		f := newFixture(t, testenv.Options{PageTime: pageTime, Customers: 600, Products: 900}, nil, archibald.Entities...)
		f.start(t)
		var worst time.Duration
		for i := range 25 {
			<-time.After(pageTime*3 + time.Duration(i)*time.Millisecond*7/5)
			begin := time.Now()
			if err := f.env.Manager.Pause(context.Background()); err != nil {
				t.Fatal(err)
			}
			worst = max(worst, time.Since(begin))
			f.env.Manager.Resume()
		}
		// ±10% jitter on the page time.
		if limit := pageTime*11/10 + time.Millisecond; worst > limit {
			t.Fatalf("slowest pause took %v, want at most %v", worst, limit)
		}
		t.Logf("slowest of 25 pauses with three services running: %v (page time %v)", worst, pageTime)
		for _, e := range archibald.Entities {
			f.events.waitFor(t, syncer.EventFinished, e)
		}
		f.stop()
		assertMirror(t, f.env)
	})
}

// TestPreemptedPageIsFetchedAgain preempts a slow page in flight: it rolls back and is
// fetched again, with no gap and no duplicate.
func TestPreemptedPageIsFetchedAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testenv.Options{}, nil, archibald.EntityProducts)
		if err := f.env.Sim.SetFaults(erpsim.Faults{SlowPages: map[string]erpsim.SlowPage{
			archibald.EntityProducts: {Page: 4, Delay: time.Second}}}); err != nil {
			t.Fatal(err)
		}
		f.start(t)
		f.events.waitForPage(t, archibald.EntityProducts, 3)
		<-time.After(500 * time.Millisecond) // page 4 is in flight, half way through its delay
		f.services[archibald.EntityProducts].Preempt()
		finished := f.events.waitFor(t, syncer.EventFinished, archibald.EntityProducts)
		if rows := len(f.env.Sim.Products()); finished.Rows.Seen != rows || finished.Rows.Inserted != rows {
			t.Fatalf("run counted %+v over %d rows", finished.Rows, rows)
		}
		assertProductsMatch(t, f.env)
	})
}

// TestHungPageIsPreemptedByTheManager: a page that never ends is preempted at the grace
// period, the hold goes on, and the run completes after the resume.
func TestHungPageIsPreemptedByTheManager(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const grace = 2 * time.Second
		f := newFixture(t, testenv.Options{Grace: grace}, nil, archibald.EntityPrices)
		events, cancel := f.env.Manager.Subscribe(64)
		defer cancel()
		if err := f.env.Sim.SetFaults(erpsim.Faults{HangPages: map[string]erpsim.HangPage{
			archibald.EntityPrices: {Page: 3}}}); err != nil {
			t.Fatal(err)
		}
		f.start(t)
		f.events.waitForPage(t, archibald.EntityPrices, 2)
		<-time.After(time.Second) // page 3 hangs
		begin := time.Now()
		if err := f.env.Manager.Pause(context.Background()); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(begin); took != grace {
			t.Fatalf("paused after %v, want the grace %v", took, grace)
		}
		preempted := false
		for _, ev := range drainEvents(events) {
			preempted = preempted || (ev.Kind == priority.EventPreempted && ev.Service == archibald.EntityPrices)
		}
		if !preempted {
			t.Fatal("no preempted event for prices")
		}
		f.env.Sim.ClearFaults()
		f.env.Manager.Resume()
		f.events.waitFor(t, syncer.EventFinished, archibald.EntityPrices)
		got, _ := f.env.Store.AllPrices(context.Background())
		if len(got) != len(f.env.Sim.Prices()) {
			t.Fatalf("mirror has %d prices, ERP %d", len(got), len(f.env.Sim.Prices()))
		}
	})
}

func drainEvents(ch <-chan priority.Event) []priority.Event {
	var evs []priority.Event
	for {
		select {
		case ev := <-ch:
			evs = append(evs, ev)
		default:
			return evs
		}
	}
}

// TestRestartContinuesTheRun closes the store in the middle of a run, reopens it, and
// checks the new service continues the same run from its checkpoint.
func TestRestartContinuesTheRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testenv.Options{}, nil, archibald.EntityCustomers)
		f.start(t)
		started := f.events.waitFor(t, syncer.EventStarted, archibald.EntityCustomers)
		f.events.waitForPage(t, archibald.EntityCustomers, 2)
		f.stop()
		if err := f.env.Store.Close(); err != nil {
			t.Fatal(err)
		}

		store := testenv.OpenStore(t, f.env.DBPath)
		f.env.Store = store
		svc := f.newService(t, archibald.EntityCustomers, store, nil)
		if err := svc.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer svc.Stop()
		resumed := f.events.waitFor(t, syncer.EventStarted, archibald.EntityCustomers)
		if resumed.RunID != started.RunID || resumed.Page < 2 {
			t.Fatalf("after the restart: run %s at page %d, want run %s from page 2 on", resumed.RunID, resumed.Page, started.RunID)
		}
		finished := f.events.waitFor(t, syncer.EventFinished, archibald.EntityCustomers)
		if finished.RunID != started.RunID {
			t.Fatalf("finished run %s, want %s", finished.RunID, started.RunID)
		}
		if rows := len(f.env.Sim.Customers()); finished.Rows.Seen != rows {
			t.Fatalf("run saw %d rows of %d across the restart", finished.Rows.Seen, rows)
		}
		svc.Stop()
		customers, _ := store.AllCustomers(context.Background())
		if len(customers) != len(f.env.Sim.Customers()) {
			t.Fatalf("mirror %d customers, ERP %d", len(customers), len(f.env.Sim.Customers()))
		}
	})
}

func TestMutationsAreMirrored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testenv.Options{}, nil, archibald.Entities...)
		f.start(t)
		for _, e := range archibald.Entities {
			f.events.waitFor(t, syncer.EventFinished, e)
		}
		did := f.env.Sim.Mutate(erpsim.DefaultMutation())
		for _, svc := range f.services {
			svc.RunNow()
		}
		byEntity := map[string]syncer.Event{}
		for _, e := range archibald.Entities {
			byEntity[e] = f.events.waitFor(t, syncer.EventFinished, e)
		}
		f.stop()
		assertMirror(t, f.env)
		if r := byEntity[archibald.EntityCustomers].Rows; r.Inserted != did.Customers.Add ||
			r.Updated != did.Customers.Change || r.Deleted != did.Customers.Remove {
			t.Fatalf("customers run counted %+v; the ERP did %+v", r, did.Customers)
		}
		if r := byEntity[archibald.EntityProducts].Rows; r.Deleted != did.Products.Remove {
			t.Fatalf("products run deleted %d; the ERP removed %d", r.Deleted, did.Products.Remove)
		}
	})
}

// TestImplausibleListsDeleteNothing: a run that sees an empty list, or under half the
// rows the mirror holds, keeps the mirror's rows and says so.
func TestImplausibleListsDeleteNothing(t *testing.T) {
	for _, remove := range []int{100, 60} { // all customers; more than half of them
		t.Run(fmt.Sprintf("remove %d of 100", remove), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				logs := &logRecorder{}
				f := newFixture(t, testenv.Options{Customers: 100}, slog.New(logs), archibald.EntityCustomers)
				f.start(t)
				f.events.waitFor(t, syncer.EventFinished, archibald.EntityCustomers)
				f.env.Sim.Mutate(erpsim.Mutation{Customers: erpsim.MutationCounts{Remove: remove}})
				f.services[archibald.EntityCustomers].RunNow()
				ev := f.events.waitFor(t, syncer.EventFinished, archibald.EntityCustomers)
				if ev.Rows.Deleted != 0 {
					t.Fatalf("deleted %d rows after an implausible run", ev.Rows.Deleted)
				}
				if n, _ := f.env.Store.MirrorCount(context.Background(), archibald.EntityCustomers); n != 100 {
					t.Fatalf("mirror holds %d customers, want the 100 kept", n)
				}
				want := "the run saw fewer than half the rows the mirror holds; keeping them"
				if remove == 100 {
					want = "the run saw no rows; keeping every row of the mirror"
				}
				if !logs.has(want) {
					t.Fatalf("no warning %q; got %v", want, logs.msgs)
				}
			})
		})
	}
}

// TestRunDueWhilePausedRunsAfterResume: a run that falls due during a pause waits, and
// runs as soon as the pause ends; it is not skipped.
func TestRunDueWhilePausedRunsAfterResume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testenv.Options{}, nil, archibald.EntityCustomers)
		f.start(t)
		first := f.events.waitFor(t, syncer.EventFinished, archibald.EntityCustomers)
		if err := f.env.Manager.Pause(context.Background()); err != nil {
			t.Fatal(err)
		}
		<-time.After(3 * time.Hour) // two intervals (1h ± 10%) fall due while paused
		svc := f.services[archibald.EntityCustomers]
		if st := svc.Status(); st.State != syncer.StateWaiting {
			t.Fatalf("state with a run due while paused = %q, want waiting", st.State)
		}
		resumedAt := time.Now()
		f.env.Manager.Resume()
		started := f.events.waitFor(t, syncer.EventStarted, archibald.EntityCustomers)
		if started.RunID == first.RunID {
			t.Fatal("no new run after the resume")
		}
		second := f.events.waitFor(t, syncer.EventFinished, archibald.EntityCustomers)
		if second.At.Sub(resumedAt) > time.Minute {
			t.Fatalf("the owed run finished %v after the resume", second.At.Sub(resumedAt))
		}
		// The owed runs coalesced: the next one is an interval away, not at once.
		if ev, ok := f.events.next(archibald.EntityCustomers, 50*time.Minute); ok {
			t.Fatalf("another run after the owed one: %+v", ev)
		}
	})
}

func TestRunNowCoalesces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testenv.Options{}, nil, archibald.EntityPrices)
		f.start(t)
		f.events.waitFor(t, syncer.EventStarted, archibald.EntityPrices)
		svc := f.services[archibald.EntityPrices]
		for range 5 {
			svc.RunNow() // while the first run is in progress
		}
		first := f.events.waitFor(t, syncer.EventFinished, archibald.EntityPrices)
		second := f.events.waitFor(t, syncer.EventFinished, archibald.EntityPrices)
		if second.RunID == first.RunID {
			t.Fatal("the owed run did not run")
		}
		if ev, ok := f.events.next(archibald.EntityPrices, 50*time.Minute); ok {
			t.Fatalf("five requests gave more than one owed run: %+v", ev)
		}
	})
}

func TestTransientErrorsAreRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testenv.Options{}, nil, archibald.Entities...)
		if err := f.env.Sim.SetFaults(erpsim.Faults{ErrorRate: 0.2}); err != nil {
			t.Fatal(err)
		}
		f.start(t)
		for _, e := range archibald.Entities {
			f.events.waitFor(t, syncer.EventFinished, e)
		}
		f.stop()
		assertMirror(t, f.env)
	})
}

func TestStopReturnsAtPageBoundaryAndIsIdempotent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testenv.Options{}, nil, archibald.EntityProducts)
		svc := f.services[archibald.EntityProducts]
		svc.Stop() // before Start: nothing
		f.start(t)
		f.events.waitForPage(t, archibald.EntityProducts, 2)
		<-time.After(10 * time.Millisecond) // page 3 half served
		svc.Stop()
		svc.Stop()
		run, ok, err := f.env.Store.CurrentRun(context.Background(), archibald.EntityProducts)
		if err != nil || !ok {
			t.Fatalf("CurrentRun = %v, %v", ok, err)
		}
		if run.NextPage != 4 {
			t.Fatalf("checkpoint at page %d after Stop, want 4: the page in flight finishes", run.NextPage)
		}
		if err := svc.Start(context.Background()); err == nil {
			t.Fatal("Start after Stop succeeded")
		}
	})
}

func TestNewValidates(t *testing.T) {
	f := newFixture(t, testenv.Options{}, nil)
	tests := []struct {
		name string
		cfg  syncer.Config
	}{
		{"unknown entity", syncer.Config{Entity: "invoices", ERP: f.env.Session, Store: f.env.Store}},
		{"no store", syncer.Config{Entity: "prices", ERP: f.env.Session}},
		{"bad jitter", syncer.Config{Entity: "prices", ERP: f.env.Session, Store: f.env.Store, Jitter: 1.5}},
		{"negative interval", syncer.Config{Entity: "prices", ERP: f.env.Session, Store: f.env.Store, Interval: -time.Second}},
	}
	for _, tt := range tests {
		if _, err := syncer.New(tt.cfg); err == nil {
			t.Errorf("%s: New succeeded", tt.name)
		}
	}
	if _, err := syncer.New(syncer.Config{Entity: "prices", ERP: f.env.Session, Store: f.env.Store}); err != nil {
		t.Fatal(err)
	}
	_ = errors.New
}
