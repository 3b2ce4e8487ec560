package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"archibald"
	"archibald/httpapi"
	"archibald/orders"
	"archibald/priority"
	"archibald/syncer"
)

type orderResponse struct {
	Order archibald.Order `json:"order"`
}

func TestNewValidatesConfig(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	good := httpapi.Config{Token: "t", Manager: f.env.Manager, Orders: f.orders, Store: f.env.Store}
	cases := map[string]func(c *httpapi.Config){
		"no token":        func(c *httpapi.Config) { c.Token = "" },
		"no manager":      func(c *httpapi.Config) { c.Manager = nil },
		"no orders":       func(c *httpapi.Config) { c.Orders = nil },
		"no store":        func(c *httpapi.Config) { c.Store = nil },
		"negative wait":   func(c *httpapi.Config) { c.MaxWait = -time.Second },
		"duplicate syncs": func(c *httpapi.Config) { c.Syncs = []httpapi.SyncService{f.syncs["prices"], f.syncs["prices"]} },
	}
	for name, mutate := range cases {
		c := good
		mutate(&c)
		if _, err := httpapi.New(c); err == nil {
			t.Errorf("%s: New accepted the config", name)
		}
	}
	s, err := httpapi.New(good)
	if err != nil {
		t.Fatal(err)
	}
	s.Stop() // without Start
	s.Stop()
	if err := s.Start(context.Background()); err == nil {
		t.Fatal("Start after Stop succeeded")
	}
}

func TestCreateOrderWaitReturnsCreated(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	req := validOrder(t, f.env, 0)
	w := f.do(t, request{method: "POST", path: "/api/orders/create?wait=30s", body: mustJSON(t, req)})
	wantStatus(t, w, http.StatusCreated)
	o := decode[orderResponse](t, w).Order
	if o.Status != archibald.OrderCreated || o.ErpOrderID == "" || o.CustomerID != req.CustomerID || len(o.Lines) != 1 {
		t.Fatalf("order %+v, want created with an ERP id", o)
	}
	if loc := w.Header().Get("Location"); loc != "/api/orders/"+o.ID {
		t.Fatalf("Location %q", loc)
	}
	// The ERP has it, once.
	n := 0
	for _, eo := range f.env.Sim.Orders() {
		if eo.Reference == o.Reference {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the ERP holds %d orders with the reference, want 1", n)
	}

	// GET by id, and the list by status.
	w = f.do(t, request{method: "GET", path: "/api/orders/" + o.ID})
	wantStatus(t, w, http.StatusOK)
	if got := decode[orderResponse](t, w).Order; got.ID != o.ID || got.Status != archibald.OrderCreated {
		t.Fatalf("GET order %+v", got)
	}
	for _, tc := range []struct {
		query string
		want  int
	}{{"", 1}, {"?status=created", 1}, {"?status=failed", 0}, {"?status=queued&limit=1", 0}} {
		w = f.do(t, request{method: "GET", path: "/api/orders" + tc.query})
		wantStatus(t, w, http.StatusOK)
		list := decode[struct{ Orders []archibald.Order }](t, w).Orders
		if len(list) != tc.want || (tc.want == 1 && list[0].ID != o.ID) {
			t.Fatalf("GET /api/orders%s = %+v, want %d orders", tc.query, list, tc.want)
		}
	}
}

func TestCreateOrderWithoutWaitIsAccepted(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	for _, path := range []string{"/api/orders", "/api/orders/create"} {
		w := f.do(t, request{method: "POST", path: path, body: mustJSON(t, validOrder(t, f.env, 1))})
		wantStatus(t, w, http.StatusAccepted)
		o := decode[orderResponse](t, w).Order
		if o.ID == "" || o.Status != archibald.OrderQueued {
			t.Fatalf("POST %s: order %+v, want queued", path, o)
		}
		f.sig.wait(t, orders.EventCreated+":"+o.ID)
	}
}

func TestCreateOrderIdempotency(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	body := mustJSON(t, validOrder(t, f.env, 2))
	key := map[string]string{"Idempotency-Key": "agent-7-order-42"}
	first := f.do(t, request{method: "POST", path: "/api/orders", body: body, header: key})
	wantStatus(t, first, http.StatusAccepted)
	o := decode[orderResponse](t, first).Order

	again := f.do(t, request{method: "POST", path: "/api/orders", body: body, header: key})
	wantStatus(t, again, http.StatusOK)
	if got := decode[orderResponse](t, again).Order; got.ID != o.ID {
		t.Fatalf("a repeated request made order %s, want the same %s", got.ID, o.ID)
	}
	if again.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatal("a replayed request lacks Idempotent-Replayed: true")
	}
	withWait := f.do(t, request{method: "POST", path: "/api/orders?wait=30s", body: body, header: key})
	wantStatus(t, withWait, http.StatusCreated)
	if got := decode[orderResponse](t, withWait).Order; got.ID != o.ID || got.ErpOrderID == "" {
		t.Fatalf("replay with wait: %+v", got)
	}

	other := mustJSON(t, validOrder(t, f.env, 3))
	w := f.do(t, request{method: "POST", path: "/api/orders", body: other, header: key})
	wantError(t, w, http.StatusConflict, archibald.ECONFLICT, "")
}

