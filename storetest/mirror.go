package storetest

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"archibald"
)

func testMirror(t *testing.T, open Opener) {
	for _, fx := range fixtures {
		t.Run(fx.entity, func(t *testing.T) {
			t.Parallel()
			t.Run("TwoRunsCountAndPrune", func(t *testing.T) { t.Parallel(); testTwoRuns(t, open, fx) })
			t.Run("EveryFieldIsHashed", func(t *testing.T) { t.Parallel(); testEveryFieldHashed(t, open, fx) })
			t.Run("DuplicateKeysInPage", func(t *testing.T) { t.Parallel(); testDuplicateKeys(t, open, fx) })
			t.Run("PageConflicts", func(t *testing.T) { t.Parallel(); testPageConflicts(t, open, fx) })
			t.Run("ResumeAfterReopen", func(t *testing.T) { t.Parallel(); testResume(t, open, fx) })
			t.Run("FinishWithoutPrune", func(t *testing.T) { t.Parallel(); testFinishWithoutPrune(t, open, fx) })
			t.Run("EmptyPage", func(t *testing.T) { t.Parallel(); testEmptyPage(t, open, fx) })
			t.Run("CancelledCommit", func(t *testing.T) { t.Parallel(); testCancelledCommit(t, open, fx) })
		})
	}
	t.Run("BeginRun", func(t *testing.T) { t.Parallel(); testBeginRun(t, open) })
	t.Run("FinishRunConflicts", func(t *testing.T) { t.Parallel(); testFinishConflicts(t, open) })
	t.Run("LastFinishedRun", func(t *testing.T) { t.Parallel(); testLastFinished(t, open) })
	t.Run("PruneTouchesOneEntity", func(t *testing.T) { t.Parallel(); testPruneIsolation(t, open) })
	t.Run("InvalidInput", func(t *testing.T) { t.Parallel(); testMirrorInvalid(t, open) })
}

// testTwoRuns walks two full runs over a changing list and checks every count, the
// checkpoint after each page and the mirror after each run.
func testTwoRuns(t *testing.T, open Opener, fx fixture) {
	s := open(t, "main")
	want := mirror{}

	run := beginRun(t, s, fx.entity, "run-1", at(0))
	checkRun(t, "BeginRun", run, archibald.SyncRun{Entity: fx.entity, ID: "run-1", StartedAt: at(0), NextPage: 1})
	if got, ok := currentRun(t, s, fx.entity); !ok {
		t.Fatal("CurrentRun after BeginRun: none")
	} else {
		checkRun(t, "CurrentRun after BeginRun", got, run)
	}

	p1 := rows(1, "k01", "k02", "k03")
	run = commit(t, s, fx, run, 1, 2, p1)
	checkRun(t, "run after page 1", run, archibald.SyncRun{Entity: fx.entity, ID: "run-1", StartedAt: at(0),
		NextPage: 2, TotalPages: 2, Counts: archibald.RowCounts{Seen: 3, Inserted: 3}})
	want.put(p1)
	checkMirror(t, s, fx, want)

	p2 := rows(1, "k04", "k05")
	run = commit(t, s, fx, run, 2, 2, p2)
	want.put(p2)
	wantRun := archibald.SyncRun{Entity: fx.entity, ID: "run-1", StartedAt: at(0),
		NextPage: 3, TotalPages: 2, Counts: archibald.RowCounts{Seen: 5, Inserted: 5}}
	checkRun(t, "run after page 2", run, wantRun)
	got, _ := currentRun(t, s, fx.entity)
	checkRun(t, "CurrentRun after page 2", got, wantRun)

	run = must[archibald.SyncRun](t, "finish run-1")(s.FinishRun(t.Context(), fx.entity, "run-1", true, at(5)))
	wantRun.FinishedAt = at(5)
	checkRun(t, "finished run-1", run, wantRun)
	if _, ok := currentRun(t, s, fx.entity); ok {
		t.Fatal("CurrentRun after FinishRun: still one")
	}
	checkMirror(t, s, fx, want)

	// Second run: k02 changed, k05 vanished, k06 is new, k01/k03/k04 unchanged. The
	// ERP now reports three pages, the last one empty.
	run = beginRun(t, s, fx.entity, "run-2", at(10))
	run = commit(t, s, fx, run, 1, 3, []row{{"k01", 1}, {"k02", 2}, {"k03", 1}})
	checkRun(t, "run-2 after page 1", run, archibald.SyncRun{Entity: fx.entity, ID: "run-2", StartedAt: at(10),
		NextPage: 2, TotalPages: 3, Counts: archibald.RowCounts{Seen: 3, Updated: 1}})
	run = commit(t, s, fx, run, 2, 3, []row{{"k04", 1}, {"k06", 1}})
	run = commit(t, s, fx, run, 3, 3, nil)
	wantRun = archibald.SyncRun{Entity: fx.entity, ID: "run-2", StartedAt: at(10),
		NextPage: 4, TotalPages: 3, Counts: archibald.RowCounts{Seen: 5, Inserted: 1, Updated: 1}}
	checkRun(t, "run-2 after page 3", run, wantRun)
	// Before the prune the vanished row is still there.
	want.put([]row{{"k02", 2}, {"k06", 1}})
	checkMirror(t, s, fx, want)

	run = must[archibald.SyncRun](t, "finish run-2")(s.FinishRun(t.Context(), fx.entity, "run-2", true, at(15)))
	wantRun.FinishedAt = at(15)
	wantRun.Counts.Deleted = 1
	checkRun(t, "finished run-2", run, wantRun)
	delete(want, "k05")
	checkMirror(t, s, fx, want)

	last, ok, err := s.LastFinishedRun(t.Context(), fx.entity)
	if err != nil || !ok {
		t.Fatalf("LastFinishedRun = ok %v, err %v; want run-2", ok, err)
	}
	checkRun(t, "LastFinishedRun", last, wantRun)
}

