package reliability_test

import (
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"archibald"
	"archibald/erpsim"
	"archibald/internal/testenv"
)

// TestSecretsNeverLeak runs the binary at debug level through logins, a re-login, an
// order, refused requests and an event stream opened with the token in its URL, then
// checks that neither the ERP password nor the API token appears in anything it wrote
// or in any error body.
func TestSecretsNeverLeak(t *testing.T) {
	sim, erpURL := newSim(t, erpsim.Config{Customers: 40, Products: 50, PageTime: 2 * time.Millisecond, StepTime: 5 * time.Millisecond})
	db := filepath.Join(t.TempDir(), "archibald.db")
	srv := startChild(t, serveArgs(erpURL, db)...) // debug level
	for range archibald.Entities {
		srv.waitLog(time.Minute, "the mirror filled", func(l logLine) bool { return l.msg() == "sync run finished" })
	}
	var bodies []string
	call := func(method, path, token, contentType, body string) int {
		req, _ := http.NewRequest(method, srv.url+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		bodies = append(bodies, string(b))
		return resp.StatusCode
	}
	sim.ExpireSessions() // the next ERP request logs in again
	p := sim.Products()[0]
	order := `{"customerId":"` + sim.Customers()[0].ID + `","items":[{"articleCode":"` + p.ArticleCode + `","quantity":` +
		strconv.Itoa(max(p.MinQty, p.MultipleQty)) + `}]}`
	if code := call("POST", "/api/orders/create?wait=30s", apiToken, "application/json", order); code != http.StatusCreated {
		t.Fatalf("order: %d %s", code, bodies[len(bodies)-1])
	}
	for _, c := range []struct {
		method, path, token, body string
		want                      int
	}{
		{"GET", "/api/sync", "", "", 401},
		{"GET", "/api/sync", apiToken + "x", "", 401},
		{"GET", "/api/sync", "wrong-" + apiToken[:10], "", 401},
		{"GET", "/api/orders/ord_nope", apiToken, "", 404},
		{"POST", "/api/orders/create", apiToken, `{"customerId":"C-NOPE","items":[]}`, 422},
		{"GET", "/api/ready", apiToken, "", 200},
	} {
		if code := call(c.method, c.path, c.token, "application/json", c.body); code != c.want {
			t.Fatalf("%s %s: %d, want %d", c.method, c.path, code, c.want)
		}
	}
	// An event stream opened with the token in the query string, as the status page does.
	req, _ := http.NewRequest("GET", srv.url+"/api/events?access_token="+apiToken, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("event stream: %v %v", resp.Status, err)
	}
	resp.Body.Close()
	srv.stop()

	out := srv.output()
	if !strings.Contains(out, `"msg":"erp logged in"`) || !strings.Contains(out, `"level":"DEBUG"`) {
		t.Fatal("the output lacks the debug records the test relies on: it would pass vacuously")
	}
	for name, secret := range map[string]string{"ERP password": testenv.Password, "API token": apiToken} {
		if strings.Contains(out, secret) {
			t.Errorf("the %s appears in the log", name)
		}
		for _, b := range bodies {
			if strings.Contains(b, secret) {
				t.Errorf("the %s appears in a response body: %s", name, b)
			}
		}
	}
}
