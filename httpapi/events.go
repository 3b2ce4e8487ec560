package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"archibald/orders"
	"archibald/priority"
	"archibald/syncer"
)

const (
	sseClientBuffer = 256              // events a client may lag behind before it is dropped
	sseWriteTimeout = 10 * time.Second // a write to a client stuck this long ends its stream
)

// published is a sync or order event on its way to the fan-out goroutine.
type published struct {
	at    time.Time // when it was published (monotonic), to merge with the manager's events
	sync  *syncer.Event
	order *orders.Event
}

// PublishSync hands a sync event to the fan-out goroutine; pass it as
// syncer.Config.OnEvent. It never blocks: when the inbox is full the event is dropped
// (and counted in archibald_http_events_dropped_total).
func (s *Server) PublishSync(ev syncer.Event) { s.publish(published{at: time.Now(), sync: &ev}) }

// PublishOrder hands an order event to the fan-out goroutine; pass it as
// orders.Config.OnEvent. It never blocks (see PublishSync).
func (s *Server) PublishOrder(ev orders.Event) { s.publish(published{at: time.Now(), order: &ev}) }

func (s *Server) publish(p published) {
	select {
	case s.inbox <- p:
	default:
		s.metrics.eventsDropped.Inc()
	}
}

// fanOut is the one goroutine that turns events into SSE frames and metrics, so every
// client sees them in one order: the order in which they happened. Events come on two
// channels (the manager's subscription and the inbox), so it merges their heads by time
// (the manager stamps At as it emits; publish stamps at). Looking at both heads is
// enough: an event that caused another one was sent on its channel before the other was
// emitted — the manager emits "paused" before the order's hold returns, and the order
// service publishes "order.created" before it releases the hold — so priority.paused
// precedes the order.created of the order it was taken for, and priority.resumed
// follows it.
func (s *Server) fanOut(ctx context.Context, managerEvents <-chan priority.Event) {
	defer close(s.done)
	var mgr *priority.Event
	var pub *published
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.stopping:
			return
		default:
		}
		if mgr == nil {
			select {
			case ev := <-managerEvents:
				mgr = &ev
			default:
			}
		}
		if pub == nil {
			select {
			case p := <-s.inbox:
				pub = &p
			default:
			}
		}
		switch {
		case mgr != nil && (pub == nil || !pub.at.Before(mgr.At)):
			s.onPriorityEvent(*mgr)
			mgr = nil
		case pub != nil:
			if pub.sync != nil {
				s.onSyncEvent(*pub.sync)
			} else {
				s.onOrderEvent(*pub.order)
			}
			pub = nil
		default:
			select {
			case <-ctx.Done():
				return
			case <-s.stopping:
				return
			case ev := <-managerEvents:
				mgr = &ev
			case p := <-s.inbox:
				pub = &p
			}
		}
	}
}

func (s *Server) onPriorityEvent(ev priority.Event) {
	s.metrics.observePriority(ev)
	s.broadcast("priority."+ev.Kind.String(), priorityEventData(ev))
}

func (s *Server) onSyncEvent(ev syncer.Event) {
	s.broadcast(ev.Kind, ev)
}

func (s *Server) onOrderEvent(ev orders.Event) {
	s.metrics.observeOrder(ev)
	s.broadcast(ev.Kind, orderBody{Order: ev.Order})
}

// sseClient is one /api/events stream. The fan-out goroutine sends it frames without
// blocking; a client whose buffer is full is dropped: its channel is closed.
type sseClient struct {
	ch chan []byte
}

// broadcast sends one event to every client, dropping the clients that lag behind.
func (s *Server) broadcast(name string, data any) {
	b, err := json.Marshal(data)
	if err != nil {
		s.log.Error("encoding an SSE event", "event", name, "err", err)
		return
	}
	frame := make([]byte, 0, len(name)+len(b)+16)
	frame = append(frame, "event: "...)
	frame = append(frame, name...)
	frame = append(frame, "\ndata: "...)
	frame = append(frame, b...)
	frame = append(frame, "\n\n"...)
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.clients {
		select {
		case c.ch <- frame:
		default:
			delete(s.clients, c)
			close(c.ch)
			s.metrics.sseDropped.Inc()
			s.log.Warn("dropping a slow event-stream client", "buffer", sseClientBuffer)
		}
	}
}

func (s *Server) removeClient(c *sseClient) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[c]; ok {
		delete(s.clients, c)
		close(c.ch)
	}
}

// handleEvents streams Server-Sent Events until the client goes, the client lags too far
// behind, or Stop.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	c := &sseClient{ch: make(chan []byte, sseClientBuffer)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.writeError(w, r, errShuttingDown)
		return
	}
	s.clients[c] = struct{}{}
	s.sseWG.Add(1)
	s.mu.Unlock()
	defer s.sseWG.Done()
	defer s.removeClient(c)

	rc := http.NewResponseController(w)
	// A kept-alive connection must not keep the stream's last write deadline.
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	// The first comment tells the client (and tests) that the stream is subscribed.
	if !s.writeSSE(w, rc, []byte(": connected\nretry: 3000\n\n")) {
		return
	}
	heartbeat := time.NewTicker(s.cfg.HeartbeatInterval)
	defer heartbeat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.stopping:
			return
		case frame, ok := <-c.ch:
			if !ok {
				return // dropped as too slow
			}
			if !s.writeSSE(w, rc, frame) {
				return
			}
		case <-heartbeat.C:
			if !s.writeSSE(w, rc, []byte(": heartbeat\n\n")) {
				return
			}
		}
	}
}

// writeSSE writes and flushes one frame with a write deadline, so a client that stops
// reading ends its own stream instead of holding a goroutine.
func (s *Server) writeSSE(w http.ResponseWriter, rc *http.ResponseController, frame []byte) bool {
	if err := rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return false
	}
	if _, err := w.Write(frame); err != nil {
		return false
	}
	return rc.Flush() == nil
}
