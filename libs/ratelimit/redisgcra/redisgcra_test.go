package redisgcra

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/monoreel/monoreel/libs/ratelimit"
	"github.com/monoreel/monoreel/libs/testproc"
)

// TestOneBucketForEveryClient: two clients of one Redis (two processes, say)
// take tokens of one key's bucket: the burst, then one token per interval,
// whoever asks; the key expires once the bucket is full again; another policy
// starts the bucket afresh.
func TestOneBucketForEveryClient(t *testing.T) {
	addr := testproc.FreeAddr(t)
	redisProc := testproc.StartRedis(t, addr)
	ctx := context.Background()
	var limiters []*Limiter
	var client *redis.Client
	for range 2 {
		client = redis.NewClient(&redis.Options{Addr: addr})
		defer client.Close()
		limiters = append(limiters, New(client))
	}
	p := ratelimit.Policy{Rate: 10, Burst: 2}
	reserve := func(l *Limiter, p ratelimit.Policy, maxWait time.Duration) (time.Duration, bool) {
		t.Helper()
		wait, ok, err := l.Reserve(ctx, "k", p, maxWait)
		if err != nil {
			t.Fatal(err)
		}
		return wait, ok
	}
	for i := range 2 {
		if wait, ok := reserve(limiters[i], p, 0); !ok || wait != 0 {
			t.Fatalf("token %d of a burst of 2: %v, %v", i, wait, ok)
		}
	}
	if wait, ok := reserve(limiters[0], p, 0); ok || wait <= 0 || wait > 100*time.Millisecond {
		t.Fatalf("a third token at once: %v, %v; want refused, about 100ms away", wait, ok)
	}
	// Refused calls took nothing: the next token is still about 100ms away,
	// the one after it about 200ms.
	wait1, ok1 := reserve(limiters[1], p, time.Second)
	wait2, ok2 := reserve(limiters[0], p, time.Second)
	if !ok1 || !ok2 || wait1 > 100*time.Millisecond || wait2 <= wait1 || wait2 > 200*time.Millisecond {
		t.Fatalf("queued tokens: %v %v, %v %v; want about 100ms and 200ms away", wait1, ok1, wait2, ok2)
	}
	if ttl := client.PTTL(ctx, "k").Val(); ttl <= 0 || ttl > 401*time.Millisecond {
		t.Errorf("the key expires in %v, want when the bucket is full again (in about 400ms)", ttl)
	}
	// A raised limit applies at once: a fresh bucket.
	if wait, ok := reserve(limiters[1], ratelimit.Policy{Rate: 1000, Burst: 5}, 0); !ok || wait != 0 {
		t.Fatalf("after a policy change: %v, %v; want a token now", wait, ok)
	}

	redisProc.Stop()
	if _, _, err := limiters[0].Reserve(ctx, "k", p, 0); err == nil {
		t.Error("no error with Redis stopped")
	}
}

// TestClosedBucket: a rate that is not positive gives the burst, then nothing.
func TestClosedBucket(t *testing.T) {
	addr := testproc.FreeAddr(t)
	testproc.StartRedis(t, addr)
	client := redis.NewClient(&redis.Options{Addr: addr})
	defer client.Close()
	l := New(client)
	ctx := context.Background()
	for i, want := range []bool{true, false} {
		if _, ok, err := l.Reserve(ctx, "closed", ratelimit.Policy{Rate: 0, Burst: 1}, time.Hour); err != nil || ok != want {
			t.Fatalf("call %d: %v, %v; want %v", i, ok, err, want)
		}
	}
}
