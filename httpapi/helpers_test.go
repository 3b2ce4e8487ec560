package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"archibald"
	"archibald/bot"
	"archibald/httpapi"
	"archibald/internal/testenv"
	"archibald/orders"
	"archibald/priority"
	"archibald/syncer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testToken = "test-token-0123456789abcdef"

// waitLimit bounds every wait on the real clock; a test that hits it has failed.
const waitLimit = 20 * time.Second

// signals lets a test wait for something logged or published without sleeping: each
// key is a channel closed the first time the key is seen.
type signals struct {
	mu     sync.Mutex
	seen   map[string]chan struct{}
	counts map[string]int
}

func newSignals() *signals {
	return &signals{seen: map[string]chan struct{}{}, counts: map[string]int{}}
}

// fireCounted fires key and key#n, where n counts the calls with this key.
func (s *signals) fireCounted(key string) {
	s.mu.Lock()
	s.counts[key]++
	n := s.counts[key]
	s.mu.Unlock()
	s.fire(key)
	s.fire(fmt.Sprintf("%s#%d", key, n))
}

func (s *signals) ch(key string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.seen[key]
	if !ok {
		c = make(chan struct{})
		s.seen[key] = c
	}
	return c
}

func (s *signals) fire(key string) {
	c := s.ch(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-c:
	default:
		close(c)
	}
}

func (s *signals) wait(t *testing.T, key string) {
	t.Helper()
	select {
	case <-s.ch(key):
	case <-time.After(waitLimit):
		t.Fatalf("%q did not happen within %v", key, waitLimit)
	}
}

// logCapture keeps every log record (all levels) as text and fires a signal per message.
type logCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
	sig *signals
}

func (h *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (h *logCapture) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.buf.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		h.buf.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	h.buf.WriteString("\n")
	h.mu.Unlock()
	h.sig.fire("log:" + r.Message)
	return nil
}
func (h *logCapture) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logCapture) WithGroup(string) slog.Handler      { return h }
func (h *logCapture) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.buf.String()
}

// fixture is the whole system: simulator, session, store, manager, the three sync
// services (mirror filled), the order service, and the Server under test.
type fixture struct {
	env    *testenv.Env
	srv    *httpapi.Server
	orders *orders.Service
	syncs  map[string]*syncer.Service
	sig    *signals
	logs   *logCapture
}

type fixtureOptions struct {
	erp       httpapi.Pinger // default: the session
	heartbeat time.Duration
	noStart   bool // do not start the Server's fan-out
}

