// Package httpapi is the HTTP edge of archibald: the JSON API of DESIGN §7, the
// Server-Sent Events stream, the Prometheus metrics and the embedded status page.
//
// Every /api/* route except /api/health needs "Authorization: Bearer <token>"; the
// token is compared in constant time on SHA-256 digests, so neither its content nor its
// length leaks through timing. Errors are {"error":{"code","message","field"?}} with the
// archibald codes mapped to statuses here, at the edge. /metrics and the status page
// (with its script and style) are public: bind the server to a trusted address, or put
// /metrics behind the proxy's own access rules.
package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"archibald"
	"archibald/orders"
	"archibald/priority"
	"archibald/syncer"
)

// SyncService is one sync service as the API drives it. *syncer.Service implements it.
type SyncService interface {
	Name() string
	Status() syncer.Status
	RunNow()
	Pause(ctx context.Context) error
	Resume()
}

// OrderService takes and reports orders. *orders.Service implements it.
type OrderService interface {
	Submit(ctx context.Context, req orders.Request, idempotencyKey string) (archibald.Order, bool, error)
	Wait(ctx context.Context, id string) (archibald.Order, error)
	Order(ctx context.Context, id string) (archibald.Order, error)
}

// Pinger is checked by the readiness route. *erp.Session implements it.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Config configures a Server. Token, Manager, Orders and Store are required.
type Config struct {
	Token   string // bearer token for /api/* (except /api/health); required
	Manager *priority.Manager
	Orders  OrderService
	Store   archibald.Store // mirror reads, ListOrders, Ping (readiness)
	Syncs   []SyncService
	ERP     Pinger // optional: readiness skips the ERP when nil
	Logger  *slog.Logger

	HeartbeatInterval time.Duration // SSE heartbeat comment interval; default 15s
	MaxWait           time.Duration // cap of ?wait=; default 5m
}

// Route is one route of the API.
type Route struct {
	Method  string
	Pattern string // an http.ServeMux path pattern, e.g. /api/orders/{id}
	Public  bool   // served without the bearer token
}

const (
	defaultHeartbeat = 15 * time.Second
	defaultMaxWait   = 5 * time.Minute
	readyTimeout     = 2 * time.Second
	inboxSize        = 1024 // sync and order events waiting for the fan-out goroutine
	managerBuffer    = 256  // the manager's events waiting for the fan-out goroutine
)

// Server is the HTTP API. Make it with New, Start its event fan-out, Stop it at shutdown.
type Server struct {
	// immutable after New
	cfg      Config
	log      *slog.Logger
	tokenSum [sha256.Size]byte
	mux      *http.ServeMux
	routes   []Route
	syncs    map[string]SyncService
	registry *prometheus.Registry
	metrics  *metrics
	inbox    chan published // PublishSync/PublishOrder → the fan-out goroutine
	stopping chan struct{}  // closed by Stop: SSE streams end, no new holds

	lifeMu    sync.Mutex // guards the lifecycle
	started   bool
	stopped   bool
	cancelSub func()        // ends the manager subscription
	done      chan struct{} // closed when the fan-out goroutine returned

	mu sync.Mutex
	// guarded by mu
	closed  bool // Stop began: no new SSE client or hold
	clients map[*sseClient]struct{}
	holds   map[string]*hold

	sseWG  sync.WaitGroup // SSE handlers in flight (Add under mu while !closed)
	holdWG sync.WaitGroup // operator holds not yet released
}

