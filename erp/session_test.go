package erp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"archibald"
)

func TestNewSessionValidation(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		wantField string // "" = valid
		wantText  string
	}{
		{"valid", Config{BaseURL: "http://127.0.0.1:9090", Username: "u"}, "", ""},
		{"valid with prefix and slash", Config{BaseURL: "https://erp.example/x/", Username: "u", Password: "p"}, "", ""},
		{"empty base URL", Config{Username: "u"}, "BaseURL", "must not be empty"},
		{"unparsable base URL", Config{BaseURL: "http://[::1", Username: "u"}, "BaseURL", "not a valid URL"},
		{"no scheme", Config{BaseURL: "127.0.0.1:9090", Username: "u"}, "BaseURL", "http://"},
		{"host without scheme", Config{BaseURL: "erp.example", Username: "u"}, "BaseURL", "http://"},
		{"other scheme", Config{BaseURL: "ftp://erp", Username: "u"}, "BaseURL", "http://"},
		{"no host", Config{BaseURL: "http:///erp", Username: "u"}, "BaseURL", "no host"},
		{"credentials in URL", Config{BaseURL: "http://u:secret@erp", Username: "u"}, "BaseURL", "credentials"},
		{"query", Config{BaseURL: "http://erp/?a=1", Username: "u"}, "BaseURL", "query"},
		{"empty username", Config{BaseURL: "http://erp"}, "Username", "must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSession(tt.cfg)
			if tt.wantField == "" {
				if err != nil || s == nil {
					t.Fatalf("NewSession: %v", err)
				}
				return
			}
			var ae *archibald.Error
			if !errors.As(err, &ae) || ae.Code != archibald.EINVALID || ae.Field != tt.wantField {
				t.Fatalf("err %v; want an invalid error on field %s", err, tt.wantField)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("err %q does not say %q", err, tt.wantText)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("err %q repeats the password of the URL", err)
			}
		})
	}
}

