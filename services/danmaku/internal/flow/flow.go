// Package flow is danmaku's per-user flow control: every user gets a token bucket
// with their tier's policy (libs/ratelimit), shared by all their connections.
// Policies come from the config center under a key prefix, one JSON policy per
// tier, and apply to every user as soon as they change there.
//
// With Share, a user's limit holds across instances: a comment this instance's
// bucket allows is then checked against the user's bucket in Redis
// (libs/ratelimit/redisgcra, key danmaku:gcra:<tier>:<user>), under the same
// current policy. The local bucket stays the fast path: a comment it refuses or
// queues costs no round trip then (a queued one is checked against Redis when
// its local token comes), so a user flooding one instance costs Redis at most
// the tier's rate in calls.
//
// Tolerance: while Redis answers, a user gets at most the tier's rate and burst
// across every instance, as from one bucket (when the config center changes a
// policy, instances that have not seen it yet may start the user's shared
// bucket afresh once more each: a burst more per instance). While Redis does
// not answer, each instance limits by its own bucket alone, so a user on N
// instances gets up to N times the tier's rate; every such comment is counted
// (danmaku_ratelimit_shared_fallbacks_total) and the outage logged at most
// every FallbackLogEvery.
package flow

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/monoreel/monoreel/libs/config"
	"github.com/monoreel/monoreel/libs/ratelimit"
)

// Controller hands out users' limiters.
type Controller struct {
	mu       sync.Mutex
	policies map[ratelimit.Tier]ratelimit.Policy
	version  atomic.Int64 // bumped by every policy change
	users    map[string]*User
	shared   *Shared // nil: this instance's buckets only
}

// Share makes users' limits hold across the instances that share s's Redis.
func (c *Controller) Share(s *Shared) *Controller {
	c.shared = s
	return c
}

// New returns a Controller with the platform's default policies.
func New() *Controller {
	return &Controller{policies: ratelimit.DefaultPolicies(), users: map[string]*User{}}
}

// Policy returns a tier's current policy.
func (c *Controller) Policy(tier ratelimit.Tier) (ratelimit.Policy, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.policies[tier]
	return p, ok
}

// SetPolicy changes a tier's policy for every user.
func (c *Controller) SetPolicy(tier ratelimit.Tier, p ratelimit.Policy) {
	c.mu.Lock()
	c.policies[tier] = p
	c.mu.Unlock()
	c.version.Add(1)
}

// User is one user's limiter, shared by their connections.
type User struct {
	c       *Controller
	key     string
	user    string
	tier    ratelimit.Tier
	refs    int
	mu      sync.Mutex
	version int64
	limiter *ratelimit.Limiter
}

// Acquire returns the limiter of a user at a tier; Release it when the
// connection ends.
func (c *Controller) Acquire(userID string, tier ratelimit.Tier) *User {
	key := string(tier) + "/" + userID
	c.mu.Lock()
	defer c.mu.Unlock()
	u := c.users[key]
	if u == nil {
		u = &User{c: c, key: key, user: userID, tier: tier, version: -1}
		c.users[key] = u
	}
	u.refs++
	return u
}

// Release ends one connection's use of u.
func (u *User) Release() {
	u.c.mu.Lock()
	defer u.c.mu.Unlock()
	if u.refs--; u.refs == 0 {
		delete(u.c.users, u.key)
	}
}

// ReleaseAfterRefill ends one call's use of u once the user's bucket has had
// time to fill up again (burst / rate, under the tier's current policy): until
// then a new call of the user gets this limiter, empty as this one left it. A
// client posting one call at a time (danmaku's Post) is so limited as over one
// connection, and a user seen no more is forgotten as soon as forgetting
// changes nothing: a new bucket starts full, as this one is by then.
func (u *User) ReleaseAfterRefill() {
	p, _ := u.c.Policy(u.tier)
	time.AfterFunc(RefillTime(p), u.Release)
}

// RefillTime is how long an empty bucket under p takes to fill up.
func RefillTime(p ratelimit.Policy) time.Duration {
	if p.Rate <= 0 {
		return 0
	}
	return time.Duration(float64(max(p.Burst, 1)) / p.Rate * float64(time.Second))
}

