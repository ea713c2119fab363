package room

import (
	"fmt"
	"testing"
	"time"
)

func TestFanOutInOrder(t *testing.T) {
	h := NewHub(Options{})
	r, a := h.Join("r1")
	_, b := h.Join("r1")
	_, other := h.Join("r2")
	if r.Subscribers() != 2 {
		t.Fatalf("subscribers = %d, want 2", r.Subscribers())
	}
	for i := range 3 {
		r.Publish(msg(fmt.Sprint(i)))
	}
	for _, s := range []*Subscriber{a, b} {
		for i := range 3 {
			if got := string((<-s.Events()).Data); got != fmt.Sprint(i) {
				t.Errorf("event %d = %q", i, got)
			}
		}
	}
	select {
	case e := <-other.Events():
		t.Errorf("another room's subscriber got %q", e.Data)
	default:
	}
}

// TestSlowSubscriberDropsOldestThenIsEvicted: a subscriber that does not read
// loses the oldest comments, keeps the newest, and is disconnected once its
// buffer has been full for SlowTimeout; the fast one misses nothing.
func TestSlowSubscriberDropsOldestThenIsEvicted(t *testing.T) {
	now := time.Unix(0, 0)
	var drops, evictions int
	h := NewHub(Options{Buffer: 2, SlowTimeout: time.Second, Now: func() time.Time { return now },
		OnDrop: func() { drops++ }, OnEvict: func() { evictions++ }})
	r, slow := h.Join("r")
	_, fast := h.Join("r")
	received := 0
	publish := func(e string) {
		r.Publish(msg(e))
		<-fast.Events()
		received++
	}
	publish("1")
	publish("2")
	publish("3") // slow's buffer was full: "1" dropped
	if slow.Dropped() != 1 || drops != 1 {
		t.Fatalf("dropped = %d (counter %d), want 1", slow.Dropped(), drops)
	}
	if got := string((<-slow.Events()).Data) + string((<-slow.Events()).Data); got != "23" {
		t.Fatalf("slow subscriber holds %q, want the newest 23", got)
	}
	publish("4")
	publish("5")
	publish("6") // full again, since now
	now = now.Add(999 * time.Millisecond)
	publish("7")
	select {
	case <-slow.Gone():
		t.Fatal("evicted before SlowTimeout")
	default:
	}
	now = now.Add(time.Millisecond)
	publish("8")
	select {
	case <-slow.Gone():
	default:
		t.Fatal("not evicted after a full buffer for SlowTimeout")
	}
	if evictions != 1 || r.Subscribers() != 1 || received != 8 {
		t.Errorf("evictions %d, subscribers %d, fast received %d", evictions, r.Subscribers(), received)
	}
}

func TestReadingResetsTheBacklogClock(t *testing.T) {
	now := time.Unix(0, 0)
	h := NewHub(Options{Buffer: 1, SlowTimeout: time.Second, Now: func() time.Time { return now }})
	r, s := h.Join("r")
	r.Publish(msg("a"))
	r.Publish(msg("b")) // full since 0
	<-s.Events()
	now = now.Add(2 * time.Second)
	r.Publish(msg("c")) // it had room again: not a sustained backlog
	select {
	case <-s.Gone():
		t.Fatal("evicted although it read")
	default:
	}
}

func TestLeaveForgetsEmptyRooms(t *testing.T) {
	h := NewHub(Options{})
	r, s := h.Join("r")
	h.Leave(r, s)
	select {
	case <-s.Gone():
	default:
		t.Error("Gone not closed on Leave")
	}
	h.Leave(r, s) // twice is fine
	if len(h.rooms) != 0 {
		t.Errorf("rooms = %v, want none", h.rooms)
	}
}

// msg is a message of the tests' rooms.
func msg(data string) Message { return Message{Data: []byte(data)} }
