package ratelimit

import (
	"strconv"
	"testing"
	"time"
)

func TestKeyedLimitsEachKeyOnItsOwn(t *testing.T) {
	clock := &manualClock{}
	k := NewKeyed(1, 2, 100, clock.now) // a token a second, 2 at once, per key
	for _, key := range []string{"10.0.0.1", "10.0.0.2"} {
		for i := range 2 {
			if _, ok, _ := k.Reserve(key); !ok {
				t.Fatalf("%s: token %d of a full bucket refused", key, i)
			}
		}
	}
	wait, ok, shared := k.Reserve("10.0.0.1")
	if ok || shared {
		t.Fatalf("third token: granted %v, from the overflow bucket %v; want refused, from its own", ok, shared)
	}
	if wait != time.Second {
		t.Errorf("retry after %v, want 1s (the next token)", wait)
	}
	clock.advance(time.Second)
	if _, ok, _ := k.Reserve("10.0.0.1"); !ok {
		t.Fatal("the token due after a second was refused")
	}
}

func TestKeyedBoundsItsKeysAndDropsRefilledBuckets(t *testing.T) {
	clock := &manualClock{}
	k := NewKeyed(1, 1, 3, clock.now)
	for i := range 3 {
		if _, ok, _ := k.Reserve(strconv.Itoa(i)); !ok {
			t.Fatalf("key %d: first token refused", i)
		}
	}
	// Every kept bucket is still refilling: new keys share the overflow bucket,
	// which holds one token in all.
	if _, ok, shared := k.Reserve("new-a"); !ok || !shared {
		t.Fatalf("new-a: granted %v, from the overflow bucket %v; want both", ok, shared)
	}
	if _, ok, shared := k.Reserve("new-b"); ok || !shared {
		t.Fatalf("new-b: granted %v, from the overflow bucket %v; want refused by the overflow bucket", ok, shared)
	}
	if n := k.Len(); n != 3 {
		t.Fatalf("%d keys kept, want the bound 3", n)
	}
	// Once they have refilled, the old buckets make room for new keys.
	clock.advance(time.Second)
	for _, key := range []string{"new-c", "new-d", "new-e"} {
		if _, ok, shared := k.Reserve(key); !ok || shared {
			t.Fatalf("%s: granted %v, from the overflow bucket %v, after the old buckets refilled", key, ok, shared)
		}
	}
	if n := k.Len(); n != 3 {
		t.Errorf("%d keys kept, want 3", n)
	}
	if _, ok, _ := k.Reserve("new-c"); ok {
		t.Error("new-c has a bucket of its own now, and it is empty")
	}
}

// A sweep comes once the first kept bucket has refilled, not before (it would
// free nothing) and not a whole refill time later.
func TestKeyedSweepsWhenTheFirstKeptBucketRefills(t *testing.T) {
	clock := &manualClock{}
	k := NewKeyed(1, 4, 2, clock.now) // a token a second, 4 at once
	k.Reserve("a")                    // a owes 1s
	for range 4 {
		k.Reserve("b") // b owes 4s
	}
	clock.advance(500 * time.Millisecond)
	if _, _, shared := k.Reserve("c"); !shared {
		t.Fatal("c got a bucket of its own while a and b were still refilling")
	}
	clock.advance(500 * time.Millisecond) // a has refilled; b owes 3s more
	if _, ok, shared := k.Reserve("d"); !ok || shared {
		t.Fatalf("d: granted %v, from the overflow bucket %v; want a bucket of its own in a's place", ok, shared)
	}
	if n := k.Len(); n != 2 {
		t.Errorf("%d keys kept, want 2 (b and d)", n)
	}
}

// The cost of a Reserve for a key that has a bucket, the common case.
func BenchmarkKeyedReserve(b *testing.B) {
	k := NewKeyed(1e9, 1000, 10000, nil)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "10.0." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k.Reserve(keys[i&1023])
	}
}
