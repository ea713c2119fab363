// Package breaker stops calling a dependency that has become slow or failing, and
// probes it carefully before trusting it again (a circuit breaker).
//
// A Breaker is closed (calls pass) until its Rule trips over a sliding window of
// recent calls: too large a ratio of slow calls (slower than MaxRT), too large a
// ratio of errors, or too many errors. It then opens (calls fail fast with
// *OpenError) for OpenFor, then goes half-open: it lets Probes calls through, and
// closes again if they all succeed in time, or opens again at the first that does
// not. Rules can be replaced while calls flow (SetRule) without losing the window.
package breaker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Strategy is what trips the breaker.
type Strategy int

const (
	// SlowRatio trips when the share of calls slower than MaxRT exceeds Threshold.
	SlowRatio Strategy = iota
	// ErrorRatio trips when the share of failed calls exceeds Threshold.
	ErrorRatio
	// ErrorCount trips when the number of failed calls reaches Threshold.
	ErrorCount
)

func (s Strategy) String() string {
	switch s {
	case SlowRatio:
		return "slow-call ratio"
	case ErrorRatio:
		return "error ratio"
	case ErrorCount:
		return "error count"
	}
	return fmt.Sprintf("Strategy(%d)", int(s))
}

// Rule configures a Breaker.
type Rule struct {
	Strategy  Strategy
	Threshold float64       // a ratio in (0, 1], or a count for ErrorCount
	MaxRT     time.Duration // SlowRatio: a call slower than this is slow (ms precision)
	MinCalls  int           // no tripping before this many calls in the window
	Window    time.Duration // the sliding window's length
	Buckets   int           // the window's resolution: Window/Buckets per bucket
	OpenFor   time.Duration // how long to fail fast before probing
	Probes    int           // calls let through when half-open; all must succeed
}

// DefaultRule trips when over half of at least 20 calls in 10 s were slower than
// maxRT, and probes with 3 calls after 5 s.
func DefaultRule(maxRT time.Duration) Rule {
	return Rule{Strategy: SlowRatio, Threshold: 0.5, MaxRT: maxRT, MinCalls: 20,
		Window: 10 * time.Second, Buckets: 10, OpenFor: 5 * time.Second, Probes: 3}
}

func (r Rule) validate() error {
	switch {
	case r.Strategy < SlowRatio || r.Strategy > ErrorCount:
		return fmt.Errorf("breaker: unknown strategy %d", r.Strategy)
	case r.Strategy != ErrorCount && (r.Threshold <= 0 || r.Threshold > 1):
		return fmt.Errorf("breaker: %s threshold %v outside (0, 1]", r.Strategy, r.Threshold)
	case r.Strategy == ErrorCount && r.Threshold < 1:
		return fmt.Errorf("breaker: error count threshold %v below 1", r.Threshold)
	case r.Strategy == SlowRatio && r.MaxRT < time.Millisecond:
		return fmt.Errorf("breaker: slow-call ratio needs MaxRT of at least 1ms, got %v", r.MaxRT)
	case r.Window < time.Millisecond || r.Buckets < 1 || r.Window/time.Duration(r.Buckets) < time.Millisecond:
		return fmt.Errorf("breaker: window %v in %d buckets: want buckets of at least 1ms", r.Window, r.Buckets)
	case r.OpenFor <= 0 || r.Probes < 1 || r.MinCalls < 0:
		return fmt.Errorf("breaker: want OpenFor > 0, Probes >= 1 and MinCalls >= 0, got %v, %d, %d", r.OpenFor, r.Probes, r.MinCalls)
	}
	return nil
}

// State is a breaker's state.
type State int32

// The states.
const (
	Closed State = iota
	Open
	HalfOpen
)

func (s State) String() string {
	return [...]string{"closed", "open", "half-open"}[s]
}

// OpenError is returned instead of calling through an open breaker (or a
// half-open one whose probes are all out).
type OpenError struct {
	Name  string
	State State
	Until time.Time // when the breaker goes half-open (zero when half-open)
}

func (e *OpenError) Error() string {
	if e.State == HalfOpen {
		return fmt.Sprintf("breaker %s: half-open, probes in flight", e.Name)
	}
	return fmt.Sprintf("breaker %s: open until %s", e.Name, e.Until.Format(time.RFC3339Nano))
}

// ErrOpen matches every *OpenError with errors.Is.
var ErrOpen = errors.New("breaker open")

func (e *OpenError) Is(target error) bool { return target == ErrOpen }

// Breaker guards calls to one dependency. It is safe for concurrent use.
type Breaker struct {
	name string
	now  func() time.Time

	rule   atomic.Pointer[Rule]
	window atomic.Pointer[window]
	state  atomic.Int32

	// The done funcs Allow hands out, bound once so a call allocates nothing.
	closedDone, probeDone func(time.Duration, error)

	mu        sync.Mutex // serialises state transitions (never held during a call)
	openUntil atomic.Int64
	probesOut atomic.Int32 // half-open: probes handed out
	probesOK  atomic.Int32 // half-open: probes that succeeded
	onChange  []func(from, to State)
}

// Option configures a Breaker.
type Option func(*Breaker)

// WithClock sets the clock (for tests).
func WithClock(now func() time.Time) Option { return func(b *Breaker) { b.now = now } }

