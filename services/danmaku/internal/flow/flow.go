// Package flow is danmaku's per-user flow control: every user gets a token bucket
// with their tier's policy (libs/ratelimit), shared by all their connections.
// Policies come from the config center under a key prefix, one JSON policy per
// tier, and apply to every user as soon as they change there.
package flow

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/monoreel/monoreel/libs/config"
	"github.com/monoreel/monoreel/libs/ratelimit"
)

// Controller hands out users' limiters.
type Controller struct {
	mu       sync.Mutex
	policies map[ratelimit.Tier]ratelimit.Policy
	version  atomic.Int64 // bumped by every policy change
	users    map[string]*User
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
		u = &User{c: c, key: key, tier: tier, version: -1}
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
// says why it got neither.
func (u *User) Reserve(ctx context.Context) (*ratelimit.Reservation, error) {
	return u.current().Reserve(ctx, u.tier)
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
