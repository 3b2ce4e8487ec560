package priority

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// newGates registers n gates named s0, s1, … and returns them.
func newGates(t *testing.T, m *Manager, n int) []*Gate {
	t.Helper()
	gates := make([]*Gate, n)
	for i := range gates {
		gates[i] = NewGate()
		if err := m.Register(fmt.Sprintf("s%d", i), gates[i]); err != nil {
			t.Fatal(err)
		}
	}
	return gates
}

func allPaused(gates []*Gate) bool {
	for _, g := range gates {
		if !g.Paused() {
			return false
		}
	}
	return true
}

func noneRunning(gates []*Gate) bool {
	for _, g := range gates {
		if g.Paused() {
			return false
		}
	}
	return true
}

func TestHoldsAreCounted(t *testing.T) {
	ctx := context.Background()
	m := New()
	gates := newGates(t, m, 3)

	if err := m.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Pause(ctx); err != nil { // a second order arrives while paused
		t.Fatal(err)
	}
	if st := m.Status(); st.State != StatePaused || st.Holders != 2 || len(st.Paused) != 3 {
		t.Fatalf("status with two holds = %+v", st)
	}
	m.Resume() // the first order ends: the second still runs alone
	if !allPaused(gates) {
		t.Fatal("a service resumed while a hold remained")
	}
	if st := m.Status(); st.State != StatePaused || st.Holders != 1 {
		t.Fatalf("status with one hold = %+v", st)
	}
	m.Resume()
	if !noneRunning(gates) {
		t.Fatal("services still paused after the last release")
	}
	st := m.Status()
	if st.State != StateRunning || st.Holders != 0 || len(st.Paused) != 0 || st.Pauses != 1 {
		t.Fatalf("status after the last release = %+v", st)
	}
}

func TestResumeWithoutHoldIsANoOpThatWarns(t *testing.T) {
	h := &recordHandler{}
	m := New(WithLogger(slog.New(h)))
	gates := newGates(t, m, 1)
	m.Resume()
	if _, ok := h.find("priority: resume without a hold ignored"); !ok {
		t.Fatal("no warning logged")
	}
	if err := m.Pause(context.Background()); err != nil {
		t.Fatal(err)
	}
	m.Resume()
	m.Resume()
	if gates[0].Paused() || m.Status().Holders != 0 {
		t.Fatalf("state after extra Resume: gate paused=%v, %+v", gates[0].Paused(), m.Status())
	}
}

// TestPauseReturnsExactlyWhenBatchEnds checks the invariant with a fake clock: Pause
// returns at the instant the last in-flight batch ends, not before and not later.
func TestPauseReturnsExactlyWhenBatchEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New(WithGrace(time.Minute))
		gates := newGates(t, m, 3)
		// Three batches in flight that end after 10, 30 and 20 ms.
		for i, d := range []time.Duration{10 * time.Millisecond, 30 * time.Millisecond, 20 * time.Millisecond} {
			_, done := startBatch(t, gates[i])
			time.AfterFunc(d, done)
		}
		start := time.Now()
		if err := m.Pause(context.Background()); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took != 30*time.Millisecond {
			t.Fatalf("Pause returned after %v, want exactly 30ms (the longest batch)", took)
		}
		for i, g := range gates {
			if n := g.InFlight(); n != 0 {
				t.Fatalf("gate %d has %d batches in flight while held", i, n)
			}
		}
		if st := m.Status(); st.LastTook != 30*time.Millisecond {
			t.Fatalf("LastTook = %v, want 30ms", st.LastTook)
		}
		m.Resume()
	})
}

// TestNoBatchStartsWhileHeld: a service that tries to start a batch while a holder holds
// waits until the release.
func TestNoBatchStartsWhileHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New()
		gates := newGates(t, m, 1)
		if err := m.Pause(context.Background()); err != nil {
			t.Fatal(err)
		}
		entered := make(chan struct{})
		go func() {
			_, done, err := gates[0].Enter(context.Background())
			if err == nil {
				done()
			}
			close(entered)
		}()
		synctest.Wait()
		select {
		case <-entered:
			t.Fatal("a batch started while a holder held")
		default:
		}
		m.Resume()
		<-entered
	})
}

func TestCallerDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New(WithGrace(time.Hour))
		gates := newGates(t, m, 2)
		_, done := startBatch(t, gates[0]) // a batch that takes 1s
		time.AfterFunc(time.Second, done)

		// Two orders wait; the first gives up after 100ms, the second waits.
		short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		second := make(chan error, 1)
		go func() { second <- m.Pause(context.Background()) }()
		start := time.Now()
		err := m.Pause(short)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Pause with a 100ms deadline = %v, want DeadlineExceeded", err)
		}
		if took := time.Since(start); took != 100*time.Millisecond {
			t.Fatalf("Pause gave up after %v, want 100ms", took)
		}
		if st := m.Status(); st.Holders != 1 || st.State != StatePausing {
			t.Fatalf("after the first caller left: %+v, want one holder still pausing", st)
		}
		if err := <-second; err != nil {
			t.Fatalf("second Pause = %v", err)
		}
		if took := time.Since(start); took != time.Second {
			t.Fatalf("second Pause returned after %v, want 1s", took)
		}
		m.Resume()
		if !noneRunning(gates) || m.Status().Holders != 0 {
			t.Fatalf("after release: %+v", m.Status())
		}
	})
}

func TestPauseWithDoneContextHoldsNothing(t *testing.T) {
	m := New()
	gates := newGates(t, m, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Pause(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Pause = %v, want Canceled", err)
	}
	if st := m.Status(); st.Holders != 0 || st.State != StateRunning || gates[0].Paused() {
		t.Fatalf("after a cancelled Pause: %+v", st)
	}
}

// TestAbandonedPause: when every waiter leaves before the services are paused, the
// pause is abandoned and the services that were paused resume.
func TestAbandonedPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New(WithGrace(time.Hour))
		events, cancelSub := m.Subscribe(64)
		defer cancelSub()
		gates := newGates(t, m, 2)
		_, done := startBatch(t, gates[1]) // s1 stays busy
		defer done()

		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := m.Pause(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Pause = %v, want DeadlineExceeded", err)
		}
		synctest.Wait() // the busy service's Pause returns once the epoch is cancelled
		if !noneRunning(gates) {
			t.Fatal("services still paused after the pause was abandoned")
		}
		st := m.Status()
		if st.State != StateRunning || st.Holders != 0 || st.Pauses != 0 {
			t.Fatalf("status after abandon = %+v", st)
		}
		got := kinds(drain(events))
		if got[0] != EventPausing || got[len(got)-1] != EventResumed || slices.Contains(got, EventPaused) {
			t.Fatalf("events = %v, want pausing … resumed without paused", got)
		}
		// The manager is usable again.
		done()
		if err := m.Pause(context.Background()); err != nil {
			t.Fatal(err)
		}
		m.Resume()
	})
}

func TestGraceThenPreemption(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const grace = 200 * time.Millisecond
		m := New(WithGrace(grace))
		events, cancelSub := m.Subscribe(64)
		defer cancelSub()
		gates := newGates(t, m, 2)
		// s0's batch hangs until its context is cancelled (a hung ERP page).
		bctx, done := startBatch(t, gates[0])
		go func() {
			<-bctx.Done()
			done()
		}()

		start := time.Now()
		paused := make(chan error, 1)
		go func() { paused <- m.Pause(context.Background()) }()

		advanceClock(grace - time.Millisecond) // advance the fake clock to just before the grace
		synctest.Wait()
		select {
		case <-paused:
			t.Fatal("Pause returned before the grace period")
		default:
		}
		if bctx.Err() != nil {
			t.Fatal("batch preempted before the grace period")
		}
		if err := <-paused; err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took != grace {
			t.Fatalf("paused after %v, want exactly the grace %v", took, grace)
		}
		if !errors.Is(context.Cause(bctx), ErrPreempted) {
			t.Fatalf("batch cause = %v, want ErrPreempted", context.Cause(bctx))
		}
		var preempted []string
		for _, ev := range drain(events) {
			if ev.Kind == EventPreempted {
				preempted = append(preempted, ev.Service)
			}
		}
		if !slices.Equal(preempted, []string{"s0"}) {
			t.Fatalf("preempted events for %v, want [s0]", preempted)
		}
		m.Resume()
	})
}

func TestServiceNotPreemptibleIsWaitedFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &recordHandler{}
		m := New(WithGrace(10*time.Millisecond), WithLogger(slog.New(h)))
		release := make(chan struct{})
		svc := &fakeService{pause: func(ctx context.Context) error {
			<-release
			return nil
		}}
		if err := m.Register("slow", svc); err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(time.Second, func() { close(release) })
		start := time.Now()
		if err := m.Pause(context.Background()); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took != time.Second {
			t.Fatalf("Pause took %v, want 1s", took)
		}
		if _, ok := h.find("service still busy after the grace period and cannot be preempted"); !ok {
			t.Fatal("no warning about a service that cannot be preempted")
		}
		m.Resume()
	})
}

func TestOneServiceFailing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New()
		events, cancelSub := m.Subscribe(64)
		defer cancelSub()
		gates := newGates(t, m, 2)
		boom := errors.New("boom")
		failing := &fakeService{pause: func(ctx context.Context) error {
			<-time.After(10 * time.Millisecond)
			return boom
		}}
		if err := m.Register("broken", failing); err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 3)
		for range 3 {
			go func() { errs <- m.Pause(context.Background()) }()
		}
		for range 3 {
			err := <-errs
			if !errors.Is(err, boom) || !strings.Contains(err.Error(), `"broken"`) {
				t.Fatalf("waiter got %v, want an error wrapping boom that names \"broken\"", err)
			}
		}
		synctest.Wait()
		if !noneRunning(gates) {
			t.Fatal("the services that were paused were not resumed")
		}
		if p, r := failing.counts(); p != 1 || r != 1 {
			t.Fatalf("failing service got %d pauses and %d resumes, want 1 and 1", p, r)
		}
		st := m.Status()
		if st.State != StateRunning || st.Holders != 0 || len(st.Paused) != 0 {
			t.Fatalf("status after failure = %+v", st)
		}
		var failed []Event
		for _, ev := range drain(events) {
			if ev.Kind == EventPauseFailed {
				failed = append(failed, ev)
			}
		}
		if len(failed) != 1 || !errors.Is(failed[0].Err, boom) {
			t.Fatalf("pause_failed events = %+v", failed)
		}
		// A later pause works once the service is fixed.
		failing.pause = nil
		if err := m.Pause(context.Background()); err != nil {
			t.Fatal(err)
		}
		m.Resume()
	})
}

type codeError struct{ code int }

func (e *codeError) Error() string { return fmt.Sprintf("code %d", e.code) }

