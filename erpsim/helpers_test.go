package erpsim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// client is a test's view of one ERP user: an http.Client with its own cookie jar.
type client struct {
	t    testing.TB
	http *http.Client
	base string
}

// newClient talks to s in memory.
func newClient(t testing.TB, s *Server) *client {
	return newClientVia(t, s.RoundTripper(), "http://erp.test")
}

func newClientVia(t testing.TB, rt http.RoundTripper, base string) *client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, http: &http.Client{Transport: rt, Jar: jar}, base: base}
}

// answer is a decoded response.
type answer struct {
	status int
	body   []byte
}

// code is the "error" of an error answer.
func (a answer) code() string {
	var e struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(a.body, &e)
	return e.Error
}

func (a answer) message() string {
	var e struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(a.body, &e)
	return e.Message
}

func (a answer) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("decoding %s: %v", a.body, err)
	}
}

// do sends a request; body is marshalled as JSON unless it is a string (sent as is) or nil.
func (c *client) do(method, path string, body any) answer {
	c.t.Helper()
	a, err := c.doCtx(context.Background(), method, path, body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	return a
}

func (c *client) doCtx(ctx context.Context, method, path string, body any) (answer, error) {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = bytes.NewBufferString(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return answer{}, err
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return answer{}, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{status: resp.StatusCode, body: b}, nil
}

func (c *client) login(user, password string) {
	c.t.Helper()
	if a := c.do("POST", "/erp/login", map[string]string{"username": user, "password": password}); a.status != 200 {
		c.t.Fatalf("login %s: %d %s", user, a.status, a.body)
	}
}

// newServer makes a server with small data and no service times unless cfg says otherwise.
func newServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

type page[T any] struct {
	Page       int `json:"page"`
	PageSize   int `json:"pageSize"`
	TotalPages int `json:"totalPages"`
	TotalRows  int `json:"totalRows"`
	Rows       []T `json:"rows"`
}

// all reads every page of a list.
func all[T any](t testing.TB, c *client, list string) []T {
	t.Helper()
	var rows []T
	for n := 1; ; n++ {
		a := c.do("GET", "/erp/"+list+"?page="+itoa(n), nil)
		if a.status != 200 {
			t.Fatalf("%s page %d: %d %s", list, n, a.status, a.body)
		}
		var p page[T]
		a.decode(t, &p)
		rows = append(rows, p.Rows...)
		if n >= p.TotalPages {
			return rows
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// advance lets d pass on the fake clock of the synctest bubble it is called in.
func advance(d time.Duration) { <-time.After(d) }
