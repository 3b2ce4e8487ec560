package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync/atomic"
	"time"

	"archibald"
	"archibald/priority"
	"archibald/syncer"
)

// runSweep measures the time to quiesce with the given number of product rows: the
// simulator lists that many and the mirror holds them already (filled directly, as by an
// earlier run). The products service runs from page 1 run after run, upserting rows
// that are already there, and o.SweepHolds holds are taken at random moments, straight
// on the manager.
func runSweep(ctx context.Context, o Options, products int, p *progressLine) (SweepPoint, error) {
	pt := SweepPoint{Products: products, ERPProducts: products}
	dir, cleanup, err := workDir(o)
	if err != nil {
		return pt, err
	}
	defer cleanup()
	p.set("sweep %d products: generating the ERP data", products)
	e, err := newEnv(ctx, o, pt.ERPProducts, filepath.Join(dir, fmt.Sprintf("sweep-%d.db", products)))
	if err != nil {
		return pt, err
	}
	defer e.close()
	p.set("sweep %d products: filling the mirror", products)
	if err := prefillProducts(ctx, e.store, e.sim.Products()); err != nil {
		return pt, fmt.Errorf("filling the mirror: %w", err)
	}
	if pt.MirrorRows, err = e.store.MirrorCount(ctx, archibald.EntityProducts); err != nil {
		return pt, err
	}
	sess, err := e.session(username)
	if err != nil {
		return pt, err
	}
	manager := priority.New(priority.WithGrace(o.Grace), priority.WithLogger(e.log))
	if err := manager.Register("erp", sess); err != nil {
		return pt, err
	}

	var (
		page, total atomic.Int64
		svc         *syncer.Service
		progressed  = make(chan struct{})
		once        atomic.Bool
	)
	svc, err = syncer.New(syncer.Config{
		Entity: archibald.EntityProducts, ERP: sess, Store: e.store, Manager: manager,
		Interval: o.SyncInterval, Logger: e.log,
		OnEvent: func(ev syncer.Event) {
			switch ev.Kind {
			case syncer.EventProgress:
				page.Store(int64(ev.Page))
				total.Store(int64(ev.TotalPages))
				if once.CompareAndSwap(false, true) {
					close(progressed)
				}
			case syncer.EventFinished:
				svc.RunNow() // keep running: a hold must always find a run in progress
			}
		},
	})
	if err != nil {
		return pt, err
	}
	events, unsubscribe := manager.Subscribe(64 + 16*o.SweepHolds)
	defer unsubscribe()
	if err := svc.Start(ctx); err != nil {
		return pt, err
	}
	defer svc.Stop()
	svc.RunNow() // the mirror is fresh: the first run would wait an interval
	p.set("sweep %d products: starting the products run", products)
	select {
	case <-progressed:
	case <-ctx.Done():
		return pt, ctx.Err()
	}

	rng := rand.New(rand.NewPCG(uint64(o.Seed), uint64(products)))
	between := func(lo, hi time.Duration) time.Duration {
		return lo + time.Duration(rng.Int64N(int64(hi-lo)+1))
	}
	for i := range o.SweepHolds {
		// A gap of a fraction of a page to a few pages puts each hold at a random point
		// of the page the ERP is serving.
		if err := sleepUntil(ctx, time.Now().Add(between(o.PageTime/2, 3*o.PageTime))); err != nil {
			return pt, err
		}
		if i == 0 {
			pt.PageAtFirstHold = int(page.Load())
		}
		if err := manager.Pause(ctx); err != nil {
			return pt, fmt.Errorf("hold %d: %w", i+1, err)
		}
		held := between(0, o.PageTime)
		err := sleepUntil(ctx, time.Now().Add(held))
		manager.Resume()
		if err != nil {
			return pt, err
		}
		p.set("sweep %d products: %d/%d holds", products, i+1, o.SweepHolds)
	}
	pt.PageAtLastHold = int(page.Load())
	pt.TotalPages = int(total.Load())
	svc.Stop()
	unsubscribe()
	var took []time.Duration
	for ev := range events {
		if ev.Kind == priority.EventPaused {
			took = append(took, ev.Took)
		}
	}
	if len(took) != o.SweepHolds {
		return pt, fmt.Errorf("%d pauses recorded for %d holds (%d events dropped)", len(took), o.SweepHolds, manager.DroppedEvents())
	}
	pt.QuiesceMs = quiesceOf(took)
	return pt, nil
}

// prefillProducts puts the rows into the mirror as an earlier complete run would have,
// so that the measured run upserts rows that are already there.
func prefillProducts(ctx context.Context, store archibald.MirrorStore, rows []archibald.Product) error {
	run, err := store.BeginRun(ctx, archibald.EntityProducts, "sweep-prefill", time.Now())
	if err != nil {
		return err
	}
	if _, err := store.CommitPage(ctx, archibald.PageCommit{Run: run, Page: 1, Total: 1, Products: rows}); err != nil {
		return err
	}
	_, err = store.FinishRun(ctx, archibald.EntityProducts, run.ID, false, time.Now())
	return err
}
