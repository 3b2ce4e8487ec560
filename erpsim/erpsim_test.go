package erpsim

import (
	"fmt"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"archibald"
)

// pickVariant returns a variant sold in packs (multipleQty > 1).
func pickVariant(t *testing.T, s *Server) archibald.Product {
	t.Helper()
	for _, p := range s.Products() {
		if p.MultipleQty > 1 && p.MinQty == p.MultipleQty {
			return p
		}
	}
	t.Fatal("no variant sold in packs")
	return archibald.Product{}
}

// TestProtocol walks the protocol table on one session, in order: each row is a request
// and the answer it must get.
func TestProtocol(t *testing.T) {
	s := newServer(t, Config{Customers: 45, Products: 100, PageSize: 20})
	c := newClient(t, s)
	v := pickVariant(t, s)
	cust := s.Customers()[3].ID
	login := func(u, p string) map[string]string { return map[string]string{"username": u, "password": p} }

	steps := []struct {
		name         string
		method, path string
		body         any
		status       int
		code         string // error code, or "" for success
		contains     string // in the body
	}{
		{"login with a wrong password", "POST", "/erp/login", login("agent", "nope"), 401, "invalid_credentials", ""},
		{"login with an unknown user", "POST", "/erp/login", login("nobody", "secret"), 401, "invalid_credentials", ""},
		{"login with a malformed body", "POST", "/erp/login", `{"username":`, 400, "bad_request", ""},
		{"list without a session", "GET", "/erp/customers?page=1", nil, 401, "session_expired", ""},
		{"step without a session", "POST", "/erp/orders/new", nil, 401, "session_expired", ""},
		{"login", "POST", "/erp/login", login("agent", "secret"), 200, "", `"username":"agent"`},
		{"customers page 1", "GET", "/erp/customers?page=1", nil, 200, "", `"totalPages":3`},
		{"customers without page reads page 1", "GET", "/erp/customers", nil, 200, "", `"page":1,`},
		{"customers last page", "GET", "/erp/customers?page=3", nil, 200, "", `"totalRows":45`},
		{"customers page 0", "GET", "/erp/customers?page=0", nil, 400, "page_out_of_range", ""},
		{"customers page past the end", "GET", "/erp/customers?page=4", nil, 400, "page_out_of_range", "1..3"},
		{"customers page not a number", "GET", "/erp/customers?page=two", nil, 400, "page_out_of_range", ""},
		{"products page 5", "GET", "/erp/products?page=5", nil, 200, "", `"totalRows":100`},
		{"products page 6", "GET", "/erp/products?page=6", nil, 400, "page_out_of_range", ""},
		{"prices page 1", "GET", "/erp/prices?page=1", nil, 200, "", `"currency":"EUR"`},
		{"step on a draft never made", "POST", "/erp/orders/D999999/customer", map[string]string{"customerId": cust}, 409, "view_lost", ""},
		{"new order", "POST", "/erp/orders/new", nil, 200, "", `{"draft":"D000001"}`},
		{"unknown customer", "POST", "/erp/orders/D000001/customer", map[string]string{"customerId": "C999999"}, 404, "unknown_customer", "C999999"},
		{"customer step without body", "POST", "/erp/orders/D000001/customer", nil, 400, "bad_request", "empty"},
		{"customer missing", "POST", "/erp/orders/D000001/customer", `{}`, 400, "bad_request", "customerId"},
		{"save without customer", "POST", "/erp/orders/D000001/save", map[string]string{"reference": "R1"}, 422, "incomplete_order", "customer"},
		{"set customer", "POST", "/erp/orders/D000001/customer", map[string]string{"customerId": cust}, 200, "", cust},
		{"save without lines", "POST", "/erp/orders/D000001/save", map[string]string{"reference": "R1"}, 422, "incomplete_order", "lines"},
		{"unknown variant", "POST", "/erp/orders/D000001/lines", map[string]any{"variantId": "V9999999", "quantity": 1}, 404, "unknown_variant", ""},
		{"quantity not a multiple", "POST", "/erp/orders/D000001/lines", map[string]any{"variantId": v.ID, "quantity": v.MultipleQty + 1}, 422, "invalid_quantity", fmt.Sprintf("multiple of %d", v.MultipleQty)},
		{"quantity below the minimum", "POST", "/erp/orders/D000001/lines", map[string]any{"variantId": v.ID, "quantity": 0}, 422, "invalid_quantity", ""},
		{"quantity above the maximum", "POST", "/erp/orders/D000001/lines", map[string]any{"variantId": v.ID, "quantity": v.MaxQty + v.MultipleQty}, 422, "invalid_quantity", fmt.Sprint(v.MaxQty)},
		{"quantity not a number", "POST", "/erp/orders/D000001/lines", `{"variantId":"` + v.ID + `","quantity":"ten"}`, 400, "bad_request", "quantity"},
		{"discount over 100", "POST", "/erp/orders/D000001/lines", map[string]any{"variantId": v.ID, "quantity": v.MultipleQty, "discountPct": 150}, 422, "invalid_discount", ""},
		{"discount below 0", "POST", "/erp/orders/D000001/lines", map[string]any{"variantId": v.ID, "quantity": v.MultipleQty, "discountPct": -1}, 422, "invalid_discount", ""},
		{"add a line", "POST", "/erp/orders/D000001/lines", map[string]any{"variantId": v.ID, "quantity": v.MultipleQty * 2, "discountPct": 12.5}, 200, "", `{"line":1}`},
		{"add a second line", "POST", "/erp/orders/D000001/lines", map[string]any{"variantId": v.ID, "quantity": v.MultipleQty}, 200, "", `{"line":2}`},
		{"save", "POST", "/erp/orders/D000001/save", map[string]string{"reference": "REF-1"}, 200, "", `{"orderId":"ORD-000001"}`},
		{"step after save", "POST", "/erp/orders/D000001/lines", map[string]any{"variantId": v.ID, "quantity": v.MultipleQty}, 409, "view_lost", ""},
		{"find by reference", "GET", "/erp/orders?reference=REF-1", nil, 200, "", `"orderId":"ORD-000001"`},
		{"find an unknown reference", "GET", "/erp/orders?reference=NOPE", nil, 200, "", `{"orders":[]}`},
		{"find without reference", "GET", "/erp/orders", nil, 400, "bad_request", "reference"},
		{"unknown route", "GET", "/erp/suppliers", nil, 404, "not_found", ""},
		{"unknown order action", "POST", "/erp/orders/D000001/delete", nil, 404, "not_found", ""},
		{"wrong method on a list", "POST", "/erp/customers?page=1", nil, 405, "method_not_allowed", ""},
		{"wrong method on login", "GET", "/erp/login", nil, 405, "method_not_allowed", ""},
		{"wrong method on a step", "GET", "/erp/orders/new", nil, 405, "method_not_allowed", ""},
	}
	for i, st := range steps {
		a := c.do(st.method, st.path, st.body)
		if a.status != st.status || a.code() != st.code || !strings.Contains(string(a.body), st.contains) {
			t.Fatalf("step %d %q: %s %s = %d %s; want %d %q containing %q",
				i, st.name, st.method, st.path, a.status, a.body, st.status, st.code, st.contains)
		}
		if st.code != "" && a.message() == "" {
			t.Errorf("step %q: error without message: %s", st.name, a.body)
		}
	}

	want := []Order{{OrderID: "ORD-000001", Reference: "REF-1", CustomerID: cust, Lines: []OrderLine{
		{VariantID: v.ID, Quantity: v.MultipleQty * 2, DiscountPct: 12.5},
		{VariantID: v.ID, Quantity: v.MultipleQty},
	}}}
	var found struct{ Orders []Order }
	c.do("GET", "/erp/orders?reference=REF-1", nil).decode(t, &found)
	for _, got := range [][]Order{found.Orders, s.Orders()} {
		if len(got) != 1 || got[0].CreatedAt.IsZero() {
			t.Fatalf("orders = %+v, want one with createdAt", got)
		}
		got[0].CreatedAt = want[0].CreatedAt
		if !reflect.DeepEqual(got, want) {
			t.Errorf("orders = %+v, want %+v", got, want)
		}
	}

	var stats map[string]int64
	a := c.do("GET", "/erp/_admin/stats", nil)
	a.decode(t, &stats)
	wantStats := map[string]int64{"requests": int64(len(steps)) + 1, "viewLost": 2, "orders": 1, "sessions": 1, "drafts": 0}
	if !reflect.DeepEqual(stats, wantStats) {
		t.Errorf("stats = %s, want %v", a.body, wantStats)
	}
}

