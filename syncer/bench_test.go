package syncer_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"archibald"
	"archibald/internal/testenv"
	"archibald/syncer"
)

// BenchmarkFullProductsSync measures a full products run (the default 4,500 variants)
// into an empty SQLite mirror, against the simulator at zero service time: the engine's
// and the store's own cost per row.
func BenchmarkFullProductsSync(b *testing.B) {
	env := testenv.New(b, testenv.Options{Products: 4500, Customers: 10, NoServiceTime: true})
	rows := len(env.Sim.Products())
	dir := b.TempDir()
	var total time.Duration
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		store := testenv.OpenStore(b, filepath.Join(dir, fmt.Sprintf("bench%d.db", i)))
		done := make(chan syncer.Event, 1)
		svc, err := syncer.New(syncer.Config{
			Entity: archibald.EntityProducts, ERP: env.Session, Store: store, Manager: env.Manager,
			OnEvent: func(ev syncer.Event) {
				if ev.Kind == syncer.EventFinished || ev.Kind == syncer.EventFailed {
					done <- ev
				}
			},
		})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if err := svc.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		ev := <-done
		total += time.Since(start)
		b.StopTimer()
		svc.Stop()
		_ = store.Close()
		if ev.Kind != syncer.EventFinished || ev.Rows.Seen != rows {
			b.Fatalf("run ended %s with %+v, want %d rows", ev.Kind, ev.Rows, rows)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(rows)*float64(i)/total.Seconds(), "rows/s")
}