// OnStateChange registers a callback for every transition (for logs and metrics;
// several may be registered). It runs synchronously; keep it short.
func OnStateChange(f func(from, to State)) Option {
	return func(b *Breaker) { b.onChange = append(b.onChange, f) }
}

// New returns a closed Breaker named name (used in errors).
func New(name string, rule Rule, opts ...Option) (*Breaker, error) {
	if err := rule.validate(); err != nil {
		return nil, err
	}
	b := &Breaker{name: name, now: time.Now}
	for _, opt := range opts {
		opt(b)
	}
	b.rule.Store(&rule)
	b.window.Store(newWindow(rule.Window, rule.Buckets))
	b.closedDone = func(rt time.Duration, err error) { b.recordClosed(b.now(), rt, err) }
	b.probeDone = b.recordProbe
	return b, nil
}

// State returns the current state.
func (b *Breaker) State() State { return State(b.state.Load()) }

// Rule returns the current rule.
func (b *Breaker) Rule() Rule { return *b.rule.Load() }

// SetRule replaces the rule while calls flow. A window of the same length and
// resolution is kept as it is; otherwise the calls counted so far are carried
// into the new window, so a breaker about to trip is not reset by a rule change.
func (b *Breaker) SetRule(rule Rule) error {
	if err := rule.validate(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.rule.Load()
	if old.Window != rule.Window || old.Buckets != rule.Buckets {
		now := b.now().UnixMilli()
		carried := newWindow(rule.Window, rule.Buckets)
		carried.add(now, b.window.Load().sum(now))
		b.window.Store(carried)
	}
	b.rule.Store(&rule)
	return nil
}

// Do calls fn unless the breaker is open, and records how it went: its error and
// how long it took. Errors of fn are returned as they are.
func (b *Breaker) Do(ctx context.Context, fn func(context.Context) error) error {
	state, err := b.allow()
	if err != nil {
		return err
	}
	start := b.now()
	err = fn(ctx)
	end := b.now()
	if state == Closed {
		b.recordClosed(end, end.Sub(start), err)
	} else {
		b.recordProbe(end.Sub(start), err)
	}
	return err
}

// Allow asks to make a call. If allowed, the caller must report the call's
// duration and error through done, exactly once.
func (b *Breaker) Allow() (done func(rt time.Duration, err error), err error) {
	state, err := b.allow()
	switch {
	case err != nil:
		return nil, err
	case state == Closed:
		return b.closedDone, nil
	}
	return b.probeDone, nil
}

// allow admits a call and says in which state: Closed, or HalfOpen for a probe.
func (b *Breaker) allow() (State, error) {
	for {
		switch State(b.state.Load()) {
		case Closed:
			return Closed, nil
		case Open:
			until := b.openUntil.Load()
			if b.now().UnixNano() < until {
				return Open, &OpenError{Name: b.name, State: Open, Until: time.Unix(0, until)}
			}
			b.transition(Open, HalfOpen)
		default: // HalfOpen
			if b.probesOut.Add(1) > int32(b.rule.Load().Probes) {
				return HalfOpen, &OpenError{Name: b.name, State: HalfOpen}
			}
			return HalfOpen, nil
		}
	}
}

// failed says whether a call counts against the dependency under rule.
func failed(rule *Rule, rt time.Duration, err error) bool {
	if rule.Strategy == SlowRatio {
		return rt.Milliseconds() > rule.MaxRT.Milliseconds()
	}
	return err != nil
}

func (b *Breaker) recordClosed(end time.Time, rt time.Duration, err error) {
	rule := b.rule.Load()
	now := end.UnixMilli()
	w := b.window.Load()
	c := counts{total: 1}
	if failed(rule, rt, err) {
		c.failed = 1
	}
	w.add(now, c)
	if c.failed == 0 && rule.Strategy != ErrorCount {
		return // a good call cannot trip a ratio
	}
	sum := w.sum(now)
	if sum.total < int64(rule.MinCalls) {
		return
	}
	var trip bool
	if rule.Strategy == ErrorCount {
		trip = float64(sum.failed) >= rule.Threshold
	} else {
		trip = float64(sum.failed)/float64(sum.total) > rule.Threshold
	}
	if trip {
		b.transition(Closed, Open)
	}
}

func (b *Breaker) recordProbe(rt time.Duration, err error) {
	rule := b.rule.Load()
	if failed(rule, rt, err) || (rule.Strategy == SlowRatio && err != nil) {
		b.transition(HalfOpen, Open)
		return
	}
	if b.probesOK.Add(1) >= int32(rule.Probes) {
		b.transition(HalfOpen, Closed)
	}
}

// transition moves from -> to if the breaker is still in from.
func (b *Breaker) transition(from, to State) {
	b.mu.Lock()
	if State(b.state.Load()) != from {
		b.mu.Unlock()
		return
	}
	rule := b.rule.Load()
	switch to {
	case Open:
		b.openUntil.Store(b.now().Add(rule.OpenFor).UnixNano())
	case HalfOpen:
		b.probesOut.Store(0)
		b.probesOK.Store(0)
	case Closed:
		b.window.Store(newWindow(rule.Window, rule.Buckets))
	}
	b.state.Store(int32(to))
	b.mu.Unlock()
	for _, f := range b.onChange {
		f(from, to)
	}
}
