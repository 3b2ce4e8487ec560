// Package erp is the client of the ERP: one logged-in session per ERP account, the list
// pages the sync services mirror, and the order-entry steps the bot takes.
//
// The ERP serves one request of a session at a time, so a Session sends one request at
// a time and orders the waiting ones: foreground (order steps) before background (list
// pages), first come first served within each class. The background class is a
// priority.Pausable: a pause withdraws the waiting background requests (ErrWithdrawn) and
// refuses new ones at once, so an order waits at most for the one request the ERP is
// serving.
//
// Credentials never appear in errors or logs: not the password, not the session cookie.
package erp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"archibald"
	"archibald/priority"
)

// Config configures a Session.
type Config struct {
	// BaseURL is where the ERP is served, without the /erp prefix, e.g.
	// http://127.0.0.1:9090. It must not carry credentials.
	BaseURL string
	// Username and Password are the ERP account the session logs in with.
	Username string
	Password string
	// HTTPClient sends the requests. Optional: the default has dial, TLS handshake and
	// response-header timeouts and keeps connections alive. A client given here should
	// have no cookie Jar: the Session sends the session cookie itself.
	HTTPClient *http.Client
	// Logger receives the session's logs (logins at Info, each request at Debug).
	// Optional: the default discards.
	Logger *slog.Logger
	// StallAfter is how long a request may go unanswered before Ping reports the ERP
	// as not answering. Optional: default 30s.
	StallAfter time.Duration
}

// String describes the configuration without the password, so that printing a Config
// by mistake leaks nothing.
func (c Config) String() string {
	return fmt.Sprintf("erp.Config{BaseURL: %q, Username: %q, Password: %s}", c.BaseURL, c.Username, redactedIfSet(c.Password))
}

// LogValue logs the configuration without the password.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("baseURL", c.BaseURL),
		slog.String("username", c.Username),
		slog.String("password", redactedIfSet(c.Password)),
	)
}

func redactedIfSet(s string) string {
	if s == "" {
		return "(empty)"
	}
	return "[REDACTED]"
}

// Page is one page of an ERP list.
type Page[T any] struct {
	Page       int `json:"page"`
	PageSize   int `json:"pageSize"`
	TotalPages int `json:"totalPages"`
	TotalRows  int `json:"totalRows"`
	Rows       []T `json:"rows"`
}

// Line is one line of an order as the ERP takes it: a product variant, a quantity the
// variant accepts, and a discount in percent (0 to 100).
type Line struct {
	VariantID   string  `json:"variantId"`
	Quantity    int     `json:"quantity"`
	DiscountPct float64 `json:"discountPct"`
}

// Order is an order saved in the ERP.
type Order struct {
	OrderID    string    `json:"orderId"`
	Reference  string    `json:"reference"`
	CustomerID string    `json:"customerId"`
	Lines      []Line    `json:"lines"`
	CreatedAt  time.Time `json:"createdAt"`
}

// SessionStats counts what a Session did. Counters only grow.
type SessionStats struct {
	Requests          int64 // HTTP requests sent to the ERP, logins included
	Logins            int64 // login requests sent (answered or not)
	Relogins          int64 // logins after the ERP answered session_expired
	Withdrawn         int64 // background requests withdrawn or refused by a pause
	WaitingForeground int   // requests waiting for the slot now
	WaitingBackground int
	Busy              bool // a request holds the slot now
	Paused            int  // outstanding pauses of the background class
	LoggedIn          bool
}

// Session is one ERP session: a login, its cookie and the queue of requests in front of
// it. It is safe for concurrent use.
type Session struct {
	// immutable after NewSession
	base      string // BaseURL without a trailing slash
	username  string
	password  string
	client    *http.Client
	ownClient bool // the default client, whose idle connections Close releases
	log       *slog.Logger

	// slot serialises the requests; it has its own lock.
	slot slot

	// owned by the holder of the slot
	cookie string // the ERPSESSION value; empty when not logged in

	// read without the slot (Stats, the Ping fast path)
	loggedIn atomic.Bool
	requests atomic.Int64
	logins   atomic.Int64
	relogins atomic.Int64

	// health, written by the holder of the slot, read by Ping: unix nanoseconds, 0 for never
	stallAfter    time.Duration         // immutable after NewSession
	sentAt        atomic.Int64          // when the request in flight was sent; 0 when none is
	lastAnswered  atomic.Int64          // when the ERP last gave an answer that was not a 5xx
	lastFailed    atomic.Int64          // when a request last failed: no answer, or a 5xx
	lastFailedErr atomic.Pointer[error] // the error of that failure
}