func TestCreateOrderErrors(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	valid := validOrder(t, f.env, 0)
	line := valid.Items[0]
	huge := `{"customerId":"` + strings.Repeat("a", httpapi.MaxBodyBytes) + `"}`
	cases := []struct {
		name, path, body, contentType string
		status                        int
		code, field                   string
	}{
		{"malformed", "", `{"customerId":`, "", 400, "bad_request", "body"},
		{"unknown field", "", `{"customerId":"C1","items":[],"colour":"red"}`, "", 400, "bad_request", "colour"},
		{"trailing garbage", "", mustJSON(t, valid) + ` {}`, "", 400, "bad_request", "body"},
		{"duplicate key", "", `{"customerId":"A","customerId":"B","items":[]}`, "", 400, "bad_request", "customerId"},
		{"wrong type", "", `{"customerId":42,"items":[]}`, "", 400, "bad_request", "customerId"},
		{"fractional quantity", "", `{"customerId":"C","items":[{"articleCode":"A","quantity":1.5}]}`, "", 400, "bad_request", "items[0].quantity"},
		{"huge quantity", "", `{"customerId":"C","items":[{"articleCode":"A","quantity":1e400}]}`, "", 400, "bad_request", "items[0].quantity"},
		{"empty body", "", " ", "", 400, "bad_request", "body"},
		{"not an object", "", `[1,2]`, "", 400, "bad_request", "body"},
		{"bad wait", "/api/orders?wait=soon", mustJSON(t, valid), "", 400, "bad_request", "wait"},
		{"too large", "", huge, "", 413, archibald.ETOOLARGE, ""},
		{"text/plain", "", mustJSON(t, valid), "text/plain", 415, archibald.EUNSUPPORTED, ""},
		{"no items", "", `{"customerId":"C1","items":[]}`, "", 422, archibald.EINVALID, "items"},
		{"zero quantity", "", fmt.Sprintf(`{"customerId":%q,"items":[{"articleCode":%q,"quantity":0}]}`, valid.CustomerID, line.ArticleCode), "", 422, archibald.EINVALID, "items[0].quantity"},
		{"unknown customer", "", fmt.Sprintf(`{"customerId":"NOPE","items":[{"articleCode":%q,"quantity":%d}]}`, line.ArticleCode, line.Quantity), "", 422, archibald.EINVALID, "customerId"},
		{"unknown article", "", fmt.Sprintf(`{"customerId":%q,"items":[{"articleCode":"NOPE-1","quantity":1}]}`, valid.CustomerID), "", 422, archibald.EINVALID, "items[0].articleCode"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = "/api/orders/create"
			}
			w := f.do(t, request{method: "POST", path: path, body: tc.body, contentType: tc.contentType})
			wantError(t, w, tc.status, tc.code, tc.field)
		})
	}
	w := f.do(t, request{method: "GET", path: "/api/orders?status=lost"})
	wantError(t, w, 400, "bad_request", "status")
	w = f.do(t, request{method: "GET", path: "/api/orders?limit=501"})
	wantError(t, w, 400, "bad_request", "limit")
	w = f.do(t, request{method: "GET", path: "/api/orders/ord_doesnotexist"})
	wantError(t, w, 404, archibald.ENOTFOUND, "")
	// Nothing was stored for any of them.
	if list, err := f.env.Store.ListOrders(context.Background(), "", 0); err != nil || len(list) != 0 {
		t.Fatalf("orders stored: %v, %v", list, err)
	}
}

