package ratelimit

import (
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
	nextSweep int64 // the earliest instant a sweep can find a refilled bucket
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
// Retry-After).
func (k *Keyed) Reserve(key string) (retryAfter time.Duration, ok bool) {
	wait, ok := k.bucket(key).Reserve(0)
	return wait, ok
}

// Len returns how many keys have a bucket of their own.
func (k *Keyed) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.buckets)
}

func (k *Keyed) bucket(key string) *Bucket {
	k.mu.Lock()
	defer k.mu.Unlock()
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

// sweep drops the buckets that have refilled. It scans the map at most once per
// refill time (burst tokens' worth): a bucket never owes more than that, so one
// scan a refill time after the last frees every bucket unused since, and
// scanning more often would cost each new key a scan of a map that stays full.
func (k *Keyed) sweep() {
	now := k.now()
	if now < k.nextSweep {
		return
	}
	for key, b := range k.buckets {
		if b.tat.Load() <= now {
			delete(k.buckets, key)
		}
	}
	k.nextSweep = now + k.overflow.burst
}
