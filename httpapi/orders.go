package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"archibald"
)

type orderBody struct {
	Order archibald.Order `json:"order"`
}

// handleCreateOrder takes an order. Statuses:
//   - 202: queued (a new order, or one still pending after ?wait=);
//   - 200: a repeated request with the same Idempotency-Key and body, without ?wait=:
//     the same order as it is now (header Idempotent-Replayed: true);
//   - 201 / 502 with ?wait=: the order was created / failed in the ERP within the wait
//     (a repeated request with ?wait= answers the same way).
func (s *Server) handleCreateOrder(w http.ResponseWriter, r *http.Request) {
	wait, err := s.waitParam(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := checkJSONContentType(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	req, err := DecodeOrderRequest(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	o, created, err := s.cfg.Orders.Submit(r.Context(), req, r.Header.Get("Idempotency-Key"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !created {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.Header().Set("Location", "/api/orders/"+o.ID)
	if wait > 0 && !terminal(o.Status) {
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		waited, err := s.cfg.Orders.Wait(ctx, o.ID)
		cancel()
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		o = waited
	}
	status := http.StatusAccepted
	switch {
	case wait > 0 && o.Status == archibald.OrderCreated:
		status = http.StatusCreated
	case wait > 0 && o.Status == archibald.OrderFailed:
		status = http.StatusBadGateway
	case !created:
		status = http.StatusOK
	}
	writeJSON(w, status, orderBody{Order: o})
}

func terminal(st archibald.OrderStatus) bool {
	return st == archibald.OrderCreated || st == archibald.OrderFailed
}

// waitParam reads ?wait= (a Go duration, capped at MaxWait; 0 or absent: do not wait).
func (s *Server) waitParam(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, badRequest("wait", "must be a duration such as 30s or 2m; got %q", v)
	}
	return min(d, s.cfg.MaxWait), nil
}

func (s *Server) handleGetOrder(w http.ResponseWriter, r *http.Request) {
	o, err := s.cfg.Orders.Order(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, orderBody{Order: o})
}

func (s *Server) handleListOrders(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	status := archibald.OrderStatus(q.Get("status"))
	if status != "" && !status.Valid() {
		s.writeError(w, r, badRequest("status", "must be one of queued, submitting, created, failed; got %q", status))
		return
	}
	limit, err := limitParam(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list, err := s.cfg.Store.ListOrders(r.Context(), status, limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if list == nil {
		list = []archibald.Order{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"orders": list})
}

const (
	defaultLimit = 50
	maxLimit     = 500
	maxQueryLen  = 200
)

// limitParam reads ?limit= (1..500, default 50).
func limitParam(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxLimit {
		return 0, badRequest("limit", "must be a whole number from 1 to %d; got %q", maxLimit, v)
	}
	return n, nil
}
