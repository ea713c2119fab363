package breaker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/monoreel/monoreel/libs/testutil"
)

// TestMetricsFollowTheBreaker: the state gauge and the transitions counter
// follow a breaker through a whole cycle, next to another callback.
func TestMetricsFollowTheBreaker(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	clock := testutil.NewClock(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC))
	var seen int
	rule := Rule{Strategy: ErrorCount, Threshold: 1, Window: 10 * time.Second, Buckets: 10, OpenFor: time.Second, Probes: 1}
	b, err := New("aitag", rule, WithClock(clock.Now), m.Option(), OnStateChange(func(State, State) { seen++ }))
	if err != nil {
		t.Fatal(err)
	}
	expect := func(when, want string) {
		t.Helper()
		if err := promtest.GatherAndCompare(reg, strings.NewReader(want), "breaker_state"); err != nil {
			t.Errorf("%s: %v", when, err)
		}
	}
	header := "# HELP breaker_state 1 for a circuit breaker's current state (closed, open, half-open), 0 for the others.\n# TYPE breaker_state gauge\n"
	expect("new", header+`breaker_state{breaker="aitag",state="closed"} 1
breaker_state{breaker="aitag",state="half-open"} 0
breaker_state{breaker="aitag",state="open"} 0
`)
	b.Do(t.Context(), func(ctx context.Context) error { return errBoom })
	expect("tripped", header+`breaker_state{breaker="aitag",state="closed"} 0
breaker_state{breaker="aitag",state="half-open"} 0
breaker_state{breaker="aitag",state="open"} 1
`)
	clock.Advance(time.Second)
	b.Do(t.Context(), func(ctx context.Context) error { return nil }) // the probe: closed again
	expect("recovered", header+`breaker_state{breaker="aitag",state="closed"} 1
breaker_state{breaker="aitag",state="half-open"} 0
breaker_state{breaker="aitag",state="open"} 0
`)
	for _, tr := range [][2]string{{"closed", "open"}, {"open", "half-open"}, {"half-open", "closed"}} {
		if got := promtest.ToFloat64(m.transitions.WithLabelValues("aitag", tr[0], tr[1])); got != 1 {
			t.Errorf("transitions %s->%s = %v, want 1", tr[0], tr[1], got)
		}
	}
	if seen != 3 {
		t.Errorf("the other callback saw %d transitions, want 3", seen)
	}
}
