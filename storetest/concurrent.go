package storetest

import (
	"fmt"
	"sync"
	"testing"

	"archibald"
)

func testConcurrency(t *testing.T, open Opener) {
	t.Run("CommitPagesOfAllEntities", func(t *testing.T) { t.Parallel(); testConcurrentCommits(t, open) })
	t.Run("ReadsWhileWriting", func(t *testing.T) { t.Parallel(); testReadsWhileWriting(t, open) })
	t.Run("TransitionRace", func(t *testing.T) { t.Parallel(); testTransitionRace(t, open) })
	t.Run("IdempotencyRace", func(t *testing.T) { t.Parallel(); testIdempotencyRace(t, open) })
}

const (
	concPages    = 10
	concPageRows = 20
)

func pageKeys(page int) []string {
	keys := make([]string, concPageRows)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%03d-%02d", page, i)
	}
	return keys
}

// testConcurrentCommits runs one run per entity at the same time.
func testConcurrentCommits(t *testing.T, open Opener) {
	s := open(t, "main")
	var wg sync.WaitGroup
	errs := make(chan error, len(fixtures))
	for _, fx := range fixtures {
		wg.Go(func() {
			run, err := s.BeginRun(t.Context(), fx.entity, "r1", at(0))
			if err != nil {
				errs <- fmt.Errorf("%s: begin: %w", fx.entity, err)
				return
			}
			for p := 1; p <= concPages; p++ {
				if run, err = s.CommitPage(t.Context(), page(fx, run, p, concPages, rows(1, pageKeys(p)...))); err != nil {
					errs <- fmt.Errorf("%s: page %d: %w", fx.entity, p, err)
					return
				}
			}
			if _, err := s.FinishRun(t.Context(), fx.entity, run.ID, true, at(1)); err != nil {
				errs <- fmt.Errorf("%s: finish: %w", fx.entity, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	for _, fx := range fixtures {
		last, ok, err := s.LastFinishedRun(t.Context(), fx.entity)
		if err != nil || !ok {
			t.Fatalf("%s: LastFinishedRun: ok %v, err %v", fx.entity, ok, err)
		}
		n := concPages * concPageRows
		if want := (archibald.RowCounts{Seen: n, Inserted: n}); last.Counts != want || last.NextPage != concPages+1 {
			t.Errorf("%s: run %+v, want counts %+v and next page %d", fx.entity, last, want, concPages+1)
		}
		want := mirror{}
		for p := 1; p <= concPages; p++ {
			want.put(rows(1, pageKeys(p)...))
		}
		checkMirror(t, s, fx, want)
	}
}

// testReadsWhileWriting reads while one writer commits pages, and checks that every
// read sees whole pages only: a page is one transaction.
func testReadsWhileWriting(t *testing.T, open Opener) {
	s := open(t, "main")
	ctx := t.Context()
	fx := fixtures[1] // products
	run := beginRun(t, s, fx.entity, "r1", at(0))

	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	wg.Go(func() {
		defer close(done)
		var err error
		for p := 1; p <= concPages; p++ {
			if run, err = s.CommitPage(ctx, page(fx, run, p, concPages, rows(1, pageKeys(p)...))); err != nil {
				errs <- fmt.Errorf("writer: page %d: %w", p, err)
				return
			}
		}
	})
	reader := func(name string, read func() error) {
		wg.Go(func() {
			// At least one read, and reads until the writer is done.
			for {
				if err := read(); err != nil {
					errs <- fmt.Errorf("%s: %w", name, err)
					return
				}
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}
	reader("count", func() error {
		n, err := s.MirrorCount(ctx, fx.entity)
		if err != nil {
			return err
		}
		if n%concPageRows != 0 {
			return fmt.Errorf("MirrorCount %d is not whole pages of %d", n, concPageRows)
		}
		return nil
	})
	lastNext := 0
	reader("checkpoint", func() error {
		r, ok, err := s.CurrentRun(ctx, fx.entity)
		if err != nil || !ok {
			return fmt.Errorf("CurrentRun: ok %v, err %v", ok, err)
		}
		if r.NextPage < lastNext {
			return fmt.Errorf("checkpoint went back from %d to %d", lastNext, r.NextPage)
		}
		if r.Counts.Inserted != (r.NextPage-1)*concPageRows {
			return fmt.Errorf("run %+v: counts do not match its checkpoint", r)
		}
		lastNext = r.NextPage
		return nil
	})
	reader("search", func() error {
		ps, err := s.SearchProducts(ctx, "", 500)
		if err != nil {
			return err
		}
		if len(ps)%concPageRows != 0 {
			return fmt.Errorf("search saw %d rows, not whole pages of %d", len(ps), concPageRows)
		}
		return nil
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := must[int](t, "count")(s.MirrorCount(ctx, fx.entity)); n != concPages*concPageRows {
		t.Errorf("MirrorCount at the end = %d, want %d", n, concPages*concPageRows)
	}
}

// testTransitionRace has many goroutines try the same compare-and-set: exactly one wins.
func testTransitionRace(t *testing.T, open Opener) {
	s := open(t, "main")
	createOrder(t, s, newOrder("o1", at(0)))
	const n = 8
	codes := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := s.TransitionOrder(t.Context(), "o1",
				archibald.OrderTransition{From: archibald.OrderQueued, To: archibald.OrderSubmitting, At: at(1)})
			codes <- archibald.ErrorCode(err)
		})
	}
	wg.Wait()
	close(codes)
	count := map[string]int{}
	for c := range codes {
		count[c]++
	}
	if count[""] != 1 || count[archibald.ECONFLICT] != n-1 {
		t.Fatalf("outcomes %v; want one success and %d conflicts", count, n-1)
	}
	o := must[archibald.Order](t, "Order")(s.Order(t.Context(), "o1"))
	if o.Attempts != 1 || o.Status != archibald.OrderSubmitting {
		t.Fatalf("order after the race: %+v; want submitting with 1 attempt", o)
	}
}

// testIdempotencyRace creates orders with one key at once: exactly one is created and
// every caller gets that order.
func testIdempotencyRace(t *testing.T, open Opener) {
	s := open(t, "main")
	const n = 8
	type result struct {
		id      string
		created bool
		err     error
	}
	results := make(chan result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			o := newOrder(fmt.Sprintf("o%d", i), at(i))
			o.IdempotencyKey = "same-key"
			got, created, err := s.CreateOrder(t.Context(), o)
			results <- result{got.ID, created, err}
		})
	}
	wg.Wait()
	close(results)
	var winner string
	created := 0
	ids := map[string]bool{}
	for r := range results {
		if r.err != nil {
			t.Fatalf("CreateOrder: %v", r.err)
		}
		if r.created {
			created++
			winner = r.id
		}
		ids[r.id] = true
	}
	if created != 1 || len(ids) != 1 || !ids[winner] {
		t.Fatalf("%d created, orders returned %v; want one order for everyone", created, ids)
	}
	all := must[[]archibald.Order](t, "ListOrders")(s.ListOrders(t.Context(), "", 0))
	if len(all) != 1 || all[0].ID != winner {
		t.Fatalf("ListOrders = %v, want only %s", orderIDs(all), winner)
	}
}
