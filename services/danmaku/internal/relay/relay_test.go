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
	var orders [3]string
	for i, sub := range subs {
		for range 6 {
			select {
			case e := <-sub.Events():
				orders[i] += string(e)
			case <-time.After(10 * time.Second):
				t.Fatalf("hub %d got %q, then nothing", i, orders[i])
			}
		}
	}
	for i, o := range orders {
		if o != "abcdef" {
			t.Errorf("hub %d saw %q, want abcdef", i, o)
		}
	}
}