func TestPageShape(t *testing.T) {
	s := newServer(t, Config{})
	c := newClient(t, s)
	c.login("agent", "secret")
	tests := []struct {
		list                string
		page, rows, total   int
		totalRows, firstRow int
	}{
		{"customers", 1, 20, 60, 1200, 0},
		{"customers", 60, 20, 60, 1200, 1180},
		{"products", 225, 20, 225, 4500, 4480},
		{"prices", 2, 20, (len(s.Prices()) + 19) / 20, len(s.Prices()), 20},
	}
	for _, tt := range tests {
		a := c.do("GET", fmt.Sprintf("/erp/%s?page=%d", tt.list, tt.page), nil)
		if a.status != 200 {
			t.Fatalf("%s page %d: %d %s", tt.list, tt.page, a.status, a.body)
		}
		var p page[map[string]any]
		a.decode(t, &p)
		if p.Page != tt.page || p.PageSize != 20 || p.TotalPages != tt.total || p.TotalRows != tt.totalRows || len(p.Rows) != tt.rows {
			t.Errorf("%s page %d = page %d size %d totalPages %d totalRows %d rows %d; want %+v",
				tt.list, tt.page, p.Page, p.PageSize, p.TotalPages, p.TotalRows, len(p.Rows), tt)
		}
	}
	// The rows are the data, in list order.
	var cp page[archibald.Customer]
	c.do("GET", "/erp/customers?page=2", nil).decode(t, &cp)
	if !reflect.DeepEqual(cp.Rows, s.Customers()[20:40]) {
		t.Errorf("customers page 2 rows differ from Customers()[20:40]")
	}
	if got := all[archibald.Product](t, c, "products"); !reflect.DeepEqual(got, s.Products()) {
		t.Errorf("the product pages differ from Products()")
	}
	if got := all[archibald.Price](t, c, "prices"); !reflect.DeepEqual(got, s.Prices()) {
		t.Errorf("the price pages differ from Prices()")
	}
}

