package storetest

import (
	"cmp"
	"fmt"
	"slices"
	"testing"

	"archibald"
)

// loadMirror fills the store with the given rows through one run per entity.
func loadMirror(t *testing.T, s archibald.Store, customers []archibald.Customer, products []archibald.Product, prices []archibald.Price) {
	t.Helper()
	for i, entity := range archibald.Entities {
		run := beginRun(t, s, entity, "load", at(i))
		p := archibald.PageCommit{Run: run, Page: 1, Total: 1}
		switch entity {
		case archibald.EntityCustomers:
			p.Customers = customers
		case archibald.EntityProducts:
			p.Products = products
		case archibald.EntityPrices:
			p.Prices = prices
		}
		must[archibald.SyncRun](t, "load "+entity)(s.CommitPage(t.Context(), p))
		must[archibald.SyncRun](t, "finish "+entity)(s.FinishRun(t.Context(), entity, run.ID, true, at(i)))
	}
}

func customerIDs(cs []archibald.Customer) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func productIDs(ps []archibald.Product) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

func testReader(t *testing.T, open Opener) {
	s := open(t, "main")
	ctx := t.Context()
	customers := []archibald.Customer{
		{ID: "C003", Name: "Rossi Mario", VATNumber: "IT00000000003", Email: "mario@rossi.it", City: "Milano"},
		{ID: "C001", Name: "Bianchi SRL", VATNumber: "IT01234567890", Email: "info@bianchi.it", City: "Torino"},
		{ID: "C002", Name: "ROSSINI Dental", VATNumber: "IT99999999999", Email: "", City: "Roma"},
		{ID: "C010", Name: "Rossi Mario", VATNumber: "IT00000000010", Email: "", City: "Bari"},
		{ID: "X77", Name: "Studio Ävä", VATNumber: "DE123", Email: "", City: "Köln"},
	}
	products := []archibald.Product{
		{ID: "V2", ArticleCode: "H1.314.016", Description: "Diamond bur, coarse", Group: "burs", PackageContent: 5, MinQty: 5, MultipleQty: 5, MaxQty: 0},
		{ID: "V1", ArticleCode: "H1.314.016", Description: "Diamond bur, coarse", Group: "burs", PackageContent: 1, MinQty: 1, MultipleQty: 1, MaxQty: 4},
		{ID: "V3", ArticleCode: "H2.100.010", Description: "Tungsten CARBIDE drill", Group: "drills", PackageContent: 1, MinQty: 1, MultipleQty: 1},
		{ID: "V4", ArticleCode: "K 55 01", Description: "Polisher for composites", Group: "polishers", PackageContent: 10, MinQty: 10, MultipleQty: 10},
	}
	prices := []archibald.Price{
		{ArticleCode: "H2.100.010", UnitPriceCents: 1250, Currency: "EUR", ValidFrom: "2026-01-01", ValidTo: "2026-12-31"},
		{ArticleCode: "H1.314.016", UnitPriceCents: 999, Currency: "EUR", ValidFrom: "2026-01-01", ValidTo: "2026-12-31"},
	}
	loadMirror(t, s, customers, products, prices)

	t.Run("SearchCustomers", func(t *testing.T) {
		cases := []struct {
			query string
			limit int
			want  []string
		}{
			{"", 0, []string{"C001", "C003", "C010", "C002", "X77"}}, // by name, case-insensitively, then id
			{"rossi", 0, []string{"C003", "C010", "C002"}},
			{"ROSSI MARIO", 0, []string{"C003", "C010"}},
			{"  rossi  ", 0, []string{"C003", "C010", "C002"}}, // surrounding blanks do not count
			{"c00", 0, []string{"C001", "C003", "C002"}},       // id substring, case-insensitively
			{"x77", 0, []string{"X77"}},
			{"it0123", 0, []string{"C001"}}, // VAT number
			{"4567", 0, []string{"C001"}},   // VAT substring
			{"ävä", 0, []string{"X77"}},     // non-ASCII folding
			{"ÄVÄ", 0, []string{"X77"}},     // non-ASCII folding
			{"rossi", 2, []string{"C003", "C010"}},
			{"", 1, []string{"C001"}},
			{"nobody", 0, []string{}},
			{"milano", 0, []string{}}, // city is not searched
			{"%", 0, []string{}},      // no wildcards
			{"_", 0, []string{}},
		}
		for _, c := range cases {
			got := must[[]archibald.Customer](t, "search")(s.SearchCustomers(ctx, c.query, c.limit))
			if ids := customerIDs(got); !slices.Equal(ids, c.want) {
				t.Errorf("SearchCustomers(%q, %d) = %v, want %v", c.query, c.limit, ids, c.want)
			}
		}
		got := must[[]archibald.Customer](t, "search")(s.SearchCustomers(ctx, "bianchi", 0))
		if len(got) != 1 || got[0] != customers[1] {
			t.Errorf("SearchCustomers(bianchi) = %+v, want %+v", got, customers[1])
		}
	})

	t.Run("SearchProducts", func(t *testing.T) {
		cases := []struct {
			query string
			limit int
			want  []string
		}{
			{"", 0, []string{"V1", "V2", "V3", "V4"}}, // by article code, then variant id
			{"H1.314.016", 0, []string{"V1", "V2"}},
			{"h1314", 0, []string{"V1", "V2"}},
			{"h1.314", 0, []string{"V1", "V2"}},
			{"H1 314 016", 0, []string{"V1", "V2"}},
			{"314.01", 0, []string{"V1", "V2"}}, // inside the code
			{"k5501", 0, []string{"V4"}},        // the stored code has spaces
			{"K 55.01", 0, []string{"V4"}},
			{"carbide", 0, []string{"V3"}}, // description, case-insensitively
			{"DIAMOND BUR", 0, []string{"V1", "V2"}},
			{"bur, co", 0, []string{"V1", "V2"}},
			{"h", 0, []string{"V1", "V2", "V3", "V4"}}, // H… codes, and "polisher"
			{"h", 2, []string{"V1", "V2"}},
			{"drills", 0, []string{}}, // group is not searched
			{"nothing", 0, []string{}},
		}
		for _, c := range cases {
			got := must[[]archibald.Product](t, "search")(s.SearchProducts(ctx, c.query, c.limit))
			if ids := productIDs(got); !slices.Equal(ids, c.want) {
				t.Errorf("SearchProducts(%q, %d) = %v, want %v", c.query, c.limit, ids, c.want)
			}
		}
		got := must[[]archibald.Product](t, "search")(s.SearchProducts(ctx, "carbide", 0))
		if len(got) != 1 || got[0] != products[2] {
			t.Errorf("SearchProducts(carbide) = %+v, want %+v", got, products[2])
		}
	})

	t.Run("Customer", func(t *testing.T) {
		got := must[archibald.Customer](t, "Customer")(s.Customer(ctx, "C003"))
		if got != customers[0] {
			t.Errorf("Customer(C003) = %+v, want %+v", got, customers[0])
		}
		_, err := s.Customer(ctx, "c003")
		wantCode(t, err, archibald.ENOTFOUND, "Customer(c003): ids are exact")
		_, err = s.Customer(ctx, "")
		wantCode(t, err, archibald.ENOTFOUND, "Customer(\"\")")
	})

	t.Run("ProductsByArticle", func(t *testing.T) {
		got := must[[]archibald.Product](t, "ProductsByArticle")(s.ProductsByArticle(ctx, "H1.314.016"))
		if want := []archibald.Product{products[1], products[0]}; !slices.Equal(got, want) {
			t.Errorf("ProductsByArticle(H1.314.016) = %+v, want %+v (variants by id)", got, want)
		}
		got = must[[]archibald.Product](t, "ProductsByArticle")(s.ProductsByArticle(ctx, "H9.999.999"))
		if len(got) != 0 {
			t.Errorf("ProductsByArticle(absent) = %+v, want none", got)
		}
	})

	t.Run("PricesByArticle", func(t *testing.T) {
		got := must[[]archibald.Price](t, "PricesByArticle")(s.PricesByArticle(ctx, "H2.100.010"))
		if want := []archibald.Price{prices[0]}; !slices.Equal(got, want) {
			t.Errorf("PricesByArticle(H2.100.010) = %+v, want %+v", got, want)
		}
		got = must[[]archibald.Price](t, "PricesByArticle")(s.PricesByArticle(ctx, "K 55 01"))
		if len(got) != 0 {
			t.Errorf("PricesByArticle(no price) = %+v, want none", got)
		}
	})

	t.Run("All", func(t *testing.T) {
		wantC := slices.Clone(customers)
		slices.SortFunc(wantC, func(a, b archibald.Customer) int { return cmp.Compare(a.ID, b.ID) })
		if got := must[[]archibald.Customer](t, "AllCustomers")(s.AllCustomers(ctx)); !slices.Equal(got, wantC) {
			t.Errorf("AllCustomers = %+v, want %+v", got, wantC)
		}
		wantP := slices.Clone(products)
		slices.SortFunc(wantP, func(a, b archibald.Product) int { return cmp.Compare(a.ID, b.ID) })
		if got := must[[]archibald.Product](t, "AllProducts")(s.AllProducts(ctx)); !slices.Equal(got, wantP) {
			t.Errorf("AllProducts = %+v, want %+v", got, wantP)
		}
		wantPr := []archibald.Price{prices[1], prices[0]}
		if got := must[[]archibald.Price](t, "AllPrices")(s.AllPrices(ctx)); !slices.Equal(got, wantPr) {
			t.Errorf("AllPrices = %+v, want %+v", got, wantPr)
		}
	})

	t.Run("Limits", func(t *testing.T) {
		t.Parallel()
		s := open(t, "limits")
		var cs []archibald.Customer
		var ps []archibald.Product
		for i := range 510 {
			cs = append(cs, archibald.Customer{ID: fmt.Sprintf("C%04d", i), Name: fmt.Sprintf("Name %04d", i)})
			ps = append(ps, archibald.Product{ID: fmt.Sprintf("V%04d", i), ArticleCode: fmt.Sprintf("A.%04d", i), Description: "thing"})
		}
		loadMirror(t, s, cs, ps, nil)
		cases := []struct {
			limit, want int
		}{{0, 50}, {-1, 50}, {7, 7}, {500, 500}, {501, 500}, {100000, 500}}
		for _, c := range cases {
			if got := must[[]archibald.Customer](t, "search")(s.SearchCustomers(t.Context(), "name", c.limit)); len(got) != c.want {
				t.Errorf("SearchCustomers limit %d: %d rows, want %d", c.limit, len(got), c.want)
			}
			if got := must[[]archibald.Product](t, "search")(s.SearchProducts(t.Context(), "a.0", c.limit)); len(got) != c.want {
				t.Errorf("SearchProducts limit %d: %d rows, want %d", c.limit, len(got), c.want)
			}
		}
		got := must[[]archibald.Product](t, "search")(s.SearchProducts(t.Context(), "", 3))
		if ids := productIDs(got); !slices.Equal(ids, []string{"V0000", "V0001", "V0002"}) {
			t.Errorf("SearchProducts(\"\", 3) = %v", ids)
		}
	})
}
