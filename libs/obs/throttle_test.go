package obs

import (
	"sync"
	"testing"
	"time"

	"github.com/monoreel/monoreel/libs/testutil"
)

func TestThrottleLogsOneEventAnIntervalAndCountsTheRest(t *testing.T) {
	clk := testutil.NewClock(time.Unix(1000, 0))
	th := &Throttle{Now: clk.Now}
	const every = 10 * time.Second
	if n, ok := th.Allow(every); !ok || n != 1 {
		t.Fatalf("the first event: %d, %v; want it logged, standing for 1", n, ok)
	}
	for range 4 {
		clk.Advance(time.Second)
		if _, ok := th.Allow(every); ok {
			t.Fatal("an event within the interval was let through")
		}
	}
	clk.Advance(6 * time.Second)
	if n, ok := th.Allow(every); !ok || n != 5 {
		t.Errorf("the event after the interval: %d, %v; want it logged, standing for 5 (4 held back and itself)", n, ok)
	}
}

func TestThrottleCountsEveryEventOnceUnderConcurrency(t *testing.T) {
	clk := testutil.NewClock(time.Unix(1000, 0))
	th := &Throttle{Now: clk.Now}
	const every = time.Hour
	var wg sync.WaitGroup
	var mu sync.Mutex
	logged, lines := int64(0), 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				if n, ok := th.Allow(every); ok {
					mu.Lock()
					logged, lines = logged+n, lines+1
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	clk.Advance(time.Hour)
	n, ok := th.Allow(every)
	if !ok {
		t.Fatal("the event an hour later was held back")
	}
	if lines != 1 || logged+n != 8001 {
		t.Errorf("%d lines standing for %d events, then %d; want 1 line, and 8001 events in all", lines, logged, n)
	}
}