func TestEmptyListHasOneEmptyPage(t *testing.T) {
	s := newServer(t, Config{Customers: 2, Products: 1})
	s.Mutate(Mutation{Customers: MutationCounts{Remove: 2}})
	c := newClient(t, s)
	c.login("agent", "secret")
	a := c.do("GET", "/erp/customers?page=1", nil)
	if want := `{"page":1,"pageSize":20,"totalPages":1,"totalRows":0,"rows":[]}`; a.status != 200 || string(a.body) != want {
		t.Errorf("empty list = %d %s, want %s", a.status, a.body, want)
	}
}

func TestViewLost(t *testing.T) {
	for _, list := range []string{"/erp/customers?page=1", "/erp/products?page=2", "/erp/prices?page=1", "/erp/orders?reference=X", "/erp/customers?page=999"} {
		t.Run(list, func(t *testing.T) {
			s := newServer(t, Config{Customers: 50, Products: 50})
			c := newClient(t, s)
			c.login("agent", "secret")
			v := s.Products()[0]
			var d struct{ Draft string }
			c.do("POST", "/erp/orders/new", nil).decode(t, &d)
			if a := c.do("POST", "/erp/orders/"+d.Draft+"/customer", map[string]string{"customerId": s.Customers()[0].ID}); a.status != 200 {
				t.Fatalf("customer: %d %s", a.status, a.body)
			}
			if st := s.Stats(); st.Drafts != 1 {
				t.Errorf("drafts = %d with an open form, want 1", st.Drafts)
			}
			c.do("GET", list, nil) // moves the view away
			a := c.do("POST", "/erp/orders/"+d.Draft+"/lines", map[string]any{"variantId": v.ID, "quantity": v.MinQty})
			if a.status != 409 || a.code() != "view_lost" {
				t.Fatalf("line after a list request = %d %s, want 409 view_lost", a.status, a.body)
			}
			// The draft is gone: saving it fails the same way and nothing is saved.
			if a := c.do("POST", "/erp/orders/"+d.Draft+"/save", map[string]string{"reference": "R"}); a.code() != "view_lost" {
				t.Errorf("save after view lost = %d %s, want view_lost", a.status, a.body)
			}
			st := s.Stats()
			if st.ViewLost != 2 || st.Orders != 0 || st.Drafts != 0 || len(s.Orders()) != 0 {
				t.Errorf("stats = %+v, orders %v; want viewLost 2, no order, no draft", st, s.Orders())
			}
		})
	}
}