func TestRouting(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	w := f.do(t, request{method: "GET", path: "/api/nothing-here"})
	wantError(t, w, 404, archibald.ENOTFOUND, "")
	w = f.do(t, request{method: "GET", path: "/nothing-here"})
	wantError(t, w, 404, archibald.ENOTFOUND, "")

	for _, tc := range []struct{ method, path, allow string }{
		{"PUT", "/api/priority", "GET, HEAD"},
		{"DELETE", "/api/orders", "GET, HEAD, POST"},
		{"GET", "/api/priority/pause", "POST"},
		{"POST", "/api/health", "GET, HEAD"},
	} {
		w := f.do(t, request{method: tc.method, path: tc.path})
		wantError(t, w, 405, "method_not_allowed", "")
		if got := w.Header().Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
	}
}

func TestEveryPrivateRouteNeedsTheToken(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	routes := f.srv.Routes()
	if len(routes) < 18 {
		t.Fatalf("only %d routes", len(routes))
	}
	public := 0
	for _, rt := range routes {
		path := strings.ReplaceAll(rt.Pattern, "{$}", "")
		for _, p := range []string{"{id}", "{holdId}", "{service}", "{file}"} {
			path = strings.ReplaceAll(path, p, "x")
		}
		if strings.Contains(path, "{") {
			t.Fatalf("pattern %s has a wildcard the walk does not fill", rt.Pattern)
		}
		if rt.Public {
			public++
			continue
		}
		for _, token := range []string{"-", "wrong-token", testToken + "x", testToken[:10]} {
			w := f.do(t, request{method: rt.Method, path: path, token: token})
			wantError(t, w, http.StatusUnauthorized, archibald.EUNAUTHORIZED, "")
			if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s: no WWW-Authenticate: Bearer", rt.Method, path)
			}
		}
		// A token in the query is taken only by the event stream.
		if rt.Pattern != "/api/events" {
			w := f.do(t, request{method: rt.Method, path: path + "?access_token=" + testToken, token: "-"})
			wantError(t, w, http.StatusUnauthorized, archibald.EUNAUTHORIZED, "")
		}
	}
	if public != 4 { // health, metrics, the page and its static files
		t.Fatalf("%d public routes, want 4", public)
	}
	w := f.do(t, request{method: "GET", path: "/api/health", token: "-"})
	wantStatus(t, w, http.StatusOK)
	if decode[map[string]string](t, w)["status"] != "ok" {
		t.Fatalf("health: %s", w.Body)
	}
	// The scheme is case-insensitive.
	w = f.do(t, request{method: "GET", path: "/api/priority", token: "-", header: map[string]string{"Authorization": "bearer " + testToken}})
	wantStatus(t, w, http.StatusOK)
}

func TestTokenNeverLogged(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.do(t, request{method: "GET", path: "/api/priority"})
	f.do(t, request{method: "GET", path: "/api/priority", token: "a-wrong-secret-token"})
	f.do(t, request{method: "GET", path: "/api/ready?access_token=" + testToken, token: "-"})
	logs := f.logs.String()
	if !strings.Contains(logs, "http request") || !strings.Contains(logs, "path=/api/priority") {
		t.Fatalf("requests not logged at Debug: %s", logs)
	}
	for _, secret := range []string{testToken, "a-wrong-secret-token", "access_token"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the log holds %q:\n%s", secret, logs)
		}
	}
}

