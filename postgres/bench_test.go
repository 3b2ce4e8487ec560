package postgres_test

import (
	"fmt"
	"testing"
	"time"

	"archibald"
)

// BenchmarkCommitPage commits pages of 20 products in a fresh run over a mirror that
// already holds some rows of each page: "mixed" half of them (half the rows are inserts,
// half unchanged), "unchanged" all of them (a sync that finds nothing new).
func BenchmarkCommitPage(b *testing.B) {
	b.Run("mixed", func(b *testing.B) { benchCommitPage(b, func(i int) bool { return i%2 == 1 }) })
	b.Run("unchanged", func(b *testing.B) { benchCommitPage(b, func(int) bool { return true }) })
}

func benchCommitPage(b *testing.B, stored func(i int) bool) {
	const pageRows = 20
	db := open(b, newSchema(b))
	ctx := b.Context()
	product := func(page, i int) archibald.Product {
		return archibald.Product{
			ID: fmt.Sprintf("V%07d-%02d", page, i), ArticleCode: fmt.Sprintf("H%d.%03d.%03d", page%9, page%1000, i),
			Description: fmt.Sprintf("Product %d/%d", page, i), Group: "burs",
			PackageContent: 5, MinQty: 5, MultipleQty: 5, MaxQty: 500,
		}
	}
	pageOf := func(page int, keep func(int) bool) []archibald.Product {
		var ps []archibald.Product
		for i := range pageRows {
			if keep(i) {
				ps = append(ps, product(page, i))
			}
		}
		return ps
	}
	pages := b.N
	// Seed: one finished run that stored the rows the benchmarked run will find unchanged.
	seed, err := db.BeginRun(ctx, archibald.EntityProducts, "seed", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	wantInserted := 0
	for p := 1; p <= pages; p++ {
		rows := pageOf(p, stored)
		wantInserted += pageRows - len(rows)
		if seed, err = db.CommitPage(ctx, archibald.PageCommit{Run: seed, Page: p, Total: pages, Products: rows}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := db.FinishRun(ctx, archibald.EntityProducts, "seed", false, time.Now()); err != nil {
		b.Fatal(err)
	}
	run, err := db.BeginRun(ctx, archibald.EntityProducts, "bench", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	inputs := make([][]archibald.Product, pages+1)
	for p := 1; p <= pages; p++ {
		inputs[p] = pageOf(p, func(int) bool { return true })
	}

	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for p := 1; p <= pages; p++ {
		if run, err = db.CommitPage(ctx, archibald.PageCommit{Run: run, Page: p, Total: pages, Products: inputs[p]}); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if want := (archibald.RowCounts{Seen: pages * pageRows, Inserted: wantInserted}); run.Counts != want {
		b.Fatalf("counts %+v, want %+v", run.Counts, want)
	}
	b.ReportMetric(float64(pages*pageRows)/elapsed.Seconds(), "rows/s")
}

// BenchmarkSearchProducts searches a mirror of 20,000 products for a rare term and a
// common one (stops at the limit).
func BenchmarkSearchProducts(b *testing.B) {
	db := open(b, newSchema(b))
	ctx := b.Context()
	run, err := db.BeginRun(ctx, archibald.EntityProducts, "seed", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	const pages, pageRows = 200, 100
	for p := 1; p <= pages; p++ {
		var ps []archibald.Product
		for i := range pageRows {
			ps = append(ps, archibald.Product{ID: fmt.Sprintf("V%05d", p*pageRows+i),
				ArticleCode: fmt.Sprintf("H%d.%03d.%03d", p%9, p, i), Description: fmt.Sprintf("Diamond bur %d", p*pageRows+i)})
		}
		if run, err = db.CommitPage(ctx, archibald.PageCommit{Run: run, Page: p, Total: pages, Products: ps}); err != nil {
			b.Fatal(err)
		}
	}
	for _, q := range []string{"h5.123.04", "diamond", "nothing-matches"} {
		b.Run(q, func(b *testing.B) {
			for b.Loop() {
				if _, err := db.SearchProducts(ctx, q, 50); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
