package erpsim

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchThroughput has 8 logged-in sessions request list pages in parallel, each from its
// own goroutine with its own keep-alive client, and reports pages a second.
func benchThroughput(b *testing.B, s *Server, transport func() http.RoundTripper, base string) {
	const sessions = 8
	clients := make([]*client, sessions)
	for i := range clients {
		clients[i] = newClientVia(b, transport(), base)
		clients[i].login(fmt.Sprintf("user%d", i), "pw")
	}
	lists := []string{"customers", "products", "prices"}
	var next atomic.Int64
	var failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range sessions {
		c := clients[i]
		wg.Go(func() {
			for n := next.Add(1); n <= int64(b.N); n = next.Add(1) {
				list := lists[n%3]
				req, _ := http.NewRequest("GET", fmt.Sprintf("%s/erp/%s?page=%d", base, list, 1+n%50), nil)
				resp, err := c.http.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d requests failed", f, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pages/s")
}

func benchUsers() map[string]string {
	users := map[string]string{}
	for i := range 8 {
		users[fmt.Sprintf("user%d", i)] = "pw"
	}
	return users
}

// BenchmarkThroughput8Sessions measures how many pages the simulator serves over real
// loopback HTTP with no service time: the ceiling a sync benchmark can reach.
func BenchmarkThroughput8Sessions(b *testing.B) {
	s := newServer(b, Config{Users: benchUsers()})
	ts := httptest.NewServer(s)
	defer ts.Close()
	var transports []*http.Transport
	defer func() {
		for _, t := range transports {
			t.CloseIdleConnections()
		}
	}()
	benchThroughput(b, s, func() http.RoundTripper {
		t := &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}
		transports = append(transports, t)
		return t
	}, ts.URL)
}

// BenchmarkThroughput8SessionsInMemory is the same through RoundTripper, without HTTP.
func BenchmarkThroughput8SessionsInMemory(b *testing.B) {
	s := newServer(b, Config{Users: benchUsers()})
	benchThroughput(b, s, s.RoundTripper, "http://erp.test")
}