// New checks cfg and builds the router and the metrics. It starts nothing.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Token == "":
		return nil, errors.New("httpapi: Config.Token is empty; every /api route needs a token")
	case cfg.Manager == nil:
		return nil, errors.New("httpapi: Config.Manager is nil")
	case cfg.Orders == nil:
		return nil, errors.New("httpapi: Config.Orders is nil")
	case cfg.Store == nil:
		return nil, errors.New("httpapi: Config.Store is nil")
	case cfg.HeartbeatInterval < 0, cfg.MaxWait < 0:
		return nil, errors.New("httpapi: negative HeartbeatInterval or MaxWait")
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = defaultHeartbeat
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = defaultMaxWait
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		tokenSum: sha256.Sum256([]byte(cfg.Token)),
		mux:      http.NewServeMux(),
		syncs:    make(map[string]SyncService, len(cfg.Syncs)),
		inbox:    make(chan published, inboxSize),
		stopping: make(chan struct{}),
		done:     make(chan struct{}),
		clients:  make(map[*sseClient]struct{}),
		holds:    make(map[string]*hold),
	}
	for _, svc := range cfg.Syncs {
		if svc == nil {
			return nil, errors.New("httpapi: Config.Syncs holds a nil service")
		}
		if _, dup := s.syncs[svc.Name()]; dup {
			return nil, fmt.Errorf("httpapi: two sync services are named %q", svc.Name())
		}
		s.syncs[svc.Name()] = svc
	}
	s.registry, s.metrics = newMetrics(s)
	s.routes = s.register()
	return s, nil
}

// register builds the route table and the mux from it.
func (s *Server) register() []Route {
	type entry struct {
		method, pattern string
		public          bool
		h               http.HandlerFunc
	}
	table := []entry{
		{"POST", "/api/orders/create", false, s.handleCreateOrder},
		{"POST", "/api/orders", false, s.handleCreateOrder},
		{"GET", "/api/orders", false, s.handleListOrders},
		{"GET", "/api/orders/{id}", false, s.handleGetOrder},
		{"GET", "/api/priority", false, s.handlePriority},
		{"POST", "/api/priority/pause", false, s.handleOperatorPause},
		{"DELETE", "/api/priority/pause/{holdId}", false, s.handleOperatorRelease},
		{"GET", "/api/sync", false, s.handleSyncList},
		{"POST", "/api/sync/{service}", false, s.handleSyncRun},
		{"POST", "/api/sync/{service}/pause", false, s.handleSyncPause},
		{"POST", "/api/sync/{service}/resume", false, s.handleSyncResume},
		{"GET", "/api/customers", false, s.handleCustomers},
		{"GET", "/api/products", false, s.handleProducts},
		{"GET", "/api/prices", false, s.handlePrices},
		{"GET", "/api/events", false, s.handleEvents},
		{"GET", "/api/health", true, s.handleHealth},
		{"GET", "/api/ready", false, s.handleReady},
		{"GET", "/metrics", true, s.handleMetrics()},
		{"GET", "/{$}", true, s.handleStatusPage},
		{"GET", "/static/{file}", true, s.handleStatic},
	}
	routes := make([]Route, 0, len(table))
	for _, e := range table {
		h := http.Handler(e.h)
		if !e.public {
			// EventSource cannot send headers, so the stream alone also takes ?access_token=.
			h = s.requireToken(h, e.pattern == "/api/events")
		}
		s.mux.Handle(e.method+" "+e.pattern, h)
		routes = append(routes, Route{Method: e.method, Pattern: e.pattern, Public: e.public})
	}
	return routes
}

// Routes lists the routes, so a test can walk them.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// Registry is the Prometheus registry /metrics serves.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// ServeHTTP is the whole router: security headers, request logging, panic recovery,
// and JSON bodies for unknown routes (404) and wrong methods (405 with Allow).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	w.Header().Set("X-Content-Type-Options", "nosniff")
	rec := &statusRecorder{ResponseWriter: w}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic in an HTTP handler", "method", r.Method, "path", r.URL.Path, "panic", p)
			if !rec.wrote {
				s.writeError(rec, r, archibald.Errorf(archibald.EINTERNAL, "internal error"))
			}
		}
		// The path only: the query may hold ?access_token=; headers are never logged.
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "http request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status()), slog.Duration("took", time.Since(start)))
	}()
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.serveUnmatched(rec, r)
		return
	}
	s.mux.ServeHTTP(rec, r)
}

