package priority

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeService is a Pausable with function fields; it counts the calls it gets.
type fakeService struct {
	pause func(ctx context.Context) error

	mu      sync.Mutex
	pauses  int
	resumes int
}

func (f *fakeService) Pause(ctx context.Context) error {
	f.mu.Lock()
	f.pauses++
	f.mu.Unlock()
	if f.pause != nil {
		return f.pause(ctx)
	}
	return nil
}

func (f *fakeService) Resume() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resumes++
}

func (f *fakeService) counts() (pauses, resumes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pauses, f.resumes
}

// startBatch enters g and returns the function that ends the batch. It fails the test if
// the gate does not admit the batch.
func startBatch(t *testing.T, g *Gate) (context.Context, func()) {
	t.Helper()
	ctx, done, err := g.Enter(context.Background())
	if err != nil {
		t.Fatalf("Enter: %v", err)
	}
	return ctx, done
}

// recordHandler is a slog.Handler that keeps every record.
type recordHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

// find returns the first record with the message, and whether there was one.
func (h *recordHandler) find(msg string) (slog.Record, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.records {
		if r.Message == msg {
			return r, true
		}
	}
	return slog.Record{}, false
}

func attr(r slog.Record, key string) (slog.Value, bool) {
	var v slog.Value
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v, found = a.Value, true
			return false
		}
		return true
	})
	return v, found
}

// drain returns the events buffered in ch without waiting.
func drain(ch <-chan Event) []Event {
	var evs []Event
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return evs
			}
			evs = append(evs, ev)
		default:
			return evs
		}
	}
}

func kinds(evs []Event) []EventKind {
	ks := make([]EventKind, len(evs))
	for i, ev := range evs {
		ks[i] = ev.Kind
	}
	return ks
}

// advanceClock lets d pass on the fake clock of the synctest bubble it is called in: the
// goroutine blocks until every other goroutine of the bubble is idle and time jumps.
func advanceClock(d time.Duration) { <-time.After(d) }
