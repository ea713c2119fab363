package flow

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/monoreel/monoreel/libs/config"
	"github.com/monoreel/monoreel/libs/config/configtest"
	"github.com/monoreel/monoreel/libs/ratelimit"
	"github.com/monoreel/monoreel/libs/testutil"
)

func TestUsersHaveTheirOwnBuckets(t *testing.T) {
	c := New()
	c.SetPolicy(ratelimit.Robot, ratelimit.Policy{Rate: 0.001, Burst: 1, QueueDepth: 0})
	a, b := c.Acquire("a", ratelimit.Robot), c.Acquire("b", ratelimit.Robot)
	if !allowed(a) || allowed(a) {
		t.Fatal("a: want one token, then none")
	}
	if !allowed(b) {
		t.Fatal("b waits behind a: buckets are not per user")
	}
	// A second connection of a shares a's bucket.
	again := c.Acquire("a", ratelimit.Robot)
	if again != a || allowed(again) {
		t.Fatal("a's second connection has a fresh bucket")
	}
	_, err := a.Reserve(context.Background())
	var rejected *ratelimit.RejectedError
	if !errors.As(err, &rejected) || rejected.Reason != ratelimit.QueueFull {
		t.Fatalf("Wait with no queue = %v, want QueueFull", err)
	}
	again.Release()
	a.Release()
	b.Release()
	if len(c.users) != 0 {
		t.Errorf("users after release: %v", c.users)
	}
}

// TestReleaseAfterRefillKeepsTheBucket: a call that ends leaves the user's
// bucket as it was while it refills, so the next call is not given a fresh
// one; once full again, the user is forgotten.
func TestReleaseAfterRefillKeepsTheBucket(t *testing.T) {
	c := New()
	p := ratelimit.Policy{Rate: 5, Burst: 1, QueueDepth: 0}
	c.SetPolicy(ratelimit.Robot, p)
	first := c.Acquire("bot", ratelimit.Robot)
	if !allowed(first) {
		t.Fatal("want a token")
	}
	first.ReleaseAfterRefill()
	next := c.Acquire("bot", ratelimit.Robot)
	if next != first || allowed(next) {
		t.Fatal("the next call got a fresh bucket")
	}
	next.Release()
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.users) == 0
	})
	if got := RefillTime(p); got != 200*time.Millisecond {
		t.Errorf("RefillTime(5/s, burst 1) = %v, want 200ms", got)
	}
}

// TestFollowsTheConfigCenter: a policy put in the config center applies to users
// already connected; an invalid one is logged by key and changes nothing.
func TestFollowsTheConfigCenter(t *testing.T) {
	store := config.NewMemory(0)
	configtest.MustPut(t, store, "danmaku/ratelimit/robot", `{"rate":0.001,"burst":1,"queue_depth":0,"give_up":"0s"}`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client, err := config.Open(ctx, store, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	logs := &testutil.Buffer{}
	c := New()
	go c.Follow(ctx, client, "danmaku/ratelimit/", slog.New(slog.NewTextHandler(logs, nil)))
	waitFor(t, func() bool { p, _ := c.Policy(ratelimit.Robot); return p.Rate == 0.001 })

	u := c.Acquire("bot", ratelimit.Robot)
	defer u.Release()
	if !allowed(u) || allowed(u) {
		t.Fatal("want one token at the configured policy")
	}
	configtest.MustPut(t, store, "danmaku/ratelimit/robot", `{"rate":1000,"burst":50,"queue_depth":0,"give_up":"0s"}`)
	waitFor(t, func() bool { return allowed(u) })

	configtest.MustPut(t, store, "danmaku/ratelimit/robot", `{"rate":-1,"burst":1,"queue_depth":0,"give_up":"0s"}`)
	waitFor(t, func() bool {
		return strings.Contains(logs.String(), "danmaku/ratelimit/robot") && strings.Contains(logs.String(), "rate must be positive")
	})
	if p, _ := c.Policy(ratelimit.Robot); p.Rate != 1000 {
		t.Errorf("an invalid policy replaced the good one: %+v", p)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// allowed reports whether u gets a token right away.
func allowed(u *User) bool {
	r, err := u.Reserve(context.Background())
	return err == nil && r.Delay() == 0
}