// testEveryFieldIsHashed changes one field at a time and expects each change to count
// as an update and to reach the mirror.
func testEveryFieldHashed(t *testing.T, open Opener, fx fixture) {
	s := open(t, "main")
	base := row{"k1", 1}
	run := beginRun(t, s, fx.entity, "run-0", at(0))
	run = commit(t, s, fx, run, 1, 1, []row{base})
	must[archibald.SyncRun](t, "finish")(s.FinishRun(t.Context(), fx.entity, run.ID, false, at(1)))

	n := 0
	commitOne := func(v any) archibald.RowCounts {
		t.Helper()
		n++
		run := beginRun(t, s, fx.entity, fmt.Sprintf("run-%d", n), at(n))
		p := archibald.PageCommit{Run: run, Page: 1, Total: 1}
		fillAny(&p, v)
		got := must[archibald.SyncRun](t, "commit")(s.CommitPage(t.Context(), p))
		must[archibald.SyncRun](t, "finish")(s.FinishRun(t.Context(), fx.entity, run.ID, false, at(n)))
		return got.Counts
	}
	baseRow := fx.build([]row{base})
	for i, v := range fx.variants(base) {
		// Back to the base row first, so that v differs from the stored row in one field.
		if i > 0 {
			commitOne(reflect.ValueOf(baseRow).Index(0).Interface())
		}
		if got, want := commitOne(v), (archibald.RowCounts{Seen: 1, Updated: 1}); got != want {
			t.Fatalf("variant %d %+v: counts %+v, want %+v", i, v, got, want)
		}
		all := must[any](t, "all")(fx.all(t.Context(), s))
		if !sameSlice(all, wrapSlice(v)) {
			t.Fatalf("variant %d: mirror %+v, want %+v", i, all, v)
		}
		// The same content again is unchanged: seen, not updated.
		if got, want := commitOne(v), (archibald.RowCounts{Seen: 1}); got != want {
			t.Fatalf("variant %d again: counts %+v, want %+v", i, got, want)
		}
	}
}

func wrapSlice(v any) any {
	switch v := v.(type) {
	case archibald.Customer:
		return []archibald.Customer{v}
	case archibald.Product:
		return []archibald.Product{v}
	case archibald.Price:
		return []archibald.Price{v}
	}
	panic(fmt.Sprintf("storetest: no slice for %T", v))
}

