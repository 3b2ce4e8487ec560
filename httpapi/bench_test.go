package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"archibald/httpapi"
	"archibald/internal/testenv"
	"archibald/priority"
	"archibald/syncer"
)

// BenchmarkSSEFanOut measures delivering one event to every connected /api/events client
// over real loopback connections: encoding, the fan-out, the write and the flush, and the
// client's read. Events go out in rounds of 64 (well under a client's buffer), each round
// waited for by every client, so none is dropped.
func BenchmarkSSEFanOut(b *testing.B) {
	for _, clients := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			store := testenv.OpenStore(b, b.TempDir()+"/bench.db")
			s, err := httpapi.New(httpapi.Config{Token: testToken, Manager: priority.New(), Orders: &fakeOrders{}, Store: store})
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			ts := httptest.NewServer(s)
			ctx, cancel := context.WithCancel(context.Background())
			progress := make(chan struct{}, clients*64)
			var readers sync.WaitGroup
			for range clients {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/api/events", nil)
				req.Header.Set("Authorization", "Bearer "+testToken)
				resp, err := ts.Client().Do(req)
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("stream: %v %v", resp, err)
				}
				readers.Go(func() {
					defer resp.Body.Close()
					sc := bufio.NewScanner(resp.Body)
					for sc.Scan() {
						if strings.HasPrefix(sc.Text(), "event: sync.progress") {
							progress <- struct{}{}
						}
					}
				})
			}
			ev := syncer.Event{Kind: syncer.EventProgress, Service: "products", RunID: "bench", TotalPages: 225}
			const round = 64
			b.ReportAllocs()
			b.ResetTimer()
			for sent := 0; sent < b.N; {
				n := min(round, b.N-sent)
				for i := range n {
					ev.Page = sent + i
					s.PublishSync(ev)
				}
				for range n * clients {
					<-progress
				}
				sent += n
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*clients)/b.Elapsed().Seconds(), "deliveries/s")
			cancel()
			s.Stop()
			readers.Wait()
			ts.Close()
		})
	}
}
