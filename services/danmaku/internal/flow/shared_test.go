package flow

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/monoreel/monoreel/libs/config"
	"github.com/monoreel/monoreel/libs/config/configtest"
	"github.com/monoreel/monoreel/libs/ratelimit"
	"github.com/monoreel/monoreel/libs/testproc"
	"github.com/monoreel/monoreel/libs/testutil"
)

// instance is one danmaku instance's flow control, sharing limits through Redis.
type instance struct {
	*Controller
	shared *Shared
	logs   *testutil.Buffer
}

// instances starts a real Redis and returns n controllers sharing it, as n
// danmaku instances would, and the Redis (to stop it).
func instances(t *testing.T, n int) ([]instance, *testproc.Process) {
	addr := testproc.FreeAddr(t)
	redis := testproc.StartRedis(t, addr)
	var all []instance
	for range n {
		logs := &testutil.Buffer{}
		s := NewShared(addr, slog.New(slog.NewTextHandler(logs, nil)), prometheus.NewRegistry())
		t.Cleanup(func() { s.Close() })
		all = append(all, instance{New().Share(s), s, logs})
	}
	return all, redis
}

// TestAUserIsLimitedAcrossInstances: a user posting as fast as they can
// through two instances gets the tier's rate overall, not twice it.
func TestAUserIsLimitedAcrossInstances(t *testing.T) {
	const rate, burst = 20, 1
	all, _ := instances(t, 2)
	var users []*User
	for _, in := range all {
		in.SetPolicy(ratelimit.Normal, ratelimit.Policy{Rate: rate, Burst: burst})
		u := in.Acquire("ann", ratelimit.Normal)
		defer u.Release()
		users = append(users, u)
	}
	accepted, perInstance := 0, make([]int, 2)
	start := time.Now()
	for i := 0; time.Since(start) < 1500*time.Millisecond; i++ {
		if allowed(users[i%2]) {
			accepted++
			perInstance[i%2]++
		}
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(start).Seconds()
	// One bucket allows its burst plus one token per 1/rate; each instance's
	// own bucket would allow as much again.
	if most := burst + rate*elapsed + 1; float64(accepted) > most {
		t.Errorf("accepted %d (%v per instance) in %.2fs, want at most %.1f (rate %d/s, burst %d, shared)", accepted, perInstance, elapsed, most, rate, burst)
	}
	if least := rate * elapsed / 2; float64(accepted) < least {
		t.Errorf("accepted %d in %.2fs, want at least %.1f: the shared limit refuses what it should allow", accepted, elapsed, least)
	}
}

// TestQueuedCommentsWaitForTheSharedToken: comments through three instances
// at once, each allowed now by its instance's bucket, are spaced by the tier's
// interval by the shared bucket; a comment queued by its instance's bucket asks
// the shared one when its local token comes, and is refused if the shared
// token would then come past the give-up time.
func TestQueuedCommentsWaitForTheSharedToken(t *testing.T) {
	all, _ := instances(t, 3)
	policy := ratelimit.Policy{Rate: 10, Burst: 1, QueueDepth: 10, GiveUp: 250 * time.Millisecond}
	var users []*User
	for _, in := range all {
		in.SetPolicy(ratelimit.VIP, policy)
		u := in.Acquire("vera", ratelimit.VIP)
		defer u.Release()
		users = append(users, u)
	}
	ctx := context.Background()
	reserve := func(u *User) *Reservation {
		t.Helper()
		r, err := u.Reserve(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// The shared schedule: one token per 100ms. Instance 0's second comment
	// waits for its local token (100ms), instances 1 and 2 for shared ones.
	first, queued, second, third := reserve(users[0]), reserve(users[0]), reserve(users[1]), reserve(users[2])
	if first.Delay() != 0 || queued.Delay() == 0 || second.Delay() == 0 || third.Delay() <= second.Delay() || third.Delay() > policy.GiveUp {
		t.Fatalf("delays: first %v, queued locally %v, second instance %v, third %v: want 0, about 100ms, about 100ms, about 200ms",
			first.Delay(), queued.Delay(), second.Delay(), third.Delay())
	}
	// Its local token comes at 100ms; the shared bucket's next is then 300ms
	// in, past the 250ms give-up time. (A reservation is waited for as soon as
	// it is made, as the server does.)
	queuedDone := make(chan error, 1)
	go func() { queuedDone <- queued.Wait(ctx) }()
	for _, r := range []*Reservation{first, second, third} {
		if err := r.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var rejected *ratelimit.RejectedError
	if err := <-queuedDone; !errors.As(err, &rejected) || rejected.Reason != ratelimit.TooLate {
		t.Fatalf("the locally queued comment: %v, want refused, too late for the shared token", err)
	}
}

// TestPolicyChangesApplyToTheSharedLimit: two instances follow one config
// center; a policy put there limits the user across both, a raised one lets
// them post again at once, a lowered one limits them again.
func TestPolicyChangesApplyToTheSharedLimit(t *testing.T) {
	all, _ := instances(t, 2)
	store := config.NewMemory(0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client, err := config.Open(ctx, store, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	put := func(policy string) {
		want, err := ratelimit.ParsePolicy(ratelimit.Robot, []byte(policy))
		if err != nil {
			t.Fatal(err)
		}
		configtest.MustPut(t, store, "danmaku/ratelimit/robot", policy)
		for _, in := range all {
			waitFor(t, func() bool { p, _ := in.Policy(ratelimit.Robot); return p == want })
		}
	}
	var users []*User
	for _, in := range all {
		go in.Follow(ctx, client, "danmaku/ratelimit/", slog.New(slog.DiscardHandler))
		u := in.Acquire("bot", ratelimit.Robot)
		defer u.Release()
		users = append(users, u)
	}
	slow := `{"rate":0.01,"burst":1,"queue_depth":0,"give_up":"0s"}`
	put(slow)
	if !allowed(users[0]) || allowed(users[1]) {
		t.Fatal("at 0.01/s: want one comment across both instances")
	}
	put(`{"rate":1000,"burst":10,"queue_depth":0,"give_up":"1ms"}`)
	for i, u := range users {
		if !allowed(u) {
			t.Fatalf("at 1000/s, instance %d still refuses", i)
		}
	}
	put(`{"rate":0.01,"burst":1,"queue_depth":0,"give_up":"1ms"}`)
	if !allowed(users[1]) || allowed(users[0]) {
		t.Fatal("back at 0.01/s: want one comment across both instances")
	}
}

// TestRedisDownFallsBackToTheLocalLimit: with Redis stopped, each instance
// limits the user by its own bucket, counts every such comment and says so in
// its log; a comment the local bucket refuses is refused without asking Redis.
func TestRedisDownFallsBackToTheLocalLimit(t *testing.T) {
	all, redis := instances(t, 2)
	var users []*User
	for _, in := range all {
		in.SetPolicy(ratelimit.Normal, ratelimit.Policy{Rate: 0.01, Burst: 1})
		u := in.Acquire("ann", ratelimit.Normal)
		defer u.Release()
		users = append(users, u)
	}
	redis.Stop()
	for i, u := range users {
		if !allowed(u) {
			t.Fatalf("instance %d refused the first comment with Redis down", i)
		}
		if allowed(u) {
			t.Fatalf("instance %d allowed a second comment over its own bucket", i)
		}
	}
	for i, in := range all {
		if n := promtest.ToFloat64(in.shared.fallbacks); n != 1 {
			t.Errorf("instance %d counted %v fallbacks, want 1 (the refused comment must not ask Redis)", i, n)
		}
		if !strings.Contains(in.logs.String(), "shared rate limit unreachable") {
			t.Errorf("instance %d did not log the fallback: %q", i, in.logs.String())
		}
	}
}
