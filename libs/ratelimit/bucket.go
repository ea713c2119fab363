// Package ratelimit limits request rates per tier (normal users, VIPs, robots):
// a lock-free token bucket per tier, and a bounded queue in front of it where
// over-limit requests wait for a token until their tier's give-up time. Keyed
// is a bucket per caller instead (a client's address), for limits that are
// per caller, bounded in how many callers it keeps.
//
// The bucket is GCRA (the generic cell rate algorithm), a token bucket kept as a
// single number, the theoretical arrival time of the next request: taking a token
// is one atomic load and one compare-and-swap, refill is implied by elapsed time,
// and no goroutine runs per bucket.
package ratelimit

import (
	"sync/atomic"
	"time"
)

// Bucket is a token bucket: Rate tokens per second, up to Burst at once.
// It is safe for concurrent use and never blocks.
type Bucket struct {
	interval int64 // nanoseconds per token
	burst    int64 // nanoseconds of credit the bucket holds: Burst * interval
	now      func() int64
	// tat is the theoretical arrival time: the instant (ns, on now's clock) at
	// which the bucket will be full again. It only moves forward.
	tat atomic.Int64
}

// NewBucket returns a full bucket of rate tokens per second holding up to burst
// (at least 1). now is the clock in nanoseconds; nil means the monotonic clock.
func NewBucket(rate float64, burst int, now func() int64) *Bucket {
	if burst < 1 {
		burst = 1
	}
	if rate <= 0 {
		rate = 1e-9 // effectively closed: one token per 30 years
	}
	if now == nil {
		now = monotonicNow
	}
	interval := int64(float64(time.Second) / rate)
	return &Bucket{interval: interval, burst: int64(burst) * interval, now: now}
}

var start = time.Now()

func monotonicNow() int64 { return int64(time.Since(start)) }

// Allow takes a token if one is available now.
func (b *Bucket) Allow() bool {
	now := b.now()
	for {
		tat := b.tat.Load()
		next := max(tat, now) + b.interval
		if next-now > b.burst {
			return false
		}
		if b.tat.CompareAndSwap(tat, next) {
			return true
		}
	}
}

// Reserve takes a token that becomes available within maxWait and returns how
// long to wait for it. When none would come in time it takes nothing and returns
// false, with the wait that would have been needed.
func (b *Bucket) Reserve(maxWait time.Duration) (time.Duration, bool) {
	now := b.now()
	for {
		tat := b.tat.Load()
		next := max(tat, now) + b.interval
		wait := time.Duration(next - now - b.burst)
		if wait < 0 {
			wait = 0
		}
		if wait > maxWait {
			return wait, false
		}
		if b.tat.CompareAndSwap(tat, next) {
			return wait, true
		}
	}
}

// Cancel gives back a token taken by Reserve that will not be used, so that the
// requests queued behind it move up. Tokens handed out since are not affected.
func (b *Bucket) Cancel() {
	for {
		tat := b.tat.Load()
		if b.tat.CompareAndSwap(tat, tat-b.interval) {
			return
		}
	}
}
