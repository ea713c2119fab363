// Package relay carries a room's accepted comments between danmaku instances
// through Redis Streams, one stream per room (danmaku:room:<id>): every
// instance publishes what it accepts there and delivers to its own subscribers
// what it reads back, so a comment posted on any instance reaches every
// subscriber of the room, on every instance, in the stream's one order.
//
// Why Redis Streams rather than Pub/Sub or NATS: a stream gives each room one
// total order and ids to read on from, so an instance that falls behind for a
// moment catches up instead of losing comments; and Redis is already the
// platform's cache. Each stream keeps about the last MaxLen comments.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/monoreel/monoreel/services/danmaku/internal/room"
)

// MaxLen is about how many comments a room's stream keeps.
const MaxLen = 10000

// Redis is the relay of one instance.
type Redis struct {
	client *redis.Client
	hub    *room.Hub
	log    *slog.Logger
}

// New relays through the Redis at addr and delivers to hub's rooms. Run reads.
func New(addr string, hub *room.Hub, log *slog.Logger) *Redis {
	return &Redis{client: redis.NewClient(&redis.Options{Addr: addr}), hub: hub, log: log}
}

// streamPrefix names a room's stream: streamPrefix + room id.
const streamPrefix = "danmaku:room:"

func key(roomID string) string { return streamPrefix + roomID }

// Publish appends an encoded room event to the room's stream.
func (r *Redis) Publish(ctx context.Context, roomID string, event []byte) error {
	return r.client.XAdd(ctx, &redis.XAddArgs{Stream: key(roomID), MaxLen: MaxLen, Approx: true, Values: map[string]any{"e": event}}).Err()
}

// Catchup is how far before a room got its first subscriber here its stream is
// read from: the entries of a moment before (stream ids are Redis's clock, in
// milliseconds) rather than any lost to clocks a little apart.
const Catchup = time.Second

// Run delivers the streams of the rooms that have subscribers here to them,
// until ctx ends. A room is read from Catchup before it got its first
// subscriber here, so nothing posted after that is missed, however late this
// loop notices the room.
func (r *Redis) Run(ctx context.Context) {
	last := map[string]string{} // room -> id of the last entry delivered
	for ctx.Err() == nil {
		next := map[string]string{}
		for id, created := range r.hub.Rooms() {
			if at, ok := last[id]; ok {
				next[id] = at
			} else {
				next[id] = fmt.Sprintf("%d-0", created.Add(-Catchup).UnixMilli())
			}
		}
		last = next
		if len(last) == 0 {
			sleep(ctx, 50*time.Millisecond)
			continue
		}
		streams := make([]string, 0, 2*len(last))
		ids := make([]string, 0, len(last))
		for id, at := range last {
			streams = append(streams, key(id))
			ids = append(ids, at)
		}
		res, err := r.client.XRead(ctx, &redis.XReadArgs{Streams: append(streams, ids...), Block: 200 * time.Millisecond, Count: 512}).Result()
		switch {
		case errors.Is(err, redis.Nil):
			continue
		case err != nil:
			if ctx.Err() == nil {
				r.log.Warn("relay: reading the rooms' streams", "error", err)
				sleep(ctx, 200*time.Millisecond)
			}
			continue
		}
		for _, s := range res {
			id := strings.TrimPrefix(s.Stream, streamPrefix)
			for _, m := range s.Messages {
				if e, ok := m.Values["e"].(string); ok {
					r.hub.Publish(id, []byte(e))
				}
				last[id] = m.ID
			}
		}
	}
}

// Close closes the connection to Redis.
func (r *Redis) Close() error { return r.client.Close() }

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