func TestWithPriority(t *testing.T) {
	sentinel := errors.New("refused")
	tests := []struct {
		name  string
		fn    func(context.Context) error
		check func(t *testing.T, err error)
	}{
		{"nil", func(context.Context) error { return nil }, func(t *testing.T, err error) {
			if err != nil {
				t.Fatalf("err = %v", err)
			}
		}},
		{"sentinel error unchanged", func(context.Context) error { return fmt.Errorf("wrapped: %w", sentinel) },
			func(t *testing.T, err error) {
				if !errors.Is(err, sentinel) || err.Error() != "wrapped: refused" {
					t.Fatalf("err = %v", err)
				}
			}},
		{"typed error unchanged", func(context.Context) error { return &codeError{409} },
			func(t *testing.T, err error) {
				var ce *codeError
				if !errors.As(err, &ce) || ce.code != 409 {
					t.Fatalf("err = %v", err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &recordHandler{}
			m := New(WithLogger(slog.New(h)))
			gates := newGates(t, m, 3)
			ran := false
			err := m.WithPriority(context.Background(), func(ctx context.Context) error {
				ran = true
				if !allPaused(gates) {
					t.Error("fn runs while a service is not paused")
				}
				return tt.fn(ctx)
			})
			tt.check(t, err)
			if !ran {
				t.Fatal("fn did not run")
			}
			if !noneRunning(gates) || m.Status().Holders != 0 {
				t.Fatalf("hold not released: %+v", m.Status())
			}
			for _, msg := range []string{"priority lock acquired", "priority lock released"} {
				r, ok := h.find(msg)
				if !ok || r.Level != slog.LevelDebug {
					t.Fatalf("no Debug %q record", msg)
				}
			}
		})
	}
}

func TestWithPriorityPanic(t *testing.T) {
	m := New()
	gates := newGates(t, m, 2)
	defer func() {
		if r := recover(); r != "bot exploded" {
			t.Fatalf("recovered %v, want the original panic", r)
		}
		if !noneRunning(gates) || m.Status().Holders != 0 {
			t.Fatalf("hold not released after panic: %+v", m.Status())
		}
	}()
	_ = m.WithPriority(context.Background(), func(context.Context) error { panic("bot exploded") })
	t.Fatal("panic was swallowed")
}

func TestWithPriorityCancellation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New(WithGrace(time.Hour))
		gates := newGates(t, m, 1)
		_, done := startBatch(t, gates[0])
		defer done()

		// Cancelled while waiting for the pause: fn never runs, nothing is held.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		err := m.WithPriority(ctx, func(context.Context) error {
			t.Error("fn ran without the pause")
			return nil
		})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want DeadlineExceeded", err)
		}
		synctest.Wait()
		if st := m.Status(); st.Holders != 0 || st.State != StateRunning || gates[0].Paused() {
			t.Fatalf("after cancelled wait: %+v", st)
		}
		done()

		// Cancelled while fn runs: fn sees it, its error comes back, the hold is released.
		ctx2, cancel2 := context.WithCancel(context.Background())
		err = m.WithPriority(ctx2, func(ctx context.Context) error {
			cancel2()
			<-ctx.Done()
			return ctx.Err()
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want Canceled", err)
		}
		if st := m.Status(); st.Holders != 0 || gates[0].Paused() {
			t.Fatalf("after cancel inside fn: %+v", st)
		}
	})
}

func TestDo(t *testing.T) {
	m := New()
	gates := newGates(t, m, 1)
	id, err := Do(context.Background(), m, func(context.Context) (string, error) {
		if !gates[0].Paused() {
			t.Error("Do runs fn unpaused")
		}
		return "ORD-1", nil
	})
	if err != nil || id != "ORD-1" {
		t.Fatalf("Do = %q, %v", id, err)
	}
	if gates[0].Paused() {
		t.Fatal("hold not released")
	}
}

func TestRegisterDuringHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New()
		newGates(t, m, 1)
		if err := m.Pause(context.Background()); err != nil {
			t.Fatal(err)
		}
		late := NewGate()
		_, done := startBatch(t, late) // it is mid-batch when it registers
		time.AfterFunc(40*time.Millisecond, done)
		start := time.Now()
		if err := m.Register("late", late); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took != 40*time.Millisecond {
			t.Fatalf("Register returned after %v, want 40ms, when its batch ended", took)
		}
		if !late.Paused() || late.InFlight() != 0 {
			t.Fatal("service registered during a hold is not paused")
		}
		if st := m.Status(); !slices.Equal(st.Paused, []string{"late", "s0"}) {
			t.Fatalf("Paused = %v", st.Paused)
		}
		m.Resume()
		if late.Paused() {
			t.Fatal("late service not resumed with the others")
		}
	})
}

