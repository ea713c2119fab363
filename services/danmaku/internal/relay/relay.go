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
//
// A comment's stream entry id is its event id (EventID): a subscriber whose
// instance dies joins another with the last id it saw, and Since reads it the
// comments after that one still in the stream.
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
					r.hub.Publish(id, room.Message{ID: m.ID, Data: []byte(e)})
				}
				last[id] = m.ID
			}
		}
	}
}

// Since returns the room's events after the one with id after, oldest first,
// as far as its stream still has them: gap is true when some may be gone (the
// stream dropped them, keeping its last MaxLen, or Redis lost it; see lost).
func (r *Redis) Since(ctx context.Context, roomID string, after EventID) (events []room.Message, gap bool, err error) {
	// One transaction: what the stream has dropped is known as of the read.
	pipe := r.client.TxPipeline()
	info := pipe.XInfoStream(ctx, key(roomID))
	entries := pipe.XRange(ctx, key(roomID), "("+after.String(), "+")
	if _, err := pipe.Exec(ctx); err != nil && !noSuchKey(info.Err()) {
		return nil, false, fmt.Errorf("relay: reading room %q since %v: %w", roomID, after, err)
	}
	if info.Err() != nil { // no stream: nothing of the room is left
		return nil, true, nil
	}
	for _, m := range entries.Val() {
		if e, ok := m.Values["e"].(string); ok {
			events = append(events, room.Message{ID: m.ID, Data: []byte(e)})
		}
	}
	gap, err = lost(info.Val(), after)
	if err != nil {
		return nil, false, fmt.Errorf("relay: room %q: %w", roomID, err)
	}
	return events, gap, nil
}

// lost reports whether a stream may have lost entries after the id after:
// trimmed (entries were dropped from its start and the first it keeps comes
// after after: Redis does not say whether any of the dropped came after it,
// so one subscriber in a whole window may be told of a gap it does not have),
// deleted (XDEL), or it never had an id that late (Redis lost the stream).
func lost(info *redis.XInfoStream, after EventID) (bool, error) {
	last, err := ParseEventID(info.LastGeneratedID)
	if err != nil {
		return false, fmt.Errorf("the stream's last id: %w", err)
	}
	deleted, err := ParseEventID(info.MaxDeletedEntryID)
	if err != nil {
		return false, fmt.Errorf("the stream's last deleted id: %w", err)
	}
	if after.After(last) || deleted.After(after) {
		return true, nil
	}
	if info.EntriesAdded == info.Length { // never trimmed
		return false, nil
	}
	if info.Length == 0 {
		return last.After(after), nil
	}
	first, err := ParseEventID(info.FirstEntry.ID)
	if err != nil {
		return false, fmt.Errorf("the stream's first id: %w", err)
	}
	return first.After(after), nil
}

// noSuchKey reports whether err is Redis's answer about a stream that does not
// exist.
func noSuchKey(err error) bool { return err != nil && strings.Contains(err.Error(), "no such key") }

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
