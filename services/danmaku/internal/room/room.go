// Package room fans a room's comments out to its subscribers without letting a
// slow one slow the room: each subscriber has a bounded buffer; when it is full
// the oldest comment is dropped (and counted), and a subscriber whose buffer has
// stayed full for Options.SlowTimeout is disconnected.
package room

import (
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a Hub.
type Options struct {
	// Buffer is how many comments a subscriber may lag behind (256 by default).
	Buffer int
	// SlowTimeout is how long a subscriber's buffer may stay full before it is
	// disconnected (5s by default).
	SlowTimeout time.Duration
	// Now is the clock (time.Now by default).
	Now func() time.Time
	// OnDrop and OnEvict, if set, count dropped comments and evicted subscribers.
	OnDrop, OnEvict func()
}

// Message is one event of a room, as its subscribers receive it.
type Message struct {
	// ID is the event's id in the room, in the room's order: its relay stream
	// entry id (internal/relay); empty for a room of one instance, which keeps
	// no history to resume from.
	ID string
	// Data is the encoded event (internal/event).
	Data []byte
}

// Hub holds the rooms that have subscribers.
type Hub struct {
	opts  Options
	mu    sync.Mutex
	rooms map[string]*Room
}

// NewHub returns an empty Hub.
func NewHub(opts Options) *Hub {
	if opts.Buffer <= 0 {
		opts.Buffer = 256
	}
	if opts.SlowTimeout <= 0 {
		opts.SlowTimeout = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.OnDrop == nil {
		opts.OnDrop = func() {}
	}
	if opts.OnEvict == nil {
		opts.OnEvict = func() {}
	}
	return &Hub{opts: opts, rooms: map[string]*Room{}}
}

// Join subscribes to a room, creating it if needed.
func (h *Hub) Join(roomID string) (*Room, *Subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[roomID]
	if r == nil {
		r = &Room{hub: h, id: roomID, subs: map[*Subscriber]struct{}{}, created: h.opts.Now()}
		h.rooms[roomID] = r
	}
	s := &Subscriber{events: make(chan Message, h.opts.Buffer), gone: make(chan struct{})}
	r.mu.Lock()
	r.subs[s] = struct{}{}
	r.mu.Unlock()
	return r, s
}

// Leave unsubscribes s; a room without subscribers is forgotten.
func (h *Hub) Leave(r *Room, s *Subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r.mu.Lock()
	r.remove(s)
	empty := len(r.subs) == 0
	r.mu.Unlock()
	if empty && h.rooms[r.id] == r {
		delete(h.rooms, r.id)
	}
}

// Room is one room's subscribers.
type Room struct {
	hub     *Hub
	id      string
	created time.Time
	mu      sync.Mutex
	subs    map[*Subscriber]struct{}
}

// ID is the room's id.
func (r *Room) ID() string { return r.id }

// Rooms returns the rooms that have subscribers: id -> when the room got its
// first one here.
func (h *Hub) Rooms() map[string]time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	rooms := make(map[string]time.Time, len(h.rooms))
	for id, r := range h.rooms {
		rooms[id] = r.created
	}
	return rooms
}

// Publish hands an event to the subscribers of room id, if it has any.
func (h *Hub) Publish(id string, event Message) {
	h.mu.Lock()
	r := h.rooms[id]
	h.mu.Unlock()
	if r != nil {
		r.Publish(event)
	}
}

// Subscribers returns how many subscribers the room has.
func (r *Room) Subscribers() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.subs)
}

// Publish hands an event to every subscriber. It never blocks.
func (r *Room) Publish(event Message) {
	now := r.hub.opts.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for s := range r.subs {
		if !s.offer(event, now, r.hub.opts) {
			r.remove(s)
			r.hub.opts.OnEvict()
		}
	}
}

// remove drops s from the room and tells its reader; r.mu is held.
func (r *Room) remove(s *Subscriber) {
	if _, ok := r.subs[s]; ok {
		delete(r.subs, s)
		close(s.gone)
	}
}

// Subscriber is one reader of a room.
type Subscriber struct {
	events  chan Message
	gone    chan struct{}
	dropped atomic.Int64
	// fullSince is when the buffer last became full; zero while it has room.
	// Only Publish (under the room's lock) touches it.
	fullSince time.Time
}

// Events delivers the room's events, oldest first.
func (s *Subscriber) Events() <-chan Message { return s.events }

// Gone is closed when the subscriber has left or been disconnected for lagging.
func (s *Subscriber) Gone() <-chan struct{} { return s.gone }

// Dropped counts the comments this subscriber lost to a full buffer.
func (s *Subscriber) Dropped() int64 { return s.dropped.Load() }

// offer queues event, dropping the oldest if the buffer is full. It returns
// false when the subscriber has lagged for too long and must go.
func (s *Subscriber) offer(event Message, now time.Time, opts Options) bool {
	select {
	case s.events <- event:
		s.fullSince = time.Time{}
		return true
	default:
	}
	if s.fullSince.IsZero() {
		s.fullSince = now
	} else if now.Sub(s.fullSince) >= opts.SlowTimeout {
		return false
	}
	select {
	case <-s.events: // the oldest
		s.dropped.Add(1)
		opts.OnDrop()
	default: // the reader just made room
	}
	select {
	case s.events <- event:
	default:
		s.dropped.Add(1)
		opts.OnDrop()
	}
	return true
}