func TestRegisterDuringHoldFailing(t *testing.T) {
	m := New()
	newGates(t, m, 1)
	if err := m.Pause(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Resume()
	bad := &fakeService{pause: func(context.Context) error { return errors.New("stuck") }}
	err := m.Register("bad", bad)
	if err == nil || !strings.Contains(err.Error(), `"bad"`) {
		t.Fatalf("Register = %v, want an error naming the service", err)
	}
	if p, r := bad.counts(); p != 1 || r != 1 {
		t.Fatalf("pauses %d resumes %d, want 1 and 1", p, r)
	}
	if st := m.Status(); len(st.Services) != 1 || st.State != StatePaused {
		t.Fatalf("status = %+v, want the failed service left out and the hold intact", st)
	}
}

func TestRegisterAndUnregister(t *testing.T) {
	m := New()
	gates := newGates(t, m, 2)
	if err := m.Register("s0", NewGate()); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate Register = %v, want ErrDuplicate", err)
	}
	if err := m.Unregister("nope"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("Unregister unknown = %v, want ErrUnknown", err)
	}
	if err := m.Pause(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.Unregister("s1"); err != nil {
		t.Fatal(err)
	}
	if gates[1].Paused() {
		t.Fatal("Unregister did not resume the service the manager paused")
	}
	if !gates[0].Paused() {
		t.Fatal("Unregister resumed another service")
	}
	m.Resume()
	if gates[0].Paused() || gates[1].Paused() {
		t.Fatal("services paused after the release")
	}
	if st := m.Status(); len(st.Services) != 1 || st.Services[0].Name != "s0" {
		t.Fatalf("services = %+v", st.Services)
	}
}

func TestUnregisterWhilePausing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New(WithGrace(time.Hour))
		gates := newGates(t, m, 2)
		_, done := startBatch(t, gates[1]) // s1 is busy
		paused := make(chan error, 1)
		go func() { paused <- m.Pause(context.Background()) }()
		synctest.Wait()
		// Removing the busy service lets the pause complete without it.
		if err := m.Unregister("s1"); err != nil {
			t.Fatal(err)
		}
		if err := <-paused; err != nil {
			t.Fatal(err)
		}
		done()
		synctest.Wait()
		if gates[1].Paused() {
			t.Fatal("the unregistered service stayed paused")
		}
		m.Resume()
	})
}

func TestEventsInOrder(t *testing.T) {
	m := New()
	events, cancel := m.Subscribe(64)
	defer cancel()
	newGates(t, m, 2)
	if err := m.Pause(context.Background()); err != nil {
		t.Fatal(err)
	}
	m.Resume()
	evs := drain(events)
	got := kinds(evs)
	want := []EventKind{EventPausing, EventServicePaused, EventServicePaused, EventPaused,
		EventServiceResumed, EventServiceResumed, EventResumed}
	if !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	if evs[0].Holders != 1 || evs[0].At.IsZero() {
		t.Fatalf("pausing event = %+v", evs[0])
	}
	if evs[4].Service == "" {
		t.Fatalf("service event without a name: %+v", evs[4])
	}
}

func TestEventsNeverBlock(t *testing.T) {
	m := New()
	slow, cancelSlow := m.Subscribe(1) // never read
	fast, cancelFast := m.Subscribe(1024)
	newGates(t, m, 3)
	const cycles = 50
	for range cycles {
		if err := m.Pause(context.Background()); err != nil {
			t.Fatal(err)
		}
		m.Resume()
	}
	perCycle := 1 + 3 + 1 + 3 + 1
	if got := len(drain(fast)); got != cycles*perCycle {
		t.Fatalf("fast subscriber got %d events, want %d", got, cycles*perCycle)
	}
	if got, want := m.DroppedEvents(), int64(cycles*perCycle-1); got != want {
		t.Fatalf("DroppedEvents = %d, want %d", got, want)
	}
	cancelSlow()
	cancelSlow() // safe twice
	if evs := drain(slow); len(evs) != 1 {
		t.Fatalf("slow subscriber kept %d events, want its buffer of 1", len(evs))
	}
	if _, ok := <-slow; ok {
		t.Fatal("channel open after cancel")
	}
	cancelFast()
}

