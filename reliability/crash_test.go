package reliability_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"archibald"
	"archibald/erpsim"
	"archibald/internal/testenv"
)

const (
	crashPoints = 5
	crashSeed   = 20261203
	apiToken    = "crash-test-token-0123456789"
)

// newSim starts the simulator on loopback, outside the child, so it outlives its crashes.
func newSim(t *testing.T, cfg erpsim.Config) (*erpsim.Server, string) {
	t.Helper()
	cfg.Username, cfg.Password = testenv.Username, testenv.Password
	sim, err := erpsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		sim.Close()
		srv.Close()
	})
	return sim, srv.URL
}

func serveArgs(erpURL, db string, extra ...string) []string {
	return append([]string{"--addr", "127.0.0.1:0", "--db", db, "--erp-url", erpURL,
		"--erp-username", testenv.Username, "--erp-password", testenv.Password, "--api-token", apiToken}, extra...)
}

func isPageCommitted(service string, atLeast int) func(logLine) bool {
	return func(l logLine) bool {
		return l.msg() == "page committed" && l.str("service") == service && l.num("page") >= atLeast
	}
}

// TestCrashDuringProductsSync kills the process with SIGKILL in the middle of a products
// run, at seeded random pages, restarts it, and checks the same run continues from its
// checkpoint and ends with the mirror equal to the ERP.
func TestCrashDuringProductsSync(t *testing.T) {
	rng := rand.New(rand.NewPCG(crashSeed, 1))
	sim, erpURL := newSim(t, erpsim.Config{Customers: 100, Products: 800, PageTime: 5 * time.Millisecond, Jitter: 0.1})
	pages := (len(sim.Products()) + 19) / 20
	for point := range crashPoints {
		killAt := 2 + rng.IntN(pages-4)
		t.Run(fmt.Sprintf("kill at page %d", killAt), func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "archibald.db")
			first := startChild(t, serveArgs(erpURL, db)...)
			started := first.waitLog(time.Minute, "the products run starting", func(l logLine) bool {
				return l.msg() == "sync run started" && l.str("service") == archibald.EntityProducts
			})
			runID := started.str("runId")
			first.waitLog(time.Minute, fmt.Sprintf("products page %d committed", killAt), isPageCommitted(archibald.EntityProducts, killAt))
			first.kill()

			second := startChild(t, serveArgs(erpURL, db)...)
			resumed := second.waitLog(time.Minute, "the products run continuing", func(l logLine) bool {
				return l.msg() == "sync run continues from its checkpoint" && l.str("service") == archibald.EntityProducts
			})
			if resumed.str("runId") != runID || resumed.num("page") <= killAt {
				t.Fatalf("after the crash: run %s from page %d; want run %s from a page after %d",
					resumed.str("runId"), resumed.num("page"), runID, killAt)
			}
			finished := second.waitLog(time.Minute, "the products run finishing", func(l logLine) bool {
				return l.msg() == "sync run finished" && l.str("service") == archibald.EntityProducts
			})
			if finished.str("runId") != runID || finished.num("seen") != len(sim.Products()) {
				t.Fatalf("run %s finished having seen %d rows; want run %s over %d rows",
					finished.str("runId"), finished.num("seen"), runID, len(sim.Products()))
			}
			second.stop()
			store := testenv.OpenStore(t, db)
			got, err := store.AllProducts(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, sim.Products()) {
				t.Fatalf("the mirror holds %d products and differs from the ERP's %d", len(got), len(sim.Products()))
			}
			t.Logf("point %d: killed at page %d of %d; run %s continued from page %d", point, killAt, pages, runID, resumed.num("page"))
		})
	}
}

// accepted is an order the API accepted (202) before the crash.
type accepted struct {
	key   string
	body  []byte
	order archibald.Order
}

