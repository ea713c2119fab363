package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Tier is a class of callers with its own rate, queue and patience.
type Tier string

// The tiers of the platform.
const (
	Normal Tier = "normal"
	VIP    Tier = "vip"
	Robot  Tier = "robot"
)

// Policy is one tier's limits.
type Policy struct {
	Rate       float64       // tokens per second
	Burst      int           // tokens available at once; 1 when zero
	QueueDepth int           // requests that may wait for a token at once
	GiveUp     time.Duration // the longest a request waits before it is dropped
}

// Patience is how long a request under p may wait for a token: the tier's
// give-up time, or until ctx's deadline if sooner.
func (p Policy) Patience(ctx context.Context) time.Duration {
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < p.GiveUp {
		return time.Until(deadline)
	}
	return p.GiveUp
}

// DefaultPolicies are the platform's tiers: normal users 5 QPS, VIPs 20 QPS,
// robots (crawlers, scripts) 2 QPS.
func DefaultPolicies() map[Tier]Policy {
	return map[Tier]Policy{
		Normal: {Rate: 5, Burst: 1, QueueDepth: 100, GiveUp: 800 * time.Millisecond},
		VIP:    {Rate: 20, Burst: 1, QueueDepth: 300, GiveUp: 200 * time.Millisecond},
		Robot:  {Rate: 2, Burst: 1, QueueDepth: 10, GiveUp: 50 * time.Millisecond},
	}
}

// Reason says why a request was dropped.
type Reason string

// Reasons for RejectedError.
const (
	QueueFull Reason = "queue full"
	TooLate   Reason = "no token before the give-up time"
	Canceled  Reason = "caller gave up"
)

// RejectedError is returned when a request gets no token.
type RejectedError struct {
	Tier   Tier
	Reason Reason
	// Wait is how long the request would have had to wait (TooLate only).
	Wait time.Duration
	Err  error // the context's error (Canceled only)
}

func (e *RejectedError) Error() string {
	switch e.Reason {
	case TooLate:
		return fmt.Sprintf("ratelimit: %s tier: %s (needs %v)", e.Tier, e.Reason, e.Wait)
	case Canceled:
		return fmt.Sprintf("ratelimit: %s tier: %s: %v", e.Tier, e.Reason, e.Err)
	}
	return fmt.Sprintf("ratelimit: %s tier: %s", e.Tier, e.Reason)
}

func (e *RejectedError) Unwrap() error { return e.Err }

// ErrUnknownTier is returned for a tier the Limiter was not configured with.
var ErrUnknownTier = errors.New("ratelimit: unknown tier")

// Limiter applies a Policy per tier. Tiers are isolated: a VIP request never
// waits behind a normal or robot one, and within a tier requests get tokens in
// the order they asked for them (FIFO).
type Limiter struct {
	tiers map[Tier]*atomic.Pointer[tier]
	now   func() int64
}

type tier struct {
	name   Tier
	policy Policy
	bucket *Bucket
	queued atomic.Int64
}

// New returns a Limiter for policies; now is the clock in nanoseconds (nil: the
// monotonic clock).
func New(policies map[Tier]Policy, now func() int64) (*Limiter, error) {
	l := &Limiter{tiers: map[Tier]*atomic.Pointer[tier]{}, now: now}
	for name, p := range policies {
		t, err := newTier(name, p, now)
		if err != nil {
			return nil, err
		}
		l.tiers[name] = &atomic.Pointer[tier]{}
		l.tiers[name].Store(t)
	}
	return l, nil
}

func newTier(name Tier, p Policy, now func() int64) (*tier, error) {
	if p.Rate <= 0 || p.QueueDepth < 0 || p.GiveUp < 0 {
		return nil, fmt.Errorf("ratelimit: %s tier: rate must be positive and queue depth and give-up not negative, got %+v", name, p)
	}
	return &tier{name: name, policy: p, bucket: NewBucket(p.Rate, p.Burst, now)}, nil
}

// SetPolicy replaces a tier's policy at run time (e.g. from the config center).
// The new bucket starts full; requests already waiting keep their tokens.
func (l *Limiter) SetPolicy(name Tier, p Policy) error {
	slot, ok := l.tiers[name]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownTier, name)
	}
	t, err := newTier(name, p, l.now)
	if err != nil {
		return err
	}
	slot.Store(t)
	return nil
}

// Policy returns a tier's current policy.
func (l *Limiter) Policy(name Tier) (Policy, bool) {
	slot, ok := l.tiers[name]
	if !ok {
		return Policy{}, false
	}
	return slot.Load().policy, true
}

// Allow takes a token of the tier if one is available now. It never waits.
func (l *Limiter) Allow(name Tier) (bool, error) {
	slot, ok := l.tiers[name]
	if !ok {
		return false, fmt.Errorf("%w %q", ErrUnknownTier, name)
	}
	return slot.Load().bucket.Allow(), nil
}

// Wait returns once the request has a token of its tier. An over-limit request
// waits in the tier's queue; it is dropped with a *RejectedError when the queue is
// full, when no token would come before the tier's give-up time (or ctx's
// deadline, if sooner), or when ctx ends first.
func (l *Limiter) Wait(ctx context.Context, name Tier) error {
	r, err := l.Reserve(ctx, name)
	if err != nil {
		return err
	}
	return r.Wait(ctx)
}

// Reserve is Wait in two steps: it takes a token or a place in the tier's queue
// now, without waiting, so that requests reserved one after the other get their
// tokens in that order; Reservation.Wait then waits for the token. It fails like
// Wait when the queue is full or the token would come too late.
func (l *Limiter) Reserve(ctx context.Context, name Tier) (*Reservation, error) {
	slot, ok := l.tiers[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownTier, name)
	}
	t := slot.Load()
	if t.bucket.Allow() {
		return &Reservation{t: t}, nil
	}
	if t.queued.Add(1) > int64(t.policy.QueueDepth) {
		t.queued.Add(-1)
		return nil, &RejectedError{Tier: name, Reason: QueueFull}
	}
	patience := t.policy.Patience(ctx)
	// A reservation fixes the request's place in line: FIFO within the tier.
	wait, ok := t.bucket.Reserve(patience)
	if !ok {
		t.queued.Add(-1)
		return nil, &RejectedError{Tier: name, Reason: TooLate, Wait: wait}
	}
	return &Reservation{t: t, wait: wait, queued: true}, nil
}

// Reservation is a request's token, now or at a set time (see Reserve).
type Reservation struct {
	t      *tier
	wait   time.Duration
	queued bool // holds a place in the tier's queue until Wait returns
}

// Delay is how long the token is away when reserved (0: it was available).
func (r *Reservation) Delay() time.Duration { return r.wait }

// Wait waits for the reserved token. If ctx ends first, the token goes back to
// the bucket and the error is a *RejectedError with Reason Canceled.
func (r *Reservation) Wait(ctx context.Context) error {
	if !r.queued {
		return nil
	}
	defer r.t.queued.Add(-1)
	r.queued = false
	if r.wait == 0 {
		return nil
	}
	timer := time.NewTimer(r.wait)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		r.t.bucket.Cancel()
		return &RejectedError{Tier: r.t.name, Reason: Canceled, Err: ctx.Err()}
	}
}
