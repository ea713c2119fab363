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
			if _, ok := k.Reserve(key); !ok {
				t.Fatalf("%s: token %d of a full bucket refused", key, i)
			}
		}
	}
	wait, ok := k.Reserve("10.0.0.1")
	if ok {
		t.Fatal("third token granted from a bucket of 2")
	}
	if wait != time.Second {
		t.Errorf("retry after %v, want 1s (the next token)", wait)
	}
	clock.advance(time.Second)
	if _, ok := k.Reserve("10.0.0.1"); !ok {
		t.Fatal("the token due after a second was refused")
	}
}

func TestKeyedBoundsItsKeysAndDropsRefilledBuckets(t *testing.T) {
	clock := &manualClock{}
	k := NewKeyed(1, 1, 3, clock.now)
	for i := range 3 {
		if _, ok := k.Reserve(strconv.Itoa(i)); !ok {
			t.Fatalf("key %d: first token refused", i)
		}
	}
	// Every kept bucket is still refilling: new keys share the overflow bucket,
	// which holds one token in all.
	if _, ok := k.Reserve("new-a"); !ok {
		t.Fatal("the overflow bucket's token was refused")
	}
	if _, ok := k.Reserve("new-b"); ok {
		t.Fatal("a second new key got a token past the overflow bucket's burst")
	}
	if n := k.Len(); n != 3 {
		t.Fatalf("%d keys kept, want the bound 3", n)
	}
	// Once they have refilled, the old buckets make room for new keys.
	clock.advance(time.Second)
	for _, key := range []string{"new-c", "new-d", "new-e"} {
		if _, ok := k.Reserve(key); !ok {
			t.Fatalf("%s: refused after the old buckets refilled", key)
		}
	}
	if n := k.Len(); n != 3 {
		t.Errorf("%d keys kept, want 3", n)
	}
	if _, ok := k.Reserve("new-c"); ok {
		t.Error("new-c has a bucket of its own now, and it is empty")
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