func TestPriorityStatusAndOperatorHold(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	w := f.do(t, request{method: "GET", path: "/api/priority"})
	wantStatus(t, w, http.StatusOK)
	type status struct {
		State    string
		Holders  int
		Paused   []string
		Services []struct {
			Name   string
			Paused bool
		}
		Pauses     int64
		LastTookMs *float64
	}
	st := decode[status](t, w)
	if st.State != "running" || st.Holders != 0 || st.Paused == nil || len(st.Services) != 4 || st.LastTookMs == nil {
		t.Fatalf("priority status %s", w.Body)
	}

	events := managerEvents(t, f.env.Manager)
	w = f.do(t, request{method: "POST", path: "/api/priority/pause", body: `{"ttl":"1m","reason":"ERP maintenance"}`})
	wantStatus(t, w, http.StatusCreated)
	hold := decode[struct {
		HoldID    string    `json:"holdId"`
		ExpiresAt time.Time `json:"expiresAt"`
	}](t, w)
	if hold.HoldID == "" || time.Until(hold.ExpiresAt) < 50*time.Second {
		t.Fatalf("hold %+v", hold)
	}
	st = decode[status](t, f.do(t, request{method: "GET", path: "/api/priority"}))
	if st.State != "paused" || st.Holders != 1 || len(st.Paused) != 4 || st.Pauses < 1 {
		t.Fatalf("status while held: %+v", st)
	}
	if !strings.Contains(f.logs.String(), "reason=ERP maintenance") {
		t.Fatal("the hold's reason was not logged")
	}
	w = f.do(t, request{method: "DELETE", path: "/api/priority/pause/" + hold.HoldID})
	wantStatus(t, w, http.StatusNoContent)
	waitManager(t, events, priority.EventResumed)
	if st := f.env.Manager.Status(); st.Holders != 0 {
		t.Fatalf("holders after DELETE: %d", st.Holders)
	}
	w = f.do(t, request{method: "DELETE", path: "/api/priority/pause/" + hold.HoldID})
	wantError(t, w, 404, archibald.ENOTFOUND, "holdId")

	for _, tc := range []struct {
		body, code, field string
		status            int
	}{
		{`{"reason":"x"}`, archibald.EINVALID, "ttl", 422},
		{`{"ttl":"forever"}`, "bad_request", "ttl", 400},
		{`{"ttl":"500ms"}`, archibald.EINVALID, "ttl", 422},
		{`{"ttl":"2h"}`, archibald.EINVALID, "ttl", 422},
		{`{"ttl":"30s","for":"me"}`, "bad_request", "for", 400},
		{`{"ttl":30}`, "bad_request", "ttl", 400},
	} {
		w := f.do(t, request{method: "POST", path: "/api/priority/pause", body: tc.body})
		wantError(t, w, tc.status, tc.code, tc.field)
	}
}

func TestOperatorHoldExpiresByItself(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	events := managerEvents(t, f.env.Manager)
	w := f.do(t, request{method: "POST", path: "/api/priority/pause", body: `{"ttl":"1s","reason":"short"}`})
	wantStatus(t, w, http.StatusCreated)
	waitManager(t, events, priority.EventPaused)
	waitManager(t, events, priority.EventResumed)
	f.sig.wait(t, "log:operator hold released")
	if st := f.env.Manager.Status(); st.Holders != 0 || st.State != priority.StateRunning {
		t.Fatalf("after the TTL: %+v", st)
	}
	if !strings.Contains(f.logs.String(), "why=expired") {
		t.Fatal("the expiry was not logged")
	}
}

func TestStopReleasesOperatorHolds(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	for range 2 {
		w := f.do(t, request{method: "POST", path: "/api/priority/pause", body: `{"ttl":"1h"}`})
		wantStatus(t, w, http.StatusCreated)
	}
	if h := f.env.Manager.Status().Holders; h != 2 {
		t.Fatalf("holders %d, want 2", h)
	}
	f.srv.Stop()
	f.srv.Stop()
	if h := f.env.Manager.Status().Holders; h != 0 {
		t.Fatalf("holders after Stop %d, want 0", h)
	}
	w := f.do(t, request{method: "POST", path: "/api/priority/pause", body: `{"ttl":"1h"}`})
	wantError(t, w, 503, archibald.EUNAVAILABLE, "")
	if h := f.env.Manager.Status().Holders; h != 0 {
		t.Fatalf("a hold taken after Stop was kept: %d", h)
	}
}

