package cache

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/monoreel/monoreel/libs/testproc"
	"github.com/monoreel/monoreel/libs/testutil"
	"github.com/redis/go-redis/v9"
)

func TestLRUEvictsLeastRecentlyUsed(t *testing.T) {
	c := NewLRU(3, 1, time.Hour, nil)
	c.Set("a", []byte("1"))
	c.Set("b", []byte("2"))
	c.Set("c", []byte("3"))
	c.Get("a") // a is now the most recently used
	c.Set("d", []byte("4"))
	if _, ok := c.Get("b"); ok {
		t.Error("b, the least recently used, was not evicted")
	}
	for _, k := range []string{"a", "c", "d"} {
		if _, ok := c.Get(k); !ok {
			t.Errorf("%s was evicted", k)
		}
	}
	if c.Len() != 3 {
		t.Errorf("Len = %d", c.Len())
	}
}

// More shards than entries must not hold more than size: with one entry a shard,
// L1Size 1 and the default 64 shards once held up to 64 entries, and the Redis
// recovery test below then found every key in L1 and never called Redis (about
// one run in 25, whenever its 20 keys hashed to 20 different shards).
func TestLRUHoldsAtMostSize(t *testing.T) {
	for _, tc := range []struct{ size, shards int }{{1, 64}, {3, 64}, {10, 4}, {100, 8}, {0, 1}} {
		c := NewLRU(tc.size, tc.shards, time.Hour, nil)
		for i := range 1000 {
			c.Set(strconv.Itoa(i), []byte("v"))
		}
		if want := max(1, tc.size); c.Len() != want {
			t.Errorf("NewLRU(%d, %d) after 1000 sets holds %d entries, want %d", tc.size, tc.shards, c.Len(), want)
		}
	}
}

func TestLRUExpires(t *testing.T) {
	clk := testutil.NewClock(time.Unix(1000, 0))
	c := NewLRU(10, 4, time.Second, clk.Now)
	c.Set("k", []byte("v"))
	clk.Advance(time.Second)
	if v, ok := c.Get("k"); !ok || string(v) != "v" {
		t.Fatal("entry gone before its TTL")
	}
	clk.Advance(time.Nanosecond)
	if _, ok := c.Get("k"); ok {
		t.Fatal("entry served after its TTL")
	}
	if c.Len() != 0 {
		t.Error("expired entry kept")
	}
}

// source is a source of truth that counts its loads.
type source struct {
	mu    sync.Mutex
	data  map[string]string
	loads atomic.Int64
	delay time.Duration
}

func (s *source) load(_ context.Context, key string) ([]byte, error) {
	s.loads.Add(1)
	time.Sleep(s.delay)
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.data[key]
	if !ok {
		return nil, fmt.Errorf("no %q", key)
	}
	return []byte(v), nil
}

func (s *source) set(key, v string) func(context.Context) error {
	return func(context.Context) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.data[key] = v
		return nil
	}
}

type recordingWarmer struct {
	mu   sync.Mutex
	keys []string
}

func (w *recordingWarmer) Warm(_ context.Context, keys []string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.keys = append(w.keys, keys...)
	return nil
}

func (w *recordingWarmer) got() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.keys...)
}

func newCache(t *testing.T, opts Options) *Cache {
	t.Helper()
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestSingleflightLoadsOncePerKey(t *testing.T) {
	src := &source{data: map[string]string{"video:1": "meta"}, delay: 50 * time.Millisecond}
	c := newCache(t, Options{Loader: src.load})
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, err := c.Get(context.Background(), "video:1"); err != nil || string(v) != "meta" {
				t.Errorf("Get = %q, %v", v, err)
			}
		}()
	}
	wg.Wait()
	if n := src.loads.Load(); n != 1 {
		t.Errorf("50 concurrent cold reads loaded %d times, want 1", n)
	}
	if _, err := c.Get(context.Background(), "missing"); err == nil {
		t.Error("a loader error was swallowed")
	}
}

