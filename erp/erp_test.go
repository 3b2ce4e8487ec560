package erp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeERP is a small ERP behind httptest: it checks logins and cookies like the real
// one and routes authenticated requests to handlers keyed "METHOD /path".
type fakeERP struct {
	user, password string
	// loginMessage is the message of invalid_credentials answers; with echoPassword the
	// password sent is appended, as a careless ERP could do.
	loginMessage string
	echoPassword bool
	cookiePrefix string
	handlers     map[string]http.HandlerFunc

	mu         sync.Mutex
	token      string // the live session cookie value; "" when none
	logins     int
	expireNext int      // answer this many authenticated requests with session_expired
	requests   []string // "METHOD /path?query", logins included
}

func newFakeERP() *fakeERP {
	return &fakeERP{
		user: "agent", password: "pw", cookiePrefix: "tok-",
		loginMessage: "wrong username or password",
		handlers:     map[string]http.HandlerFunc{},
	}
}

func (f *fakeERP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
	f.mu.Unlock()
	if r.URL.Path == loginPath {
		var in struct{ Username, Password string }
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&in) != nil {
			writeErr(w, http.StatusBadRequest, "bad_request", "login needs a JSON body")
			return
		}
		if in.Username != f.user || in.Password != f.password {
			msg := f.loginMessage
			if f.echoPassword {
				msg += ": " + in.Password
			}
			writeErr(w, http.StatusUnauthorized, CodeInvalidCredentials, msg)
			return
		}
		f.mu.Lock()
		f.logins++
		f.token = f.cookiePrefix + strconv.Itoa(f.logins)
		tok := f.token
		f.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: cookieName, Value: tok, Path: "/erp", HttpOnly: true})
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
		return
	}
	c, err := r.Cookie(cookieName)
	f.mu.Lock()
	live := err == nil && f.token != "" && c.Value == f.token
	if live && f.expireNext > 0 {
		f.expireNext--
		f.token, live = "", false
	}
	f.mu.Unlock()
	if !live {
		writeErr(w, http.StatusUnauthorized, CodeSessionExpired, "your session has expired")
		return
	}
	h, ok := f.handlers[r.Method+" "+r.URL.Path]
	if !ok {
		writeErr(w, http.StatusNotFound, "not_found", "no such page: "+r.URL.Path)
		return
	}
	h(w, r)
}

func (f *fakeERP) served() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error": code, "message": msg})
}

// customersPage is a canned page handler: page N of 3, two rows.
func customersPage(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if n < 1 || n > 3 {
		writeErr(w, http.StatusBadRequest, CodePageOutOfRange, fmt.Sprintf("page %d is not between 1 and 3", n))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"page": n, "pageSize": 2, "totalPages": 3, "totalRows": 6,
		"rows": []map[string]string{
			{"id": fmt.Sprintf("C%d1", n), "name": "Rossi Srl", "vatNumber": "IT01", "email": "a@b.it", "city": "Napoli"},
			{"id": fmt.Sprintf("C%d2", n), "name": "Bianchi", "vatNumber": "IT02", "email": "c@d.it", "city": "Roma"},
		},
	})
}

// startFake serves f and returns a Session logging to the returned buffer at Debug.
func startFake(t testing.TB, f *fakeERP, mutate ...func(*Config)) (*Session, *syncBuffer) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	logs := &syncBuffer{}
	cfg := Config{
		BaseURL: srv.URL, Username: f.user, Password: f.password,
		HTTPClient: srv.Client(),
		Logger:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	s, err := NewSession(cfg)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	return s, logs
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// roundTripFunc is an in-memory transport: no sockets, so it works inside synctest bubbles.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func jsonResponse(status int, body string, header ...string) *http.Response {
	h := http.Header{"Content-Type": {"application/json"}}
	for i := 0; i+1 < len(header); i += 2 {
		h.Add(header[i], header[i+1])
	}
	return &http.Response{
		StatusCode: status, Status: strconv.Itoa(status) + " " + http.StatusText(status),
		Header: h, Body: io.NopCloser(strings.NewReader(body)),
	}
}

// cannedAnswer answers any request of the protocol successfully.
func cannedAnswer(r *http.Request) *http.Response {
	switch p := r.URL.Path; {
	case p == loginPath:
		return jsonResponse(200, `{}`, "Set-Cookie", cookieName+"=secret-cookie; Path=/erp")
	case p == "/erp/customers" || p == "/erp/products" || p == "/erp/prices":
		page := r.URL.Query().Get("page")
		return jsonResponse(200, `{"page":`+page+`,"pageSize":20,"totalPages":9,"totalRows":170,"rows":[]}`)
	case p == "/erp/orders/new":
		return jsonResponse(200, `{"draft":"D1"}`)
	case strings.HasSuffix(p, "/customer"):
		return jsonResponse(200, `{}`)
	case strings.HasSuffix(p, "/lines"):
		return jsonResponse(200, `{"line":1}`)
	case strings.HasSuffix(p, "/save"):
		return jsonResponse(200, `{"orderId":"ORD-1"}`)
	case p == "/erp/orders":
		return jsonResponse(200, `{"orders":[]}`)
	}
	return jsonResponse(404, `{"error":"not_found","message":"no such page"}`)
}

// memSession returns a Session whose requests go to rt, in memory.
func memSession(t testing.TB, rt http.RoundTripper) *Session {
	t.Helper()
	s, err := NewSession(Config{BaseURL: "http://erp.test", Username: "agent", Password: "pw",
		HTTPClient: &http.Client{Transport: rt}})
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	return s
}
