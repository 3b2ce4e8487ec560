package reliability_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"archibald"
	"archibald/erpsim"
	"archibald/internal/testenv"
)

// silentERP stands in front of the simulator and, once silenced, answers nothing: each
// request waits until its client gives up, or until the ERP is back.
type silentERP struct {
	next http.Handler
	mu   sync.Mutex
	back chan struct{} // nil while the ERP answers; closed when it answers again
}

func (s *silentERP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	back := s.back
	s.mu.Unlock()
	if back != nil {
		select {
		case <-back:
		case <-r.Context().Done():
			return
		}
	}
	s.next.ServeHTTP(w, r)
}

func (s *silentERP) silence() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.back = make(chan struct{})
}

func (s *silentERP) answer() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.back)
	s.back = nil
}

func apiGet(t *testing.T, url, path string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url+path, nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

func apiPost(t *testing.T, url, path string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+path, nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitReady asks /api/ready until it answers want, for at most 20 s: the child's health
// changes on its own clock, and no event announces it.
func waitReady(t *testing.T, url string, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code := apiGet(t, url, "/api/ready", nil)
		if code == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/api/ready answers %d, want %d", code, want)
		}
		<-time.After(100 * time.Millisecond)
	}
}

// TestERPStopsAnswering: /api/ready turns 503, the queued order fails at its deadline
// with a clear error, the services are resumed; when the ERP answers again, syncs and new
// orders work without a restart.
func TestERPStopsAnswering(t *testing.T) {
	sim, err := erpsim.New(erpsim.Config{Customers: 60, Products: 80, PageTime: 5 * time.Millisecond,
		StepTime: 10 * time.Millisecond, Username: testenv.Username, Password: testenv.Password})
	if err != nil {
		t.Fatal(err)
	}
	erp := &silentERP{next: sim}
	front := httptest.NewServer(erp)
	defer func() {
		sim.Close()
		front.Close()
	}()
	const orderTimeout = 4 * time.Second
	srv := startChild(t, serveArgs(front.URL, filepath.Join(t.TempDir(), "archibald.db"),
		"--order-timeout", orderTimeout.String(), "--priority-grace", "1s", "--erp-stall-after", "1s")...)
	for range archibald.Entities {
		srv.waitLog(time.Minute, "the mirror filled", func(l logLine) bool { return l.msg() == "sync run finished" })
	}
	waitReady(t, srv.url, http.StatusOK)

	erp.silence()
	if code := apiPost(t, srv.url, "/api/sync/customers"); code != http.StatusAccepted {
		t.Fatalf("run now: %d", code)
	}
	p := sim.Products()[0]
	body := []byte(`{"customerId":"` + sim.Customers()[0].ID + `","items":[{"articleCode":"` + p.ArticleCode +
		`","quantity":` + strconv.Itoa(max(p.MinQty, p.MultipleQty)) + `}]}`)
	start := time.Now()
	code, o, err := postOrder(srv.url, "down-1", body, "?wait=30s")
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if code != http.StatusBadGateway || o.Status != archibald.OrderFailed || !strings.Contains(o.Error, "did not") {
		t.Fatalf("order while the ERP is silent: %d %+v; want 502, failed, saying the ERP did not answer", code, o)
	}
	if took > orderTimeout+2*time.Second {
		t.Fatalf("the order failed after %v; its deadline was %v", took, orderTimeout)
	}
	waitReady(t, srv.url, http.StatusServiceUnavailable)
	// The outcome is recorded before the hold is released: the release follows at once.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var pri struct {
			State   string `json:"state"`
			Holders int    `json:"holders"`
		}
		apiGet(t, srv.url, "/api/priority", &pri)
		if pri.State == "running" && pri.Holders == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("priority after the failed order: %+v; want the services resumed", pri)
		}
		<-time.After(50 * time.Millisecond)
	}

	erp.answer()
	code, o, err = postOrder(srv.url, "down-2", body, "?wait=30s")
	if err != nil || code != http.StatusCreated || o.Status != archibald.OrderCreated {
		t.Fatalf("order after the ERP came back: %d %+v %v", code, o, err)
	}
	if code := apiPost(t, srv.url, "/api/sync/products"); code != http.StatusAccepted {
		t.Fatalf("run now: %d", code)
	}
	srv.waitLog(time.Minute, "a products run after the ERP came back", func(l logLine) bool {
		return l.msg() == "sync run finished" && l.str("service") == archibald.EntityProducts
	})
	waitReady(t, srv.url, http.StatusOK)
	srv.stop()
}