// The Session's background class is what the priority manager pauses (as "erp").
var _ priority.Pausable = (*Session)(nil)

// NewSession checks cfg and returns a Session. It does not log in: the first request
// does, or Login.
func NewSession(cfg Config) (*Session, error) {
	if cfg.BaseURL == "" {
		return nil, archibald.FieldErrorf("BaseURL", "must not be empty (e.g. http://127.0.0.1:9090)")
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil {
		// url's error quotes the URL; BaseURL carries no password once checked below,
		// but it is not checked yet, so the message does not repeat it.
		return nil, archibald.FieldErrorf("BaseURL", "is not a valid URL (e.g. http://127.0.0.1:9090)")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, archibald.FieldErrorf("BaseURL", "must start with http:// or https://")
	case u.Host == "":
		return nil, archibald.FieldErrorf("BaseURL", "has no host")
	case u.User != nil:
		return nil, archibald.FieldErrorf("BaseURL", "must not carry credentials: set Username and Password")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, archibald.FieldErrorf("BaseURL", "must not have a query or a fragment")
	}
	if cfg.Username == "" {
		return nil, archibald.FieldErrorf("Username", "must not be empty")
	}
	base := u.String()
	for len(base) > 0 && base[len(base)-1] == '/' {
		base = base[:len(base)-1]
	}
	s := &Session{
		base:     base,
		username: cfg.Username,
		password: cfg.Password,
		client:   cfg.HTTPClient,
		log:      cfg.Logger,

		stallAfter: cfg.StallAfter,
	}
	if s.stallAfter <= 0 {
		s.stallAfter = 30 * time.Second
	}
	if s.client == nil {
		s.client, s.ownClient = defaultClient(), true
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// defaultClient bounds every phase up to the response header (a dead ERP must not hang a
// call whose ctx has no deadline) but not the body, and keeps connections alive: the
// session sends one request at a time, so two idle connections are plenty. It does not
// follow redirects: the ERP's API never redirects, and following one would turn a POST
// into a GET elsewhere.
func defaultClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment,
			DialContext: (&net.Dialer{
				Timeout:   10 * time.Second,
				KeepAlive: 30 * time.Second,
			}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 60 * time.Second,
			ExpectContinueTimeout: time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConns:          8,
			MaxIdleConnsPerHost:   2,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// CloseIdleConnections closes the idle connections of the session's HTTP client (only
// when it is the default one: a client given in Config belongs to the caller). The
// Session stays usable.
func (s *Session) CloseIdleConnections() {
	if s.ownClient {
		s.client.CloseIdleConnections()
	}
}

type foregroundKey struct{}

// WithForeground marks ctx so that list calls made with it are foreground requests:
// served before the background ones and never withdrawn by a pause. Order calls are
// always foreground.
func WithForeground(ctx context.Context) context.Context {
	return context.WithValue(ctx, foregroundKey{}, true)
}

func listClass(ctx context.Context) class {
	if fg, _ := ctx.Value(foregroundKey{}).(bool); fg {
		return foreground
	}
	return background
}

// Login logs in now unless the session is logged in already. Requests log in by
// themselves when needed; Login is for finding bad credentials at start. It is a
// foreground request.
func (s *Session) Login(ctx context.Context) error {
	if s.loggedIn.Load() {
		return nil
	}
	if err := s.slot.acquire(ctx, foreground); err != nil {
		return &RequestError{Method: http.MethodPost, Path: loginPath, Err: waitError(err)}
	}
	defer s.slot.release()
	if s.cookie != "" {
		return nil // another caller logged in while this one waited
	}
	return s.login(ctx, false)
}

// Ping is the readiness check. The ERP has no health endpoint, and any request would
// disturb an order being entered (a list request moves the session's view, a new login
// ends the session), so Ping judges from the requests the session makes anyway:
//   - not logged in yet: it logs in, and returns the login's error;
//   - a request unanswered for longer than Config.StallAfter: the ERP is not answering;
//   - the latest outcome a failure (no answer, or a 5xx): that failure.
//
// The errors match ErrUnavailable.
func (s *Session) Ping(ctx context.Context) error {
	if !s.loggedIn.Load() && s.lastFailed.Load() == 0 {
		return s.Login(ctx)
	}
	now := time.Now().UnixNano()
	if sent := s.sentAt.Load(); sent != 0 && time.Duration(now-sent) > s.stallAfter {
		return &RequestError{Method: "PING", Path: "/erp", Err: fmt.Errorf("a request has gone unanswered for %v",
			time.Duration(now-sent).Round(time.Second)), kinds: []error{ErrUnavailable}}
	}
	if failed := s.lastFailed.Load(); failed != 0 && failed >= s.lastAnswered.Load() {
		var err error = errors.New("no answer")
		if p := s.lastFailedErr.Load(); p != nil {
			err = *p
		}
		return &RequestError{Method: "PING", Path: "/erp", Err: fmt.Errorf("the last request failed: %w", err),
			kinds: []error{ErrUnavailable}}
	}
	if !s.loggedIn.Load() {
		return s.Login(ctx)
	}
	return nil
}

// recordOutcome keeps what Ping judges from: whether the ERP answered the request just
// made. A ctx that ended says nothing about the ERP and is not recorded.
func (s *Session) recordOutcome(ctx context.Context, status int, err error) {
	s.sentAt.Store(0)
	now := time.Now().UnixNano()
	switch {
	case err == nil && status < 500:
		s.lastAnswered.Store(now)
	case ctx.Err() != nil:
	default:
		if err == nil {
			err = fmt.Errorf("HTTP %d", status)
		}
		s.lastFailedErr.Store(&err)
		s.lastFailed.Store(now)
	}
}

// Customers reads one page (1-based) of the customer list. A background request unless
// ctx is marked WithForeground.
func (s *Session) Customers(ctx context.Context, page int) (Page[archibald.Customer], error) {
	return listPage[archibald.Customer](ctx, s, "customers", page)
}

// Products reads one page of the product variants. Background, like Customers.
func (s *Session) Products(ctx context.Context, page int) (Page[archibald.Product], error) {
	return listPage[archibald.Product](ctx, s, "products", page)
}

// Prices reads one page of the price list. Background, like Customers.
func (s *Session) Prices(ctx context.Context, page int) (Page[archibald.Price], error) {
	return listPage[archibald.Price](ctx, s, "prices", page)
}

func listPage[T any](ctx context.Context, s *Session, list string, page int) (Page[T], error) {
	path := "/erp/" + list + "?page=" + strconv.Itoa(page)
	var p Page[T]
	if page < 1 {
		return p, &RequestError{Method: http.MethodGet, Path: path, Err: fmt.Errorf("page must be at least 1: %w", ErrPageOutOfRange)}
	}
	if err := s.do(ctx, listClass(ctx), http.MethodGet, path, nil, &p); err != nil {
		return Page[T]{}, err
	}
	if p.Page != page {
		return Page[T]{}, &RequestError{Method: http.MethodGet, Path: path, Err: fmt.Errorf("the ERP answered page %d", p.Page)}
	}
	return p, nil
}

// NewOrder opens a new order form and returns its draft id. The form becomes the
// session's view: any list request before Save discards it (ErrViewLost).
func (s *Session) NewOrder(ctx context.Context) (draft string, err error) {
	const path = "/erp/orders/new"
	var out struct {
		Draft string `json:"draft"`
	}
	if err := s.do(ctx, foreground, http.MethodPost, path, struct{}{}, &out); err != nil {
		return "", err
	}
	if out.Draft == "" {
		return "", &RequestError{Method: http.MethodPost, Path: path, Err: fmt.Errorf("the ERP answered no draft id")}
	}
	return out.Draft, nil
}

// SetCustomer sets the draft's customer. ErrUnknownCustomer, ErrViewLost.
func (s *Session) SetCustomer(ctx context.Context, draft, customerID string) error {
	path, err := draftPath(draft, "customer")
	if err == nil && customerID == "" {
		err = fmt.Errorf("customer id must not be empty: %w", ErrUnknownCustomer)
	}
	if err != nil {
		return &RequestError{Method: http.MethodPost, Path: path, Err: err}
	}
	in := struct {
		CustomerID string `json:"customerId"`
	}{customerID}
	return s.do(ctx, foreground, http.MethodPost, path, in, nil)
}

// AddLine adds a line to the draft and returns its number. ErrUnknownVariant,
// ErrInvalidQuantity (the ERP's message says what the variant accepts),
// ErrInvalidDiscount, ErrViewLost. Obviously wrong lines (no variant, a quantity below
// 1, a discount outside 0–100) are refused without asking the ERP.
func (s *Session) AddLine(ctx context.Context, draft string, l Line) (lineNo int, err error) {
	path, err := draftPath(draft, "lines")
	switch {
	case err != nil:
	case l.VariantID == "":
		err = fmt.Errorf("variant id must not be empty: %w", ErrUnknownVariant)
	case l.Quantity < 1:
		err = fmt.Errorf("quantity must be at least 1, got %d: %w", l.Quantity, ErrInvalidQuantity)
	case math.IsNaN(l.DiscountPct) || l.DiscountPct < 0 || l.DiscountPct > 100:
		err = fmt.Errorf("discount must be between 0 and 100 percent, got %v: %w", l.DiscountPct, ErrInvalidDiscount)
	}
	if err != nil {
		return 0, &RequestError{Method: http.MethodPost, Path: path, Err: err}
	}
	var out struct {
		Line int `json:"line"`
	}
	if err := s.do(ctx, foreground, http.MethodPost, path, l, &out); err != nil {
		return 0, err
	}
	if out.Line < 1 {
		return 0, &RequestError{Method: http.MethodPost, Path: path, Err: fmt.Errorf("the ERP answered line number %d", out.Line)}
	}
	return out.Line, nil
}

// Save saves the draft as an order carrying reference and returns the ERP's order id.
// The outcome is known when Save returns nil or an error that does not match
// ErrUnknownOutcome (ErrIncompleteOrder, ErrViewLost, …: nothing was saved). On
// ErrUnknownOutcome the order may exist: find it by reference before saving again.
func (s *Session) Save(ctx context.Context, draft, reference string) (orderID string, err error) {
	path, err := draftPath(draft, "save")
	if err == nil && reference == "" {
		err = fmt.Errorf("reference must not be empty: every order carries one, to be found again")
	}
	if err != nil {
		return "", &RequestError{Method: http.MethodPost, Path: path, Err: err}
	}
	in := struct {
		Reference string `json:"reference"`
	}{reference}
	var out struct {
		OrderID string `json:"orderId"`
	}
	if err := s.do(ctx, foreground, http.MethodPost, path, in, &out); err != nil {
		return "", err
	}
	if out.OrderID == "" {
		// Saved, most likely, but without an id we cannot tell: the caller must look.
		return "", &RequestError{Method: http.MethodPost, Path: path,
			Err: fmt.Errorf("the ERP answered no order id"), kinds: []error{ErrUnknownOutcome}}
	}
	return out.OrderID, nil
}

// FindOrders lists the saved orders carrying reference (none: an empty slice). It is a
// foreground request: the bot uses it to learn whether an interrupted Save went through.
// Like every list request it moves the session's view.
func (s *Session) FindOrders(ctx context.Context, reference string) ([]Order, error) {
	path := "/erp/orders?reference=" + url.QueryEscape(reference)
	if reference == "" {
		return nil, &RequestError{Method: http.MethodGet, Path: path, Err: fmt.Errorf("reference must not be empty")}
	}
	var out struct {
		Orders []Order `json:"orders"`
	}
	if err := s.do(ctx, foreground, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	if out.Orders == nil {
		out.Orders = []Order{}
	}
	return out.Orders, nil
}

func draftPath(draft, step string) (string, error) {
	if draft == "" {
		return "/erp/orders//" + step, fmt.Errorf("draft id must not be empty")
	}
	return "/erp/orders/" + url.PathEscape(draft) + "/" + step, nil
}

// Pause pauses the background class (counted): the waiting background requests are
// withdrawn and return ErrWithdrawn at once, and background requests made until the
// matching Resume fail at once the same way. It returns nil at once: it does not wait
// for the request the ERP is serving, which belongs to a batch the service's own gate
// waits for. Foreground requests are never affected.
func (s *Session) Pause(ctx context.Context) error {
	n := s.slot.pause()
	s.log.DebugContext(ctx, "erp background requests paused", "withdrawn", n)
	return nil
}

// Resume undoes one Pause; without one it does nothing.
func (s *Session) Resume() {
	if !s.slot.resume() {
		s.log.Warn("erp resume without a pause")
		return
	}
	s.log.Debug("erp background requests resumed")
}

// Stats returns the session's counters and the state of its queue.
func (s *Session) Stats() SessionStats {
	q := s.slot.stats()
	return SessionStats{
		Requests:          s.requests.Load(),
		Logins:            s.logins.Load(),
		Relogins:          s.relogins.Load(),
		Withdrawn:         q.withdrawn,
		WaitingForeground: q.waitingFG,
		WaitingBackground: q.waitingBG,
		Busy:              q.busy,
		Paused:            q.pauses,
		LoggedIn:          s.loggedIn.Load(),
	}
}