func TestUpdateInvalidatesAndWarms(t *testing.T) {
	src := &source{data: map[string]string{"k": "old"}}
	warmer := &recordingWarmer{}
	c := newCache(t, Options{Loader: src.load, Warmer: warmer, DoubleDeleteDelay: 10 * time.Millisecond})
	ctx := context.Background()
	c.Get(ctx, "k")
	if err := c.Update(ctx, "k", src.set("k", "new")); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Get(ctx, "k"); string(v) != "new" {
		t.Errorf("after Update, Get = %q", v)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(warmer.got()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := warmer.got(); len(got) != 1 || got[0] != "k" {
		t.Errorf("warmed %v, want [k]", got)
	}
	failing := errors.New("db down")
	if err := c.Update(ctx, "k", func(context.Context) error { return failing }); !errors.Is(err, failing) {
		t.Errorf("failed write: %v", err)
	}
	if v, _ := c.Get(ctx, "k"); string(v) != "new" {
		t.Error("a failed write invalidated the cache")
	}
}

func TestRedisIntegration(t *testing.T) {
	addr := testproc.FreeAddr(t)
	testproc.StartRedis(t, addr)
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	ctx := context.Background()
	src := &source{data: map[string]string{"v1": "a"}}
	opts := Options{Loader: src.load, Redis: rdb, Prefix: "test:", DoubleDeleteDelay: 200 * time.Millisecond, RedisTimeout: 200 * time.Millisecond}

	one := newCache(t, opts)
	if v, err := one.Get(ctx, "v1"); err != nil || string(v) != "a" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if got, _ := rdb.Get(ctx, "test:v1").Result(); got != "a" {
		t.Fatalf("L2 holds %q after a read-through", got)
	}
	// Another instance finds it in L2, without loading.
	two := newCache(t, opts)
	if v, _ := two.Get(ctx, "v1"); string(v) != "a" || src.loads.Load() != 1 || two.Stats().L2Hits != 1 {
		t.Fatalf("second instance: %q, loads %d, stats %+v", v, src.loads.Load(), two.Stats())
	}

	// Delayed double delete: a reader refills L2 with the old value from a lagging
	// replica right after the first delete; the second delete removes it.
	if err := one.Update(ctx, "v1", src.set("v1", "b")); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, "test:v1", "a", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	if n, _ := rdb.Exists(ctx, "test:v1").Result(); n != 0 {
		t.Fatal("the stale value survived the delayed second delete")
	}
	if v, _ := one.Get(ctx, "v1"); string(v) != "b" {
		t.Errorf("after the update: %q", v)
	}
}

func TestRedisDownFallsBackAndRecovers(t *testing.T) {
	addr := testproc.FreeAddr(t)
	proc := testproc.StartRedis(t, addr)
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer rdb.Close()
	ctx := context.Background()
	src := &source{data: map[string]string{}}
	for i := range 20 {
		src.data[strconv.Itoa(i)] = "v" + strconv.Itoa(i)
	}
	c := newCache(t, Options{Loader: src.load, Redis: rdb, RedisTimeout: 100 * time.Millisecond, L1Size: 1})

	proc.Stop()
	start := time.Now()
	for i := range 20 {
		if v, err := c.Get(ctx, strconv.Itoa(i)); err != nil || string(v) != "v"+strconv.Itoa(i) {
			t.Fatalf("Get with Redis down = %q, %v", v, err)
		}
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("20 reads with Redis down took %v: the timeout is not bounded", elapsed)
	}
	s := c.Stats()
	if s.RedisErrors == 0 || s.RedisSkipped == 0 {
		t.Errorf("stats with Redis down: %+v; want errors counted and the breaker skipping Redis", s)
	}

	// Redis comes back on the same address: the cache uses it again by itself.
	testproc.StartRedis(t, addr)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.Get(ctx, strconv.Itoa(int(time.Now().UnixNano()%20)))
		if n, _ := rdb.DBSize(ctx).Result(); n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cache never wrote to Redis again after it recovered")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// L1 Get hits in parallel, against hashicorp/golang-lru (one lock) in the same run.
func BenchmarkL1GetParallel(b *testing.B) {
	c := NewLRU(10000, 64, time.Hour, nil)
	keys := benchKeys()
	for _, k := range keys {
		c.Set(k, []byte(k))
	}
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.Get(keys[i&1023])
			i++
		}
	})
}

func BenchmarkHashicorpLRUGetParallel(b *testing.B) {
	c, _ := lru.New[string, []byte](10000)
	keys := benchKeys()
	for _, k := range keys {
		c.Add(k, []byte(k))
	}
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.Get(keys[i&1023])
			i++
		}
	})
}

func benchKeys() []string {
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "video:" + strconv.Itoa(i)
	}
	return keys
}