func TestNewOrderDiscardsTheOpenOne(t *testing.T) {
	s := newServer(t, Config{Customers: 5, Products: 5})
	c := newClient(t, s)
	c.login("agent", "secret")
	c.do("POST", "/erp/orders/new", nil)
	c.do("POST", "/erp/orders/new", nil)
	if a := c.do("POST", "/erp/orders/D000001/customer", map[string]string{"customerId": "C000001"}); a.code() != "view_lost" {
		t.Errorf("step on the first draft = %d %s, want view_lost", a.status, a.body)
	}
	if a := c.do("POST", "/erp/orders/D000002/customer", map[string]string{"customerId": "C000001"}); a.status != 200 {
		t.Errorf("step on the second draft = %d %s, want 200", a.status, a.body)
	}
}

func TestDraftsAreTheirSessions(t *testing.T) {
	s := newServer(t, Config{Customers: 5, Products: 5, Users: map[string]string{"a": "pa", "b": "pb"}})
	a, b := newClient(t, s), newClient(t, s)
	a.login("a", "pa")
	b.login("b", "pb")
	a.do("POST", "/erp/orders/new", nil)
	if r := b.do("POST", "/erp/orders/D000001/customer", map[string]string{"customerId": "C000001"}); r.code() != "view_lost" {
		t.Errorf("b's step on a's draft = %d %s, want view_lost", r.status, r.body)
	}
	b.do("GET", "/erp/customers?page=1", nil) // b's view moves; a's draft is untouched
	if r := a.do("POST", "/erp/orders/D000001/customer", map[string]string{"customerId": "C000001"}); r.status != 200 {
		t.Errorf("a's step after b listed = %d %s, want 200", r.status, r.body)
	}
}

func TestSaveRechecksTheData(t *testing.T) {
	s := newServer(t, Config{Customers: 1, Products: 5})
	c := newClient(t, s)
	c.login("agent", "secret")
	v := s.Products()[0]
	c.do("POST", "/erp/orders/new", nil)
	c.do("POST", "/erp/orders/D000001/customer", map[string]string{"customerId": "C000001"})
	c.do("POST", "/erp/orders/D000001/lines", map[string]any{"variantId": v.ID, "quantity": v.MinQty})
	s.Mutate(Mutation{Customers: MutationCounts{Remove: 1}})
	if a := c.do("POST", "/erp/orders/D000001/save", map[string]string{"reference": "R"}); a.status != 404 || a.code() != "unknown_customer" {
		t.Errorf("save with a removed customer = %d %s, want 404 unknown_customer", a.status, a.body)
	}
	if len(s.Orders()) != 0 {
		t.Errorf("an order was saved: %+v", s.Orders())
	}
}

