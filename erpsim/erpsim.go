// Package erpsim is a simulator of the company ERP that archibald mirrors and enters
// orders into. It speaks the ERP's protocol (DESIGN.md §5) over HTTP and behaves like the
// real ERP in the ways that matter to the backend:
//
//   - one session per user: a new login ends the user's previous session;
//   - the requests of a session are served one at a time, in arrival order, each taking a
//     service time (list pages PageTime, order steps StepTime, with jitter); a request
//     whose client goes away still holds its session for its service time;
//   - view state: a list request moves the session's view away from an open order form,
//     and the next step on that draft fails with 409 view_lost (nothing is saved);
//   - data generated from a seed, changed on demand (mutations), and injectable faults.
//
// Decisions the design left open: a step on a draft the server does not know (never
// created, discarded, or another session's) is 409 view_lost, because the ERP cannot tell
// those apart; a list request without a page parameter reads page 1; a page that is not a
// number is 400 page_out_of_range; a list request moves the view even when its page is out
// of range; a request failed by the errorRate fault answers 503 at once, without queueing;
// a request still queued when its client leaves is served all the same, in its turn
// (it holds the session and has its effect), while a hung page ends with its client.
package erpsim

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"archibald"
)

// Config configures a Server. The zero value of a field means its default, except for
// the durations and Jitter, whose zero means none.
type Config struct {
	Seed      int64 // data seed; 0 means 1
	Customers int   // customers; default 1200
	// Products is the number of product variants (default 4500: about 3,900 article
	// codes in about 70 groups, one price per article).
	Products int
	PageSize int // rows a page; default 20

	PageTime time.Duration // service time of a list request (customers, products, prices, orders)
	StepTime time.Duration // service time of an order step (new, customer, line, save)
	Jitter   float64       // ± fraction of the service time, 0 ≤ Jitter < 1 (0.1 = ±10%)

	// Username and Password are the one account; with Users they add to its accounts.
	// Without any account the simulator accepts "agent" / "secret".
	Username, Password string
	Users              map[string]string // more accounts: username → password

	SessionTTL time.Duration // idle time after which a session expires; 0 = never
	Logger     *slog.Logger  // nil discards
}

// Default sizes.
const (
	DefaultCustomers = 1200
	DefaultProducts  = 4500
	DefaultPageSize  = 20
	DefaultUsername  = "agent"
	DefaultPassword  = "secret"
	maxBody          = 1 << 20
)

// Stats counts what the simulator did.
type Stats struct {
	Requests int64 `json:"requests"` // every non-admin request, failed ones included
	ViewLost int64 `json:"viewLost"` // order steps that got 409 view_lost
	Orders   int64 `json:"orders"`   // orders saved
	Sessions int64 `json:"sessions"` // live sessions
	Drafts   int64 `json:"drafts"`   // open order forms
}

// Order is an order saved in the ERP.
type Order struct {
	OrderID    string      `json:"orderId"`
	Reference  string      `json:"reference"`
	CustomerID string      `json:"customerId"`
	Lines      []OrderLine `json:"lines"`
	CreatedAt  time.Time   `json:"createdAt"`
}

// OrderLine is one line of an order: a product variant.
type OrderLine struct {
	VariantID   string  `json:"variantId"`
	Quantity    int     `json:"quantity"`
	DiscountPct float64 `json:"discountPct"`
}

// Server is the simulated ERP. It is an http.Handler serving /erp/...; every method is
// safe for concurrent use.
type Server struct {
	// immutable after New
	cfg    Config
	users  map[string]string
	log    *slog.Logger
	closed chan struct{} // closed by Close

	closeOnce sync.Once
	requests  atomic.Int64

	rtMu       sync.Mutex
	rtClosed   bool           // guarded by rtMu: no more round trips after Close
	roundTrips sync.WaitGroup // handlers run by RoundTripper; Close waits for them

	mu sync.Mutex
	// guarded by mu
	data          dataset
	pages         map[pageKey][]byte // encoded pages of the current data
	sessions      map[string]*session
	byUser        map[string]*session
	orders        []Order
	draftSeq      int
	viewLost      int64
	mutations     int
	faults        Faults
	faultsChanged chan struct{} // closed and replaced whenever the faults change
	rng           *mrand.Rand   // jitter and error rate
}

