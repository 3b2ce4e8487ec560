package reliability_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"archibald"
	"archibald/erpsim"
)

const (
	loadClients  = 200
	loadDuration = 20 * time.Second
	loadOrders   = 50
	sseClients   = 20 // of the loadClients, these hold event streams open
)

// TestLoad drives 200 concurrent clients for 20 s at the read and SSE endpoints of the
// real binary, plus 50 orders. No request may get a 5xx, every order must be created,
// and the server's goroutine count must come back to its baseline. It reports RSS.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("the load test takes 20 s; it runs without -short (as CI does)")
	}
	sim, erpURL := newSim(t, erpsim.Config{Customers: 300, Products: 600, PageTime: 5 * time.Millisecond,
		StepTime: 20 * time.Millisecond, Jitter: 0.1})
	db := filepath.Join(t.TempDir(), "archibald.db")
	srv := startChild(t, serveArgs(erpURL, db, "--log-level", "info")...)
	for range archibald.Entities {
		srv.waitLog(time.Minute, "the mirror filled", func(l logLine) bool { return l.msg() == "sync run finished" })
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 2 * loadClients, MaxIdleConnsPerHost: 2 * loadClients}}
	baseline := goroutines(t, client, srv.url)

	customers, products := sim.Customers(), sim.Products()
	reads := []func(r *rand.Rand) string{
		func(r *rand.Rand) string {
			word, _, _ := strings.Cut(customers[r.IntN(len(customers))].Name, " ")
			return "/api/customers?limit=20&search=" + url.QueryEscape(word)
		},
		func(r *rand.Rand) string {
			return "/api/products?limit=20&search=" + strings.ReplaceAll(products[r.IntN(len(products))].ArticleCode[:5], ".", "")
		},
		func(r *rand.Rand) string {
			return "/api/prices?articleCode=" + products[r.IntN(len(products))].ArticleCode
		},
		func(*rand.Rand) string { return "/api/sync" },
		func(*rand.Rand) string { return "/api/priority" },
		func(*rand.Rand) string { return "/api/orders?limit=10" },
		func(*rand.Rand) string { return "/api/health" },
	}

	var (
		requests, events atomic.Int64
		mu               sync.Mutex
		statuses         = map[int]int{}
		failures         []string
	)
	record := func(code int, what string) {
		mu.Lock()
		defer mu.Unlock()
		statuses[code]++
		if code != http.StatusOK && len(failures) < 10 {
			failures = append(failures, fmt.Sprintf("%d %s", code, what))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), loadDuration)
	defer cancel()
	var wg sync.WaitGroup
	for c := range loadClients {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(c), 7))
			for ctx.Err() == nil {
				if c < sseClients {
					n, code := readEvents(ctx, client, srv.url, time.Duration(1+r.IntN(4))*time.Second)
					events.Add(int64(n))
					if code != 0 {
						record(code, "/api/events")
					}
					continue
				}
				path := reads[r.IntN(len(reads))](r)
				code := get(ctx, client, srv.url+path)
				if code != 0 {
					requests.Add(1)
					record(code, path)
				}
			}
		})
	}

	// 50 orders over the same 20 s, then each one's outcome.
	type placed struct{ key, ref string }
	var orders []placed
	body := func(i int) []byte {
		p := products[(i*37)%len(products)]
		b, _ := json.Marshal(map[string]any{"customerId": customers[i%len(customers)].ID,
			"items": []map[string]any{{"articleCode": p.ArticleCode, "quantity": max(p.MinQty, p.MultipleQty)}}})
		return b
	}
	tick := time.NewTicker(loadDuration / loadOrders)
	for i := range loadOrders {
		<-tick.C
		key := fmt.Sprintf("load-%d", i)
		code, o, err := postOrder(srv.url, key, body(i), "")
		if err != nil || code != http.StatusAccepted {
			t.Fatalf("order %d: %d %v", i, code, err)
		}
		orders = append(orders, placed{key, o.Reference})
	}
	tick.Stop()
	wg.Wait()
	for i, p := range orders {
		code, o, err := postOrder(srv.url, p.key, body(i), "?wait=60s")
		if err != nil || o.Status != archibald.OrderCreated {
			t.Fatalf("order %d ended %d %+v %v", i, code, o, err)
		}
	}

	mu.Lock()
	t.Logf("%d reads and %d events served to %d clients in %v; statuses %v", requests.Load(), events.Load(), loadClients, loadDuration, statuses)
	for code, n := range statuses {
		if code != http.StatusOK {
			t.Errorf("%d responses with status %d: %v", n, code, failures)
		}
	}
	mu.Unlock()
	if requests.Load() < loadClients {
		t.Fatalf("only %d reads completed", requests.Load())
	}

	// Once the clients have gone, the server's goroutines come back to the baseline.
	client.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	after := goroutines(t, client, srv.url)
	for after > baseline+5 && time.Now().Before(deadline) {
		client.CloseIdleConnections()
		<-time.After(100 * time.Millisecond) // the server's connection goroutines notice the close
		after = goroutines(t, client, srv.url)
	}
	if after > baseline+5 {
		t.Fatalf("goroutines: %d before the load, %d after it", baseline, after)
	}
	t.Logf("goroutines: %d before, %d after; RSS after the load: %s", baseline, after, rss(srv.cmd.Process.Pid))
	srv.stop()
}

func get(ctx context.Context, c *http.Client, url string) int {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := c.Do(req)
	if err != nil {
		return 0 // the load's deadline cut it
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// readEvents reads the event stream for d and returns the events read and the status.
func readEvents(ctx context.Context, c *http.Client, url string, d time.Duration) (int, int) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := c.Do(req)
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	n := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "event:") {
			n++
		}
	}
	return n, resp.StatusCode
}

// goroutines reads go_goroutines from the server's /metrics.
func goroutines(t *testing.T, c *http.Client, url string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return int(n)
		}
	}
	t.Fatal("no go_goroutines in /metrics")
	return 0
}

// rss returns the resident set size of a process, as /proc says it.
func rss(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