func TestNewLoginEndsTheOldSession(t *testing.T) {
	s := newServer(t, Config{Customers: 5, Products: 5})
	first, second := newClient(t, s), newClient(t, s)
	first.login("agent", "secret")
	if a := first.do("GET", "/erp/customers?page=1", nil); a.status != 200 {
		t.Fatalf("first session: %d %s", a.status, a.body)
	}
	second.login("agent", "secret")
	if a := first.do("GET", "/erp/customers?page=1", nil); a.status != 401 || a.code() != "session_expired" {
		t.Errorf("first session after a second login = %d %s, want 401 session_expired", a.status, a.body)
	}
	if a := second.do("GET", "/erp/customers?page=1", nil); a.status != 200 {
		t.Errorf("second session: %d %s", a.status, a.body)
	}
	if st := s.Stats(); st.Sessions != 1 {
		t.Errorf("sessions = %d, want 1", st.Sessions)
	}
	s.ExpireSessions()
	if a := second.do("GET", "/erp/customers?page=1", nil); a.code() != "session_expired" {
		t.Errorf("after ExpireSessions = %d %s, want session_expired", a.status, a.body)
	}
	if st := s.Stats(); st.Sessions != 0 {
		t.Errorf("sessions after ExpireSessions = %d, want 0", st.Sessions)
	}
}

func TestOverRealHTTP(t *testing.T) {
	s := newServer(t, Config{Customers: 30, Products: 30})
	ts := httptest.NewServer(s)
	defer ts.Close()
	c := newClientVia(t, ts.Client().Transport, ts.URL)
	c.login("agent", "secret")
	if got := all[archibald.Customer](t, c, "customers"); !reflect.DeepEqual(got, s.Customers()) {
		t.Errorf("customers over HTTP differ from Customers()")
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"negative customers", Config{Customers: -1}, "Customers"},
		{"negative page size", Config{PageSize: -5}, "PageSize"},
		{"negative page time", Config{PageTime: -1}, "PageTime"},
		{"jitter of 1", Config{Jitter: 1}, "Jitter"},
		{"empty password", Config{Username: "u"}, "empty password"},
		{"empty username", Config{Users: map[string]string{"": "p"}}, "empty username"},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: New = %v, want an error naming %q", tt.name, err, tt.want)
		}
	}
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.cfg.Seed != 1 || s.cfg.PageSize != 20 || s.users["agent"] != "secret" {
		t.Errorf("defaults: %+v %v", s.cfg, s.users)
	}
}

func TestMutateEndpoint(t *testing.T) {
	s := newServer(t, Config{Customers: 100, Products: 200})
	c := newClient(t, s)
	c.login("agent", "secret")
	beforeC := all[archibald.Customer](t, c, "customers")
	beforeP := all[archibald.Product](t, c, "products")
	beforePr := all[archibald.Price](t, c, "prices")

	var did Mutation
	a := c.do("POST", "/erp/_admin/mutate", nil)
	if a.status != 200 {
		t.Fatalf("mutate: %d %s", a.status, a.body)
	}
	a.decode(t, &did)
	if did.Customers != (MutationCounts{5, 10, 3}) || did.Products.Change != 10 || did.Prices.Change != 10 || did.Products.Add != 5 || did.Products.Remove != 3 {
		t.Errorf("default mutation did %+v", did)
	}

	check := func(name string, added, changed, removed int, want MutationCounts) {
		t.Helper()
		if got := (MutationCounts{added, changed, removed}); got != want {
			t.Errorf("%s: the pages show %+v, mutate said %+v", name, got, want)
		}
	}
	a1, c1, r1 := diff(beforeC, all[archibald.Customer](t, c, "customers"), func(c archibald.Customer) string { return c.ID })
	check("customers", a1, c1, r1, did.Customers)
	a2, c2, r2 := diff(beforeP, all[archibald.Product](t, c, "products"), func(p archibald.Product) string { return p.ID })
	check("products", a2, c2, r2, did.Products)
	a3, c3, r3 := diff(beforePr, all[archibald.Price](t, c, "prices"), func(p archibald.Price) string { return p.ArticleCode })
	check("prices", a3, c3, r3, did.Prices)

	tests := []struct {
		body string
		want string
	}{
		{`{"customers":{"add":-1}}`, "customers.add"},
		{`{"products":{"grow":1}}`, "grow"},
		{`{"customers":{"add":"x"}}`, "customers.add"},
	}
	for _, tt := range tests {
		if a := c.do("POST", "/erp/_admin/mutate", tt.body); a.status != 400 || !strings.Contains(a.message(), tt.want) {
			t.Errorf("mutate %s = %d %s, want 400 naming %q", tt.body, a.status, a.body, tt.want)
		}
	}
	a = c.do("POST", "/erp/_admin/mutate", `{"customers":{"add":2}}`)
	a.decode(t, &did)
	if did != (Mutation{Customers: MutationCounts{Add: 2}}) {
		t.Errorf("mutate customers.add 2 did %+v", did)
	}
}

