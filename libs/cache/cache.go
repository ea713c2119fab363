// Package cache is a read-through cache in two levels in front of a source of
// truth: L1 an in-process sharded LRU with TTL, L2 Redis, shared by every
// instance of a service.
//
// Reads go L1 -> L2 -> loader, with one loader call per key at a time
// (singleflight). Writes update the source, delete the key from L1 and L2, and
// delete it from L2 again after a delay (delayed double delete: a reader that
// loaded the old value from a lagging replica between the write and the first
// delete cannot leave it in L2 for long), then enqueue a warm-up of the key.
// When Redis is unreachable or slow, reads fall back to L1 and the loader within
// a bounded time; a circuit breaker (libs/breaker) stops paying that timeout
// until Redis answers again, and counts every error.
package cache

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/monoreel/monoreel/libs/breaker"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"
)

// Loader reads a key from the source of truth.
type Loader func(ctx context.Context, key string) ([]byte, error)

// Warmer is told about keys that changed, to push them to edge caches (the CDN
// push service implements it).
type Warmer interface {
	Warm(ctx context.Context, keys []string) error
}

// Options configures a Cache. Loader is required; without Redis the cache is L1
// only.
type Options struct {
	Loader Loader
	Redis  redis.UniversalClient
	// Prefix is prepended to every Redis key ("video:meta:").
	Prefix string

	L1Size   int           // entries (default 100,000)
	L1Shards int           // default 64
	L1TTL    time.Duration // default 1 minute
	L2TTL    time.Duration // default 10 minutes

	RedisTimeout      time.Duration // bound on each Redis call (default 50ms)
	DoubleDeleteDelay time.Duration // default 500ms

	Warmer      Warmer
	WarmBacklog int // keys waiting to be warmed before new ones are dropped (default 1024)

	Log *slog.Logger
	Now func() time.Time // the clock of L1 (tests)
}

// Stats are the cache's counters since it was made.
type Stats struct {
	L1Hits, L2Hits, Loads              int64
	RedisErrors, RedisSkipped          int64 // skipped: the breaker was open
	WarmQueued, WarmDropped, WarmFails int64
}

// Cache is safe for concurrent use. Close it to stop its background work.
type Cache struct {
	opts    Options
	l1      *LRU
	flight  singleflight.Group
	redisCB *breaker.Breaker

	stats struct {
		l1Hits, l2Hits, loads, redisErrors, redisSkipped, warmQueued, warmDropped, warmFails atomic.Int64
	}

	warm      chan string
	timers    sync.WaitGroup
	closing   chan struct{}
	closeOnce sync.Once
	workers   sync.WaitGroup
}

// New returns a Cache.
func New(opts Options) (*Cache, error) {
	if opts.Loader == nil {
		return nil, errors.New("cache: Options.Loader is required")
	}
	opts.L1Size = cmp.Or(opts.L1Size, 100_000)
	opts.L1Shards = cmp.Or(opts.L1Shards, 64)
	opts.WarmBacklog = cmp.Or(opts.WarmBacklog, 1024)
	opts.L1TTL = cmp.Or(opts.L1TTL, time.Minute)
	opts.L2TTL = cmp.Or(opts.L2TTL, 10*time.Minute)
	opts.RedisTimeout = cmp.Or(opts.RedisTimeout, 50*time.Millisecond)
	opts.DoubleDeleteDelay = cmp.Or(opts.DoubleDeleteDelay, 500*time.Millisecond)
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	// Redis failing half its calls over 5s trips the breaker; it probes again
	// after a second, so recovery needs no one's help.
	cb, err := breaker.New("redis", breaker.Rule{Strategy: breaker.ErrorRatio, Threshold: 0.5, MinCalls: 5,
		Window: 5 * time.Second, Buckets: 5, OpenFor: time.Second, Probes: 1})
	if err != nil {
		return nil, err
	}
	c := &Cache{
		opts:    opts,
		l1:      NewLRU(opts.L1Size, opts.L1Shards, opts.L1TTL, opts.Now),
		redisCB: cb,
		warm:    make(chan string, opts.WarmBacklog),
		closing: make(chan struct{}),
	}
	if opts.Warmer != nil {
		c.workers.Add(1)
		go c.warmLoop()
	}
	return c, nil
}

