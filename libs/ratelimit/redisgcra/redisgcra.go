// Package redisgcra is libs/ratelimit's bucket (GCRA) kept in Redis, so that
// several processes share one limit per key: each key holds the theoretical
// arrival time of its next request, and one Lua script reads, checks and moves
// it atomically.
//
// The script reads the time from Redis (TIME), never from the caller: the
// processes' clocks may disagree, Redis's is the one every caller sees. A key
// expires (PEXPIRE) once its bucket is full again, so idle keys cost nothing.
// The key also records the policy it was last used with; a call with another
// policy starts the key afresh (full), as ratelimit.Limiter.SetPolicy starts a
// fresh bucket: a limit raised in the config center applies at once rather than
// after the old, slower schedule has run out.
//
// The limit is exact while Redis answers: however many processes call Reserve
// for a key, the calls it allows are those one bucket would allow.
package redisgcra

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/monoreel/monoreel/libs/ratelimit"
)

// reserve is Bucket.Reserve on a key: times in microseconds of Redis's clock.
// ARGV: interval (µs per token), burst (µs of credit: Burst * interval), the
// longest wait the caller accepts (µs), and the policy's fingerprint. It
// returns {1, wait} having taken a token that comes after wait, or {0, wait}
// having taken nothing (wait is then what a token would have needed).
//
// Numbers are written back with %d: Lua numbers are doubles, and Redis would
// format one of 16 digits (a time in µs) in exponent notation, losing digits.
var reserve = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, burst, maxwait = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tat', 'policy')
local tat = tonumber(state[1])
if tat == nil or state[2] ~= ARGV[4] or tat < now then
  tat = now
end
local nxt = tat + interval
local wait = nxt - now - burst
if wait < 0 then
  wait = 0
end
if wait > maxwait then
  return {0, wait}
end
redis.call('HSET', KEYS[1], 'tat', string.format('%d', nxt), 'policy', ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.floor((nxt - now) / 1000) + 1)
return {1, wait}
`)

// Limiter reserves tokens of keys in one Redis.
type Limiter struct {
	client redis.Scripter
}

// New returns a Limiter on client (a *redis.Client, a cluster client...).
func New(client redis.Scripter) *Limiter { return &Limiter{client: client} }

// Reserve takes a token of key's bucket under policy p (its Rate and Burst) if
// one comes within maxWait, and returns how long until it comes. When none
// would come in time it takes nothing and returns false with the wait that
// would have been needed. err is Redis's (unreachable, a timeout...): then
// nothing is known of the bucket.
func (l *Limiter) Reserve(ctx context.Context, key string, p ratelimit.Policy, maxWait time.Duration) (time.Duration, bool, error) {
	interval, burst := costs(p)
	res, err := reserve.Run(ctx, l.client, []string{key},
		interval, burst*interval, maxWait.Microseconds(), fmt.Sprintf("%d/%d", interval, burst)).Int64Slice()
	if err != nil {
		return 0, false, err
	}
	if len(res) != 2 {
		return 0, false, fmt.Errorf("redisgcra: the script answered %v, want {taken, wait}", res)
	}
	return time.Duration(res[1]) * time.Microsecond, res[0] == 1, nil
}

// costs returns a policy's interval between tokens (µs, at least 1) and its
// burst (tokens, at least 1), as ratelimit.NewBucket reads them (a rate that is
// not positive closes the bucket).
func costs(p ratelimit.Policy) (interval, burst int64) {
	rate := p.Rate
	if rate <= 0 {
		rate = 1e-9
	}
	return max(1, int64(math.Round(1e6/rate))), max(1, int64(p.Burst))
}