// serveUnmatched runs the mux's own answer for a request no route matched (404, 405
// with Allow, or a redirect to the clean path) and gives the errors JSON bodies.
func (s *Server) serveUnmatched(w http.ResponseWriter, r *http.Request) {
	h, _ := s.mux.Handler(r)
	probe := &headerProbe{header: http.Header{}}
	h.ServeHTTP(probe, r)
	switch probe.code {
	case http.StatusNotFound:
		s.writeError(w, r, archibald.Errorf(archibald.ENOTFOUND, "no route %s %s", r.Method, r.URL.Path))
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", probe.header.Get("Allow"))
		s.writeError(w, r, archibald.Errorf(EMETHODNOTALLOWED, "%s is not allowed on %s; allowed: %s",
			r.Method, r.URL.Path, probe.header.Get("Allow")))
	default:
		for k, v := range probe.header {
			w.Header()[k] = v
		}
		w.WriteHeader(probe.code)
		_, _ = w.Write(probe.body.Bytes())
	}
}

// requireToken refuses requests without the bearer token (401, WWW-Authenticate).
func (s *Server) requireToken(next http.Handler, allowQuery bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		presented, ok := bearerToken(r)
		if !ok && allowQuery {
			presented = r.URL.Query().Get("access_token")
		}
		if !tokenMatches(presented, s.tokenSum) {
			msg := "this route needs the header Authorization: Bearer <token>"
			if presented != "" {
				msg = "the token is not valid"
			}
			s.writeError(w, r, archibald.Errorf(archibald.EUNAUTHORIZED, "%s", msg))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bearerToken returns the token of an "Authorization: Bearer <token>" header.
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// tokenMatches compares in constant time the digests of the presented token and of the
// configured one: comparing digests of fixed size leaks neither content nor length.
func tokenMatches(presented string, want [sha256.Size]byte) bool {
	if presented == "" {
		return false
	}
	got := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// Start starts the goroutine that fans the manager's, the syncs' and the orders' events
// out to the SSE clients and the metrics. It ends at Stop or when ctx ends.
func (s *Server) Start(ctx context.Context) error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	switch {
	case s.stopped:
		return errors.New("httpapi: Start after Stop")
	case s.started:
		return errors.New("httpapi: already started")
	}
	s.started = true
	events, cancel := s.cfg.Manager.Subscribe(managerBuffer)
	s.cancelSub = cancel
	go s.fanOut(ctx, events)
	return nil
}

// Stop ends the SSE streams, releases the operator holds and joins every goroutine the
// Server started. It is safe to call more than once, and without Start.
func (s *Server) Stop() {
	s.lifeMu.Lock()
	if s.stopped {
		s.lifeMu.Unlock()
		return
	}
	s.stopped = true
	close(s.stopping)
	started := s.started
	s.lifeMu.Unlock()

	if started {
		<-s.done
		s.cancelSub()
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.releaseAllHolds()
	s.holdWG.Wait()
	s.sseWG.Wait()
}

// NewHTTPServer returns an http.Server for h with read timeouts and no write timeout, so
// ?wait= and the SSE stream are not cut.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    1 << 20,
	}
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReady pings the store and the ERP session with a short timeout.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	checks := map[string]string{}
	var failed []string
	check := func(name string, p Pinger) {
		if err := p.Ping(ctx); err != nil {
			s.log.Warn("readiness check failed", "check", name, "err", err)
			checks[name] = "unavailable"
			failed = append(failed, name)
			return
		}
		checks[name] = "ok"
	}
	check("store", s.cfg.Store)
	if s.cfg.ERP != nil {
		check("erp", s.cfg.ERP)
	}
	if len(failed) == 0 {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "checks": checks})
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, map[string]any{
		"error": errorDetail{Code: archibald.EUNAVAILABLE, Field: failed[0],
			Message: "not ready: " + strings.Join(failed, " and ") + " cannot be reached"},
		"status": "unavailable",
		"checks": checks,
	})
}