type pageKey struct {
	list string
	page int
}

// session is one login. Its requests are served one at a time: each request waits for
// the one queued before it (tail) to finish.
type session struct {
	token, user string

	// guarded by Server.mu
	ended    bool
	lastUsed time.Time
	tail     chan struct{} // closed when the last queued request is done; nil when idle
	draft    *draft        // the open order form, when the view is one
}

type draft struct {
	id         string
	customerID string
	lines      []OrderLine
}

// New validates cfg, fills in its defaults and generates the data from the seed.
func New(cfg Config) (*Server, error) {
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	for _, f := range []struct {
		name     string
		v        *int
		def, max int
	}{
		{"Customers", &cfg.Customers, DefaultCustomers, 500000},
		{"Products", &cfg.Products, DefaultProducts, 2000000},
		{"PageSize", &cfg.PageSize, DefaultPageSize, 10000},
	} {
		if *f.v == 0 {
			*f.v = f.def
		}
		if *f.v < 0 || *f.v > f.max {
			return nil, fmt.Errorf("erpsim: %s must be between 1 and %d, got %d", f.name, f.max, *f.v)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"PageTime", cfg.PageTime}, {"StepTime", cfg.StepTime}, {"SessionTTL", cfg.SessionTTL}} {
		if d.v < 0 {
			return nil, fmt.Errorf("erpsim: %s must not be negative, got %v", d.name, d.v)
		}
	}
	if !(cfg.Jitter >= 0 && cfg.Jitter < 1) {
		return nil, fmt.Errorf("erpsim: Jitter must be at least 0 and below 1, got %v", cfg.Jitter)
	}
	users := make(map[string]string, len(cfg.Users)+1)
	for u, p := range cfg.Users {
		users[u] = p
	}
	if cfg.Username != "" || cfg.Password != "" {
		users[cfg.Username] = cfg.Password
	}
	if len(users) == 0 {
		users[DefaultUsername] = DefaultPassword
	}
	for u, p := range users {
		if u == "" {
			return nil, errors.New("erpsim: an account has an empty username")
		}
		if p == "" {
			return nil, fmt.Errorf("erpsim: account %q has an empty password", u)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:           cfg,
		users:         users,
		log:           log,
		closed:        make(chan struct{}),
		data:          generate(cfg),
		pages:         make(map[pageKey][]byte),
		sessions:      make(map[string]*session),
		byUser:        make(map[string]*session),
		faultsChanged: make(chan struct{}),
		rng:           mrand.New(mrand.NewPCG(uint64(cfg.Seed), 0x6a6974746572)), // "jitter"
	}
	return s, nil
}

// Close ends the hung and queued requests (they answer 503 unavailable) and waits for the
// in-memory round trips to finish; later round trips fail. After Close, a request that
// would wait (queued or for its service time) answers 503 at once. Safe to call twice.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
	s.rtMu.Lock()
	s.rtClosed = true
	s.rtMu.Unlock()
	s.roundTrips.Wait()
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Requests: s.requests.Load(), ViewLost: s.viewLost, Orders: int64(len(s.orders))}
	now := time.Now()
	for _, sess := range s.sessions {
		if s.expired(sess, now) {
			s.endSession(sess)
			continue
		}
		st.Sessions++
		if sess.draft != nil {
			st.Drafts++
		}
	}
	return st
}

// Customers returns a copy of the customers, in list order (by id).
func (s *Server) Customers() []archibald.Customer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]archibald.Customer(nil), s.data.customers...)
}

// Products returns a copy of the product variants, in list order (by variant id).
func (s *Server) Products() []archibald.Product {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]archibald.Product(nil), s.data.products...)
}

// Prices returns a copy of the prices, in list order (by article code).
func (s *Server) Prices() []archibald.Price {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]archibald.Price(nil), s.data.prices...)
}

// Orders returns the saved orders, oldest first.
func (s *Server) Orders() []Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Order, len(s.orders))
	for i, o := range s.orders {
		o.Lines = append([]OrderLine(nil), o.Lines...)
		out[i] = o
	}
	return out
}

