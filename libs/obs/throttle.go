package obs

import (
	"sync/atomic"
	"time"
)

// Throttle keeps a flood of the same event (a dependency down, a client
// refused) to one log line an interval: Allow says which event to log, and how
// many that line stands for. The zero value is ready to use; it is safe for
// concurrent use.
type Throttle struct {
	Now func() time.Time // the clock; nil: time.Now

	last atomic.Int64 // when the last logged event happened (Unix ns)
	held atomic.Int64 // events since the last logged one, this one included
}

// Allow counts an event and reports whether to log it (the first in every
// interval of at least every), with the number of events it stands for: itself
// and those held back since the last one logged.
func (t *Throttle) Allow(every time.Duration) (events int64, ok bool) {
	n := t.held.Add(1)
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	at, last := now().UnixNano(), t.last.Load()
	if (last != 0 && at-last < int64(every)) || !t.last.CompareAndSwap(last, at) {
		return 0, false
	}
	t.held.Add(-n)
	return n, true
}
