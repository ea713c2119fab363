package ratelimit

import (
	"math"
	"sync"
	"time"
)

// Keyed is a token bucket per key (a client's address, a user name), for limits
// that hold per caller rather than per tier, in one process.
//
// It keeps at most maxKeys buckets, so callers cannot grow it without bound by
// inventing keys. A bucket that has refilled is worth nothing (a new one would
// be the same), so those are dropped when room is needed; while every kept
// bucket is still refilling, new keys share one overflow bucket, which bounds
// what a caller with a great many keys gets all told.
type Keyed struct {
	rate    float64
	burst   int
	maxKeys int
	now     func() int64

	mu        sync.Mutex
	buckets   map[string]*Bucket
	overflow  *Bucket
	nextSweep int64 // when the first bucket kept by the last sweep will have refilled
}

// NewKeyed returns buckets of rate tokens per second holding up to burst, one
// per key, for at most maxKeys keys (at least 1). now is the clock in
// nanoseconds; nil means the monotonic clock.
func NewKeyed(rate float64, burst, maxKeys int, now func() int64) *Keyed {
	if now == nil {
		now = monotonicNow
	}
	return &Keyed{
		rate: rate, burst: burst, maxKeys: max(1, maxKeys), now: now,
		buckets:  map[string]*Bucket{},
		overflow: NewBucket(rate, burst, now),
	}
}

// Reserve takes a token from key's bucket if one is available now. When none
// is, it takes nothing and returns how long until one will be (for a
// Retry-After). shared is true when key has no bucket of its own and drew on
// the overflow bucket, which every such key shares: its refusal is not about
// key alone.
func (k *Keyed) Reserve(key string) (retryAfter time.Duration, ok, shared bool) {
	// Under the lock, so a sweep cannot drop the bucket between finding it
	// and taking its token.
	k.mu.Lock()
	defer k.mu.Unlock()
	b := k.bucket(key)
	wait, ok := b.Reserve(0)
	return wait, ok, b == k.overflow
}

// Len returns how many keys have a bucket of their own.
func (k *Keyed) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.buckets)
}

// bucket returns key's bucket, made if there is room, else the overflow
// bucket. k.mu is held.
func (k *Keyed) bucket(key string) *Bucket {
	if b, ok := k.buckets[key]; ok {
		return b
	}
	if len(k.buckets) >= k.maxKeys {
		k.sweep()
	}
	if len(k.buckets) >= k.maxKeys {
		return k.overflow
	}
	b := NewBucket(k.rate, k.burst, k.now)
	k.buckets[key] = b
	return b
}

// sweep drops the buckets that have refilled. It scans the map only once the
// first bucket the last scan kept has refilled: until then a scan would free
// nothing and cost each new key a pass over a full map.
func (k *Keyed) sweep() {
	now := k.now()
	if now < k.nextSweep {
		return
	}
	next := int64(math.MaxInt64)
	for key, b := range k.buckets {
		if tat := b.tat.Load(); tat <= now {
			delete(k.buckets, key)
		} else {
			next = min(next, tat)
		}
	}
	k.nextSweep = next
}
