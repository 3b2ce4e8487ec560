package priority

import (
	"fmt"
	"time"
)

// EventKind says what happened.
type EventKind int

const (
	EventPausing        EventKind = iota + 1 // the first hold started pausing the services
	EventPaused                              // every service is paused; Took is the time to quiesce
	EventResumed                             // the services were resumed; Took is the time spent paused
	EventPreempted                           // Service was still busy after the grace and was preempted
	EventPauseFailed                         // a service could not be paused; Err says which and why
	EventServicePaused                       // Service reached a batch boundary and is paused
	EventServiceResumed                      // Service was resumed
)

var eventKindNames = map[EventKind]string{
	EventPausing:        "pausing",
	EventPaused:         "paused",
	EventResumed:        "resumed",
	EventPreempted:      "preempted",
	EventPauseFailed:    "pause_failed",
	EventServicePaused:  "service_paused",
	EventServiceResumed: "service_resumed",
}

func (k EventKind) String() string {
	if s, ok := eventKindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// MarshalText makes an EventKind read as its name in JSON.
func (k EventKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Event is something the Manager did, as seen by subscribers.
type Event struct {
	Kind    EventKind
	Service string        // for per-service kinds
	Holders int           // holds at the time of the event
	Took    time.Duration // EventPaused: time to quiesce; EventResumed: time spent paused
	Err     error         // EventPauseFailed
	At      time.Time
}

// subscriber is one Subscribe call's channel. Sends never block the Manager: when the
// buffer is full the event is dropped for this subscriber and counted.
type subscriber struct {
	ch      chan Event
	dropped int64
}

// Subscribe returns a channel of the Manager's events with the given buffer (at least
// 1). Events that find the buffer full are dropped for this subscriber and counted (see
// DroppedEvents). cancel closes the channel; it is safe to call more than once.
func (m *Manager) Subscribe(buffer int) (events <-chan Event, cancel func()) {
	sub := &subscriber{ch: make(chan Event, max(buffer, 1))}
	m.mu.Lock()
	m.subscribers[sub] = struct{}{}
	m.mu.Unlock()
	return sub.ch, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if _, ok := m.subscribers[sub]; ok {
			delete(m.subscribers, sub)
			close(sub.ch)
		}
	}
}

// DroppedEvents returns how many events were dropped because a subscriber's buffer was
// full, over all subscribers since the Manager was made.
func (m *Manager) DroppedEvents() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dropped
}

// emitLocked sends ev to every subscriber without blocking. Sending under the lock keeps
// the events in the order the state changed, and cancel cannot close a channel mid-send.
func (m *Manager) emitLocked(ev Event) {
	if len(m.subscribers) == 0 {
		return
	}
	ev.Holders = m.holds
	ev.At = time.Now()
	for sub := range m.subscribers {
		select {
		case sub.ch <- ev:
		default:
			sub.dropped++
			m.dropped++
		}
	}
}
