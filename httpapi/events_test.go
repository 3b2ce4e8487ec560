package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"archibald"
	"archibald/httpapi"
	"archibald/syncer"
)

// openStream connects to /api/events through a real socket and returns the events; the
// stream is closed at cleanup and its reader joined.
func openStream(t *testing.T, ts *httptest.Server, path string, header http.Header) (<-chan sseEvent, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		cancel()
		resp.Body.Close()
		t.Fatalf("stream: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	events := readSSE(resp.Body)
	closed := false
	closeFn := func() {
		if closed {
			return
		}
		closed = true
		cancel()
		resp.Body.Close()
		for range events { // join the reader
		}
	}
	t.Cleanup(closeFn)
	if ev := nextEvent(t, events); ev.name != ":" || ev.data != "connected" {
		t.Fatalf("first frame %+v, want the connected comment", ev)
	}
	return events, closeFn
}

// newTestServer serves h on a real socket; it closes at cleanup, after the streams
// opened later (cleanups run last-in first-out).
func newTestServer(t *testing.T, h http.Handler) *httptest.Server {
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

func bearer() http.Header { return http.Header{"Authorization": {"Bearer " + testToken}} }

// TestEventsOfAnOrderInOrder follows the stream while an order is created: the order's
// events come in their order, priority.paused before order.created, priority.resumed
// after it; then the metrics count the order and the pause.
func TestEventsOfAnOrderInOrder(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	ts := newTestServer(t, f.srv)
	events, closeStream := openStream(t, ts, "/api/events", bearer())
	defer closeStream()

	w := f.do(t, request{method: "POST", path: "/api/orders?wait=30s", body: mustJSON(t, validOrder(t, f.env, 4))})
	wantStatus(t, w, http.StatusCreated)
	o := decode[orderResponse](t, w).Order

	var names []string
	var created archibald.Order
	var paused struct {
		Holders int       `json:"holders"`
		TookMs  *float64  `json:"tookMs"`
		At      time.Time `json:"at"`
	}
	for len(names) == 0 || names[len(names)-1] != "priority.resumed" {
		ev := nextEvent(t, events)
		if ev.name == ":" || strings.HasPrefix(ev.name, "sync.") {
			continue
		}
		names = append(names, ev.name)
		switch ev.name {
		case "order.created":
			var body orderResponse
			if err := json.Unmarshal([]byte(ev.data), &body); err != nil {
				t.Fatal(err)
			}
			created = body.Order
		case "priority.paused":
			if err := json.Unmarshal([]byte(ev.data), &paused); err != nil {
				t.Fatal(err)
			}
		}
	}
	index := func(name string) int {
		for i, n := range names {
			if n == name {
				return i
			}
		}
		t.Fatalf("no %s in %v", name, names)
		return -1
	}
	order := []string{"order.queued", "order.submitting", "priority.pausing", "priority.paused", "order.created", "priority.resumed"}
	for i := 1; i < len(order); i++ {
		if index(order[i-1]) > index(order[i]) {
			t.Fatalf("%s came after %s: %v", order[i-1], order[i], names)
		}
	}
	if index("priority.service_paused") > index("priority.paused") {
		t.Fatalf("per-service pause after the pause: %v", names)
	}
	if created.ID != o.ID || created.ErpOrderID == "" {
		t.Fatalf("order.created data %+v", created)
	}
	if paused.Holders != 1 || paused.TookMs == nil || paused.At.IsZero() {
		t.Fatalf("priority.paused data %+v", paused)
	}

	// The metrics were updated before the events were sent.
	fams := scrape(t, f.srv)
	if v := value(t, fams, "archibald_orders_total", map[string]string{"status": "created"}); v != 1 {
		t.Fatalf("archibald_orders_total{created} = %v", v)
	}
	if v := value(t, fams, "archibald_priority_pauses_total", nil); v < 1 {
		t.Fatalf("pauses_total = %v", v)
	}
	if n := fams["archibald_priority_quiesce_seconds"].GetMetric()[0].GetHistogram().GetSampleCount(); n < 1 {
		t.Fatalf("quiesce histogram has %d samples", n)
	}
	if n := fams["archibald_order_duration_seconds"].GetMetric()[0].GetHistogram().GetSampleCount(); n != 1 {
		t.Fatalf("order duration histogram has %d samples", n)
	}
}

func TestEventsAuth(t *testing.T) {
	f := newFixture(t, fixtureOptions{heartbeat: 5 * time.Millisecond})
	ts := newTestServer(t, f.srv)
	// EventSource cannot send headers: the stream takes the token in the query too.
	events, closeStream := openStream(t, ts, "/api/events?access_token="+testToken, nil)
	// The last events of the initial sync may still arrive; a heartbeat comes regardless.
	for ev := nextEvent(t, events); ev.name != ":" || ev.data != "heartbeat"; ev = nextEvent(t, events) {
		if !strings.HasPrefix(ev.name, "sync.") {
			t.Fatalf("want a heartbeat comment, got %+v", ev)
		}
	}
	closeStream()
	for _, path := range []string{"/api/events", "/api/events?access_token=wrong"} {
		resp, err := ts.Client().Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s: %s", path, resp.Status)
		}
	}
}

func TestEventsSyncKinds(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	ts := newTestServer(t, f.srv)
	events, _ := openStream(t, ts, "/api/events", bearer())
	w := f.do(t, request{method: "POST", path: "/api/sync/customers"})
	wantStatus(t, w, http.StatusAccepted)
	var seen []string
	for len(seen) == 0 || seen[len(seen)-1] != syncer.EventFinished {
		ev := nextEvent(t, events)
		if !strings.HasPrefix(ev.name, "sync.") {
			continue
		}
		var data syncer.Event
		if err := json.Unmarshal([]byte(ev.data), &data); err != nil || data.RunID == "" {
			t.Fatalf("%s data %s (%v)", ev.name, ev.data, err)
		}
		// Events of the initial runs may still be on their way; the asked-for run
		// starts with sync.started.
		if data.Service != "customers" || (len(seen) == 0 && ev.name != syncer.EventStarted) {
			continue
		}
		seen = append(seen, ev.name)
	}
	if seen[0] != syncer.EventStarted || len(seen) < 3 || seen[1] != syncer.EventProgress {
		t.Fatalf("sync events %v", seen)
	}
}

// TestEventsClientDisconnectLeavesNoGoroutine connects, goes away, and checks that every
// goroutine the stream started has ended.
func TestEventsClientDisconnectLeavesNoGoroutine(t *testing.T) {
	f := newFixture(t, fixtureOptions{heartbeat: time.Millisecond})
	ts := newTestServer(t, f.srv)
	before := goleak.IgnoreCurrent()
	events, closeStream := openStream(t, ts, "/api/events", bearer())
	nextEvent(t, events) // a heartbeat: the handler is in its loop
	closeStream()
	ts.Client().Transport.(*http.Transport).CloseIdleConnections()
	if err := goleak.Find(before); err != nil {
		t.Fatal(err)
	}
}

func TestStopEndsStreams(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	ts := newTestServer(t, f.srv)
	events, _ := openStream(t, ts, "/api/events", bearer())
	f.srv.Stop()
	select {
	case _, ok := <-events:
		for ok {
			_, ok = <-events
		}
	case <-time.After(waitLimit):
		t.Fatal("the stream did not end at Stop")
	}
	w := f.do(t, request{method: "GET", path: "/api/events"})
	wantError(t, w, 503, archibald.EUNAVAILABLE, "")
}

// blockingWriter is a client that does not read: every Write after the first blocks
// until release is closed.
type blockingWriter struct {
	header  http.Header
	started chan struct{} // closed at the first write (the stream is subscribed)
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	writes  int
}

func (b *blockingWriter) Header() http.Header { return b.header }
func (b *blockingWriter) WriteHeader(int)     {}
func (b *blockingWriter) Flush()              {}
func (b *blockingWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.writes++
	first := b.writes == 1
	b.mu.Unlock()
	if first {
		b.once.Do(func() { close(b.started) })
		return len(p), nil
	}
	<-b.release
	return len(p), nil
}

func TestSlowClientIsDropped(t *testing.T) {
	sig := newSignals()
	logs := &logCapture{sig: sig}
	s := newFakeServer(t, func(c *httpapi.Config) { c.Logger = slogNew(logs) })
	bw := &blockingWriter{header: http.Header{}, started: make(chan struct{}), release: make(chan struct{})}
	r := httptest.NewRequest("GET", "/api/events", nil)
	r.Header.Set("Authorization", "Bearer "+testToken)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.ServeHTTP(bw, r)
	}()
	<-bw.started
	// The handler blocks in its next write; its buffer fills; the client is dropped.
	for i := range 2000 {
		s.PublishSync(syncer.Event{Kind: syncer.EventProgress, Service: "customers", Page: i})
	}
	sig.wait(t, "log:dropping a slow event-stream client")
	close(bw.release)
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("the dropped client's handler did not return")
	}
	if v := value(t, scrape(t, s), "archibald_http_sse_clients_dropped_total", nil); v != 1 {
		t.Fatalf("dropped clients %v", v)
	}
}