func TestLogging(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &recordHandler{}
		m := New(WithLogger(slog.New(h)), WithGrace(time.Hour))
		gates := newGates(t, m, 1)
		_, done := startBatch(t, gates[0])
		time.AfterFunc(25*time.Millisecond, done)
		if err := m.Pause(context.Background()); err != nil {
			t.Fatal(err)
		}
		advanceClock(time.Second) // advance the fake clock: the services stay paused 1s
		m.Resume()

		tests := []struct {
			msg   string
			level slog.Level
			attrs map[string]any
		}{
			{"pausing background services", slog.LevelInfo, map[string]any{"holders": int64(1)}},
			{"background services paused", slog.LevelInfo, map[string]any{"took": 25 * time.Millisecond, "holders": int64(1)}},
			{"background services resumed", slog.LevelInfo, map[string]any{"pausedFor": time.Second}},
			{"service paused", slog.LevelDebug, map[string]any{"service": "s0"}},
			{"service resumed", slog.LevelDebug, map[string]any{"service": "s0"}},
		}
		for _, tt := range tests {
			r, ok := h.find(tt.msg)
			if !ok {
				t.Fatalf("no record %q", tt.msg)
			}
			if r.Level != tt.level {
				t.Errorf("%q at %v, want %v", tt.msg, r.Level, tt.level)
			}
			for k, want := range tt.attrs {
				v, ok := attr(r, k)
				if !ok || v.Any() != want {
					t.Errorf("%q: %s = %v, want %v", tt.msg, k, v.Any(), want)
				}
			}
		}
	})
}

func TestLinger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const linger = 100 * time.Millisecond
		m := New(WithLinger(linger))
		events, cancel := m.Subscribe(64)
		defer cancel()
		gates := newGates(t, m, 2)

		if err := m.Pause(context.Background()); err != nil {
			t.Fatal(err)
		}
		m.Resume()
		if st := m.Status(); st.State != StateResuming || !allPaused(gates) {
			t.Fatalf("right after the release: %+v, want resuming with services still paused", st)
		}
		// A new order 60ms later finds the services paused and runs at once.
		advanceClock(60 * time.Millisecond)
		if err := m.Pause(context.Background()); err != nil {
			t.Fatal(err)
		}
		if st := m.Status(); st.State != StatePaused || st.Pauses != 1 {
			t.Fatalf("hold within the linger: %+v, want the same pause kept", st)
		}
		m.Resume()
		released := time.Now()

		// The first linger's timer would have fired at 100ms; only the latest counts.
		advanceClock(linger - time.Millisecond)
		if !allPaused(gates) {
			t.Fatal("services resumed before the linger after the last release")
		}
		advanceClock(time.Millisecond)
		synctest.Wait()
		if !noneRunning(gates) {
			t.Fatal("services not resumed when the linger ended")
		}
		if since := time.Since(released); since != linger {
			t.Fatalf("resumed %v after the release, want %v", since, linger)
		}
		got := kinds(drain(events))
		if n := strings.Count(fmt.Sprint(got), "pausing"); n != 1 {
			t.Fatalf("events %v: want one pausing", got)
		}
	})
}

func TestDefaultIsOneInstance(t *testing.T) {
	first, second := Default(), Default()
	if first != second || first == nil {
		t.Fatal("Default is not one instance")
	}
}

func TestStateAndKindNames(t *testing.T) {
	for s, want := range map[State]string{StateRunning: "running", StatePausing: "pausing", StatePaused: "paused", StateResuming: "resuming"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", s, s.String(), want)
		}
	}
	if EventPauseFailed.String() != "pause_failed" || EventPreempted.String() != "preempted" {
		t.Error("event kind names changed")
	}
}

func TestConfigure(t *testing.T) {
	m := New()
	if err := m.Configure(WithGrace(time.Second), WithLinger(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if m.grace != time.Second || m.linger != time.Minute {
		t.Fatalf("grace %v linger %v", m.grace, m.linger)
	}
	newGates(t, m, 1)
	if err := m.Configure(WithGrace(time.Hour)); err == nil || m.grace != time.Second {
		t.Fatal("Configure changed a manager in use")
	}
}
