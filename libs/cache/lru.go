package cache

import (
	"container/list"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// LRU is an in-process cache of byte values, sharded so that parallel readers
// rarely meet on a lock: each shard is an LRU list with its own mutex, and an
// entry expires TTL after it was set. It is safe for concurrent use.
//
// Expiry is checked against a coarse clock (coarseNow, 5ms steps) unless a clock
// is injected: reading the system clock costs more than the rest of a hit.
type LRU struct {
	seed   maphash.Seed
	shards []lruShard
	ttl    int64        // ns
	now    func() int64 // ns
}

type lruShard struct {
	mu      sync.Mutex
	entries map[string]*list.Element
	order   *list.List // front: most recently used
	limit   int
	_       [40]byte // keep shards' locks on separate cache lines
}

type lruEntry struct {
	key     string
	value   []byte
	expires int64 // ns, on the LRU's clock
}

// NewLRU returns an LRU holding at most size entries (at least one) in shards
// shards, each expiring ttl after it is set. now is the clock (nil: time.Now).
// The shard count is rounded up to a power of two, but never above size: a shard
// holds at least one entry, so more shards than entries would hold more than size.
func NewLRU(size, shards int, ttl time.Duration, now func() time.Time) *LRU {
	size = max(1, size)
	n := 1
	for n < shards && n*2 <= size {
		n <<= 1
	}
	clock := coarseNow
	if now != nil {
		clock = func() int64 { return now().UnixNano() }
	}
	c := &LRU{seed: maphash.MakeSeed(), shards: make([]lruShard, n), ttl: int64(ttl), now: clock}
	for i := range c.shards {
		limit := size / n
		if i < size%n {
			limit++ // the remainder, one each, so the limits add up to size
		}
		c.shards[i] = lruShard{entries: map[string]*list.Element{}, order: list.New(), limit: limit}
	}
	return c
}

func (c *LRU) shard(key string) *lruShard {
	return &c.shards[maphash.String(c.seed, key)&uint64(len(c.shards)-1)]
}

// Get returns a live entry and marks it recently used.
func (c *LRU) Get(key string) ([]byte, bool) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.entries[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*lruEntry)
	if c.now() > e.expires {
		s.order.Remove(el)
		delete(s.entries, key)
		return nil, false
	}
	s.order.MoveToFront(el)
	return e.value, true
}

// Set stores a value, evicting the shard's least recently used entry if full.
func (c *LRU) Set(key string, value []byte) {
	s := c.shard(key)
	expires := c.now() + c.ttl
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.entries[key]; ok {
		e := el.Value.(*lruEntry)
		e.value, e.expires = value, expires
		s.order.MoveToFront(el)
		return
	}
	s.entries[key] = s.order.PushFront(&lruEntry{key: key, value: value, expires: expires})
	if s.order.Len() > s.limit {
		oldest := s.order.Back()
		s.order.Remove(oldest)
		delete(s.entries, oldest.Value.(*lruEntry).key)
	}
}

// Delete removes a key.
func (c *LRU) Delete(key string) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.entries[key]; ok {
		s.order.Remove(el)
		delete(s.entries, key)
	}
}

// Len returns the number of entries, live or expired-but-not-yet-dropped.
func (c *LRU) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += s.order.Len()
		s.mu.Unlock()
	}
	return n
}

// The coarse clock: one goroutine for the whole process moves it every 5ms.
var (
	coarse     atomic.Int64
	coarseOnce sync.Once
)

const coarseStep = 5 * time.Millisecond

func coarseNow() int64 {
	coarseOnce.Do(func() {
		coarse.Store(time.Now().UnixNano())
		go func() {
			for now := range time.Tick(coarseStep) {
				coarse.Store(now.UnixNano())
			}
		}()
	})
	return coarse.Load()
}