func newFixture(t *testing.T, fo fixtureOptions) *fixture {
	t.Helper()
	f := &fixture{sig: newSignals(), syncs: map[string]*syncer.Service{}}
	f.logs = &logCapture{sig: f.sig}
	logger := slog.New(f.logs)
	f.env = testenv.New(t, testenv.Options{PageTime: 2 * time.Millisecond, StepTime: 5 * time.Millisecond})

	var syncs []httpapi.SyncService
	for _, e := range archibald.Entities {
		svc, err := syncer.New(syncer.Config{
			Entity: e, ERP: f.env.Session, Store: f.env.Store, Manager: f.env.Manager,
			Interval: time.Hour, RetryBase: 10 * time.Millisecond,
			OnEvent: func(ev syncer.Event) {
				f.srv.PublishSync(ev)
				f.sig.fireCounted(ev.Kind + ":" + ev.Service)
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		f.syncs[e] = svc
		syncs = append(syncs, svc)
	}
	osvc, err := orders.New(orders.Config{
		Store: f.env.Store, Mirror: f.env.Store, Bot: bot.New(f.env.Session, f.env.Store, nil),
		Priority: f.env.Manager,
		OnEvent: func(ev orders.Event) {
			f.srv.PublishOrder(ev)
			f.sig.fire(ev.Kind + ":" + ev.Order.ID)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.orders = osvc
	var pinger httpapi.Pinger = f.env.Session
	if fo.erp != nil {
		pinger = fo.erp
	}
	f.srv, err = httpapi.New(httpapi.Config{
		Token: testToken, Manager: f.env.Manager, Orders: osvc, Store: f.env.Store,
		Syncs: syncs, ERP: pinger, Logger: logger, HeartbeatInterval: fo.heartbeat,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !fo.noStart {
		if err := f.srv.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(f.srv.Stop)
	for _, svc := range f.syncs {
		if err := svc.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(svc.Stop)
	}
	if err := osvc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(osvc.Stop)
	for _, e := range archibald.Entities {
		f.sig.wait(t, syncer.EventFinished+":"+e)
	}
	return f
}

// request is one call of the API through ServeHTTP.
type request struct {
	method, path, body string
	contentType        string // default application/json when body is set
	token              string // default testToken; "-" sends none
	header             map[string]string
}

func (f *fixture) do(t *testing.T, rq request) *httptest.ResponseRecorder {
	t.Helper()
	return serve(t, f.srv, rq)
}

func serve(t *testing.T, h http.Handler, rq request) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader
	if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	r := httptest.NewRequest(rq.method, rq.path, body)
	if rq.body != "" {
		ct := rq.contentType
		if ct == "" {
			ct = "application/json"
		}
		r.Header.Set("Content-Type", ct)
	}
	switch rq.token {
	case "":
		r.Header.Set("Authorization", "Bearer "+testToken)
	case "-":
	default:
		r.Header.Set("Authorization", "Bearer "+rq.token)
	}
	for k, v := range rq.header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// apiError is the error body of every failed request.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

func decode[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want JSON; body %s", ct, w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("decoding %s: %v", w.Body, err)
	}
	return v
}

func wantStatus(t *testing.T, w *httptest.ResponseRecorder, status int) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if w.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("no X-Content-Type-Options: nosniff on a %d response", w.Code)
	}
}

// wantError checks an error response: status, code and (when not empty) field.
func wantError(t *testing.T, w *httptest.ResponseRecorder, status int, code, field string) apiError {
	t.Helper()
	wantStatus(t, w, status)
	e := decode[apiError](t, w)
	if e.Error.Code != code || (field != "" && e.Error.Field != field) || e.Error.Message == "" {
		t.Fatalf("error %+v, want code %q field %q and a message", e.Error, code, field)
	}
	return e
}

// validOrder returns an order request body the mirror accepts, for the i-th customer.
func validOrder(t *testing.T, env *testenv.Env, i int) orders.Request {
	t.Helper()
	customers := env.Sim.Customers()
	c := customers[i%len(customers)]
	for _, p := range env.Sim.Products() {
		q := max(p.MultipleQty, 1)
		for q < p.MinQty {
			q += max(p.MultipleQty, 1)
		}
		if p.AcceptsQuantity(q) {
			return orders.Request{CustomerID: c.ID, Items: []archibald.OrderLine{{ArticleCode: p.ArticleCode, Quantity: q}}}
		}
	}
	t.Fatal("no product accepts any quantity")
	return orders.Request{}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sseEvent is one event read from the stream.
type sseEvent struct {
	name, data string
}

// readSSE reads the stream's events into a channel, closed when the body ends; comments
// are passed on with the name ":" and the comment's text as data.
func readSSE(body io.Reader) <-chan sseEvent {
	ch := make(chan sseEvent, 1024)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				ch <- sseEvent{name: ":", data: strings.TrimSpace(line[1:])}
			case strings.HasPrefix(line, "event: "):
				ev.name = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[len("data: "):]
			}
		}
	}()
	return ch
}

func nextEvent(t *testing.T, ch <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("the event stream ended")
		}
		return ev
	case <-time.After(waitLimit):
		t.Fatalf("no event within %v", waitLimit)
	}
	return sseEvent{}
}

// managerEvents subscribes to the manager; cancel at cleanup.
func managerEvents(t *testing.T, m *priority.Manager) <-chan priority.Event {
	ch, cancel := m.Subscribe(1024)
	t.Cleanup(cancel)
	return ch
}

func waitManager(t *testing.T, ch <-chan priority.Event, kind priority.EventKind) priority.Event {
	t.Helper()
	timeout := time.After(waitLimit)
	for {
		select {
		case ev := <-ch:
			if ev.Kind == kind {
				return ev
			}
		case <-timeout:
			t.Fatalf("no manager event %v within %v", kind, waitLimit)
		}
	}
}

func slogNew(h slog.Handler) *slog.Logger { return slog.New(h) }