// diff counts rows added, changed and removed between two lists, by key.
func diff[T comparable](before, after []T, key func(T) string) (added, changed, removed int) {
	old := map[string]T{}
	for _, r := range before {
		old[key(r)] = r
	}
	for _, r := range after {
		o, ok := old[key(r)]
		switch {
		case !ok:
			added++
		case o != r:
			changed++
		}
		delete(old, key(r))
	}
	return added, changed, len(old)
}

func TestMutationsKeepPricesWithArticles(t *testing.T) {
	s := newServer(t, Config{Customers: 10, Products: 60})
	for range 20 {
		s.Mutate(Mutation{Products: MutationCounts{Add: 4, Change: 3, Remove: 5}})
	}
	articles := map[string]bool{}
	for _, p := range s.Products() {
		articles[p.ArticleCode] = true
	}
	prices := map[string]bool{}
	for _, p := range s.Prices() {
		prices[p.ArticleCode] = true
	}
	if !reflect.DeepEqual(articles, prices) {
		t.Errorf("articles with variants and articles with prices differ: %d vs %d", len(articles), len(prices))
	}
	checkSorted(t, s)
}

func checkSorted(t *testing.T, s *Server) {
	t.Helper()
	if !slices.IsSortedFunc(s.Customers(), func(a, b archibald.Customer) int { return strings.Compare(a.ID, b.ID) }) {
		t.Error("customers not sorted by id")
	}
	if !slices.IsSortedFunc(s.Products(), func(a, b archibald.Product) int { return strings.Compare(a.ID, b.ID) }) {
		t.Error("products not sorted by id")
	}
	if !slices.IsSortedFunc(s.Prices(), func(a, b archibald.Price) int { return strings.Compare(a.ArticleCode, b.ArticleCode) }) {
		t.Error("prices not sorted by article code")
	}
}

func TestFaultsEndpoint(t *testing.T) {
	s := newServer(t, Config{Customers: 5, Products: 5})
	c := newClient(t, s)
	body := `{"errorRate":0.05,"slowPages":{"products":{"page":3,"delay":"2s"}},"hangPages":{"prices":{"page":5}}}`
	if a := c.do("POST", "/erp/_admin/faults", body); a.status != 200 {
		t.Fatalf("set faults: %d %s", a.status, a.body)
	}
	f := s.Faults()
	if f.ErrorRate != 0.05 || f.SlowPages["products"] != (SlowPage{3, 2e9}) || f.HangPages["prices"] != (HangPage{5}) {
		t.Errorf("faults = %+v", f)
	}
	a := c.do("GET", "/erp/_admin/faults", nil)
	if !strings.Contains(string(a.body), `"delay":"2s"`) {
		t.Errorf("GET faults = %s", a.body)
	}

	bad := []struct{ body, field string }{
		{`{"errorRate":2}`, "errorRate"},
		{`{"errorRate":"often"}`, "errorRate"},
		{`{"errorRatio":0.1}`, "errorRatio"},
		{`{"slowPages":{"products":{"page":3,"delay":"soon"}}}`, "slowPages.products.delay"},
		{`{"slowPages":{"products":{"page":0,"delay":"1s"}}}`, "slowPages.products.page"},
		{`{"slowPages":{"products":{"delay":"1s"}}}`, "slowPages.products.page"},
		{`{"slowPages":{"products":3}}`, "slowPages.products"},
		{`{"hangPages":{"orders":{"page":1}}}`, "hangPages.orders"},
		{`{"hangPages":{"prices":{"page":-1}}}`, "hangPages.prices.page"},
		{`{"hangPages":{"prices":{"pages":1}}}`, "hangPages.prices.pages"},
		{`{"errorRate":`, "body"},
		{``, "empty body"},
	}
	for _, b := range bad {
		a := c.do("POST", "/erp/_admin/faults", b.body)
		if a.status != 400 || !strings.Contains(a.message(), b.field) {
			t.Errorf("faults %s = %d %s, want 400 naming %q", b.body, a.status, a.body, b.field)
		}
	}
	if f2 := s.Faults(); !reflect.DeepEqual(f2, f) {
		t.Errorf("a bad request changed the faults: %+v", f2)
	}
	if a := c.do("DELETE", "/erp/_admin/faults", nil); a.status != 200 {
		t.Errorf("clear: %d %s", a.status, a.body)
	}
	if f := s.Faults(); !reflect.DeepEqual(f, Faults{}) {
		t.Errorf("faults after DELETE = %+v", f)
	}
	if err := s.SetFaults(Faults{ErrorRate: -1}); err == nil {
		t.Error("SetFaults accepted errorRate -1")
	}
	if st := s.Stats(); st.Requests != 0 {
		t.Errorf("admin requests were counted: %d", st.Requests)
	}
}

