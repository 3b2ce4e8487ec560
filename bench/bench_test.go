package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"archibald"
	"archibald/erpsim"
	"archibald/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// small is a scenario that runs in about a second: little data, fast ERP timings.
func small(t *testing.T) Options {
	return Options{
		Orders: 3, Rate: 20, PageTime: 2 * time.Millisecond, StepTime: 5 * time.Millisecond,
		Customers: 40, Products: 80, SyncInterval: 200 * time.Millisecond,
		OrderTimeout: 30 * time.Second, SettleTimeout: 30 * time.Second, SyncAlone: 200 * time.Millisecond,
		SweepSizes: []int{300, 600}, SweepHolds: 5, Dir: t.TempDir(),
	}
}

func TestRunEveryMode(t *testing.T) {
	o := small(t)
	var progress bytes.Buffer
	rep, err := Run(context.Background(), o, &progress)
	if err != nil {
		t.Fatal(err)
	}
	if rep.PageTimeMs != 2 || rep.StepTimeMs != 5 || rep.Transport == "" {
		t.Errorf("header: pageTimeMs %v, stepTimeMs %v, transport %q", rep.PageTimeMs, rep.StepTimeMs, rep.Transport)
	}
	if len(rep.Modes) != len(AllModes) {
		t.Fatalf("%d modes reported, want %d", len(rep.Modes), len(AllModes))
	}
	for i, m := range rep.Modes {
		t.Run(string(m.Mode), func(t *testing.T) {
			if m.Mode != AllModes[i] {
				t.Errorf("mode %d is %q, want %q", i, m.Mode, AllModes[i])
			}
			if got := m.Orders.Created + m.Orders.Failed; got != o.Orders {
				t.Errorf("created %d + failed %d = %d, want %d orders", m.Orders.Created, m.Orders.Failed, got, o.Orders)
			}
			if !m.MirrorMatches {
				t.Errorf("mirror does not match: %s", m.MirrorDiff)
			}
			l := m.LatencyMs
			if !(l.P50 > 0 && l.P50 <= l.P95 && l.P95 <= l.P99 && l.P99 <= l.Max) {
				t.Errorf("latency percentiles not ordered or empty: %+v", l)
			}
			// The fastest possible order has three steps.
			if minMs := 3 * float64(o.StepTime) / float64(time.Millisecond) * 0.9; l.P50 < minMs {
				t.Errorf("latency p50 %v ms is below three steps (%v ms)", l.P50, minMs)
			}
			if m.WindowMs <= 0 || m.FillMs <= 0 {
				t.Errorf("window %v ms, fill %v ms: want both positive", m.WindowMs, m.FillMs)
			}
			switch m.Mode {
			case ModeIdle:
				if m.QuiesceMs != nil || m.SyncRowsPerSec != 0 || m.ViewLost != 0 || m.Orders.Failed != 0 {
					t.Errorf("idle: quiesce %+v, sync rows/s %v, view lost %d, failed %d: want none",
						m.QuiesceMs, m.SyncRowsPerSec, m.ViewLost, m.Orders.Failed)
				}
			case ModeNoPriority:
				if m.QuiesceMs != nil {
					t.Errorf("no-priority: quiesce %+v, want nil: nothing is paused", m.QuiesceMs)
				}
				if m.SyncRowsPerSec <= 0 {
					t.Errorf("no-priority: sync rows/s %v, want the services running", m.SyncRowsPerSec)
				}
				if m.SyncAloneRowsPerSec <= 0 || m.ERPRowsPerSec != 10000 {
					t.Errorf("no-priority: alone %v rows/s of %v the ERP serves; want some of 10000 (20 rows / 2 ms)",
						m.SyncAloneRowsPerSec, m.ERPRowsPerSec)
				}
				if m.ViewLost == 0 {
					t.Errorf("no-priority: no view lost; the services should have moved the view under the orders")
				}
			case ModePriority:
				q := m.QuiesceMs
				if q == nil || q.Count != o.Orders || !(q.P50 <= q.P99 && q.P99 <= q.Max) {
					t.Fatalf("priority: quiesce %+v, want one ordered sample per order", q)
				}
				if m.Orders.Failed != 0 || m.ViewLost != 0 {
					t.Errorf("priority: %d failed, %d view lost: want none (failures %+v)", m.Orders.Failed, m.ViewLost, m.Failures)
				}
				if m.SyncRowsPerSec <= 0 {
					t.Errorf("priority: sync rows/s %v, want the services running", m.SyncRowsPerSec)
				}
			}
		})
	}
	if len(rep.Checks) != 6 {
		t.Errorf("%d checks, want 6: %+v", len(rep.Checks), rep.Checks)
	}
	out := progress.String()
	for _, want := range []string{"idle: 3/3 orders done", "no-priority: 3/3 orders done", "priority: 3/3 orders done"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress %q does not say %q", out, want)
		}
	}

	t.Run("json names", func(t *testing.T) { checkJSONNames(t, rep) })
	t.Run("table", func(t *testing.T) {
		var b bytes.Buffer
		if err := rep.WriteTable(&b); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"mode", "idle", "no-priority", "priority", "p95 ms", "quiesce p99", "matches", "Targets:"} {
			if !strings.Contains(b.String(), want) {
				t.Errorf("table does not contain %q:\n%s", want, b.String())
			}
		}
	})
}

