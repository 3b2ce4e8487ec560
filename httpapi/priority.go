package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"time"

	"archibald"
	"archibald/priority"
)

const (
	minHoldTTL   = time.Second
	maxHoldTTL   = time.Hour
	maxReasonLen = 200
)

type serviceJSON struct {
	Name   string `json:"name"`
	Paused bool   `json:"paused"`
}

type priorityJSON struct {
	State      string        `json:"state"`
	Holders    int           `json:"holders"`
	Paused     []string      `json:"paused"`
	Services   []serviceJSON `json:"services"`
	Pauses     int64         `json:"pauses"`
	LastTookMs float64       `json:"lastTookMs"`
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (s *Server) handlePriority(w http.ResponseWriter, r *http.Request) {
	st := s.cfg.Manager.Status()
	out := priorityJSON{
		State: st.State.String(), Holders: st.Holders, Paused: st.Paused,
		Services: make([]serviceJSON, 0, len(st.Services)), Pauses: st.Pauses, LastTookMs: millis(st.LastTook),
	}
	if out.Paused == nil {
		out.Paused = []string{}
	}
	for _, svc := range st.Services {
		out.Services = append(out.Services, serviceJSON{Name: svc.Name, Paused: svc.Paused})
	}
	writeJSON(w, http.StatusOK, out)
}

// hold is one operator hold on the manager, released by DELETE, by its timer or by Stop.
type hold struct {
	id        string
	reason    string
	expiresAt time.Time
	timer     *time.Timer
}

var pauseSchema = schema{"ttl": kString, "reason": kString}

type pauseRequest struct {
	TTL    string `json:"ttl"`
	Reason string `json:"reason"`
}

// handleOperatorPause takes a hold on the manager for an operator (201), waiting with the
// request's context until the services are paused. The hold ends by itself at its TTL.
func (s *Server) handleOperatorPause(w http.ResponseWriter, r *http.Request) {
	var req pauseRequest
	if err := readJSON(w, r, &req, pauseSchema); err != nil {
		s.writeError(w, r, err)
		return
	}
	ttl, err := time.ParseDuration(req.TTL)
	switch {
	case req.TTL == "":
		s.writeError(w, r, archibald.FieldErrorf("ttl", "is required: how long the hold lasts, from 1s to 1h, e.g. \"30s\""))
		return
	case err != nil:
		s.writeError(w, r, badRequest("ttl", "must be a duration such as 30s or 10m; got %q", req.TTL))
		return
	case ttl < minHoldTTL || ttl > maxHoldTTL:
		s.writeError(w, r, archibald.FieldErrorf("ttl", "must be from %v to %v; got %v", minHoldTTL, maxHoldTTL, ttl))
		return
	case len(req.Reason) > maxReasonLen:
		s.writeError(w, r, archibald.FieldErrorf("reason", "is at most %d bytes long", maxReasonLen))
		return
	}
	if err := s.cfg.Manager.Pause(r.Context()); err != nil {
		s.writeError(w, r, archibald.Errorf(archibald.EUNAVAILABLE, "the sync services could not be paused: %v", ctxError(err, "pause")))
		return
	}
	h := &hold{id: newHoldID(), reason: req.Reason, expiresAt: time.Now().Add(ttl)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.cfg.Manager.Resume()
		s.writeError(w, r, errShuttingDown)
		return
	}
	s.holds[h.id] = h
	s.holdWG.Add(1)
	// The timer is set under mu, so release and Stop always find it.
	h.timer = time.AfterFunc(ttl, func() { s.expireHold(h) })
	s.mu.Unlock()
	s.log.Info("operator hold taken", "hold", h.id, "ttl", ttl, "reason", h.reason)
	writeJSON(w, http.StatusCreated, map[string]any{"holdId": h.id, "expiresAt": h.expiresAt.UTC()})
}

// handleOperatorRelease releases an operator hold before its TTL (204).
func (s *Server) handleOperatorRelease(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("holdId")
	s.mu.Lock()
	h, ok := s.holds[id]
	s.mu.Unlock()
	if !ok {
		s.writeError(w, r, &archibald.Error{Code: archibald.ENOTFOUND, Field: "holdId", Message: "no operator hold with this id (it may have expired)"})
		return
	}
	s.releaseHold(h, "released through the API")
	w.WriteHeader(http.StatusNoContent)
}

// releaseHold releases h unless its timer fired first (the timer's goroutine then
// releases it). Exactly one of DELETE, the timer and Stop releases each hold.
func (s *Server) releaseHold(h *hold, why string) {
	s.mu.Lock()
	if _, ok := s.holds[h.id]; !ok || !h.timer.Stop() {
		s.mu.Unlock()
		return
	}
	delete(s.holds, h.id)
	s.mu.Unlock()
	s.finishHold(h, why)
}

// expireHold is the hold's timer: it releases h unless DELETE or Stop did first (they
// stop the timer before deleting, so finding h here means nobody else will).
func (s *Server) expireHold(h *hold) {
	s.mu.Lock()
	_, ok := s.holds[h.id]
	delete(s.holds, h.id)
	s.mu.Unlock()
	if ok {
		s.finishHold(h, "expired")
	}
}

func (s *Server) finishHold(h *hold, why string) {
	s.cfg.Manager.Resume()
	s.log.Info("operator hold released", "hold", h.id, "why", why, "reason", h.reason)
	s.holdWG.Done()
}

// releaseAllHolds releases the holds whose timers have not fired; the others are being
// released by their timers, which holdWG waits for.
func (s *Server) releaseAllHolds() {
	s.mu.Lock()
	var mine []*hold
	for id, h := range s.holds {
		if h.timer.Stop() {
			delete(s.holds, id)
			mine = append(mine, h)
		}
	}
	s.mu.Unlock()
	for _, h := range mine {
		s.finishHold(h, "server stopping")
	}
}

func newHoldID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "hold_" + hex.EncodeToString(b[:])
}

// priorityEventJSON is the data of a priority.* SSE event.
type priorityEventJSON struct {
	Holders int       `json:"holders"`
	TookMs  float64   `json:"tookMs"`
	Service string    `json:"service,omitempty"`
	Error   string    `json:"error,omitempty"`
	At      time.Time `json:"at"`
}

func priorityEventData(ev priority.Event) priorityEventJSON {
	d := priorityEventJSON{Holders: ev.Holders, TookMs: millis(ev.Took), Service: ev.Service, At: ev.At.UTC()}
	if ev.Err != nil {
		d.Error = ev.Err.Error()
	}
	return d
}
