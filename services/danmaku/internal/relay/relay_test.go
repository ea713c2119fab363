package relay

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/monoreel/monoreel/libs/testproc"
	"github.com/monoreel/monoreel/services/danmaku/internal/room"
)

// TestHubsShareARoom: events published through two of three relays reach the
// subscribers of every hub, each once, in the same order.
func TestHubsShareARoom(t *testing.T) {
	addr := testproc.FreeAddr(t)
	testproc.StartRedis(t, addr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var subs []*room.Subscriber
	var relays []*Redis
	for range 3 {
		hub := room.NewHub(room.Options{})
		_, sub := hub.Join("live")
		r := New(addr, hub, slog.New(slog.DiscardHandler))
		defer r.Close()
		go r.Run(ctx)
		subs, relays = append(subs, sub), append(relays, r)
	}
	time.Sleep(300 * time.Millisecond) // both readers have found the room
	for i, msg := range []string{"a", "b", "c", "d", "e", "f"} {
		time.Sleep(20 * time.Millisecond)
		if err := relays[i%2].Publish(ctx, "live", []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	var orders, ids [3]string
	for i, sub := range subs {
		for range 6 {
			select {
			case e := <-sub.Events():
				orders[i] += string(e.Data)
				ids[i] += e.ID + " "
			case <-time.After(10 * time.Second):
				t.Fatalf("hub %d got %q, then nothing", i, orders[i])
			}
		}
	}
	for i, o := range orders {
		if o != "abcdef" {
			t.Errorf("hub %d saw %q, want abcdef", i, o)
		}
		if ids[i] != ids[0] {
			t.Errorf("hub %d saw the events as %s, hub 0 as %s: want their stream ids", i, ids[i], ids[0])
		}
	}
}

// TestSince: a room's events after an id, and whether some are gone.
func TestSince(t *testing.T) {
	addr := testproc.FreeAddr(t)
	testproc.StartRedis(t, addr)
	ctx := context.Background()
	r := New(addr, room.NewHub(room.Options{}), slog.New(slog.DiscardHandler))
	defer r.Close()
	var ids []EventID
	for _, msg := range []string{"a", "b", "c", "d", "e"} {
		if err := r.Publish(ctx, "live", []byte(msg)); err != nil {
			t.Fatal(err)
		}
		last, err := r.client.XRevRangeN(ctx, key("live"), "+", "-", 1).Result()
		if err != nil {
			t.Fatal(err)
		}
		id, err := ParseEventID(last[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	since := func(roomID string, after EventID) (string, bool) {
		t.Helper()
		events, gap, err := r.Since(ctx, roomID, after)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		for i, e := range events {
			got += string(e.Data)
			if id, err := ParseEventID(e.ID); err != nil || !id.After(after) || i > 0 && !id.After(ids[0]) {
				t.Errorf("event %q has id %q", e.Data, e.ID)
			}
		}
		return got, gap
	}
	if got, gap := since("live", ids[1]); got != "cde" || gap {
		t.Errorf("after b: %q, gap %v; want cde, no gap", got, gap)
	}
	if got, gap := since("live", ids[4]); got != "" || gap {
		t.Errorf("after the last: %q, gap %v; want nothing, no gap", got, gap)
	}
	if got, gap := since("live", EventID{ids[4].Ms + 1000, 0}); got != "" || !gap {
		t.Errorf("after an id the stream never had: %q, gap %v; want nothing, a gap", got, gap)
	}
	if got, gap := since("empty", ids[0]); got != "" || !gap {
		t.Errorf("a room without a stream: %q, gap %v; want nothing, a gap", got, gap)
	}
	// The stream keeps the last two: a subscriber that saw a is missing b and c.
	if err := r.client.XTrimMaxLen(ctx, key("live"), 2).Err(); err != nil {
		t.Fatal(err)
	}
	if got, gap := since("live", ids[0]); got != "de" || !gap {
		t.Errorf("after a, trimmed to two: %q, gap %v; want de, a gap", got, gap)
	}
	if got, gap := since("live", ids[3]); got != "e" || gap {
		t.Errorf("after d, trimmed to two: %q, gap %v; want e, no gap", got, gap)
	}
	if got, gap := since("live", EventID{}); got != "de" || !gap {
		t.Errorf("from the start, trimmed to two: %q, gap %v; want de, a gap", got, gap)
	}
	if err := r.Publish(ctx, "fresh", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if got, gap := since("fresh", EventID{}); got != "x" || gap {
		t.Errorf("from the start of a stream that dropped nothing: %q, gap %v; want x, no gap", got, gap)
	}
}