func TestSyncRoutes(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	w := f.do(t, request{method: "GET", path: "/api/sync"})
	wantStatus(t, w, http.StatusOK)
	list := decode[struct{ Services []syncer.Status }](t, w).Services
	if len(list) != 3 {
		t.Fatalf("services %+v", list)
	}
	for i, st := range list {
		if st.Name != archibald.Entities[i] || st.MirrorRows == 0 || st.LastSuccessAt == nil {
			t.Fatalf("service %+v", st)
		}
	}

	w = f.do(t, request{method: "POST", path: "/api/sync/customers/pause"})
	wantStatus(t, w, http.StatusOK)
	if st := decode[struct{ Service syncer.Status }](t, w).Service; st.State != syncer.StatePaused {
		t.Fatalf("after pause: %+v", st)
	}
	w = f.do(t, request{method: "POST", path: "/api/sync/customers/resume"})
	wantStatus(t, w, http.StatusOK)
	if st := decode[struct{ Service syncer.Status }](t, w).Service; st.State == syncer.StatePaused {
		t.Fatalf("after resume: %+v", st)
	}

	w = f.do(t, request{method: "POST", path: "/api/sync/prices"})
	wantStatus(t, w, http.StatusAccepted)
	if st := decode[struct{ Service syncer.Status }](t, w).Service; st.Name != "prices" {
		t.Fatalf("run now: %s", w.Body)
	}
	f.sig.wait(t, syncer.EventFinished+":prices#2") // the run asked for
	for _, path := range []string{"/api/sync/stock", "/api/sync/stock/pause", "/api/sync/stock/resume"} {
		w := f.do(t, request{method: "POST", path: path})
		wantError(t, w, 404, archibald.ENOTFOUND, "service")
	}
}

func TestSyncPauseEndsWithTheRequest(t *testing.T) {
	svc := &fakeSync{name: "customers", pause: func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}}
	s := newFakeServer(t, func(c *httpapi.Config) { c.Syncs = []httpapi.SyncService{svc} })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequestWithContext(ctx, "POST", "/api/sync/customers/pause", nil)
	r.Header.Set("Authorization", "Bearer "+testToken)
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	wantError(t, w, 503, archibald.EUNAVAILABLE, "")
	if svc.pauses != 1 || svc.resumes != 1 {
		t.Fatalf("pauses %d resumes %d: a failed pause must be undone", svc.pauses, svc.resumes)
	}
}

func TestMirrorReads(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	customer := f.env.Sim.Customers()[0]
	product := f.env.Sim.Products()[0]

	w := f.do(t, request{method: "GET", path: "/api/customers?limit=5"})
	wantStatus(t, w, http.StatusOK)
	if got := decode[struct{ Customers []archibald.Customer }](t, w).Customers; len(got) != 5 {
		t.Fatalf("customers %+v", got)
	}
	w = f.do(t, request{method: "GET", path: "/api/customers?search=" + customer.ID})
	wantStatus(t, w, http.StatusOK)
	if got := decode[struct{ Customers []archibald.Customer }](t, w).Customers; len(got) == 0 || got[0].ID != customer.ID {
		t.Fatalf("search by id: %+v", got)
	}
	w = f.do(t, request{method: "GET", path: "/api/products?search=" + product.ArticleCode})
	wantStatus(t, w, http.StatusOK)
	if got := decode[struct{ Products []archibald.Product }](t, w).Products; len(got) == 0 {
		t.Fatalf("products for %s: none", product.ArticleCode)
	}
	w = f.do(t, request{method: "GET", path: "/api/prices?articleCode=" + product.ArticleCode})
	wantStatus(t, w, http.StatusOK)
	if got := decode[struct{ Prices []archibald.Price }](t, w).Prices; len(got) == 0 || got[0].ArticleCode != product.ArticleCode {
		t.Fatalf("prices: %+v", got)
	}
	w = f.do(t, request{method: "GET", path: "/api/prices?articleCode=NOPE"})
	wantStatus(t, w, http.StatusOK)
	if !strings.Contains(w.Body.String(), `"prices":[]`) {
		t.Fatalf("no prices should be an empty list: %s", w.Body)
	}

	for _, tc := range []struct{ path, field string }{
		{"/api/customers?limit=0", "limit"},
		{"/api/customers?limit=501", "limit"},
		{"/api/products?limit=ten", "limit"},
		{"/api/products?search=" + strings.Repeat("x", 201), "search"},
		{"/api/prices", "articleCode"},
	} {
		w := f.do(t, request{method: "GET", path: tc.path})
		wantError(t, w, 400, "bad_request", tc.field)
	}
}