func TestBaseURLPrefixAndTrailingSlash(t *testing.T) {
	var got []string
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = append(got, r.URL.String())
		r.URL.Path = strings.TrimPrefix(r.URL.Path, "/proxy")
		return cannedAnswer(r), nil
	})
	s, err := NewSession(Config{BaseURL: "http://erp.test/proxy/", Username: "u", HTTPClient: &http.Client{Transport: rt}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Customers(t.Context(), 2); err != nil {
		t.Fatal(err)
	}
	want := []string{"http://erp.test/proxy/erp/login", "http://erp.test/proxy/erp/customers?page=2"}
	if !slices.Equal(got, want) {
		t.Fatalf("URLs %q, want %q", got, want)
	}
}

// TestCalls drives every call against the fake ERP and checks what is sent (path, body,
// cookie) and what is decoded.
func TestCalls(t *testing.T) {
	f := newFakeERP()
	var bodies []string
	record := func(answer string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var v map[string]any
			if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
				writeErr(w, 400, "bad_request", err.Error())
				return
			}
			b, _ := json.Marshal(v)
			f.mu.Lock()
			bodies = append(bodies, r.URL.Path+" "+string(b))
			f.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, answer)
		}
	}
	f.handlers["GET /erp/customers"] = customersPage
	f.handlers["GET /erp/products"] = func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"page":1,"pageSize":20,"totalPages":1,"totalRows":1,"rows":[{"id":"V1","articleCode":"A.1","description":"Bolt","group":"G","packageContent":5,"minQty":5,"multipleQty":5,"maxQty":100}]}`)
	}
	f.handlers["GET /erp/prices"] = func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"page":4,"pageSize":20,"totalPages":4,"totalRows":61,"rows":[{"articleCode":"A.1","unitPriceCents":1234,"currency":"EUR","validFrom":"2026-01-01","validTo":"2026-12-31"}]}`)
	}
	f.handlers["POST /erp/orders/new"] = record(`{"draft":"D 7/x"}`)
	f.handlers["POST /erp/orders/D 7/x/customer"] = record(`{}`)
	f.handlers["POST /erp/orders/D 7/x/lines"] = record(`{"line":3}`)
	f.handlers["POST /erp/orders/D 7/x/save"] = record(`{"orderId":"ORD-9"}`)
	f.handlers["GET /erp/orders"] = func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("reference") != "R&1 x" {
			writeErr(w, 400, "bad_request", "reference "+r.URL.Query().Get("reference"))
			return
		}
		fmt.Fprint(w, `{"orders":[{"orderId":"ORD-9","reference":"R&1 x","customerId":"C1","lines":[{"variantId":"V1","quantity":10,"discountPct":2.5}],"createdAt":"2026-12-03T10:00:00Z"}]}`)
	}
	s, _ := startFake(t, f)
	ctx := t.Context()

	cp, err := s.Customers(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Page != 2 || cp.PageSize != 2 || cp.TotalPages != 3 || cp.TotalRows != 6 || len(cp.Rows) != 2 ||
		cp.Rows[0] != (archibald.Customer{ID: "C21", Name: "Rossi Srl", VATNumber: "IT01", Email: "a@b.it", City: "Napoli"}) {
		t.Errorf("customers page: %+v", cp)
	}
	pp, err := s.Products(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	wantP := archibald.Product{ID: "V1", ArticleCode: "A.1", Description: "Bolt", Group: "G", PackageContent: 5, MinQty: 5, MultipleQty: 5, MaxQty: 100}
	if len(pp.Rows) != 1 || pp.Rows[0] != wantP {
		t.Errorf("products page: %+v", pp)
	}
	pr, err := s.Prices(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(pr.Rows) != 1 || pr.Rows[0].UnitPriceCents != 1234 || pr.Rows[0].ValidTo != "2026-12-31" {
		t.Errorf("prices page: %+v", pr)
	}

	draft, err := s.NewOrder(ctx)
	if err != nil || draft != "D 7/x" {
		t.Fatalf("NewOrder: %q, %v", draft, err)
	}
	if err := s.SetCustomer(ctx, draft, "C1"); err != nil {
		t.Fatal(err)
	}
	n, err := s.AddLine(ctx, draft, Line{VariantID: "V1", Quantity: 10, DiscountPct: 2.5})
	if err != nil || n != 3 {
		t.Fatalf("AddLine: %d, %v", n, err)
	}
	id, err := s.Save(ctx, draft, "R&1 x")
	if err != nil || id != "ORD-9" {
		t.Fatalf("Save: %q, %v", id, err)
	}
	orders, err := s.FindOrders(ctx, "R&1 x")
	if err != nil {
		t.Fatal(err)
	}
	wantO := Order{OrderID: "ORD-9", Reference: "R&1 x", CustomerID: "C1",
		Lines: []Line{{VariantID: "V1", Quantity: 10, DiscountPct: 2.5}}, CreatedAt: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
	if len(orders) != 1 || !orders[0].CreatedAt.Equal(wantO.CreatedAt) || orders[0].OrderID != wantO.OrderID ||
		!slices.Equal(orders[0].Lines, wantO.Lines) || orders[0].CustomerID != "C1" {
		t.Errorf("FindOrders: %+v", orders)
	}

	wantBodies := []string{
		`/erp/orders/new {}`,
		`/erp/orders/D 7/x/customer {"customerId":"C1"}`,
		`/erp/orders/D 7/x/lines {"discountPct":2.5,"quantity":10,"variantId":"V1"}`,
		`/erp/orders/D 7/x/save {"reference":"R\u00261 x"}`,
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Equal(bodies, wantBodies) {
		t.Errorf("bodies %q\nwant   %q", bodies, wantBodies)
	}
	if st := s.Stats(); st.Logins != 1 || st.Requests != 9 || st.Relogins != 0 {
		t.Errorf("stats %+v, want 1 login and 9 requests", st)
	}
}

func TestFindOrdersNone(t *testing.T) {
	f := newFakeERP()
	f.handlers["GET /erp/orders"] = func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"orders":null}`) }
	s, _ := startFake(t, f)
	orders, err := s.FindOrders(t.Context(), "nope")
	if err != nil || orders == nil || len(orders) != 0 {
		t.Fatalf("FindOrders: %#v, %v; want an empty, non-nil slice", orders, err)
	}
}

var allSentinels = []error{ErrViewLost, ErrInvalidQuantity, ErrInvalidDiscount, ErrUnknownCustomer,
	ErrUnknownVariant, ErrIncompleteOrder, ErrPageOutOfRange, ErrSessionExpired, ErrInvalidCredentials,
	ErrUnavailable, ErrUnknownOutcome, ErrWithdrawn}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		status   int
		body     string
		want     []error // exactly the sentinels the error must match
		code     string
		message  string
		wantText string
	}{
		{409, `{"error":"view_lost","message":"the draft D1 is not the open view"}`, []error{ErrViewLost}, "view_lost", "the draft D1 is not the open view", ""},
		{422, `{"error":"invalid_quantity","message":"V1 is sold in multiples of 5"}`, []error{ErrInvalidQuantity}, "invalid_quantity", "V1 is sold in multiples of 5", "multiples of 5"},
		{422, `{"error":"invalid_discount","message":"at most 50%"}`, []error{ErrInvalidDiscount}, "invalid_discount", "at most 50%", ""},
		{404, `{"error":"unknown_customer","message":"no customer C9"}`, []error{ErrUnknownCustomer}, "unknown_customer", "no customer C9", ""},
		{404, `{"error":"unknown_variant","message":"no variant V9"}`, []error{ErrUnknownVariant}, "unknown_variant", "no variant V9", ""},
		{422, `{"error":"incomplete_order","message":"no lines"}`, []error{ErrIncompleteOrder}, "incomplete_order", "no lines", ""},
		{400, `{"error":"page_out_of_range","message":"page 99 of 3"}`, []error{ErrPageOutOfRange}, "page_out_of_range", "page 99 of 3", ""},
		{401, `{"error":"invalid_credentials","message":"no"}`, []error{ErrInvalidCredentials}, "invalid_credentials", "no", ""},
		{503, `{"error":"unavailable","message":"try later"}`, []error{ErrUnavailable, ErrUnknownOutcome}, "unavailable", "try later", ""},
		{409, `{"error":"locked_by_other_user","message":"locked"}`, nil, "locked_by_other_user", "locked", "locked_by_other_user"},
		{502, `<html>bad gateway</html>`, []error{ErrUnavailable, ErrUnknownOutcome}, "", "Bad Gateway", "HTTP 502"},
		{504, ``, []error{ErrUnavailable, ErrUnknownOutcome}, "", "Gateway Timeout", "HTTP 504"},
		{500, `{"error":"internal","message":"boom"}`, []error{ErrUnknownOutcome}, "internal", "boom", ""},
		{418, `not json`, nil, "", "I'm a teapot", "HTTP 418"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d %s", tt.status, tt.code), func(t *testing.T) {
			f := newFakeERP()
			f.handlers["POST /erp/orders/D1/lines"] = func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}
			s, _ := startFake(t, f)
			_, err := s.AddLine(t.Context(), "D1", Line{VariantID: "V1", Quantity: 5})
			if err == nil {
				t.Fatal("AddLine succeeded")
			}
			for _, sentinel := range allSentinels {
				if got, want := errors.Is(err, sentinel), slices.Contains(tt.want, sentinel); got != want {
					t.Errorf("errors.Is(%v, %q) = %v, want %v", err, sentinel, got, want)
				}
			}
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("%v is not an *APIError", err)
			}
			if ae.Status != tt.status || ae.Code != tt.code || ae.Message != tt.message {
				t.Errorf("APIError %+v, want status %d code %q message %q", ae, tt.status, tt.code, tt.message)
			}
			if IsTransient(err) != slices.Contains(tt.want, ErrUnavailable) {
				t.Errorf("IsTransient = %v", IsTransient(err))
			}
			if !strings.Contains(err.Error(), "POST /erp/orders/D1/lines") || !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("message %q lacks the request or %q", err, tt.wantText)
			}
		})
	}
}

func TestRelogin(t *testing.T) {
	tests := []struct {
		name        string
		expire      int
		wrongPass   bool
		want        error
		wantLogins  int64
		wantRelogin int64
	}{
		{"expired once: one re-login, then success", 1, false, nil, 2, 1},
		{"expired twice: ErrSessionExpired", 2, false, ErrSessionExpired, 2, 1},
		{"wrong password: ErrInvalidCredentials", 0, true, ErrInvalidCredentials, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeERP()
			f.handlers["GET /erp/customers"] = customersPage
			s, _ := startFake(t, f, func(c *Config) {
				if tt.wrongPass {
					c.Password = "wrong"
				}
			})
			ctx := t.Context()
			if !tt.wrongPass {
				if _, err := s.Customers(ctx, 1); err != nil {
					t.Fatal(err)
				}
			}
			f.mu.Lock()
			f.expireNext = tt.expire
			f.mu.Unlock()
			before := s.Stats()
			p, err := s.Customers(ctx, 2)
			if tt.want == nil {
				if err != nil || p.Page != 2 {
					t.Fatalf("Customers: %+v, %v", p, err)
				}
			} else if !errors.Is(err, tt.want) {
				t.Fatalf("Customers: %v, want %v", err, tt.want)
			}
			st := s.Stats()
			if st.Logins != tt.wantLogins || st.Relogins-before.Relogins != tt.wantRelogin {
				t.Errorf("stats %+v, want %d logins and %d relogins", st, tt.wantLogins, tt.wantRelogin)
			}
		})
	}
}

func TestRenewedCookieIsUsed(t *testing.T) {
	f := newFakeERP()
	f.handlers["GET /erp/customers"] = func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.token = "renewed"
		f.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "renewed"})
		customersPage(w, r)
	}
	f.handlers["POST /erp/orders/new"] = func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"draft":"D1"}`) }
	s, _ := startFake(t, f)
	if _, err := s.Customers(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NewOrder(t.Context()); err != nil {
		t.Fatalf("NewOrder with the renewed cookie: %v", err)
	}
	if st := s.Stats(); st.Logins != 1 {
		t.Errorf("logins %d, want 1", st.Logins)
	}
}

func TestLoginAndPing(t *testing.T) {
	t.Run("logs in once, then answers without a request", func(t *testing.T) {
		f := newFakeERP()
		s, _ := startFake(t, f)
		if err := s.Ping(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := s.Login(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := s.Ping(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := f.served(); !slices.Equal(got, []string{"POST /erp/login"}) {
			t.Errorf("served %q, want one login", got)
		}
	})
	t.Run("bad credentials", func(t *testing.T) {
		f := newFakeERP()
		s, _ := startFake(t, f, func(c *Config) { c.Password = "nope" })
		if err := s.Ping(t.Context()); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("Ping: %v, want ErrInvalidCredentials", err)
		}
		if s.Stats().LoggedIn {
			t.Error("logged in after a refused login")
		}
	})
	t.Run("no cookie in the answer", func(t *testing.T) {
		s := memSession(t, roundTripFunc(func(r *http.Request) (*http.Response, error) { return jsonResponse(200, `{}`), nil }))
		if err := s.Login(t.Context()); err == nil || !strings.Contains(err.Error(), "set no ERPSESSION cookie") {
			t.Fatalf("Login: %v", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		s, err := NewSession(Config{BaseURL: "http://" + closedAddr(t), Username: "u"})
		if err != nil {
			t.Fatal(err)
		}
		defer s.CloseIdleConnections()
		if err := s.Ping(t.Context()); !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrUnknownOutcome) {
			t.Fatalf("Ping: %v, want ErrUnavailable (a refused connection is a known outcome)", err)
		}
	})
}

// closedAddr returns a local address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestLocalValidationSendsNothing(t *testing.T) {
	s := memSession(t, roundTripFunc(func(r *http.Request) (*http.Response, error) {
		t.Errorf("sent %s %s", r.Method, r.URL)
		return cannedAnswer(r), nil
	}))
	ctx := t.Context()
	tests := []struct {
		name string
		call func() error
		want error // nil: any error
		text string
	}{
		{"page 0", func() error { _, err := s.Customers(ctx, 0); return err }, ErrPageOutOfRange, "page must be at least 1"},
		{"negative page", func() error { _, err := s.Prices(ctx, -1); return err }, ErrPageOutOfRange, "page must be at least 1"},
		{"empty draft", func() error { return s.SetCustomer(ctx, "", "C1") }, nil, "draft id must not be empty"},
		{"empty customer", func() error { return s.SetCustomer(ctx, "D1", "") }, ErrUnknownCustomer, "customer id must not be empty"},
		{"empty variant", func() error { _, err := s.AddLine(ctx, "D1", Line{Quantity: 1}); return err }, ErrUnknownVariant, "variant id"},
		{"zero quantity", func() error { _, err := s.AddLine(ctx, "D1", Line{VariantID: "V", Quantity: 0}); return err }, ErrInvalidQuantity, "at least 1, got 0"},
		{"discount over 100", func() error {
			_, err := s.AddLine(ctx, "D1", Line{VariantID: "V", Quantity: 1, DiscountPct: 150})
			return err
		}, ErrInvalidDiscount, "got 150"},
		{"negative discount", func() error {
			_, err := s.AddLine(ctx, "D1", Line{VariantID: "V", Quantity: 1, DiscountPct: -1})
			return err
		}, ErrInvalidDiscount, "between 0 and 100"},
		{"NaN discount", func() error {
			_, err := s.AddLine(ctx, "D1", Line{VariantID: "V", Quantity: 1, DiscountPct: math.NaN()})
			return err
		}, ErrInvalidDiscount, "NaN"},
		{"empty reference on save", func() error { _, err := s.Save(ctx, "D1", ""); return err }, nil, "reference must not be empty"},
		{"empty reference on find", func() error { _, err := s.FindOrders(ctx, ""); return err }, nil, "reference must not be empty"},
		{"empty draft on save", func() error { _, err := s.Save(ctx, "", "R"); return err }, nil, "draft id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("err %v; want %v saying %q", err, tt.want, tt.text)
			}
		})
	}
	if st := s.Stats(); st.Requests != 0 {
		t.Errorf("%d requests sent", st.Requests)
	}
}

func TestSaveOutcome(t *testing.T) {
	tests := []struct {
		name        string
		handler     http.HandlerFunc
		wantUnknown bool
		wantErr     error
	}{
		{"saved", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"orderId":"ORD-1"}`) }, false, nil},
		{"refused: incomplete", func(w http.ResponseWriter, r *http.Request) {
			writeErr(w, 422, CodeIncompleteOrder, "no lines")
		}, false, ErrIncompleteOrder},
		{"refused: view lost", func(w http.ResponseWriter, r *http.Request) {
			writeErr(w, 409, CodeViewLost, "draft gone")
		}, false, ErrViewLost},
		{"connection dropped after the request arrived", func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}, true, ErrUnavailable},
		{"answer without an order id", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{}`) }, true, nil},
		{"answer cut short", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"orderId":"OR`) }, true, nil},
		{"ERP unavailable", func(w http.ResponseWriter, r *http.Request) {
			writeErr(w, 503, CodeUnavailable, "busy")
		}, true, ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeERP()
			f.handlers["POST /erp/orders/D1/save"] = tt.handler
			s, _ := startFake(t, f)
			id, err := s.Save(t.Context(), "D1", "REF")
			if tt.wantErr == nil && !tt.wantUnknown {
				if err != nil || id != "ORD-1" {
					t.Fatalf("Save: %q, %v", id, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Save succeeded with %q", id)
			}
			if got := errors.Is(err, ErrUnknownOutcome); got != tt.wantUnknown {
				t.Errorf("Save: %v; unknown outcome %v, want %v", err, got, tt.wantUnknown)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Save: %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestAnswerSizeIsBounded(t *testing.T) {
	f := newFakeERP()
	f.handlers["GET /erp/customers"] = func(w http.ResponseWriter, r *http.Request) {
		chunk := strings.Repeat(" ", 1<<20)
		for range maxBody>>20 + 1 {
			if _, err := fmt.Fprint(w, chunk); err != nil {
				return
			}
		}
	}
	s, _ := startFake(t, f)
	_, err := s.Customers(t.Context(), 1)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("Customers: %v, want a too-large error", err)
	}
}

func TestLoginSendsNoStaleCookie(t *testing.T) {
	// The login carries the credentials in its body and no stale cookie: after an expiry
	// the old cookie must not be sent along with the new login.
	var loginCookies []string
	f := newFakeERP()
	f.handlers["GET /erp/customers"] = customersPage
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == loginPath {
			f.mu.Lock()
			loginCookies = append(loginCookies, r.Header.Get("Cookie"))
			f.mu.Unlock()
		}
		f.ServeHTTP(w, r)
	}))
	defer srv.Close()
	s, err := NewSession(Config{BaseURL: srv.URL, Username: f.user, Password: f.password, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Customers(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.expireNext = 1
	f.mu.Unlock()
	if _, err := s.Customers(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Equal(loginCookies, []string{"", ""}) {
		t.Errorf("logins carried cookies %q", loginCookies)
	}
}

// TestSecretsNeverLeak drives failures of every kind with a distinctive password and
// cookie, and checks every error text and every log line (at Debug).
func TestSecretsNeverLeak(t *testing.T) {
	const password = "Pw-7f3a-ZEBRA-secret"
	const cookie = "ck-91e2-LLAMA-"
	var errs []error
	collect := func(err error) {
		if err == nil {
			t.Error("expected an error")
		}
		errs = append(errs, err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := t.Context()

	// Bad credentials, with an ERP careless enough to echo the password back.
	f := newFakeERP()
	f.password, f.cookiePrefix = password, cookie
	f.loginMessage, f.echoPassword = "wrong password", true
	bad, _ := startFake(t, f, func(c *Config) { c.Password = password + "x"; c.Logger = logger })
	_, err := bad.Customers(ctx, 1)
	if !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("bad credentials: %v", err)
	}
	var ae *APIError
	if !errors.As(err, &ae) || !strings.Contains(ae.Message, "wrong password: [REDACTED]") {
		t.Errorf("the ERP's message was lost: %v", err)
	}
	collect(err)
	collect(bad.Login(ctx))

	// Good credentials: logins, requests, an expiry and a re-login, 5xx answers.
	f.handlers["GET /erp/customers"] = customersPage
	f.handlers["POST /erp/orders/new"] = func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, 500, "internal", "crashed")
	}
	f.handlers["POST /erp/orders/D1/save"] = func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	good, _ := startFake(t, f, func(c *Config) { c.Logger = logger })
	if _, err := good.Customers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.expireNext = 2 // the request, and the repeat after the re-login
	f.mu.Unlock()
	_, err = good.Customers(ctx, 1)
	collect(err)
	_, err = good.Customers(ctx, 1)
	if err != nil {
		t.Fatalf("after the second re-login: %v", err)
	}
	_, err = good.NewOrder(ctx)
	collect(err)
	_, err = good.Save(ctx, "D1", "R")
	collect(err)
	_, err = good.Customers(ctx, 99)
	collect(err)

	// Transport failures.
	down, err := NewSession(Config{BaseURL: "http://" + closedAddr(t), Username: "u", Password: password, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer down.CloseIdleConnections()
	_, err = down.Customers(ctx, 1)
	collect(err)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	collect(down.Login(cancelled))

	// A Config printed or logged by mistake.
	cfg := Config{BaseURL: "http://erp", Username: "u", Password: password}
	printed := fmt.Sprint(cfg) + fmt.Sprintf("%+v %v %s", cfg, cfg, cfg)
	logger.Info("config", "cfg", cfg)

	out := logs.String()
	if !strings.Contains(out, "erp request") || !strings.Contains(out, "erp logged in") ||
		!strings.Contains(out, "session expired") || !strings.Contains(out, "REDACTED") {
		t.Fatalf("the logs lack the expected lines, so the check below would prove nothing:\n%s", out)
	}
	for _, secret := range []string{password, cookie} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain %q:\n%s", secret, out)
		}
		if strings.Contains(printed, secret) {
			t.Errorf("printed Config contains %q: %s", secret, printed)
		}
		for _, err := range errs {
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains %q", err, secret)
			}
		}
	}
}
