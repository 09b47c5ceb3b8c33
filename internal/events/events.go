package events

import (
	"sync"
	"time"
)

// Message is one event, in the Engine API's shape (with the legacy
// status/id/from fields compose v1 reads).
type Message struct {
	Status   string `json:"status,omitempty"`
	ID       string `json:"id,omitempty"`
	From     string `json:"from,omitempty"`
	Type     string
	Action   string
	Actor    Actor
	Scope    string `json:"scope"`
	Time     int64  `json:"time"`
	TimeNano int64  `json:"timeNano"`
}

// Actor is what an event is about.
type Actor struct {
	ID         string
	Attributes map[string]string
}

// Bus fans messages out to subscribers. The zero value is not usable; use New.
type Bus struct {
	mu      sync.Mutex
	subs    map[chan Message]struct{}
	backlog []Message
}

const backlogSize = 1024

// New returns an empty bus.
func New() *Bus { return &Bus{subs: map[chan Message]struct{}{}} }

// Publish records and broadcasts an event. A subscriber that does not keep
// up loses events rather than blocking the publisher.
func (b *Bus) Publish(typ, action, id string, attrs map[string]string) {
	now := time.Now()
	m := Message{Type: typ, Action: action, Actor: Actor{ID: id, Attributes: attrs}, Scope: "local", Time: now.Unix(), TimeNano: now.UnixNano()}
	if typ == "container" {
		m.Status, m.ID, m.From = action, id, attrs["image"]
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.backlog = append(b.backlog, m)
	if len(b.backlog) > backlogSize {
		b.backlog = b.backlog[len(b.backlog)-backlogSize:]
	}
	for ch := range b.subs {
		select {
		case ch <- m:
		default:
		}
	}
}

// Subscribe returns past events at or after since (none when zero) and a
// channel of new ones; cancel ends the subscription.
func (b *Bus) Subscribe(since time.Time) (past []Message, ch <-chan Message, cancel func()) {
	c := make(chan Message, 256)
	b.mu.Lock()
	if !since.IsZero() {
		for _, m := range b.backlog {
			if m.TimeNano >= since.UnixNano() {
				past = append(past, m)
			}
		}
	}
	b.subs[c] = struct{}{}
	b.mu.Unlock()
	return past, c, func() {
		b.mu.Lock()
		delete(b.subs, c)
		b.mu.Unlock()
	}
}

// Subscribers is how many subscriptions are open.
func (b *Bus) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}