func TestMetricsSeries(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	w := f.do(t, request{method: "GET", path: "/metrics", token: "-"})
	wantStatus(t, w, http.StatusOK)
	fams := scrape(t, f.srv)
	for _, name := range []string{
		"archibald_priority_pauses_total", "archibald_priority_quiesce_seconds", "archibald_priority_paused_seconds",
		"archibald_priority_holders", "archibald_priority_preemptions_total", "archibald_sync_state",
		"archibald_sync_rows", "archibald_sync_mirror_rows", "archibald_orders_total", "archibald_order_duration_seconds",
		"go_goroutines", "process_cpu_seconds_total",
	} {
		if _, ok := fams[name]; !ok {
			t.Errorf("no series %s", name)
		}
	}
	for _, e := range archibald.Entities {
		sum := 0.0
		for _, st := range []string{"idle", "running", "paused", "waiting"} {
			sum += value(t, fams, "archibald_sync_state", map[string]string{"service": e, "state": st})
		}
		if sum != 1 {
			t.Errorf("%s is in %v states", e, sum)
		}
		if v := value(t, fams, "archibald_sync_mirror_rows", map[string]string{"service": e}); v <= 0 {
			t.Errorf("%s mirror rows %v", e, v)
		}
		if v := value(t, fams, "archibald_sync_rows", map[string]string{"service": e, "kind": "inserted"}); v <= 0 {
			t.Errorf("%s inserted rows %v", e, v)
		}
	}
	if v := value(t, fams, "archibald_orders_total", map[string]string{"status": "failed"}); v != 0 {
		t.Errorf("failed orders %v", v)
	}
	if f.srv.Registry() == nil {
		t.Fatal("no registry")
	}
}

// scrape reads /metrics and parses it as Prometheus text.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	w := serve(t, h, request{method: "GET", path: "/metrics", token: "-"})
	if w.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", w.Code, w.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(w.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// value returns the value of the series with the labels (a counter, gauge or untyped).
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	fam, ok := fams[name]
	if !ok {
		t.Fatalf("no series %s", name)
	}
next:
	for _, m := range fam.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Untyped != nil:
			return m.GetUntyped().GetValue()
		}
	}
	t.Fatalf("no %s%v", name, labels)
	return 0
}