// current returns the user's limiter, rebuilt if the policy changed since.
func (u *User) current() *ratelimit.Limiter {
	v := u.c.version.Load()
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.version != v {
		p, _ := u.c.Policy(u.tier)
		if u.limiter == nil {
			u.limiter, _ = ratelimit.New(map[ratelimit.Tier]ratelimit.Policy{u.tier: p}, nil)
		} else {
			u.limiter.SetPolicy(u.tier, p) // policies are validated before they get here
		}
		u.version = v
	}
	return u.limiter
}

// Reserve takes a token now or a place in the user's queue (comments reserved
// one after the other are posted in that order); a *ratelimit.RejectedError
// says why it got neither. With a shared limit (Share), a token the local
// bucket gives now is also taken from the user's shared bucket, and the
// reservation waits for both.
func (u *User) Reserve(ctx context.Context) (*Reservation, error) {
	limiter := u.current()
	local, err := limiter.Reserve(ctx, u.tier)
	if err != nil {
		return nil, err
	}
	r := &Reservation{u: u, local: local}
	if u.c.shared == nil {
		return r, nil
	}
	r.policy, _ = limiter.Policy(u.tier)
	r.deadline = time.Now().Add(r.policy.Patience(ctx))
	if local.Delay() > 0 {
		// Queued here: the shared bucket is asked when the local token comes.
		r.checkLater = true
		return r, nil
	}
	if err := r.checkShared(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Reservation is a comment's token, now or at a set time (see User.Reserve).
type Reservation struct {
	u     *User
	local *ratelimit.Reservation
	// With a shared limit: the policy the local token was taken under, by when
	// the shared token must come, whether it is still to be asked for (the
	// local one was queued), and when it comes.
	policy     ratelimit.Policy
	deadline   time.Time
	checkLater bool
	sharedAt   time.Time
	sharedWait time.Duration
}

// Delay is how long the token is away when reserved (0: it was available).
// A comment queued here may wait longer still for its shared token.
func (r *Reservation) Delay() time.Duration { return max(r.local.Delay(), r.sharedWait) }

// Wait waits for the reserved token. It fails with a *ratelimit.RejectedError
// when ctx ends first, or when the shared token, asked for once the local one
// came, would come after the tier's give-up time.
func (r *Reservation) Wait(ctx context.Context) error {
	if err := r.local.Wait(ctx); err != nil {
		return err
	}
	if r.checkLater {
		r.checkLater = false
		if err := r.checkShared(ctx); err != nil {
			return err
		}
	}
	wait := time.Until(r.sharedAt)
	if wait <= 0 {
		return nil
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return &ratelimit.RejectedError{Tier: r.u.tier, Reason: ratelimit.Canceled, Err: ctx.Err()}
	}
}

// checkShared takes the user's shared token, if one comes by r.deadline.
func (r *Reservation) checkShared(ctx context.Context) error {
	now := time.Now()
	wait, err := r.u.c.shared.reserve(ctx, r.u, r.policy, max(0, r.deadline.Sub(now)))
	if err != nil {
		return err
	}
	r.sharedAt, r.sharedWait = now.Add(wait), wait
	return nil
}

// Follow applies the policies under prefix in the config center (keys
// prefix+"normal", prefix+"vip", prefix+"robot") now and whenever they change,
// until ctx ends. A policy that does not parse is logged, naming the key and the
// problem, and the tier keeps its current policy.
func (c *Controller) Follow(ctx context.Context, client *config.Client, prefix string, log *slog.Logger) {
	client.Follow(ctx, prefix, func(e config.Event) {
		if e.Type == config.Put {
			c.apply(e.KV, prefix, log)
		}
	})
}

func (c *Controller) apply(kv config.KV, prefix string, log *slog.Logger) {
	tier := ratelimit.Tier(strings.TrimPrefix(kv.Key, prefix))
	if _, known := c.Policy(tier); !known {
		log.Warn("ignoring a rate-limit policy for an unknown tier", "key", kv.Key)
		return
	}
	p, err := ratelimit.ParsePolicy(tier, kv.Value)
	if err != nil {
		log.Error("keeping the current rate-limit policy: the new one is invalid", "key", kv.Key, "err", err)
		return
	}
	c.SetPolicy(tier, p)
	log.Info("rate-limit policy changed", "tier", tier, "rate", p.Rate, "burst", p.Burst, "queue_depth", p.QueueDepth, "give_up", p.GiveUp)
}
