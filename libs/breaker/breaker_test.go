package breaker

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/monoreel/monoreel/libs/testutil"
)

var errBoom = errors.New("boom")

type harness struct {
	t      *testing.T
	clock  *testutil.Clock
	b      *Breaker
	states []string
}

func newHarness(t *testing.T, rule Rule) *harness {
	t.Helper()
	h := &harness{t: t, clock: testutil.NewClock(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC))}
	b, err := New("downstream", rule, WithClock(h.clock.Now), OnStateChange(func(from, to State) {
		h.states = append(h.states, from.String()+"->"+to.String())
	}))
	if err != nil {
		t.Fatal(err)
	}
	h.b = b
	return h
}

// call makes one guarded call that takes rt and returns err.
func (h *harness) call(rt time.Duration, err error) error {
	return h.b.Do(context.Background(), func(context.Context) error {
		h.clock.Advance(rt)
		return err
	})
}

func (h *harness) expectState(want State) {
	h.t.Helper()
	if got := h.b.State(); got != want {
		h.t.Fatalf("state = %s, want %s (transitions %v)", got, want, h.states)
	}
}

var slowRule = Rule{Strategy: SlowRatio, Threshold: 0.5, MaxRT: 100 * time.Millisecond, MinCalls: 4,
	Window: 10 * time.Second, Buckets: 10, OpenFor: 5 * time.Second, Probes: 2}