func testDuplicateKeys(t *testing.T, open Opener, fx fixture) {
	s := open(t, "main")
	run := beginRun(t, s, fx.entity, "run-1", at(0))
	run = commit(t, s, fx, run, 1, 1, []row{{"k1", 1}, {"k2", 1}, {"k1", 2}})
	if want := (archibald.RowCounts{Seen: 2, Inserted: 2}); run.Counts != want {
		t.Fatalf("counts %+v, want %+v (a key twice in one page counts once)", run.Counts, want)
	}
	checkMirror(t, s, fx, mirror{"k1": 2, "k2": 1})
}

// testPageConflicts commits pages twice, skips pages and uses stale runs, and checks
// that each is a Conflict that writes nothing.
func testPageConflicts(t *testing.T, open Opener, fx fixture) {
	s := open(t, "main")
	run := beginRun(t, s, fx.entity, "run-1", at(0))
	first := run
	run = commit(t, s, fx, run, 1, 3, rows(1, "k1", "k2"))
	want := mirror{"k1": 1, "k2": 1}

	other := rows(7, "k1", "k3") // would update k1 and insert k3
	cases := []struct {
		name string
		p    archibald.PageCommit
	}{
		{"page committed twice", page(fx, first, 1, 3, other)},
		{"page committed twice with the run after it", page(fx, run, 1, 3, other)},
		{"page skipped", page(fx, run, 3, 3, other)},
		{"unknown run", page(fx, archibald.SyncRun{Entity: fx.entity, ID: "run-x"}, 2, 3, other)},
	}
	for _, c := range cases {
		_, err := s.CommitPage(t.Context(), c.p)
		wantCode(t, err, archibald.ECONFLICT, c.name)
		got, _ := currentRun(t, s, fx.entity)
		checkRun(t, c.name+": run after", got, run)
		checkMirror(t, s, fx, want)
	}

	// A finished run takes no more pages.
	run = commit(t, s, fx, run, 2, 2, nil)
	must[archibald.SyncRun](t, "finish")(s.FinishRun(t.Context(), fx.entity, "run-1", false, at(1)))
	_, err := s.CommitPage(t.Context(), page(fx, run, 3, 3, other))
	wantCode(t, err, archibald.ECONFLICT, "page of a finished run")
	checkMirror(t, s, fx, want)
	last, _, err := s.LastFinishedRun(t.Context(), fx.entity)
	if err != nil {
		t.Fatal(err)
	}
	if last.NextPage != 3 || last.Counts != (archibald.RowCounts{Seen: 2, Inserted: 2}) {
		t.Fatalf("finished run changed by a refused page: %+v", last)
	}
}

// testResume closes the store in the middle of a run and goes on after reopening it.
func testResume(t *testing.T, open Opener, fx fixture) {
	s := open(t, "main")
	run := beginRun(t, s, fx.entity, "run-1", at(0))
	run = commit(t, s, fx, run, 1, 2, rows(1, "k1", "k2"))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = open(t, "main")
	got, ok := currentRun(t, s, fx.entity)
	if !ok {
		t.Fatal("CurrentRun after reopen: none")
	}
	checkRun(t, "CurrentRun after reopen", got, run)
	checkMirror(t, s, fx, mirror{"k1": 1, "k2": 1})

	_, err := s.CommitPage(t.Context(), page(fx, got, 1, 2, rows(1, "k1")))
	wantCode(t, err, archibald.ECONFLICT, "page 1 again after reopen")
	run = commit(t, s, fx, got, 2, 2, rows(1, "k3"))
	run = must[archibald.SyncRun](t, "finish")(s.FinishRun(t.Context(), fx.entity, run.ID, true, at(1)))
	checkRun(t, "finished run", run, archibald.SyncRun{Entity: fx.entity, ID: "run-1", StartedAt: at(0),
		NextPage: 3, TotalPages: 2, Counts: archibald.RowCounts{Seen: 3, Inserted: 3}, FinishedAt: at(1)})
	checkMirror(t, s, fx, mirror{"k1": 1, "k2": 1, "k3": 1})

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = open(t, "main")
	last, ok, err := s.LastFinishedRun(t.Context(), fx.entity)
	if err != nil || !ok {
		t.Fatalf("LastFinishedRun after reopen: ok %v, err %v", ok, err)
	}
	checkRun(t, "LastFinishedRun after reopen", last, run)
}