// Mutate changes the data as the admin endpoint does and returns what it did. A zero
// Mutation means DefaultMutation. The changes are drawn from the seed and the number of
// earlier mutations, so the same sequence of calls gives the same data.
func (s *Server) Mutate(m Mutation) Mutation {
	if m == (Mutation{}) {
		m = DefaultMutation()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mutations++
	rng := mrand.New(mrand.NewPCG(uint64(s.cfg.Seed), 0x6d757461746500+uint64(s.mutations)))
	did := s.data.mutate(rng, m, s.mutations)
	clear(s.pages)
	s.log.Info("erpsim: data mutated", "round", s.mutations, "customers", did.Customers, "products", did.Products, "prices", did.Prices)
	return did
}

// SetFaults replaces the faults. Requests hung by the previous faults are released.
func (s *Server) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("erpsim: faults: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	close(s.faultsChanged)
	s.faultsChanged = make(chan struct{})
	s.log.Info("erpsim: faults set", "errorRate", f.ErrorRate, "slowPages", len(f.SlowPages), "hangPages", len(f.HangPages))
	return nil
}

// ClearFaults removes every fault and releases the hung requests.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = Faults{}
	close(s.faultsChanged)
	s.faultsChanged = make(chan struct{})
}

// Faults returns the faults in force.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// ExpireSessions ends every session now; their next requests get 401 session_expired.
func (s *Server) ExpireSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sess := range s.sessions {
		s.endSession(sess)
	}
}

// endSession ends sess and drops its draft. Caller holds mu.
func (s *Server) endSession(sess *session) {
	sess.ended = true
	sess.draft = nil
	delete(s.sessions, sess.token)
	if s.byUser[sess.user] == sess {
		delete(s.byUser, sess.user)
	}
}

// expired reports whether sess has been idle longer than the TTL. Caller holds mu.
func (s *Server) expired(sess *session, now time.Time) bool {
	return s.cfg.SessionTTL > 0 && now.Sub(sess.lastUsed) > s.cfg.SessionTTL
}

// ---- HTTP ----

// apiError is an error answer of the protocol.
type apiError struct {
	status int
	code   string
	msg    string
}

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeValue(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, errorf(http.StatusInternalServerError, "internal", "encoding the answer: %v", err))
		return
	}
	writeJSON(w, status, body)
}

func writeError(w http.ResponseWriter, e *apiError) {
	body, _ := json.Marshal(struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}{e.code, e.msg})
	writeJSON(w, e.status, body)
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow ...string) {
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeError(w, errorf(http.StatusMethodNotAllowed, "method_not_allowed", "%s %s: allowed %s", r.Method, r.URL.Path, strings.Join(allow, ", ")))
}

var errUnavailable = errorf(http.StatusServiceUnavailable, "unavailable", "the ERP is shutting down")

// ServeHTTP serves the protocol under /erp/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if rest, ok := strings.CutPrefix(path, "/erp/_admin/"); ok {
		s.serveAdmin(w, r, rest)
		return
	}
	s.requests.Add(1)
	op, allow, e := s.route(r)
	switch {
	case e != nil:
		writeError(w, e)
		return
	case allow != "":
		methodNotAllowed(w, r, allow)
		return
	}
	if s.injectFailure() {
		writeError(w, errorf(http.StatusServiceUnavailable, "unavailable", "the ERP is temporarily unavailable (injected fault)"))
		return
	}
	if op.login {
		s.login(w, r)
		return
	}
	sess := s.liveSession(r)
	if sess == nil {
		writeError(w, errorf(http.StatusUnauthorized, "session_expired", "no live session: log in again"))
		return
	}
	if op.decode != nil {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if err := op.decode(r.Body); err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("body: empty, want a JSON object")
			}
			writeError(w, errorf(http.StatusBadRequest, "bad_request", "%v", err))
			return
		}
	}
	s.serveInSession(w, r, sess, op)
}

// operation is a routed session request.
type operation struct {
	login  bool
	step   bool                   // an order step (StepTime) rather than a list (PageTime)
	decode func(io.Reader) error  // reads the request body, if any
	run    func(*session) outcome // does the work; called with mu held
}