func TestReadiness(t *testing.T) {
	erpDown := &fakePinger{err: errors.New("dial tcp: connection refused")}
	f := newFixture(t, fixtureOptions{})
	w := f.do(t, request{method: "GET", path: "/api/ready"})
	wantStatus(t, w, http.StatusOK)

	s := newFakeServer(t, func(c *httpapi.Config) { c.Store = f.env.Store; c.ERP = erpDown })
	w = serve(t, s, request{method: "GET", path: "/api/ready"})
	e := wantError(t, w, 503, archibald.EUNAVAILABLE, "erp")
	if strings.Contains(e.Error.Message, "refused") {
		t.Fatalf("internal detail leaked: %q", e.Error.Message)
	}

	// Stop the writers first: the services would only log errors against a closed store.
	for _, svc := range f.syncs {
		svc.Stop()
	}
	f.orders.Stop()
	if err := f.env.Store.Close(); err != nil {
		t.Fatal(err)
	}
	w = f.do(t, request{method: "GET", path: "/api/ready"})
	wantError(t, w, 503, archibald.EUNAVAILABLE, "store")
	if !strings.Contains(w.Body.String(), `"erp":"ok"`) || !strings.Contains(w.Body.String(), `"store":"unavailable"`) {
		t.Fatalf("checks: %s", w.Body)
	}
}

func TestPanicIsA500(t *testing.T) {
	s := newFakeServer(t, func(c *httpapi.Config) {
		c.Orders = &fakeOrders{order: func(string) (archibald.Order, error) { panic("boom") }}
	})
	w := serve(t, s, request{method: "GET", path: "/api/orders/x"})
	e := wantError(t, w, 500, archibald.EINTERNAL, "")
	if e.Error.Message != "internal error" {
		t.Fatalf("message %q", e.Error.Message)
	}
	// Internal errors say nothing more than that.
	s = newFakeServer(t, func(c *httpapi.Config) {
		c.Orders = &fakeOrders{order: func(string) (archibald.Order, error) {
			return archibald.Order{}, errors.New("sqlite: disk I/O error at /var/secret/path")
		}}
	})
	w = serve(t, s, request{method: "GET", path: "/api/orders/x"})
	e = wantError(t, w, 500, archibald.EINTERNAL, "")
	if strings.Contains(w.Body.String(), "secret") {
		t.Fatalf("internal detail leaked: %s", w.Body)
	}
}

func TestStatusPage(t *testing.T) {
	s := newFakeServer(t, nil)
	for _, tc := range []struct{ path, ctype, contains string }{
		{"/", "text/html", "/static/app.js"},
		{"/static/app.js", "text/javascript", "EventSource"},
		{"/static/app.css", "text/css", "body"},
	} {
		w := serve(t, s, request{method: "GET", path: tc.path, token: "-"})
		wantStatus(t, w, http.StatusOK)
		h := w.Header()
		if !strings.HasPrefix(h.Get("Content-Type"), tc.ctype) || !strings.Contains(w.Body.String(), tc.contains) {
			t.Fatalf("%s: %s %q", tc.path, h.Get("Content-Type"), w.Body.String()[:min(80, w.Body.Len())])
		}
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
			t.Fatalf("%s: CSP %q", tc.path, csp)
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Fatalf("%s: headers %v", tc.path, h)
		}
	}
	w := serve(t, s, request{method: "GET", path: "/static/secret.txt", token: "-"})
	wantError(t, w, 404, archibald.ENOTFOUND, "")
	w = serve(t, s, request{method: "GET", path: "/static/../server.go", token: "-"})
	if w.Code == http.StatusOK {
		t.Fatal("a path outside static was served")
	}
}

func TestNewHTTPServer(t *testing.T) {
	hs := httpapi.NewHTTPServer("127.0.0.1:0", http.NotFoundHandler())
	if hs.ReadHeaderTimeout != 10*time.Second || hs.ReadTimeout != 30*time.Second || hs.IdleTimeout != 120*time.Second ||
		hs.WriteTimeout != 0 || hs.MaxHeaderBytes != 1<<20 || hs.Addr != "127.0.0.1:0" {
		t.Fatalf("%+v", hs)
	}
}