// Get returns the value of key: from L1, else L2, else the loader (once per key
// at a time, however many callers wait for it).
func (c *Cache) Get(ctx context.Context, key string) ([]byte, error) {
	if v, ok := c.l1.Get(key); ok {
		c.stats.l1Hits.Add(1)
		return v, nil
	}
	v, err, _ := c.flight.Do(key, func() (any, error) {
		if v, ok := c.l2Get(ctx, key); ok {
			c.stats.l2Hits.Add(1)
			c.l1.Set(key, v)
			return v, nil
		}
		c.stats.loads.Add(1)
		v, err := c.opts.Loader(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("cache: loading %q: %w", key, err)
		}
		c.l2Set(ctx, key, v)
		c.l1.Set(key, v)
		return v, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

// Update writes through: it runs write (which updates the source of truth), then
// invalidates key in both levels, deletes it from L2 again after
// DoubleDeleteDelay, and enqueues its warm-up. If write fails nothing else happens.
func (c *Cache) Update(ctx context.Context, key string, write func(context.Context) error) error {
	if err := write(ctx); err != nil {
		return err
	}
	c.Invalidate(ctx, key)
	c.enqueueWarm(key)
	return nil
}

// Invalidate deletes key from L1 and L2 now, and from L2 again after the delay.
func (c *Cache) Invalidate(ctx context.Context, key string) {
	c.l1.Delete(key)
	c.l2Del(ctx, key)
	c.timers.Add(1)
	time.AfterFunc(c.opts.DoubleDeleteDelay, func() {
		defer c.timers.Done()
		c.l1.Delete(key)
		// A fresh context: the caller's may be long gone.
		c.l2Del(context.Background(), key)
	})
}

// redisCall runs one Redis operation under the breaker and the timeout; ok is
// false if Redis was skipped or failed (and the failure counted).
func (c *Cache) redisCall(ctx context.Context, op func(context.Context) error) bool {
	if c.opts.Redis == nil {
		return false
	}
	err := c.redisCB.Do(ctx, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, c.opts.RedisTimeout)
		defer cancel()
		if err := op(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		return nil
	})
	switch {
	case errors.Is(err, breaker.ErrOpen):
		c.stats.redisSkipped.Add(1)
		return false
	case err != nil:
		c.stats.redisErrors.Add(1)
		return false
	}
	return true
}

func (c *Cache) l2Get(ctx context.Context, key string) ([]byte, bool) {
	var v []byte
	found := false
	c.redisCall(ctx, func(ctx context.Context) error {
		b, err := c.opts.Redis.Get(ctx, c.opts.Prefix+key).Bytes()
		if err == nil {
			v, found = b, true
		}
		return err
	})
	return v, found
}

func (c *Cache) l2Set(ctx context.Context, key string, v []byte) {
	c.redisCall(ctx, func(ctx context.Context) error {
		return c.opts.Redis.Set(ctx, c.opts.Prefix+key, v, c.opts.L2TTL).Err()
	})
}

func (c *Cache) l2Del(ctx context.Context, key string) {
	c.redisCall(ctx, func(ctx context.Context) error {
		return c.opts.Redis.Del(ctx, c.opts.Prefix+key).Err()
	})
}

func (c *Cache) enqueueWarm(key string) {
	if c.opts.Warmer == nil {
		return
	}
	select {
	case c.warm <- key:
		c.stats.warmQueued.Add(1)
	default:
		c.stats.warmDropped.Add(1) // warm-up is best effort: never block a write on it
	}
}

// warmLoop hands queued keys to the Warmer in batches.
func (c *Cache) warmLoop() {
	defer c.workers.Done()
	for {
		var batch []string
		select {
		case key := <-c.warm:
			batch = append(batch, key)
		case <-c.closing:
			return
		}
	drain:
		for len(batch) < 100 {
			select {
			case key := <-c.warm:
				batch = append(batch, key)
			default:
				break drain
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := c.opts.Warmer.Warm(ctx, batch); err != nil {
			c.stats.warmFails.Add(1)
			c.opts.Log.Warn("cache warm-up failed", "keys", len(batch), "err", err)
		}
		cancel()
	}
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	return Stats{
		L1Hits: c.stats.l1Hits.Load(), L2Hits: c.stats.l2Hits.Load(), Loads: c.stats.loads.Load(),
		RedisErrors: c.stats.redisErrors.Load(), RedisSkipped: c.stats.redisSkipped.Load(),
		WarmQueued: c.stats.warmQueued.Load(), WarmDropped: c.stats.warmDropped.Load(), WarmFails: c.stats.warmFails.Load(),
	}
}

// Close waits for pending delayed deletes and stops the warm-up worker.
func (c *Cache) Close() {
	c.closeOnce.Do(func() {
		c.timers.Wait()
		close(c.closing)
		c.workers.Wait()
	})
}