// checkJSONNames decodes the report as a generic document and checks the names the
// issue fixes.
func checkJSONNames(t *testing.T, rep Report) {
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	hasKeys := func(where string, v any, keys ...string) map[string]any {
		t.Helper()
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s is %T, want an object", where, v)
		}
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				t.Errorf("%s has no %q: %s", where, k, b)
			}
		}
		return m
	}
	hasKeys("report", doc, "pageTimeMs", "stepTimeMs", "modes")
	modes, ok := doc["modes"].([]any)
	if !ok || len(modes) == 0 {
		t.Fatalf("modes is %T %v, want a non-empty array", doc["modes"], doc["modes"])
	}
	for _, mv := range modes {
		m := hasKeys("mode", mv, "mode", "orders", "latencyMs", "quiesceMs", "viewLost", "syncRowsPerSec", "mirrorMatches")
		hasKeys("orders", m["orders"], "created", "failed")
		hasKeys("latencyMs", m["latencyMs"], "p50", "p95", "p99", "max")
		if m["mode"] == string(ModePriority) {
			hasKeys("quiesceMs", m["quiesceMs"], "p50", "p99")
		} else if m["quiesceMs"] != nil {
			t.Errorf("%v: quiesceMs %v, want null", m["mode"], m["quiesceMs"])
		}
	}
}