func TestSlowRatioFullCycle(t *testing.T) {
	h := newHarness(t, slowRule)
	// Three slow calls of four would trip, but not before MinCalls.
	for range 3 {
		h.call(150*time.Millisecond, nil)
	}
	h.expectState(Closed)
	h.call(10*time.Millisecond, nil) // 3 of 4 slow: 75% > 50%, yet this call is fast
	h.expectState(Closed)
	h.call(101*time.Millisecond, nil) // 4 of 5 slow
	h.expectState(Open)

	err := h.call(time.Millisecond, nil)
	var open *OpenError
	if !errors.As(err, &open) || !errors.Is(err, ErrOpen) || open.State != Open {
		t.Fatalf("call while open = %v, want an OpenError", err)
	}

	h.clock.Advance(5 * time.Second)
	// Half-open: two probes, both fast: closed again.
	if err := h.call(20*time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
	h.expectState(HalfOpen)
	if err := h.call(20*time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
	h.expectState(Closed)
	want := []string{"closed->open", "open->half-open", "half-open->closed"}
	if len(h.states) != 3 || h.states[0] != want[0] || h.states[1] != want[1] || h.states[2] != want[2] {
		t.Errorf("transitions %v, want %v", h.states, want)
	}
}

func TestMillisecondPrecision(t *testing.T) {
	h := newHarness(t, slowRule)
	for range 10 {
		h.call(100*time.Millisecond+999*time.Microsecond, nil) // 100ms at ms precision: not slow
	}
	h.expectState(Closed)
}

func TestSlowProbeReopens(t *testing.T) {
	h := newHarness(t, slowRule)
	for range 4 {
		h.call(time.Second, nil)
	}
	h.expectState(Open)
	h.clock.Advance(5 * time.Second)
	h.call(time.Second, nil) // a slow probe
	h.expectState(Open)
	if err := h.call(0, nil); !errors.Is(err, ErrOpen) {
		t.Fatalf("after a failed probe: %v, want open again", err)
	}
}

func TestProbeBudget(t *testing.T) {
	h := newHarness(t, slowRule)
	for range 4 {
		h.call(time.Second, nil)
	}
	h.clock.Advance(5 * time.Second)
	var dones []func(time.Duration, error)
	for range 2 {
		done, err := h.b.Allow()
		if err != nil {
			t.Fatalf("probe refused: %v", err)
		}
		dones = append(dones, done)
	}
	if _, err := h.b.Allow(); !errors.Is(err, ErrOpen) {
		t.Fatalf("third concurrent call while half-open: %v, want refused", err)
	}
	for _, done := range dones {
		done(time.Millisecond, nil)
	}
	h.expectState(Closed)
}

func TestErrorRatio(t *testing.T) {
	rule := Rule{Strategy: ErrorRatio, Threshold: 0.5, MinCalls: 4, Window: time.Second, Buckets: 4, OpenFor: time.Second, Probes: 1}
	h := newHarness(t, rule)
	h.call(0, nil)
	h.call(0, errBoom)
	h.call(0, nil)
	h.call(0, errBoom) // 2 of 4: not above 50%
	h.expectState(Closed)
	h.call(0, errBoom) // 3 of 5
	h.expectState(Open)
	h.clock.Advance(time.Second)
	h.call(0, errBoom) // the probe fails
	h.expectState(Open)
}

func TestErrorCount(t *testing.T) {
	rule := Rule{Strategy: ErrorCount, Threshold: 3, Window: time.Second, Buckets: 10, OpenFor: time.Second, Probes: 1}
	h := newHarness(t, rule)
	for range 50 {
		h.call(0, nil)
	}
	h.call(0, errBoom)
	h.call(0, errBoom)
	h.expectState(Closed)
	h.call(0, errBoom)
	h.expectState(Open)
}

func TestWindowSlides(t *testing.T) {
	rule := Rule{Strategy: ErrorCount, Threshold: 3, Window: time.Second, Buckets: 10, OpenFor: time.Second, Probes: 1}
	h := newHarness(t, rule)
	h.call(0, errBoom)
	h.call(0, errBoom)
	h.clock.Advance(1100 * time.Millisecond) // both errors slide out
	h.call(0, errBoom)
	h.call(0, errBoom)
	h.expectState(Closed)
	h.call(0, errBoom)
	h.expectState(Open)
}

func TestSetRuleKeepsTheWindow(t *testing.T) {
	rule := Rule{Strategy: ErrorCount, Threshold: 5, Window: time.Second, Buckets: 10, OpenFor: time.Second, Probes: 1}
	h := newHarness(t, rule)
	for range 3 {
		h.call(0, errBoom)
	}
	// Lower the threshold, same window: the three errors still count.
	lower := rule
	lower.Threshold = 4
	if err := h.b.SetRule(lower); err != nil {
		t.Fatal(err)
	}
	// A different window: the counts are carried over.
	wider := lower
	wider.Window, wider.Buckets = 2*time.Second, 4
	if err := h.b.SetRule(wider); err != nil {
		t.Fatal(err)
	}
	h.call(0, errBoom)
	h.expectState(Open)
	if got := h.b.Rule(); got != wider {
		t.Errorf("Rule = %+v", got)
	}
}

func TestBadRules(t *testing.T) {
	for _, r := range []Rule{
		{Strategy: SlowRatio, Threshold: 0.5, MaxRT: 0, Window: time.Second, Buckets: 1, OpenFor: time.Second, Probes: 1},
		{Strategy: ErrorRatio, Threshold: 1.5, Window: time.Second, Buckets: 1, OpenFor: time.Second, Probes: 1},
		{Strategy: ErrorCount, Threshold: 0, Window: time.Second, Buckets: 1, OpenFor: time.Second, Probes: 1},
		{Strategy: ErrorCount, Threshold: 1, Window: time.Second, Buckets: 2000, OpenFor: time.Second, Probes: 1},
		{Strategy: ErrorCount, Threshold: 1, Window: time.Second, Buckets: 1, OpenFor: time.Second, Probes: 0},
		{Strategy: 7, Threshold: 1, Window: time.Second, Buckets: 1, OpenFor: time.Second, Probes: 1},
	} {
		if _, err := New("x", r); err == nil {
			t.Errorf("New accepted %+v", r)
		}
	}
}

func TestConcurrentCallsNeverPanic(t *testing.T) {
	b, err := New("x", Rule{Strategy: ErrorRatio, Threshold: 0.3, MinCalls: 10, Window: 50 * time.Millisecond,
		Buckets: 5, OpenFor: 5 * time.Millisecond, Probes: 2})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5000 {
				b.Do(context.Background(), func(context.Context) error {
					if (i+g)%3 == 0 {
						return errBoom
					}
					return nil
				})
			}
		}()
	}
	wg.Wait()
}

// Overhead of a guarded call in the closed state, next to the same call unguarded.
func BenchmarkUnguarded(b *testing.B) {
	fn := func(context.Context) error { return nil }
	ctx := context.Background()
	for b.Loop() {
		fn(ctx)
	}
}

func BenchmarkDoClosed(b *testing.B) {
	br, _ := New("bench", DefaultRule(time.Second))
	fn := func(context.Context) error { return nil }
	ctx := context.Background()
	for b.Loop() {
		br.Do(ctx, fn)
	}
}

func BenchmarkDoClosedParallel(b *testing.B) {
	br, _ := New("bench", DefaultRule(time.Second))
	fn := func(context.Context) error { return nil }
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			br.Do(ctx, fn)
		}
	})
}
