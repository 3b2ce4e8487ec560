package reliability_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"archibald"
	"archibald/erpsim"
)

// TestHostileOrderRequests sends malformed order requests to the real binary. Each gets
// the right 4xx with a JSON error, and none is stored or reaches the ERP.
func TestHostileOrderRequests(t *testing.T) {
	sim, erpURL := newSim(t, erpsim.Config{Customers: 50, Products: 60, PageTime: 2 * time.Millisecond, StepTime: 5 * time.Millisecond})
	db := filepath.Join(t.TempDir(), "archibald.db")
	srv := startChild(t, serveArgs(erpURL, db, "--log-level", "info")...)
	for range archibald.Entities {
		srv.waitLog(time.Minute, "the mirror filled", func(l logLine) bool { return l.msg() == "sync run finished" })
	}
	c, p := sim.Customers()[0], sim.Products()[0]
	valid := func(quantity string) string {
		return fmt.Sprintf(`{"customerId":%q,"items":[{"articleCode":%q,"quantity":%s}]}`, c.ID, p.ArticleCode, quantity)
	}
	withItem := func(item string) string {
		return fmt.Sprintf(`{"customerId":%q,"items":[%s]}`, c.ID, item)
	}
	manyItems := func(n int) string {
		items := make([]string, n)
		for i := range items {
			items[i] = fmt.Sprintf(`{"articleCode":%q,"quantity":1}`, p.ArticleCode)
		}
		return withItem(strings.Join(items, ","))
	}
	const ctJSON = "application/json"
	tests := []struct {
		name        string
		contentType string
		body        string
		query       string
		key         string
		want        int
	}{
		{"customerId a number", ctJSON, fmt.Sprintf(`{"customerId":42,"items":[{"articleCode":%q,"quantity":1}]}`, p.ArticleCode), "", "", 400},
		{"items an object", ctJSON, fmt.Sprintf(`{"customerId":%q,"items":{"articleCode":"x"}}`, c.ID), "", "", 400},
		{"items element a string", ctJSON, withItem(`"H1.104.010"`), "", "", 400},
		{"quantity a string", ctJSON, valid(`"5"`), "", "", 400},
		{"quantity a boolean", ctJSON, valid(`true`), "", "", 400},
		{"quantity a fraction", ctJSON, valid(`1.5`), "", "", 400},
		{"quantity huge", ctJSON, valid(`1e30`), "", "", 400},
		{"quantity past int64", ctJSON, valid(`99999999999999999999999`), "", "", 400},
		{"quantity above the limit", ctJSON, valid(`1000001`), "", "", 422},
		{"quantity negative", ctJSON, valid(`-5`), "", "", 422},
		{"quantity zero", ctJSON, valid(`0`), "", "", 422},
		{"discount negative", ctJSON, withItem(fmt.Sprintf(`{"articleCode":%q,"quantity":1,"discountPct":-1}`, p.ArticleCode)), "", "", 422},
		{"discount over 100", ctJSON, withItem(fmt.Sprintf(`{"articleCode":%q,"quantity":1,"discountPct":100.5}`, p.ArticleCode)), "", "", 422},
		{"discount a string", ctJSON, withItem(fmt.Sprintf(`{"articleCode":%q,"quantity":1,"discountPct":"10"}`, p.ArticleCode)), "", "", 400},
		{"unicode look-alike in the article code", ctJSON, withItem(`{"articleCode":"H1.104.01０","quantity":1}`), "", "", 422},
		{"control character in the article code", ctJSON, withItem(`{"articleCode":"H1\u0000104","quantity":1}`), "", "", 422},
		{"emoji customer", ctJSON, fmt.Sprintf(`{"customerId":"🦄","items":[{"articleCode":%q,"quantity":1}]}`, p.ArticleCode), "", "", 422},
		{"customerId 10 kB", ctJSON, fmt.Sprintf(`{"customerId":%q,"items":[{"articleCode":%q,"quantity":1}]}`, strings.Repeat("C", 10000), p.ArticleCode), "", "", 422},
		{"empty customerId", ctJSON, fmt.Sprintf(`{"customerId":"","items":[{"articleCode":%q,"quantity":1}]}`, p.ArticleCode), "", "", 422},
		{"no items", ctJSON, fmt.Sprintf(`{"customerId":%q}`, c.ID), "", "", 422},
		{"items null", ctJSON, fmt.Sprintf(`{"customerId":%q,"items":null}`, c.ID), "", "", 422},
		{"10,000 items", ctJSON, manyItems(10000), "", "", 422},
		{"deep nesting", ctJSON, strings.Repeat(`{"customerId":`, 20000) + `"x"` + strings.Repeat("}", 20000), "", "", 400},
		{"duplicate keys", ctJSON, fmt.Sprintf(`{"customerId":%q,"customerId":"C999","items":[{"articleCode":%q,"quantity":1}]}`, c.ID, p.ArticleCode), "", "", 400},
		{"trailing garbage", ctJSON, valid("1") + " garbage", "", "", 400},
		{"two JSON values", ctJSON, valid("1") + valid("1"), "", "", 400},
		{"unknown field", ctJSON, fmt.Sprintf(`{"customerId":%q,"priority":"high","items":[{"articleCode":%q,"quantity":1}]}`, c.ID, p.ArticleCode), "", "", 400},
		{"null body", ctJSON, `null`, "", "", 400},
		{"array body", ctJSON, `[]`, "", "", 400},
		{"truncated JSON", ctJSON, valid("1")[:20], "", "", 400},
		{"invalid UTF-8", ctJSON, fmt.Sprintf("{\"customerId\":\"\xff\xfe\",\"items\":[{\"articleCode\":%q,\"quantity\":1}]}", p.ArticleCode), "", "", 422},
		{"empty body", ctJSON, ``, "", "", 400},
		{"wrong content type", "text/plain", valid("1"), "", "", 415},
		{"no content type", "", valid("1"), "", "", 415},
		{"body over 1 MiB", ctJSON, fmt.Sprintf(`{"customerId":%q,"customerName":%q,"items":[]}`, c.ID, strings.Repeat("x", 1<<20)), "", "", 413},
		{"reference with spaces", ctJSON, fmt.Sprintf(`{"customerId":%q,"reference":"a b","items":[{"articleCode":%q,"quantity":1}]}`, c.ID, p.ArticleCode), "", "", 422},
		{"bad wait", ctJSON, valid("1"), "?wait=banana", "", 400},
		{"idempotency key 300 characters", ctJSON, valid("1"), "", strings.Repeat("k", 300), 422},
	}
	before := sim.Stats().Requests
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, srv.url+"/api/orders/create"+tt.query, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+apiToken)
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			if tt.key != "" {
				req.Header.Set("Idempotency-Key", tt.key)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.want, b)
			}
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("body %s is not a JSON error with a code and a message", b)
			}
		})
	}
	if after := sim.Stats().Requests; after != before {
		t.Fatalf("%d requests reached the ERP while the hostile requests were refused", after-before)
	}
	if n := len(listOrders(t, srv.url)); n != 0 {
		t.Fatalf("%d orders stored from hostile requests", n)
	}
	srv.stop()
}

func listOrders(t *testing.T, url string) []archibald.Order {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url+"/api/orders?limit=500", nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Orders []archibald.Order `json:"orders"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Orders
}
