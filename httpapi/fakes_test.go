package httpapi_test

import (
	"context"
	"sync"
	"testing"

	"archibald"
	"archibald/httpapi"
	"archibald/internal/testenv"
	"archibald/orders"
	"archibald/priority"
	"archibald/syncer"
)

type fakeOrders struct {
	order func(id string) (archibald.Order, error)
}

func (f *fakeOrders) Submit(context.Context, orders.Request, string) (archibald.Order, bool, error) {
	return archibald.Order{}, false, archibald.Errorf(archibald.EUNAVAILABLE, "fake")
}
func (f *fakeOrders) Wait(ctx context.Context, id string) (archibald.Order, error) {
	return f.Order(ctx, id)
}
func (f *fakeOrders) Order(_ context.Context, id string) (archibald.Order, error) {
	if f.order == nil {
		return archibald.Order{}, archibald.Errorf(archibald.ENOTFOUND, "no order")
	}
	return f.order(id)
}

type fakePinger struct{ err error }

func (p *fakePinger) Ping(context.Context) error { return p.err }

type fakeSync struct {
	name  string
	pause func(ctx context.Context) error

	mu              sync.Mutex
	pauses, resumes int
}

func (f *fakeSync) Name() string { return f.name }
func (f *fakeSync) Status() syncer.Status {
	return syncer.Status{Name: f.name, State: syncer.StateIdle}
}
func (f *fakeSync) RunNow() {}
func (f *fakeSync) Pause(ctx context.Context) error {
	f.mu.Lock()
	f.pauses++
	f.mu.Unlock()
	return f.pause(ctx)
}
func (f *fakeSync) Resume() {
	f.mu.Lock()
	f.resumes++
	f.mu.Unlock()
}

// newFakeServer builds a Server over fakes and a bare store, started and stopped with
// the test; mutate adjusts the config.
func newFakeServer(t *testing.T, mutate func(c *httpapi.Config)) *httpapi.Server {
	t.Helper()
	cfg := httpapi.Config{
		Token: testToken, Manager: priority.New(), Orders: &fakeOrders{},
		Store: testenv.OpenStore(t, t.TempDir()+"/fake.db"),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := httpapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}