// outcome is a request's answer and how long the session is held for it.
type outcome struct {
	status int
	body   []byte
	err    *apiError
	extra  time.Duration   // added to the service time (slow page fault)
	hang   <-chan struct{} // non-nil: hang until it is closed (faults changed) or the client leaves
}

func (s *Server) route(r *http.Request) (op operation, allow string, e *apiError) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	want := func(method string) bool {
		if r.Method != method {
			allow = method
			return false
		}
		return true
	}
	switch path {
	case "/erp/login":
		if want(http.MethodPost) {
			op.login = true
		}
		return op, allow, nil
	case "/erp/customers", "/erp/products", "/erp/prices":
		if want(http.MethodGet) {
			list := strings.TrimPrefix(path, "/erp/")
			page := r.URL.Query().Get("page")
			op.run = func(sess *session) outcome { return s.listPage(sess, list, page) }
		}
		return op, allow, nil
	case "/erp/orders":
		if want(http.MethodGet) {
			ref := r.URL.Query().Get("reference")
			op.run = func(sess *session) outcome { return s.findOrders(sess, ref) }
		}
		return op, allow, nil
	case "/erp/orders/new":
		if want(http.MethodPost) {
			op.step = true
			op.run = s.newDraft
		}
		return op, allow, nil
	}
	rest, ok := strings.CutPrefix(path, "/erp/orders/")
	if id, action, found := strings.Cut(rest, "/"); ok && found && id != "" && !strings.Contains(action, "/") {
		op.step = true
		switch action {
		case "customer":
			var body struct {
				CustomerID string `json:"customerId"`
			}
			op.decode = func(r io.Reader) error {
				if err := decodeBody(r, &body); err != nil {
					return err
				}
				if body.CustomerID == "" {
					return errors.New("customerId: required")
				}
				return nil
			}
			op.run = func(sess *session) outcome { return s.setCustomer(sess, id, body.CustomerID) }
		case "lines":
			var body struct {
				VariantID   string   `json:"variantId"`
				Quantity    *int     `json:"quantity"`
				DiscountPct *float64 `json:"discountPct"`
			}
			op.decode = func(r io.Reader) error {
				if err := decodeBody(r, &body); err != nil {
					return err
				}
				switch {
				case body.VariantID == "":
					return errors.New("variantId: required")
				case body.Quantity == nil:
					return errors.New("quantity: required")
				}
				return nil
			}
			op.run = func(sess *session) outcome {
				line := OrderLine{VariantID: body.VariantID, Quantity: *body.Quantity}
				if body.DiscountPct != nil {
					line.DiscountPct = *body.DiscountPct
				}
				return s.addLine(sess, id, line)
			}
		case "save":
			var body struct {
				Reference string `json:"reference"`
			}
			op.decode = func(r io.Reader) error {
				err := decodeBody(r, &body)
				if errors.Is(err, io.EOF) {
					return nil // no body: an order without reference
				}
				return err
			}
			op.run = func(sess *session) outcome { return s.save(sess, id, body.Reference) }
		default:
			return op, "", errorf(http.StatusNotFound, "not_found", "no such route: %s %s", r.Method, r.URL.Path)
		}
		if !want(http.MethodPost) {
			op = operation{}
		}
		return op, allow, nil
	}
	return op, "", errorf(http.StatusNotFound, "not_found", "no such route: %s %s", r.Method, r.URL.Path)
}

// decodeBody reads a JSON request body; an empty body is io.EOF.
func decodeBody(r io.Reader, v any) error {
	err := decodeStrict(r, v)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return fmt.Errorf("body: larger than %d bytes", tooLarge.Limit)
	}
	return err
}