// postOrder submits an order; wait asks the API to wait for the outcome.
func postOrder(url, key string, body []byte, wait string) (int, archibald.Order, error) {
	req, err := http.NewRequest(http.MethodPost, url+"/api/orders/create"+wait, bytes.NewReader(body))
	if err != nil {
		return 0, archibald.Order{}, err
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, archibald.Order{}, err
	}
	defer resp.Body.Close()
	var out struct {
		Order archibald.Order `json:"order"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		return resp.StatusCode, archibald.Order{}, fmt.Errorf("status %d, body %q: %w", resp.StatusCode, b, err)
	}
	return resp.StatusCode, out.Order, nil
}

// TestCrashWhileOrdersAreSubmitted kills the process with SIGKILL while orders are being
// entered (with slow order steps), at seeded random moments, restarts it, and checks that
// every order the API accepted ends created exactly once in the ERP.
func TestCrashWhileOrdersAreSubmitted(t *testing.T) {
	rng := rand.New(rand.NewPCG(crashSeed, 2))
	sim, erpURL := newSim(t, erpsim.Config{Customers: 60, Products: 100, PageTime: 5 * time.Millisecond,
		StepTime: 60 * time.Millisecond, Jitter: 0.1})
	customers, products := sim.Customers(), sim.Products()
	for point := range crashPoints {
		const orders = 6
		killAfter := 1 + rng.IntN(orders-1)                          // orders accepted before the kill
		killDelay := time.Duration(rng.IntN(400)) * time.Millisecond // and then this long
		t.Run(fmt.Sprintf("kill %v after order %d", killDelay, killAfter), func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "archibald.db")
			first := startChild(t, serveArgs(erpURL, db)...)
			for range archibald.Entities {
				first.waitLog(time.Minute, "the mirror filled", func(l logLine) bool { return l.msg() == "sync run finished" })
			}

			var (
				mu   sync.Mutex
				acc  []accepted
				done = make(chan struct{})
			)
			go func() {
				defer close(done)
				for i := range orders {
					p := products[(point*31+i*17)%len(products)]
					body, _ := json.Marshal(map[string]any{
						"customerId": customers[(point*7+i)%len(customers)].ID,
						"items":      []map[string]any{{"articleCode": p.ArticleCode, "quantity": max(p.MinQty, p.MultipleQty)}},
					})
					key := fmt.Sprintf("crash-%d-%d", point, i)
					code, o, err := postOrder(first.url, key, body, "")
					if err != nil || code != http.StatusAccepted {
						return // the process is gone
					}
					mu.Lock()
					acc = append(acc, accepted{key: key, body: body, order: o})
					mu.Unlock()
				}
			}()
			queued := 0
			first.waitLog(time.Minute, fmt.Sprintf("order %d queued", killAfter), func(l logLine) bool {
				if l.msg() == "order queued" {
					queued++
				}
				return queued >= killAfter
			})
			<-time.After(killDelay) // a seeded moment in the middle of the orders' steps
			first.kill()
			<-done

			second := startChild(t, serveArgs(erpURL, db)...)
			mu.Lock()
			defer mu.Unlock()
			if len(acc) == 0 {
				t.Fatal("no order was accepted before the kill")
			}
			for _, a := range acc {
				// The same key and body give the same order; ?wait= returns its outcome.
				code, o, err := postOrder(second.url, a.key, a.body, "?wait=60s")
				if err != nil {
					t.Fatal(err)
				}
				if o.ID != a.order.ID || o.Status != archibald.OrderCreated {
					t.Fatalf("accepted order %s ended %d %+v; want created", a.order.ID, code, o)
				}
				n := 0
				for _, e := range sim.Orders() {
					if e.Reference == o.Reference {
						n++
					}
				}
				if n != 1 {
					t.Fatalf("order %s (reference %s) is %d times in the ERP; want exactly once", o.ID, o.Reference, n)
				}
			}
			second.stop()
			settled := 0
			for len(second.logs) > 0 {
				if l := <-second.logs; l.msg() == "settling an order left submitting" {
					settled++
				}
			}
			t.Logf("point %d: killed %v after order %d; %d accepted orders each created once, %d of them settled by reference after the restart",
				point, killDelay, killAfter, len(acc), settled)
		})
	}
}