func TestErrorRate(t *testing.T) {
	s := newServer(t, Config{Customers: 5, Products: 5})
	c := newClient(t, s)
	c.login("agent", "secret")
	if err := s.SetFaults(Faults{ErrorRate: 1}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/erp/customers?page=1", "/erp/products?page=1", "/erp/prices?page=1", "/erp/orders?reference=R"} {
		if a := c.do("GET", path, nil); a.status != 503 || a.code() != "unavailable" {
			t.Errorf("%s with errorRate 1 = %d %s, want 503 unavailable", path, a.status, a.body)
		}
	}
	for _, path := range []string{"/erp/login", "/erp/orders/new"} {
		if a := c.do("POST", path, map[string]string{"username": "agent", "password": "secret"}); a.status != 503 {
			t.Errorf("%s with errorRate 1 = %d %s, want 503", path, a.status, a.body)
		}
	}
	if st := s.Stats(); st.Requests != 7 {
		t.Errorf("requests = %d, want 7 (failed ones count)", st.Requests)
	}
	s.ClearFaults()
	if a := c.do("GET", "/erp/customers?page=1", nil); a.status != 200 {
		t.Errorf("after ClearFaults = %d %s", a.status, a.body)
	}

	// A rate of one half fails about half of the requests.
	if err := s.SetFaults(Faults{ErrorRate: 0.5}); err != nil {
		t.Fatal(err)
	}
	failed := 0
	for range 400 {
		if c.do("GET", "/erp/customers?page=1", nil).status == 503 {
			failed++
		}
	}
	if failed < 140 || failed > 260 {
		t.Errorf("errorRate 0.5 failed %d of 400", failed)
	}
}

func TestDeterminism(t *testing.T) {
	a, b := newServer(t, Config{}), newServer(t, Config{Seed: 1})
	other := newServer(t, Config{Seed: 2})
	if !reflect.DeepEqual(a.Customers(), b.Customers()) || !reflect.DeepEqual(a.Products(), b.Products()) || !reflect.DeepEqual(a.Prices(), b.Prices()) {
		t.Fatal("the same seed gave different data")
	}
	ca, cb := newClient(t, a), newClient(t, b)
	ca.login("agent", "secret")
	cb.login("agent", "secret")
	for _, p := range []string{"/erp/customers?page=7", "/erp/products?page=100", "/erp/prices?page=33"} {
		if x, y := ca.do("GET", p, nil), cb.do("GET", p, nil); string(x.body) != string(y.body) {
			t.Errorf("%s differs between two servers with the same seed", p)
		}
	}
	if reflect.DeepEqual(a.Customers(), other.Customers()) || reflect.DeepEqual(a.Products(), other.Products()) || reflect.DeepEqual(a.Prices(), other.Prices()) {
		t.Error("seeds 1 and 2 gave the same data")
	}
	// The same mutations give the same data.
	for range 3 {
		if x, y := a.Mutate(Mutation{}), b.Mutate(Mutation{}); x != y {
			t.Fatalf("the same mutation did %+v and %+v", x, y)
		}
	}
	if !reflect.DeepEqual(a.Customers(), b.Customers()) || !reflect.DeepEqual(a.Products(), b.Products()) || !reflect.DeepEqual(a.Prices(), b.Prices()) {
		t.Error("the same mutations gave different data")
	}
}

