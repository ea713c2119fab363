package main

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/monoreel/monoreel/libs/config/configgrpc"
	"github.com/monoreel/monoreel/libs/config/configtest"
	"github.com/monoreel/monoreel/libs/grpcclient"
	"github.com/monoreel/monoreel/libs/testproc"
	danmakuv1 "github.com/monoreel/monoreel/proto/danmaku/v1"
)

// platform starts the real config center and the real danmaku binary using it.
func platform(t testing.TB, danmakuArgs ...string) (*configgrpc.Store, *testproc.Service) {
	center := testproc.StartService(t, testproc.Runfile(t, "CONFIG_BINARY"), "-data_file="+t.TempDir()+"/config.snapshot")
	store := configgrpc.NewStore(center.Conn)
	args := append([]string{"-config_addr=" + center.Addr, "-config_snapshot=" + t.TempDir() + "/lkg.snapshot"}, danmakuArgs...)
	return store, testproc.StartService(t, testproc.Runfile(t, "DANMAKU_BINARY"), args...)
}

type chatter struct {
	t      testing.TB
	stream danmakuv1.DanmakuService_ChatClient
}

func joinRoom(t testing.TB, conn grpc.ClientConnInterface, room, user string, tier danmakuv1.Tier) *chatter {
	t.Helper()
	stream, err := danmakuv1.NewDanmakuServiceClient(conn).Chat(configtest.Ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&danmakuv1.ChatRequest{Message: &danmakuv1.ChatRequest_Join{Join: &danmakuv1.Join{RoomId: room, UserId: user, Tier: tier}}}); err != nil {
		t.Fatal(err)
	}
	if resp, err := stream.Recv(); err != nil || resp.GetJoined() == nil {
		t.Fatalf("join: %v, %v", resp, err)
	}
	return &chatter{t: t, stream: stream}
}

// say posts a comment and returns its final ack (after QUEUED, if any).
func (c *chatter) say(id, text string) *danmakuv1.CommentAck {
	c.t.Helper()
	if err := c.stream.Send(&danmakuv1.ChatRequest{Message: &danmakuv1.ChatRequest_Comment{Comment: &danmakuv1.Comment{ClientId: id, Text: text}}}); err != nil {
		c.t.Fatal(err)
	}
	for {
		resp, err := c.stream.Recv()
		if err != nil {
			c.t.Fatal(err)
		}
		if a := resp.GetAck(); a != nil && a.GetClientId() == id && a.GetOutcome() != danmakuv1.Outcome_OUTCOME_QUEUED {
			return a
		}
	}
}

// TestLimitsFollowTheConfigCenter: the real binaries. A robot's limit set in
// the config center drops its second comment; raised there, it applies to the
// connected robot without a restart. Then SIGTERM stops danmaku cleanly.
func TestLimitsFollowTheConfigCenter(t *testing.T) {
	store, danmaku := platform(t)
	configtest.MustPut(t, store, "danmaku/ratelimit/robot", `{"rate":0.01,"burst":1,"queue_depth":0,"give_up":"0s"}`)
	waitForLog(t, danmaku, "rate-limit policy changed")
	bot := joinRoom(t, danmaku.Conn, "live", "bot-1", danmakuv1.Tier_TIER_ROBOT)
	if a := bot.say("1", "first"); a.GetOutcome() != danmakuv1.Outcome_OUTCOME_ACCEPTED {
		t.Fatalf("first comment: %v", a)
	}
	if a := bot.say("2", "second"); a.GetOutcome() != danmakuv1.Outcome_OUTCOME_DROPPED || !strings.Contains(a.GetReason(), "queue full") {
		t.Fatalf("second comment over a 0.01/s limit: %v", a)
	}

	configtest.MustPut(t, store, "danmaku/ratelimit/robot", `{"rate":1000,"burst":100,"queue_depth":10,"give_up":"1s"}`)
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		if a := bot.say(fmt.Sprint("retry", i), "again"); a.GetOutcome() == danmakuv1.Outcome_OUTCOME_ACCEPTED {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the raised limit did not apply within 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}

	if err := danmaku.Terminate(t, 30*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, danmaku.Log())
	}
}

// TestEmbeddedDefaults: with nothing else running, danmaku serves with the
// default limits and local ids.
func TestEmbeddedDefaults(t *testing.T) {
	danmaku := testproc.StartService(t, testproc.Runfile(t, "DANMAKU_BINARY"))
	vip := joinRoom(t, danmaku.Conn, "live", "v", danmakuv1.Tier_TIER_VIP)
	if a := vip.say("1", "hi"); a.GetOutcome() != danmakuv1.Outcome_OUTCOME_ACCEPTED || a.GetCommentId() == 0 {
		t.Fatalf("ack = %v", a)
	}
}

func waitForLog(t testing.TB, p *testproc.Service, text string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Log(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log within 10s:\n%s", text, p.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkRoomOf1000 posts b.N comments in a room with 1,000 subscribers on
// loopback (real binaries) and reports deliveries per second, the p99 delivery
// latency (from the room accepting a comment to a subscriber receiving it) and
// how many deliveries were dropped.
func BenchmarkRoomOf1000(b *testing.B) {
	const subscribers = 1000
	store, danmaku := platform(b)
	configtest.MustPut(b, store, "danmaku/ratelimit/vip", `{"rate":100000,"burst":1000,"queue_depth":1000,"give_up":"1s"}`)
	waitForLog(b, danmaku, "rate-limit policy changed")

	// Spread the subscribers over a few connections, as many clients would.
	var conns []*grpc.ClientConn
	for range 8 {
		conn, err := grpcclient.Dial(danmaku.Addr)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		conns = append(conns, conn)
	}
	var delivered atomic.Int64
	var mu sync.Mutex
	var latencies []time.Duration
	var wg sync.WaitGroup
	for i := range subscribers {
		sub := joinRoom(b, conns[i%len(conns)], "bench", fmt.Sprint("viewer-", i), danmakuv1.Tier_TIER_NORMAL)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			defer func() { mu.Lock(); latencies = append(latencies, mine...); mu.Unlock() }()
			for {
				resp, err := sub.stream.Recv()
				if err != nil {
					return
				}
				if rc := resp.GetComment(); rc != nil {
					mine = append(mine, time.Since(rc.GetPostedAt().AsTime()))
					delivered.Add(1)
				}
			}
		}()
	}
	poster := joinRoom(b, conns[0], "bench", "poster", danmakuv1.Tier_TIER_VIP)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if a := poster.say(fmt.Sprint(i), "弹幕 benchmark"); a.GetOutcome() != danmakuv1.Outcome_OUTCOME_ACCEPTED {
			b.Fatalf("comment %d: %v", i, a)
		}
	}
	want := int64(b.N) * subscribers
	for last, idle := delivered.Load(), time.Now(); delivered.Load() < want && time.Since(idle) < 5*time.Second; time.Sleep(time.Millisecond) {
		if n := delivered.Load(); n != last {
			last, idle = n, time.Now()
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	danmaku.Stop() // ends every subscriber's stream
	wg.Wait()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	b.ReportMetric(float64(delivered.Load())/elapsed.Seconds(), "deliveries/s")
	if len(latencies) > 0 {
		b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
	}
	b.ReportMetric(float64(want-delivered.Load()), "dropped")
}
