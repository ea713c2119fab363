package relay

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/monoreel/monoreel/libs/testproc"
	"github.com/monoreel/monoreel/services/danmaku/internal/event"
	"github.com/monoreel/monoreel/services/danmaku/internal/room"
)

// BenchmarkFanOut10000 delivers b.N comments to a room of 10,000 subscribers
// three ways in one run: one instance alone (comments straight to its hub),
// one instance through a real Redis (posted to the room's stream, read back by
// its relay), and two instances of 5,000 subscribers each through the same
// Redis (comments posted on both in turn). It reports, for each, deliveries
// per second and the p99 delivery latency (from the poster encoding the
// comment to a subscriber decoding it), and the two instances' figures
// against one's.
//
// Subscribers are the hub's (room.Hub.Join, as the Chat handler joins them),
// each read by its own goroutine that decodes every event as the handler
// does; 10,000 gRPC streams would measure gRPC on two cores rather than the
// fan-out. Both instances share this process and its cores: what two gain
// over one is that each fans a comment out to its half of the room on its own
// goroutine (one instance fans a room out on one), not more machines. At most
// inFlight comments are on their way at a time, so no buffer overflows and no
// comment is dropped (the report says if any was); the p99 includes waiting
// behind those in flight.
//
//	./bazelw test //services/danmaku/internal/relay:relay_test --test_output=all \
//	    --test_arg=-test.run=NONE --test_arg=-test.bench=FanOut --test_arg=-test.benchtime=2000x
func BenchmarkFanOut10000(b *testing.B) {
	const subscribers, rounds = 10000, 3
	addr := testproc.FreeAddr(b)
	testproc.StartRedis(b, addr)
	setups := []struct {
		name      string
		instances int
		relayed   bool
	}{{"alone", 1, false}, {"one", 1, true}, {"two", 2, true}}
	// The setups take turns, a third of the comments at a time, so that a
	// machine busier at one moment than another weighs on each alike.
	results := make([]fanOutResult, len(setups))
	for round := range rounds {
		n := b.N / rounds
		if round == 0 {
			n += b.N % rounds
		}
		for i, s := range setups {
			results[i].add(fanOut(b, addr, n, subscribers, s.instances, s.relayed))
		}
	}
	for i, s := range setups {
		b.ReportMetric(results[i].perSecond(), s.name+"-deliveries/s")
		b.ReportMetric(float64(results[i].p99().Microseconds())/1000, s.name+"-p99-ms")
		if dropped := results[i].want - results[i].delivered; dropped > 0 {
			b.ReportMetric(float64(dropped), s.name+"-dropped")
		}
	}
	one, two := results[1], results[2]
	b.ReportMetric(two.perSecond()/one.perSecond(), "two/one-deliveries")
	b.ReportMetric(float64(two.p99())/float64(one.p99()), "two/one-p99")
	b.ReportMetric(0, "ns/op") // an op is a comment three ways: its time means nothing alone
}

// inFlight is how many comments may be on their way to subscribers at once.
const inFlight = 16

// fanOutResult is what one or more fan-outs measured.
type fanOutResult struct {
	delivered, want int64
	elapsed         time.Duration
	latencies       []time.Duration // a sample
}

func (r *fanOutResult) add(o fanOutResult) {
	r.delivered += o.delivered
	r.want += o.want
	r.elapsed += o.elapsed
	r.latencies = append(r.latencies, o.latencies...)
}

func (r *fanOutResult) perSecond() float64 { return float64(r.delivered) / r.elapsed.Seconds() }

func (r *fanOutResult) p99() time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	slices.Sort(r.latencies)
	return r.latencies[len(r.latencies)*99/100]
}

// rooms names each fan-out's room: a relay reads a room's stream from a moment
// before its first subscriber, which must not be another run's comments.
var rooms atomic.Int64

// fanOut posts n comments to subscribers spread over instances hubs, through
// Redis at addr if relayed, and measures their delivery.
func fanOut(b *testing.B, addr string, n, subscribers, instances int, relayed bool) fanOutResult {
	b.StopTimer()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	roomID := fmt.Sprint("bench-", rooms.Add(1))
	var delivered atomic.Int64
	// Every 10th subscriber records its latencies (the room's order of
	// delivery is random, so they are a fair sample), to keep memory small.
	latencies := make([][]time.Duration, subscribers/10)
	var readers sync.WaitGroup
	var leave []func()
	var publish []func([]byte) error
	for i := range instances {
		hub := room.NewHub(room.Options{})
		for j := range subscribers / instances {
			r, sub := hub.Join(roomID)
			leave = append(leave, func() { hub.Leave(r, sub) })
			k := i*(subscribers/instances) + j
			readers.Add(1)
			go func() {
				defer readers.Done()
				for {
					select {
					case <-sub.Gone():
						return
					case m := <-sub.Events():
						e, err := event.Decode(m.Data)
						if err != nil {
							panic(err)
						}
						if k%10 == 0 {
							latencies[k/10] = append(latencies[k/10], time.Since(time.Unix(0, e.PostedUnixNano)))
						}
						delivered.Add(1)
					}
				}
			}()
		}
		if !relayed {
			publish = append(publish, func(data []byte) error { hub.Publish(roomID, room.Message{Data: data}); return nil })
			continue
		}
		relay := New(addr, hub, slog.New(slog.DiscardHandler))
		defer relay.Close()
		go relay.Run(ctx)
		publish = append(publish, func(data []byte) error { return relay.Publish(ctx, roomID, data) })
	}
	want := int64(n) * int64(subscribers)

	b.StartTimer()
	start := time.Now()
	for i := range n {
		for delivered.Load() < int64(i-inFlight)*int64(subscribers) {
			time.Sleep(20 * time.Microsecond)
		}
		e := event.Event{ID: int64(i), Room: roomID, User: "poster", Text: "弹幕 benchmark", PostedUnixNano: time.Now().UnixNano()}
		data, err := e.MarshalMsg(nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := publish[i%len(publish)](data); err != nil {
			b.Fatal(err)
		}
	}
	for last, idle := delivered.Load(), time.Now(); delivered.Load() < want && time.Since(idle) < 5*time.Second; time.Sleep(100 * time.Microsecond) {
		if n := delivered.Load(); n != last {
			last, idle = n, time.Now()
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()

	for _, l := range leave {
		l()
	}
	readers.Wait()
	return fanOutResult{delivered: delivered.Load(), want: want, elapsed: elapsed, latencies: slices.Concat(latencies...)}
}