func TestDefaultData(t *testing.T) {
	s := newServer(t, Config{})
	customers, products, prices := s.Customers(), s.Products(), s.Prices()
	if len(customers) != 1200 || len(products) != 4500 {
		t.Errorf("%d customers and %d variants, want 1200 and 4500", len(customers), len(products))
	}
	articles, groups := map[string]int{}, map[string]bool{}
	for _, p := range products {
		articles[p.ArticleCode]++
		groups[p.Group] = true
		switch {
		case p.MinQty < 1 || p.MultipleQty < 1 || p.MinQty%p.MultipleQty != 0:
			t.Errorf("variant %s: minQty %d, multipleQty %d", p.ID, p.MinQty, p.MultipleQty)
		case p.MaxQty < 1000 || p.MaxQty%p.MultipleQty != 0:
			t.Errorf("variant %s: maxQty %d", p.ID, p.MaxQty)
		case !p.AcceptsQuantity(p.MinQty) || !p.AcceptsQuantity(p.MaxQty):
			t.Errorf("variant %s refuses its own limits", p.ID)
		case p.Description == "" || p.PackageContent < 1:
			t.Errorf("variant %s: %+v", p.ID, p)
		}
	}
	if n := len(articles); n < 3700 || n > 4100 {
		t.Errorf("%d articles, want about 3,900", n)
	}
	multi := 0
	for _, n := range articles {
		if n > 1 {
			multi++
		}
	}
	if multi < 200 || multi > 1000 {
		t.Errorf("%d articles with several variants, want a few hundred", multi)
	}
	if len(groups) != 70 {
		t.Errorf("%d groups, want 70", len(groups))
	}
	if len(prices) != len(articles) {
		t.Errorf("%d prices for %d articles, want one each", len(prices), len(articles))
	}
	for _, p := range prices {
		if articles[p.ArticleCode] == 0 || p.Currency != "EUR" || p.UnitPriceCents <= 0 || len(p.ValidFrom) != 10 || p.ValidTo <= p.ValidFrom {
			t.Errorf("price %+v", p)
		}
		if !articleCode(p.ArticleCode) {
			t.Errorf("article code %q is not shaped like H1.314.016", p.ArticleCode)
		}
	}
	ids := map[string]bool{}
	for _, c := range customers {
		if ids[c.ID] || c.Name == "" || !strings.Contains(c.Email, "@") || c.City == "" || len(c.VATNumber) < 10 {
			t.Errorf("customer %+v", c)
		}
		ids[c.ID] = true
		if strings.HasPrefix(c.VATNumber, "IT") && !validPartitaIVA(c.VATNumber[2:]) {
			t.Errorf("customer %s: VAT %s fails its check digit", c.ID, c.VATNumber)
		}
	}
	checkSorted(t, s)
}

func articleCode(code string) bool {
	parts := strings.Split(code, ".")
	return len(parts) == 3 && len(parts[0]) >= 2 && len(parts[1]) == 3 && len(parts[2]) == 3
}

func validPartitaIVA(d string) bool {
	if len(d) != 11 {
		return false
	}
	sum := 0
	for i, c := range d {
		if c < '0' || c > '9' {
			return false
		}
		v := int(c - '0')
		if i%2 == 1 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

// TestLargeCatalogue: a catalogue larger than the usual code space (70 groups × 40
// figures × 19 sizes = 53,200 codes) is generated, with unique article codes.
func TestLargeCatalogue(t *testing.T) {
	s, err := New(Config{Customers: 1, Products: 120_000})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	products := s.Products()
	if len(products) != 120_000 {
		t.Fatalf("%d products, want 120,000", len(products))
	}
	prices := s.Prices()
	seen := make(map[string]bool, len(prices))
	for _, p := range prices {
		if seen[p.ArticleCode] {
			t.Fatalf("article %s priced twice", p.ArticleCode)
		}
		seen[p.ArticleCode] = true
	}
	if len(prices) < 100_000 {
		t.Fatalf("only %d articles for 120,000 variants", len(prices))
	}
}