func testFinishWithoutPrune(t *testing.T, open Opener, fx fixture) {
	s := open(t, "main")
	run := beginRun(t, s, fx.entity, "run-1", at(0))
	run = commit(t, s, fx, run, 1, 1, rows(1, "k1", "k2", "k3"))
	must[archibald.SyncRun](t, "finish run-1")(s.FinishRun(t.Context(), fx.entity, run.ID, true, at(1)))

	// A partial run sees only k2; finishing it without prune keeps k1 and k3.
	run = beginRun(t, s, fx.entity, "run-2", at(2))
	run = commit(t, s, fx, run, 1, 5, rows(2, "k2"))
	run = must[archibald.SyncRun](t, "finish run-2")(s.FinishRun(t.Context(), fx.entity, run.ID, false, at(3)))
	if run.Counts.Deleted != 0 || !run.FinishedAt.Equal(at(3)) {
		t.Fatalf("run finished without prune: %+v; want 0 deleted, finished at %v", run, at(3))
	}
	checkMirror(t, s, fx, mirror{"k1": 1, "k2": 2, "k3": 1})
}

// testEmptyPage: a list with no rows at all still advances the checkpoint, and pruning
// after it empties the mirror (guarding against that is the syncer's business).
func testEmptyPage(t *testing.T, open Opener, fx fixture) {
	s := open(t, "main")
	run := beginRun(t, s, fx.entity, "run-1", at(0))
	run = commit(t, s, fx, run, 1, 1, rows(1, "k1", "k2"))
	must[archibald.SyncRun](t, "finish")(s.FinishRun(t.Context(), fx.entity, run.ID, true, at(1)))

	run = beginRun(t, s, fx.entity, "run-2", at(2))
	run = commit(t, s, fx, run, 1, 0, nil)
	checkRun(t, "after an empty page", run, archibald.SyncRun{Entity: fx.entity, ID: "run-2", StartedAt: at(2), NextPage: 2})
	run = must[archibald.SyncRun](t, "finish")(s.FinishRun(t.Context(), fx.entity, run.ID, true, at(3)))
	if run.Counts.Deleted != 2 {
		t.Fatalf("deleted %d, want 2", run.Counts.Deleted)
	}
	checkMirror(t, s, fx, mirror{})
}

func testBeginRun(t *testing.T, open Opener) {
	s := open(t, "main")
	ctx := t.Context()
	run := beginRun(t, s, archibald.EntityProducts, "p1", at(0))

	_, err := s.BeginRun(ctx, archibald.EntityProducts, "p2", at(1))
	wantCode(t, err, archibald.ECONFLICT, "BeginRun while a run is unfinished")
	got, _ := currentRun(t, s, archibald.EntityProducts)
	checkRun(t, "CurrentRun after refused BeginRun", got, run)

	// Other entities have their own runs.
	beginRun(t, s, archibald.EntityCustomers, "c1", at(2))
	beginRun(t, s, archibald.EntityPrices, "p1", at(2))

	must[archibald.SyncRun](t, "finish p1")(s.FinishRun(ctx, archibald.EntityProducts, "p1", false, at(3)))
	_, err = s.BeginRun(ctx, archibald.EntityProducts, "p1", at(4))
	wantCode(t, err, archibald.ECONFLICT, "BeginRun reusing a finished run's id")
	beginRun(t, s, archibald.EntityProducts, "p2", at(5))
}

