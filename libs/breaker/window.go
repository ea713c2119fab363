package breaker

import (
	"sync/atomic"
	"time"
)

// counts are the calls of a stretch of time.
type counts struct{ total, failed int64 }

// window is a sliding window of n buckets of size ms each, as a ring. A bucket
// whose start is older than the window is reset on first touch, so nothing ticks
// in the background; adding to the current bucket is two atomic adds.
type window struct {
	size    int64 // bucket length, ms
	buckets []bucket
}

type bucket struct {
	start         atomic.Int64 // ms; which stretch of time the counts belong to
	total, failed atomic.Int64
	_             [32]byte // keep buckets on separate cache lines
}

func newWindow(length time.Duration, n int) *window {
	return &window{size: length.Milliseconds() / int64(n), buckets: make([]bucket, n)}
}

// current returns the bucket for time now (ms), reset if it held older counts.
func (w *window) current(now int64) *bucket {
	start := now - now%w.size
	b := &w.buckets[(now/w.size)%int64(len(w.buckets))]
	for {
		old := b.start.Load()
		if old == start {
			return b
		}
		if old > start {
			return b // a racing call already moved it on; count here
		}
		if b.start.CompareAndSwap(old, start) {
			// The few calls racing with this reset may land in either stretch.
			b.total.Store(0)
			b.failed.Store(0)
			return b
		}
	}
}

func (w *window) add(now int64, c counts) {
	b := w.current(now)
	b.total.Add(c.total)
	if c.failed != 0 {
		b.failed.Add(c.failed)
	}
}

// sum adds up the buckets within the window ending at now.
func (w *window) sum(now int64) counts {
	var c counts
	oldest := now - now%w.size - w.size*int64(len(w.buckets)-1)
	for i := range w.buckets {
		b := &w.buckets[i]
		if b.start.Load() >= oldest {
			c.total += b.total.Load()
			c.failed += b.failed.Load()
		}
	}
	return c
}
