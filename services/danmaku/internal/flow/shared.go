package flow

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/monoreel/monoreel/libs/obs"
	"github.com/monoreel/monoreel/libs/ratelimit"
	"github.com/monoreel/monoreel/libs/ratelimit/redisgcra"
)

// KeyPrefix names a user's shared bucket: KeyPrefix + tier + ":" + user.
const KeyPrefix = "danmaku:gcra:"

// FallbackLogEvery is how often, at most, an instance logs that its shared
// limit's Redis does not answer.
const FallbackLogEvery = 10 * time.Second

// redisTimeout bounds a shared check: a comment waits no longer than this for
// a Redis that does not answer before it is limited locally alone (with no
// retry: a comment is better limited locally now than late).
const redisTimeout = 250 * time.Millisecond

// Shared is the users' buckets every instance shares, in one Redis.
type Shared struct {
	client    *redis.Client
	gcra      *redisgcra.Limiter
	log       *slog.Logger
	fallbacks prometheus.Counter
	warnings  obs.Throttle // of the fallbacks' log line
}

// NewShared keeps users' buckets in the Redis at addr; its counter of comments
// limited locally alone (danmaku_ratelimit_shared_fallbacks_total) is
// registered on reg.
func NewShared(addr string, log *slog.Logger, reg prometheus.Registerer) *Shared {
	fallbacks := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "danmaku_ratelimit_shared_fallbacks_total",
		Help: "Comments limited by this instance's bucket alone because the shared limit's Redis did not answer.",
	})
	reg.MustRegister(fallbacks)
	client := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: redisTimeout, ReadTimeout: redisTimeout, WriteTimeout: redisTimeout, MaxRetries: -1})
	return &Shared{client: client, gcra: redisgcra.New(client), log: log, fallbacks: fallbacks}
}

// Close closes the connections to Redis.
func (s *Shared) Close() error { return s.client.Close() }

// reserve takes u's shared token if it comes within maxWait and returns how
// long until it comes; a *ratelimit.RejectedError when it would come later or
// ctx ended. When Redis does not answer, the token is the local one alone: it
// returns 0, counted and logged.
func (s *Shared) reserve(ctx context.Context, u *User, p ratelimit.Policy, maxWait time.Duration) (time.Duration, error) {
	wait, taken, err := s.gcra.Reserve(ctx, KeyPrefix+string(u.tier)+":"+u.user, p, maxWait)
	switch {
	case ctx.Err() != nil:
		return 0, &ratelimit.RejectedError{Tier: u.tier, Reason: ratelimit.Canceled, Err: ctx.Err()}
	case err != nil:
		s.fellBack(err)
		return 0, nil
	case !taken:
		return 0, &ratelimit.RejectedError{Tier: u.tier, Reason: ratelimit.TooLate, Wait: wait}
	}
	return wait, nil
}

// fellBack counts a comment limited locally alone and logs the outage, at most
// every FallbackLogEvery.
func (s *Shared) fellBack(err error) {
	s.fallbacks.Inc()
	n, ok := s.warnings.Allow(FallbackLogEvery)
	if !ok {
		return
	}
	s.log.Warn("shared rate limit unreachable: limiting users by this instance's buckets alone", "error", err, "comments", n)
}