// injectFailure draws whether this request fails by the errorRate fault.
func (s *Server) injectFailure() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.ErrorRate > 0 && s.rng.Float64() < s.faults.ErrorRate
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := decodeBody(http.MaxBytesReader(w, r.Body, maxBody), &body); err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("body: want {\"username\",\"password\"}")
		}
		writeError(w, errorf(http.StatusBadRequest, "bad_request", "%v", err))
		return
	}
	want, ok := s.users[body.Username]
	if !ok || subtle.ConstantTimeCompare([]byte(want), []byte(body.Password)) != 1 {
		writeError(w, errorf(http.StatusUnauthorized, "invalid_credentials", "wrong username or password"))
		return
	}
	sess := &session{token: rand.Text(), user: body.Username, lastUsed: time.Now()}
	s.mu.Lock()
	if old := s.byUser[body.Username]; old != nil {
		s.endSession(old)
	}
	s.sessions[sess.token] = sess
	s.byUser[sess.user] = sess
	s.mu.Unlock()
	s.log.Debug("erpsim: login", "user", body.Username)
	http.SetCookie(w, &http.Cookie{Name: "ERPSESSION", Value: sess.token, Path: "/erp", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	writeValue(w, http.StatusOK, map[string]string{"username": body.Username})
}

// liveSession returns the request's session, or nil when it has none that is live.
func (s *Server) liveSession(r *http.Request) *session {
	c, err := r.Cookie("ERPSESSION")
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[c.Value]
	if sess == nil {
		return nil
	}
	now := time.Now()
	if s.expired(sess, now) {
		s.endSession(sess)
		return nil
	}
	sess.lastUsed = now
	return sess
}

// serveInSession queues the request behind the session's earlier ones, does its work,
// holds the session for the service time and answers.
func (s *Server) serveInSession(w http.ResponseWriter, r *http.Request, sess *session, op operation) {
	done := make(chan struct{})
	s.mu.Lock()
	prev := sess.tail
	sess.tail = done
	s.mu.Unlock()
	var once sync.Once
	release := func() {
		once.Do(func() {
			s.mu.Lock()
			if sess.tail == done {
				sess.tail = nil
			}
			sess.lastUsed = time.Now()
			s.mu.Unlock()
			close(done)
		})
	}
	defer release()

	if prev != nil {
		select {
		case <-prev:
		case <-s.closed:
			writeError(w, errUnavailable)
			return
		}
	}

	s.mu.Lock()
	if sess.ended {
		s.mu.Unlock()
		release()
		writeError(w, errorf(http.StatusUnauthorized, "session_expired", "the session ended (a newer login, or expiry): log in again"))
		return
	}
	out := op.run(sess)
	service := s.cfg.PageTime
	if op.step {
		service = s.cfg.StepTime
	}
	service = s.jitter(service) + out.extra
	s.mu.Unlock()

	if out.hang != nil {
		select {
		case <-out.hang: // faults changed: answer now
		case <-r.Context().Done():
			return // the client left: the hang ends and frees the session
		case <-s.closed:
			writeError(w, errUnavailable)
			return
		}
	} else if service > 0 {
		// The client going away does not end the work: the session stays held.
		t := time.NewTimer(service)
		select {
		case <-t.C:
		case <-s.closed:
			t.Stop()
			writeError(w, errUnavailable)
			return
		}
	}
	release()
	if out.err != nil {
		writeError(w, out.err)
		return
	}
	writeJSON(w, out.status, out.body)
}

// jitter spreads d by ±Jitter. Caller holds mu.
func (s *Server) jitter(d time.Duration) time.Duration {
	if d <= 0 || s.cfg.Jitter == 0 {
		return d
	}
	return time.Duration(float64(d) * (1 + s.cfg.Jitter*(2*s.rng.Float64()-1)))
}

// moveView moves the session's view to a list, discarding an open order form. Caller
// holds mu.
func (s *Server) moveView(sess *session) { sess.draft = nil }

func ok(v any) outcome {
	body, err := json.Marshal(v)
	if err != nil {
		return outcome{err: errorf(http.StatusInternalServerError, "internal", "encoding the answer: %v", err)}
	}
	return outcome{status: http.StatusOK, body: body}
}

func fail(e *apiError) outcome { return outcome{err: e} }

type pageAnswer[T any] struct {
	Page       int `json:"page"`
	PageSize   int `json:"pageSize"`
	TotalPages int `json:"totalPages"`
	TotalRows  int `json:"totalRows"`
	Rows       []T `json:"rows"`
}

func encodePage[T any](rows []T, page, size int) ([]byte, int, *apiError) {
	total := max(1, (len(rows)+size-1)/size)
	if page < 1 || page > total {
		return nil, total, errorf(http.StatusBadRequest, "page_out_of_range", "page %d is out of range 1..%d", page, total)
	}
	lo, hi := (page-1)*size, min(page*size, len(rows))
	if lo > hi {
		lo = hi
	}
	pageRows := rows[lo:hi:hi]
	if pageRows == nil {
		pageRows = []T{} // an empty list has one empty page: "rows":[]
	}
	body, err := json.Marshal(pageAnswer[T]{Page: page, PageSize: size, TotalPages: total, TotalRows: len(rows), Rows: pageRows})
	if err != nil {
		return nil, total, errorf(http.StatusInternalServerError, "internal", "encoding the page: %v", err)
	}
	return body, total, nil
}

// listPage answers a page of a list. Caller holds mu.
func (s *Server) listPage(sess *session, list, pageParam string) outcome {
	s.moveView(sess)
	page := 1
	if pageParam != "" {
		n, err := strconv.Atoi(pageParam)
		if err != nil {
			return fail(errorf(http.StatusBadRequest, "page_out_of_range", "page %q is not a page number", pageParam))
		}
		page = n
	}
	key := pageKey{list, page}
	body, cached := s.pages[key]
	if !cached {
		var e *apiError
		switch list {
		case "customers":
			body, _, e = encodePage(s.data.customers, page, s.cfg.PageSize)
		case "products":
			body, _, e = encodePage(s.data.products, page, s.cfg.PageSize)
		default:
			body, _, e = encodePage(s.data.prices, page, s.cfg.PageSize)
		}
		if e != nil {
			return fail(e)
		}
		s.pages[key] = body
	}
	out := outcome{status: http.StatusOK, body: body}
	if p, ok := s.faults.SlowPages[list]; ok && p.Page == page {
		out.extra = p.Delay
	}
	if p, ok := s.faults.HangPages[list]; ok && p.Page == page {
		out.hang = s.faultsChanged
	}
	return out
}

// findOrders answers the saved orders with a reference. Caller holds mu.
func (s *Server) findOrders(sess *session, ref string) outcome {
	s.moveView(sess)
	if ref == "" {
		return fail(errorf(http.StatusBadRequest, "bad_request", "reference: required"))
	}
	found := []Order{}
	for _, o := range s.orders {
		if o.Reference == ref {
			found = append(found, o)
		}
	}
	return ok(map[string][]Order{"orders": found})
}

func (s *Server) newDraft(sess *session) outcome {
	s.draftSeq++
	sess.draft = &draft{id: fmt.Sprintf("D%06d", s.draftSeq)}
	return ok(map[string]string{"draft": sess.draft.id})
}

// currentDraft returns the session's draft if id is its current view; otherwise it
// counts a view loss. Caller holds mu.
func (s *Server) currentDraft(sess *session, id string) (*draft, *apiError) {
	if sess.draft == nil || sess.draft.id != id {
		s.viewLost++
		return nil, errorf(http.StatusConflict, "view_lost", "draft %s is no longer the open form: it was discarded", id)
	}
	return sess.draft, nil
}

func (s *Server) setCustomer(sess *session, id, customerID string) outcome {
	d, e := s.currentDraft(sess, id)
	if e != nil {
		return fail(e)
	}
	if _, found := s.data.customer(customerID); !found {
		return fail(errorf(http.StatusNotFound, "unknown_customer", "customer %q does not exist", customerID))
	}
	d.customerID = customerID
	return ok(map[string]string{"draft": d.id, "customerId": customerID})
}

func (s *Server) addLine(sess *session, id string, line OrderLine) outcome {
	d, e := s.currentDraft(sess, id)
	if e != nil {
		return fail(e)
	}
	p, found := s.data.product(line.VariantID)
	if !found {
		return fail(errorf(http.StatusNotFound, "unknown_variant", "product variant %q does not exist", line.VariantID))
	}
	if e := checkLine(p, line); e != nil {
		return fail(e)
	}
	d.lines = append(d.lines, line)
	return ok(map[string]int{"line": len(d.lines)})
}

func checkLine(p archibald.Product, line OrderLine) *apiError {
	if !p.AcceptsQuantity(line.Quantity) {
		return errorf(http.StatusUnprocessableEntity, "invalid_quantity",
			"quantity %d is not valid for variant %s (article %s, package of %d): it must be a multiple of %d from %d to %d",
			line.Quantity, p.ID, p.ArticleCode, p.PackageContent, max(1, p.MultipleQty), p.MinQty, p.MaxQty)
	}
	if !(line.DiscountPct >= 0 && line.DiscountPct <= 100) {
		return errorf(http.StatusUnprocessableEntity, "invalid_discount", "discountPct %v must be between 0 and 100", line.DiscountPct)
	}
	return nil
}

func (s *Server) save(sess *session, id, reference string) outcome {
	d, e := s.currentDraft(sess, id)
	if e != nil {
		return fail(e)
	}
	switch {
	case d.customerID == "":
		return fail(errorf(http.StatusUnprocessableEntity, "incomplete_order", "draft %s has no customer", d.id))
	case len(d.lines) == 0:
		return fail(errorf(http.StatusUnprocessableEntity, "incomplete_order", "draft %s has no lines", d.id))
	}
	// The data may have changed since the steps: the ERP checks again when saving.
	if _, found := s.data.customer(d.customerID); !found {
		return fail(errorf(http.StatusNotFound, "unknown_customer", "customer %q no longer exists", d.customerID))
	}
	for _, l := range d.lines {
		if _, found := s.data.product(l.VariantID); !found {
			return fail(errorf(http.StatusNotFound, "unknown_variant", "product variant %q no longer exists", l.VariantID))
		}
	}
	o := Order{
		OrderID:    fmt.Sprintf("ORD-%06d", len(s.orders)+1),
		Reference:  reference,
		CustomerID: d.customerID,
		Lines:      d.lines,
		CreatedAt:  time.Now().UTC().Truncate(time.Millisecond),
	}
	s.orders = append(s.orders, o)
	sess.draft = nil
	s.log.Debug("erpsim: order saved", "orderId", o.OrderID, "reference", reference, "lines", len(o.Lines))
	return ok(map[string]string{"orderId": o.OrderID})
}

// ---- admin ----

func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request, what string) {
	switch strings.TrimSuffix(what, "/") {
	case "stats":
		if r.Method != http.MethodGet {
			methodNotAllowed(w, r, http.MethodGet)
			return
		}
		writeValue(w, http.StatusOK, s.Stats())
	case "mutate":
		if r.Method != http.MethodPost {
			methodNotAllowed(w, r, http.MethodPost)
			return
		}
		var m Mutation
		err := decodeBody(http.MaxBytesReader(w, r.Body, maxBody), &m)
		switch {
		case errors.Is(err, io.EOF):
			m = DefaultMutation()
		case err != nil:
			writeError(w, errorf(http.StatusBadRequest, "bad_request", "%v", err))
			return
		}
		if err := m.validate(); err != nil {
			writeError(w, errorf(http.StatusBadRequest, "bad_request", "%v", err))
			return
		}
		if m == (Mutation{}) {
			// An explicit all-zero body does nothing, unlike Mutate's zero value.
			writeValue(w, http.StatusOK, m)
			return
		}
		writeValue(w, http.StatusOK, s.Mutate(m))
	case "faults":
		switch r.Method {
		case http.MethodGet:
			writeValue(w, http.StatusOK, s.Faults())
		case http.MethodPost, http.MethodPut:
			f, err := decodeFaults(http.MaxBytesReader(w, r.Body, maxBody))
			if err == nil {
				err = s.SetFaults(f)
			}
			if err != nil {
				writeError(w, errorf(http.StatusBadRequest, "bad_request", "%s", strings.TrimPrefix(err.Error(), "erpsim: faults: ")))
				return
			}
			writeValue(w, http.StatusOK, f)
		case http.MethodDelete:
			s.ClearFaults()
			writeValue(w, http.StatusOK, Faults{})
		default:
			methodNotAllowed(w, r, http.MethodGet, http.MethodPost, http.MethodDelete)
		}
	default:
		writeError(w, errorf(http.StatusNotFound, "not_found", "no such route: %s %s", r.Method, r.URL.Path))
	}
}