func TestSweep(t *testing.T) {
	o := small(t)
	o.Sweep, o.NoModes = true, true
	rep, err := Run(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Modes) != 0 {
		t.Errorf("%d modes measured, want none with NoModes", len(rep.Modes))
	}
	if len(rep.Sweep) != len(o.SweepSizes) {
		t.Fatalf("%d sweep points, want %d", len(rep.Sweep), len(o.SweepSizes))
	}
	for i, s := range rep.Sweep {
		q := s.QuiesceMs
		switch {
		case s.Products != o.SweepSizes[i]:
			t.Errorf("point %d: %d products, want %d", i, s.Products, o.SweepSizes[i])
		case q.Count != o.SweepHolds:
			t.Errorf("%d products: %d pauses, want %d", s.Products, q.Count, o.SweepHolds)
		case !(q.P50 <= q.P99 && q.P99 <= q.Max):
			t.Errorf("%d products: quiesce percentiles not ordered: %+v", s.Products, q)
		case s.TotalPages != s.Products/20 || s.MirrorRows != s.Products || s.ERPProducts != s.Products:
			t.Errorf("%d products: %d pages, %d mirror rows, %d ERP rows; want %d, %d, %d",
				s.Products, s.TotalPages, s.MirrorRows, s.ERPProducts, s.Products/20, s.Products, s.Products)
		case s.PageAtFirstHold < 1:
			t.Errorf("%d products: first hold at page %d, want mid-run", s.Products, s.PageAtFirstHold)
		}
	}
	b, _ := json.Marshal(rep)
	var doc struct {
		Sweep []map[string]any `json:"sweep"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, p := range doc.Sweep {
		q, _ := p["quiesceMs"].(map[string]any)
		if _, ok := p["products"]; !ok || q["p50"] == nil || q["p99"] == nil {
			t.Errorf("sweep point %v lacks products or quiesceMs.p50/p99", p)
		}
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"negative orders", Options{Orders: -1}, "Orders"},
		{"negative rate", Options{Rate: -2}, "Rate"},
		{"negative page time", Options{PageTime: -time.Millisecond}, "PageTime"},
		{"unknown mode", Options{Modes: []Mode{"turbo"}}, `unknown mode "turbo"`},
		{"no mode", Options{Modes: []Mode{}}, "no mode"},
		{"nothing", Options{NoModes: true}, "nothing to do"},
		{"bad sweep size", Options{Sweep: true, SweepSizes: []int{0}}, "sweep size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), tt.o, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want one naming %q", err, tt.want)
			}
		})
	}
}

func TestRunStopsWithCtx(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	o := small(t)
	o.Modes = []Mode{ModePriority}
	o.Rate = 0.5 // the second order would wait two seconds
	var progress syncBuffer
	progress.onWrite = func(s string) {
		if strings.Contains(s, "1/3 orders done") {
			cancel()
		}
	}
	start := time.Now()
	_, err := Run(ctx, o, &progress)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Run took %v to stop after ctx ended", took)
	}
}

// syncBuffer is a writer that calls onWrite with each write.
type syncBuffer struct{ onWrite func(string) }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.onWrite(string(p))
	return len(p), nil
}

func TestPercentileNearestRank(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		samples []time.Duration
		want    Latency
	}{
		{ms(7), Latency{7, 7, 7, 7}},
		{ms(4, 1, 3, 2), Latency{2, 4, 4, 4}},
		// 20 samples: p50 is the 10th, p95 the 19th, p99 the 20th.
		{ms(20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1), Latency{10, 19, 20, 20}},
		{[]time.Duration{1234567 * time.Nanosecond, 1250 * time.Microsecond}, Latency{1.2, 1.3, 1.3, 1.3}},
	}
	for _, tt := range tests {
		if got := latencyOf(tt.samples); got != tt.want {
			t.Errorf("latencyOf(%v) = %+v, want %+v", tt.samples, got, tt.want)
		}
	}
	if got := latencyOf(nil); got != (Latency{}) {
		t.Errorf("latencyOf(nil) = %+v, want zero", got)
	}
}

func TestPlanOrdersIsValidAndRepeatable(t *testing.T) {
	ctx := context.Background()
	sim, err := erpsim.New(erpsim.Config{Seed: 3, Customers: 30, Products: 200})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	store := filledStore(t, sim)
	a, err := planOrders(ctx, store, 25, 9, ModeIdle)
	if err != nil {
		t.Fatal(err)
	}
	b, err := planOrders(ctx, store, 25, 9, ModePriority)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if n := len(a[i].Items); n < 1 || n > 5 {
			t.Errorf("order %d has %d lines, want 1 to 5", i, n)
		}
		if err := a[i].Validate(); err != nil {
			t.Errorf("order %d: %v", i, err)
		}
		if err := a[i].ValidateAgainst(ctx, store); err != nil {
			t.Errorf("order %d: %v", i, err)
		}
		// The same orders in every mode, but each with its own reference.
		if a[i].Hash() == b[i].Hash() || a[i].Reference == b[i].Reference {
			t.Errorf("order %d: same reference in two modes", i)
		}
		a[i].Reference, b[i].Reference = "", ""
		if a[i].Hash() != b[i].Hash() {
			t.Errorf("order %d differs between two plans with the same seed: %+v vs %+v", i, a[i], b[i])
		}
	}
	empty, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "empty.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	if _, err := planOrders(ctx, empty, 1, 1, ModeIdle); err == nil || !strings.Contains(err.Error(), "no customers") {
		t.Errorf("planning from an empty mirror: err %v, want one saying it holds no customers", err)
	}
}

func TestMirrorMatchesFindsDifferences(t *testing.T) {
	ctx := context.Background()
	sim, err := erpsim.New(erpsim.Config{Seed: 4, Customers: 20, Products: 40})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	store := filledStore(t, sim)
	if err := sim.CompareMirror(ctx, store); err != nil {
		t.Fatalf("a faithful mirror: %v", err)
	}
	sim.Mutate(erpsim.Mutation{Products: erpsim.MutationCounts{Change: 1}})
	err = sim.CompareMirror(ctx, store)
	var mm *erpsim.Mismatch
	if !errors.As(err, &mm) || mm.Entity != archibald.EntityProducts {
		t.Fatalf("after changing a product: err %v, want a products *Mismatch", err)
	}
}

// filledStore copies the simulator's data into a new store, as a complete sync would.
func filledStore(t *testing.T, sim *erpsim.Server) *sqlite.DB {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "mirror.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	commit := func(entity string, fill func(*archibald.PageCommit)) {
		run, err := store.BeginRun(ctx, entity, "fill-"+entity, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		pc := archibald.PageCommit{Run: run, Page: 1, Total: 1}
		fill(&pc)
		if _, err := store.CommitPage(ctx, pc); err != nil {
			t.Fatal(err)
		}
		if _, err := store.FinishRun(ctx, entity, run.ID, true, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	commit(archibald.EntityCustomers, func(pc *archibald.PageCommit) { pc.Customers = sim.Customers() })
	commit(archibald.EntityProducts, func(pc *archibald.PageCommit) { pc.Products = sim.Products() })
	commit(archibald.EntityPrices, func(pc *archibald.PageCommit) { pc.Prices = sim.Prices() })
	return store
}

func TestPrefillProducts(t *testing.T) {
	ctx := context.Background()
	sim, err := erpsim.New(erpsim.Config{Seed: 5, Customers: 5, Products: 30})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := prefillProducts(ctx, store, sim.Products()); err != nil {
		t.Fatal(err)
	}
	got, err := store.AllProducts(ctx)
	if err != nil || !slices.Equal(got, sim.Products()) {
		t.Fatalf("the mirror holds %d products (err %v), want the ERP's %d", len(got), err, len(sim.Products()))
	}
	if run, ok, err := store.LastFinishedRun(ctx, archibald.EntityProducts); err != nil || !ok || run.Counts.Seen != 30 {
		t.Errorf("last finished run %+v, %v, %v; want one that saw 30 rows", run, ok, err)
	}
}