func testFinishConflicts(t *testing.T, open Opener) {
	s := open(t, "main")
	ctx := t.Context()
	e := archibald.EntityCustomers
	_, err := s.FinishRun(ctx, e, "none", true, at(1))
	wantCode(t, err, archibald.ECONFLICT, "FinishRun without a run")

	run := beginRun(t, s, e, "r1", at(0))
	commit(t, s, fixtures[0], run, 1, 1, rows(1, "k1"))
	_, err = s.FinishRun(ctx, e, "r0", true, at(1))
	wantCode(t, err, archibald.ECONFLICT, "FinishRun of another run id")
	_, err = s.FinishRun(ctx, archibald.EntityPrices, "r1", true, at(1))
	wantCode(t, err, archibald.ECONFLICT, "FinishRun of another entity's run")

	must[archibald.SyncRun](t, "finish")(s.FinishRun(ctx, e, "r1", true, at(1)))
	_, err = s.FinishRun(ctx, e, "r1", true, at(2))
	wantCode(t, err, archibald.ECONFLICT, "FinishRun twice")
	last, _, err := s.LastFinishedRun(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	if !last.FinishedAt.Equal(at(1)) {
		t.Fatalf("second FinishRun changed the finished run: %+v", last)
	}
	checkMirror(t, s, fixtures[0], mirror{"k1": 1})
}

func testLastFinished(t *testing.T, open Opener) {
	s := open(t, "main")
	ctx := t.Context()
	e := archibald.EntityPrices
	if _, ok, err := s.LastFinishedRun(ctx, e); err != nil || ok {
		t.Fatalf("LastFinishedRun of an empty store: ok %v, err %v", ok, err)
	}
	beginRun(t, s, e, "r1", at(0))
	if _, ok, err := s.LastFinishedRun(ctx, e); err != nil || ok {
		t.Fatalf("LastFinishedRun with only an unfinished run: ok %v, err %v", ok, err)
	}
	must[archibald.SyncRun](t, "finish r1")(s.FinishRun(ctx, e, "r1", false, at(1)))
	beginRun(t, s, e, "r2", at(2))
	r2 := must[archibald.SyncRun](t, "finish r2")(s.FinishRun(ctx, e, "r2", false, at(3)))
	beginRun(t, s, e, "r3", at(4)) // unfinished: not the answer

	last, ok, err := s.LastFinishedRun(ctx, e)
	if err != nil || !ok {
		t.Fatalf("LastFinishedRun: ok %v, err %v", ok, err)
	}
	checkRun(t, "LastFinishedRun", last, r2)
	if _, ok, _ := s.LastFinishedRun(ctx, archibald.EntityCustomers); ok {
		t.Fatal("LastFinishedRun(customers) found another entity's run")
	}
}

func testPruneIsolation(t *testing.T, open Opener) {
	s := open(t, "main")
	want := map[string]mirror{}
	for i, fx := range fixtures {
		run := beginRun(t, s, fx.entity, "r1", at(i))
		commit(t, s, fx, run, 1, 1, rows(1, "k1", "k2"))
		want[fx.entity] = mirror{"k1": 1, "k2": 1}
	}
	// Products: a first run that saw everything prunes nothing; a second that sees only
	// k2 prunes k1 of products and nothing of the other entities.
	products := fixtures[1]
	got, _ := currentRun(t, s, products.entity)
	run := must[archibald.SyncRun](t, "finish products")(s.FinishRun(t.Context(), products.entity, got.ID, true, at(10)))
	if run.Counts.Deleted != 0 {
		t.Fatalf("deleted %d rows the run saw", run.Counts.Deleted)
	}
	run = beginRun(t, s, products.entity, "r2", at(11))
	commit(t, s, products, run, 1, 1, rows(1, "k2"))
	run = must[archibald.SyncRun](t, "finish products r2")(s.FinishRun(t.Context(), products.entity, "r2", true, at(12)))
	if run.Counts.Deleted != 1 {
		t.Fatalf("deleted %d, want 1", run.Counts.Deleted)
	}
	want[products.entity] = mirror{"k2": 1}
	for _, fx := range fixtures {
		checkMirror(t, s, fx, want[fx.entity])
	}
}

func testMirrorInvalid(t *testing.T, open Opener) {
	s := open(t, "main")
	ctx := t.Context()
	run := beginRun(t, s, archibald.EntityCustomers, "r1", at(0))
	okPage := archibald.PageCommit{Run: run, Page: 1, Total: 1}

	withRun := func(r archibald.SyncRun, page int) archibald.PageCommit {
		return archibald.PageCommit{Run: r, Page: page, Total: 1}
	}
	wrongRows := okPage
	wrongRows.Products = []archibald.Product{product(row{"k1", 1})}
	emptyKey := okPage
	emptyKey.Customers = []archibald.Customer{customer(row{"k1", 1}), {Name: "no id"}}
	negativeTotal := okPage
	negativeTotal.Total = -1

	cases := []struct {
		name string
		call func() error
	}{
		{"CurrentRun of an unknown entity", func() error { _, _, err := s.CurrentRun(ctx, "orders"); return err }},
		{"LastFinishedRun of an unknown entity", func() error { _, _, err := s.LastFinishedRun(ctx, "x"); return err }},
		{"BeginRun of an unknown entity", func() error { _, err := s.BeginRun(ctx, "x", "r", at(0)); return err }},
		{"BeginRun with an empty run id", func() error { _, err := s.BeginRun(ctx, archibald.EntityPrices, "", at(0)); return err }},
		{"BeginRun without a start time", func() error {
			_, err := s.BeginRun(ctx, archibald.EntityPrices, "r", time.Time{})
			return err
		}},
		{"FinishRun of an unknown entity", func() error { _, err := s.FinishRun(ctx, "x", "r1", true, at(1)); return err }},
		{"FinishRun without a finish time", func() error {
			_, err := s.FinishRun(ctx, archibald.EntityCustomers, "r1", true, time.Time{})
			return err
		}},
		{"MirrorCount of an unknown entity", func() error { _, err := s.MirrorCount(ctx, "x"); return err }},
		{"CommitPage of an unknown entity", func() error {
			_, err := s.CommitPage(ctx, withRun(archibald.SyncRun{Entity: "x", ID: "r1"}, 1))
			return err
		}},
		{"CommitPage of page 0", func() error { _, err := s.CommitPage(ctx, withRun(run, 0)); return err }},
		{"CommitPage with a negative total", func() error { _, err := s.CommitPage(ctx, negativeTotal); return err }},
		{"CommitPage with another entity's rows", func() error { _, err := s.CommitPage(ctx, wrongRows); return err }},
		{"CommitPage with an empty key", func() error { _, err := s.CommitPage(ctx, emptyKey); return err }},
	}
	for _, c := range cases {
		wantCode(t, c.call(), archibald.EINVALID, c.name)
	}
	// None of the refused pages was written.
	got, _ := currentRun(t, s, archibald.EntityCustomers)
	checkRun(t, "run after refused pages", got, run)
	for _, fx := range fixtures {
		checkMirror(t, s, fx, mirror{})
	}
	if _, ok := currentRun(t, s, archibald.EntityPrices); ok {
		t.Fatal("a refused BeginRun left a run")
	}
}

// testCancelledCommit: a page whose context is cancelled (a preempted batch) writes
// nothing, and the same page commits afterwards.
func testCancelledCommit(t *testing.T, open Opener, fx fixture) {
	s := open(t, "main")
	run := beginRun(t, s, fx.entity, "run-1", at(0))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.CommitPage(ctx, page(fx, run, 1, 1, rows(1, "k1", "k2"))); err == nil {
		t.Fatal("CommitPage with a cancelled context: no error")
	}
	got, _ := currentRun(t, s, fx.entity)
	checkRun(t, "run after a cancelled page", got, run)
	checkMirror(t, s, fx, mirror{})

	run = commit(t, s, fx, run, 1, 1, rows(1, "k1", "k2"))
	if run.Counts != (archibald.RowCounts{Seen: 2, Inserted: 2}) || run.NextPage != 2 {
		t.Fatalf("run after committing the page again: %+v", run)
	}
	checkMirror(t, s, fx, mirror{"k1": 1, "k2": 1})
}
