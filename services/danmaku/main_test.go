package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/monoreel/monoreel/libs/auth"
	"github.com/monoreel/monoreel/libs/config/configgrpc"
	"github.com/monoreel/monoreel/libs/config/configtest"
	"github.com/monoreel/monoreel/libs/grpcerr"
	"github.com/monoreel/monoreel/libs/testproc"
	danmakuv1 "github.com/monoreel/monoreel/proto/danmaku/v1"
	"github.com/monoreel/monoreel/services/danmaku/internal/relay"
)

// platform starts the real config center and the real danmaku binary using it.
func platform(t testing.TB, danmakuArgs ...string) (*configgrpc.Store, *testproc.Service) {
	store, danmaku := startCenter(t)
	return store, danmaku(danmakuArgs...)
}

// startCenter starts the real config center, and returns a store writing to it
// and a function starting a real danmaku instance using it.
func startCenter(t testing.TB) (*configgrpc.Store, func(danmakuArgs ...string) *testproc.Service) {
	center := testproc.StartService(t, testproc.Runfile(t, "CONFIG_BINARY"), "-data_file="+t.TempDir()+"/config.snapshot")
	// Writing the config center's keys is for operators.
	store := configgrpc.NewStore(center.AdminConn(t))
	return store, func(danmakuArgs ...string) *testproc.Service {
		args := append([]string{"-config_addr=" + center.Addr, "-config_snapshot=" + t.TempDir() + "/lkg.snapshot"}, danmakuArgs...)
		return testproc.StartService(t, testproc.Runfile(t, "DANMAKU_BINARY"), args...)
	}
}

type chatter struct {
	t      testing.TB
	stream danmakuv1.DanmakuService_ChatClient
}

// joinRoom joins room over conn as the user of token, sending join (nil: a
// plain one), and checks the room knows them with wantTier.
func joinRoom(t testing.TB, conn grpc.ClientConnInterface, room string, token auth.Token, join *danmakuv1.Join, wantTier danmakuv1.Tier) *chatter {
	t.Helper()
	return joinRoomIn(configtest.Ctx(t), t, conn, room, token, join, wantTier)
}

// joinRoomIn is joinRoom with the call's context (its colour, say).
func joinRoomIn(ctx context.Context, t testing.TB, conn grpc.ClientConnInterface, room string, token auth.Token, join *danmakuv1.Join, wantTier danmakuv1.Tier) *chatter {
	t.Helper()
	stream, err := danmakuv1.NewDanmakuServiceClient(conn).Chat(ctx, grpc.PerRPCCredentials(token))
	if err != nil {
		t.Fatal(err)
	}
	if join == nil {
		join = &danmakuv1.Join{}
	}
	join.RoomId = room
	if err := stream.Send(&danmakuv1.ChatRequest{Message: &danmakuv1.ChatRequest_Join{Join: join}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil || resp.GetJoined() == nil {
		t.Fatalf("join: %v, %v", resp, err)
	}
	if got := resp.GetJoined().GetTier(); got != wantTier {
		t.Fatalf("joined as %s with tier %v, want %v", resp.GetJoined().GetUserId(), got, wantTier)
	}
	return &chatter{t: t, stream: stream}
}

// userConn is a connection as users' clients make them (TLS, no certificate),
// and token makes a token for a user of tier.
func userConn(t testing.TB, danmaku *testproc.Service) *grpc.ClientConn {
	t.Helper()
	creds, err := testproc.TestPKI(t).UserCredentials()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(danmaku.Addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func token(t testing.TB, user, tier string) auth.Token {
	t.Helper()
	tok, err := testproc.TestPKI(t).Token(user, tier)
	if err != nil {
		t.Fatal(err)
	}
	return tok
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
	bot := joinRoom(t, userConn(t, danmaku), "live", token(t, "bot-1", auth.TierRobot), nil, danmakuv1.Tier_TIER_ROBOT)
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
	vip := joinRoom(t, userConn(t, danmaku), "live", token(t, "v", auth.TierVIP), nil, danmakuv1.Tier_TIER_VIP)
	if a := vip.say("1", "hi"); a.GetOutcome() != danmakuv1.Outcome_OUTCOME_ACCEPTED || a.GetCommentId() == 0 {
		t.Fatalf("ack = %v", a)
	}
}

// TestTierComesFromTheToken: a normal user whose Join claims to be VIP, under
// another user's name, joins as themselves with the normal tier, and the normal
// limits apply to them; a robot is one because its token says so. Calls with no
// token, or from a service, are refused before they reach the room.
func TestTierComesFromTheToken(t *testing.T) {
	store, danmaku := platform(t)
	configtest.MustPut(t, store, "danmaku/ratelimit/normal", `{"rate":0.01,"burst":1,"queue_depth":0,"give_up":"0s"}`)
	configtest.MustPut(t, store, "danmaku/ratelimit/vip", `{"rate":1000,"burst":100,"queue_depth":10,"give_up":"1s"}`)
	waitForLog(t, danmaku, "rate-limit policy changed")
	conn := userConn(t, danmaku)

	vip := joinRoom(t, conn, "live", token(t, "vera", auth.TierVIP), nil, danmakuv1.Tier_TIER_VIP)
	claim := &danmakuv1.Join{UserId: "celebrity", Tier: danmakuv1.Tier_TIER_VIP}
	mallory := joinRoom(t, conn, "live", token(t, "mallory", auth.TierNormal), claim, danmakuv1.Tier_TIER_NORMAL)
	if a := mallory.say("1", "first"); a.GetOutcome() != danmakuv1.Outcome_OUTCOME_ACCEPTED {
		t.Fatalf("first comment: %v", a)
	}
	if a := mallory.say("2", "second"); a.GetOutcome() != danmakuv1.Outcome_OUTCOME_DROPPED {
		t.Fatalf("second comment of a normal user claiming VIP: %v, want the normal limit's DROPPED", a)
	}
	for {
		resp, err := vip.stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if rc := resp.GetComment(); rc != nil {
			if rc.GetUserId() != "mallory" || rc.GetTier() != danmakuv1.Tier_TIER_NORMAL {
				t.Fatalf("the room shows the comment by %s (%v), want mallory (NORMAL)", rc.GetUserId(), rc.GetTier())
			}
			break
		}
	}
	for i := range 3 {
		if a := vip.say(fmt.Sprint(i), "hi"); a.GetOutcome() != danmakuv1.Outcome_OUTCOME_ACCEPTED {
			t.Fatalf("VIP comment %d: %v", i, a)
		}
	}

	for name, c := range map[string]grpc.ClientConnInterface{"no token": conn, "a service": danmaku.Conn} {
		stream, err := danmakuv1.NewDanmakuServiceClient(c).Chat(configtest.Ctx(t))
		if err == nil {
			stream.Send(&danmakuv1.ChatRequest{Message: &danmakuv1.ChatRequest_Join{Join: &danmakuv1.Join{RoomId: "live"}}})
			_, err = stream.Recv()
		}
		want := map[string]codes.Code{"no token": codes.Unauthenticated, "a service": codes.PermissionDenied}[name]
		if status.Code(err) != want || grpcerr.Info(err).GetDomain() != "monoreel.auth" {
			t.Errorf("a chat from %s: %v, want %v with an auth ErrorInfo", name, err, want)
		}
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
		conns = append(conns, userConn(b, danmaku))
	}
	var delivered atomic.Int64
	var mu sync.Mutex
	var latencies []time.Duration
	var wg sync.WaitGroup
	for i := range subscribers {
		sub := joinRoom(b, conns[i%len(conns)], "bench", token(b, fmt.Sprint("viewer-", i), auth.TierNormal), nil, danmakuv1.Tier_TIER_NORMAL)
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
	poster := joinRoom(b, conns[0], "bench", token(b, "poster", auth.TierVIP), nil, danmakuv1.Tier_TIER_VIP)
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

// TestSamplingFollowsTheConfigCenter: the share of traces sampled follows the
// config center's tracing/sample_ratio while the service runs; a bad value is
// refused and the current one kept.
func TestSamplingFollowsTheConfigCenter(t *testing.T) {
	store, danmaku := platform(t)
	configtest.MustPut(t, store, "tracing/sample_ratio", "0.25")
	waitForLog(t, danmaku, `msg="trace sample ratio changed" service=danmaku ratio=0.25`)
	configtest.MustPut(t, store, "tracing/sample_ratio", "2")
	waitForLog(t, danmaku, "keeping the trace sample ratio")
}

// TestShadowCommentsStayInShadowRooms: a shadow chat (x-shadow) in a room never
// reaches the room's real viewers; a real comment does.
func TestShadowCommentsStayInShadowRooms(t *testing.T) {
	danmaku := testproc.StartService(t, testproc.Runfile(t, "DANMAKU_BINARY"))
	conn := userConn(t, danmaku)
	viewer := joinRoom(t, conn, "live", token(t, "viewer", auth.TierNormal), nil, danmakuv1.Tier_TIER_NORMAL)
	shadow := metadata.AppendToOutgoingContext(configtest.Ctx(t), "x-shadow", "true")
	ghost := joinRoomIn(shadow, t, conn, "live", token(t, "ghost", auth.TierVIP), nil, danmakuv1.Tier_TIER_VIP)
	if a := ghost.say("1", "shadow comment"); a.GetOutcome() != danmakuv1.Outcome_OUTCOME_ACCEPTED {
		t.Fatalf("shadow comment: %v", a)
	}
	poster := joinRoom(t, conn, "live", token(t, "poster", auth.TierVIP), nil, danmakuv1.Tier_TIER_VIP)
	if a := poster.say("2", "real comment"); a.GetOutcome() != danmakuv1.Outcome_OUTCOME_ACCEPTED {
		t.Fatalf("real comment: %v", a)
	}
	// The viewer's first comment must be the real one: the shadow one, posted
	// before it, never came.
	for {
		resp, err := viewer.stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if rc := resp.GetComment(); rc != nil {
			if rc.GetText() != "real comment" {
				t.Fatalf("a real viewer received %q from %s", rc.GetText(), rc.GetUserId())
			}
			return
		}
	}
}

// TestRoomAcrossInstances: three real instances share a room through a real
// Redis. Comments posted on two of them reach every subscriber on every
// instance, each comment once and in one order; with one instance killed, the
// others go on.
func TestRoomAcrossInstances(t *testing.T) {
	redisAddr := testproc.FreeAddr(t)
	testproc.StartRedis(t, redisAddr)
	bin := testproc.Runfile(t, "DANMAKU_BINARY")
	var instances []*testproc.Service
	var viewers []*chatter
	for i := range 3 {
		svc := testproc.StartService(t, bin, "-relay_redis="+redisAddr, fmt.Sprintf("-worker_id=%d", i+1))
		instances = append(instances, svc)
		viewers = append(viewers, joinRoom(t, userConn(t, svc), "live", token(t, fmt.Sprint("viewer-", i), auth.TierNormal), nil, danmakuv1.Tier_TIER_NORMAL))
	}
	posters := []*chatter{
		joinRoom(t, userConn(t, instances[0]), "live", token(t, "ann", auth.TierVIP), nil, danmakuv1.Tier_TIER_VIP),
		joinRoom(t, userConn(t, instances[1]), "live", token(t, "bob", auth.TierVIP), nil, danmakuv1.Tier_TIER_VIP),
	}
	// seen reads n comments from a viewer, in the order it got them.
	seen := func(v *chatter, n int) []int64 {
		var ids []int64
		for len(ids) < n {
			resp, err := v.stream.Recv()
			if err != nil {
				t.Fatalf("after %d of %d comments (%v): %v", len(ids), n, ids, err)
			}
			if rc := resp.GetComment(); rc != nil {
				ids = append(ids, rc.GetId())
			}
		}
		return ids
	}
	var posted []int64
	for i := range 6 {
		a := posters[i%2].say(fmt.Sprint(i), fmt.Sprint("comment ", i))
		if a.GetOutcome() != danmakuv1.Outcome_OUTCOME_ACCEPTED {
			t.Fatalf("comment %d: %v", i, a)
		}
		posted = append(posted, a.GetCommentId())
	}
	first := seen(viewers[0], 6)
	for i, v := range viewers[1:] {
		if got := seen(v, 6); !slices.Equal(got, first) {
			t.Errorf("viewer on instance %d saw %v, viewer on instance 0 %v: want one order", i+1, got, first)
		}
	}
	sorted := slices.Clone(first)
	slices.Sort(sorted)
	want := slices.Clone(posted)
	slices.Sort(want)
	if !slices.Equal(sorted, want) {
		t.Errorf("viewers saw %v, want each of %v once", first, posted)
	}

	instances[2].Stop() // SIGKILL
	if a := posters[0].say("after", "after a kill"); a.GetOutcome() != danmakuv1.Outcome_OUTCOME_ACCEPTED {
		t.Fatalf("comment after a kill: %v", a)
	}
	for i, v := range viewers[:2] {
		if got := seen(v, 1); len(got) != 1 {
			t.Errorf("viewer on instance %d after a kill: %v", i, got)
		}
	}
}

// TestUserLimitAcrossInstances: two real instances share a Redis (rooms and
// limits). A robot allowed one comment per 100 seconds by the config center
// posts it through one instance; its comment through the other is dropped,
// though that instance's own bucket for it is full.
func TestUserLimitAcrossInstances(t *testing.T) {
	redisAddr := testproc.FreeAddr(t)
	testproc.StartRedis(t, redisAddr)
	store, start := startCenter(t)
	configtest.MustPut(t, store, "danmaku/ratelimit/robot", `{"rate":0.01,"burst":1,"queue_depth":0,"give_up":"0s"}`)
	var bots []*chatter
	for i := range 2 {
		danmaku := start("-relay_redis="+redisAddr, fmt.Sprintf("-worker_id=%d", i+1))
		waitForLog(t, danmaku, "rate-limit policy changed")
		bots = append(bots, joinRoom(t, userConn(t, danmaku), "live", token(t, "bot-1", auth.TierRobot), nil, danmakuv1.Tier_TIER_ROBOT))
	}
	if a := bots[0].say("1", "first"); a.GetOutcome() != danmakuv1.Outcome_OUTCOME_ACCEPTED {
		t.Fatalf("first comment: %v", a)
	}
	if a := bots[1].say("2", "second"); a.GetOutcome() != danmakuv1.Outcome_OUTCOME_DROPPED || !strings.Contains(a.GetReason(), "give-up") {
		t.Fatalf("second comment, through the other instance, over a 0.01/s limit: %v, want DROPPED by the shared limit", a)
	}
}

// TestResumeOnAnotherInstance: a viewer on instance A records the comments'
// event ids; A is killed (SIGKILL) while a poster on B goes on; the viewer
// joins B with resume_after, the last id it saw, and gets every comment posted
// exactly once, in order, from before the kill to after it.
func TestResumeOnAnotherInstance(t *testing.T) {
	const comments = 40
	redisAddr := testproc.FreeAddr(t)
	testproc.StartRedis(t, redisAddr)
	bin := testproc.Runfile(t, "DANMAKU_BINARY")
	a := testproc.StartService(t, bin, "-relay_redis="+redisAddr, "-worker_id=1")
	b := testproc.StartService(t, bin, "-relay_redis="+redisAddr, "-worker_id=2")
	viewerToken := token(t, "viewer", auth.TierNormal)
	viewer := joinRoom(t, userConn(t, a), "live", viewerToken, nil, danmakuv1.Tier_TIER_NORMAL)
	poster := joinRoom(t, userConn(t, b), "live", token(t, "poster", auth.TierVIP), nil, danmakuv1.Tier_TIER_VIP)

	// The viewer's comments before the kill, with their event ids.
	type comment struct {
		id    int64
		event string
	}
	var mu sync.Mutex
	var before []comment
	viewerGone := make(chan error, 1)
	go func() {
		for {
			resp, err := viewer.stream.Recv()
			if err != nil {
				viewerGone <- err
				return
			}
			if rc := resp.GetComment(); rc != nil {
				mu.Lock()
				before = append(before, comment{rc.GetId(), rc.GetEventId()})
				mu.Unlock()
			}
		}
	}()
	// The poster posts one after the other (each acknowledged once in the
	// room's stream), so the acks' order is the room's.
	posted := make(chan int64, comments)
	postErr := make(chan error, 1)
	go func() {
		defer close(posted)
		for i := range comments {
			if err := poster.stream.Send(&danmakuv1.ChatRequest{Message: &danmakuv1.ChatRequest_Comment{Comment: &danmakuv1.Comment{ClientId: fmt.Sprint(i), Text: fmt.Sprint("comment ", i)}}}); err != nil {
				postErr <- err
				return
			}
			for {
				resp, err := poster.stream.Recv()
				if err != nil {
					postErr <- err
					return
				}
				if ack := resp.GetAck(); ack != nil && ack.GetOutcome() != danmakuv1.Outcome_OUTCOME_QUEUED {
					if ack.GetOutcome() != danmakuv1.Outcome_OUTCOME_ACCEPTED {
						postErr <- fmt.Errorf("comment %d: %v", i, ack)
						return
					}
					posted <- ack.GetCommentId()
					break
				}
			}
		}
	}()
	for seen := 0; seen < 5; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		seen = len(before)
		mu.Unlock()
	}
	a.Stop()     // SIGKILL, with comments still coming
	<-viewerGone // with the instance
	last := before[len(before)-1].event

	stream, err := danmakuv1.NewDanmakuServiceClient(userConn(t, b)).Chat(configtest.Ctx(t), grpc.PerRPCCredentials(viewerToken))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&danmakuv1.ChatRequest{Message: &danmakuv1.ChatRequest_Join{Join: &danmakuv1.Join{RoomId: "live", ResumeAfter: last}}}); err != nil {
		t.Fatal(err)
	}
	if resp, err := stream.Recv(); err != nil || resp.GetJoined() == nil || resp.GetJoined().GetGap() {
		t.Fatalf("resuming after %s: %v, %v; want joined without a gap", last, resp, err)
	}
	var want []int64
	for id := range posted {
		want = append(want, id)
	}
	select {
	case err := <-postErr:
		t.Fatal(err)
	default:
	}
	// The end: one more comment, after which nothing of the room is pending.
	end := poster.say("end", "end")
	var after []comment
	for {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("after resuming, %d comments, then %v", len(after), err)
		}
		rc := resp.GetComment()
		if rc.GetId() == end.GetCommentId() {
			break
		}
		if rc != nil {
			after = append(after, comment{rc.GetId(), rc.GetEventId()})
		}
	}
	var got []int64
	var prev relay.EventID
	for i, c := range append(before, after...) {
		got = append(got, c.id)
		id, err := relay.ParseEventID(c.event)
		if err != nil || i > 0 && !id.After(prev) {
			t.Errorf("comment %d's event id %q (%v) does not follow %v", c.id, c.event, err, prev)
		}
		prev = id
	}
	if !slices.Equal(got, want) {
		t.Errorf("the viewer got %v (%d before the kill, %d after resuming on another instance), want %v", got, len(before), len(after), want)
	}
}

// TestPostAndSubscribeAcrossInstances: the real binaries, for a client that
// cannot stream both ways. A viewer follows a room with Subscribe on instance
// A; a poster posts with Post, one call per comment, through instance B, as
// the user and tier its token names; the viewer gets each comment with its
// event id, and resumes with Subscribe on B after the second one, getting the
// rest exactly once. Without a token, Post is refused.
func TestPostAndSubscribeAcrossInstances(t *testing.T) {
	redisAddr := testproc.FreeAddr(t)
	testproc.StartRedis(t, redisAddr)
	bin := testproc.Runfile(t, "DANMAKU_BINARY")
	a := testproc.StartService(t, bin, "-relay_redis="+redisAddr, "-worker_id=1")
	b := testproc.StartService(t, bin, "-relay_redis="+redisAddr, "-worker_id=2")
	viewerToken := token(t, "viewer", auth.TierNormal)
	ctx := configtest.Ctx(t)
	sub, err := danmakuv1.NewDanmakuServiceClient(userConn(t, a)).Subscribe(ctx, &danmakuv1.SubscribeRequest{RoomId: "live"}, grpc.PerRPCCredentials(viewerToken))
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := sub.Recv(); err != nil || resp.GetJoined().GetUserId() != "viewer" || resp.GetJoined().GetTier() != danmakuv1.Tier_TIER_NORMAL {
		t.Fatalf("Subscribe: %v, %v; want joined as viewer", resp, err)
	}

	poster := danmakuv1.NewDanmakuServiceClient(userConn(t, b))
	posterToken := token(t, "poster", auth.TierVIP)
	var posted []int64
	for i := range 5 {
		resp, err := poster.Post(ctx, &danmakuv1.PostRequest{RoomId: "live", Comment: &danmakuv1.Comment{ClientId: fmt.Sprint(i), Text: fmt.Sprint("comment ", i)}}, grpc.PerRPCCredentials(posterToken))
		if err != nil || resp.GetAck().GetOutcome() != danmakuv1.Outcome_OUTCOME_ACCEPTED {
			t.Fatalf("Post %d: %v, %v", i, resp, err)
		}
		posted = append(posted, resp.GetAck().GetCommentId())
	}
	var events []string
	for i := range posted {
		resp, err := sub.Recv()
		if err != nil {
			t.Fatal(err)
		}
		rc := resp.GetComment()
		if rc.GetId() != posted[i] || rc.GetUserId() != "poster" || rc.GetTier() != danmakuv1.Tier_TIER_VIP || rc.GetEventId() == "" {
			t.Fatalf("comment %d on the viewer's Subscribe: %v, want %d by poster (vip) with an event id", i, rc, posted[i])
		}
		events = append(events, rc.GetEventId())
	}

	resumed, err := danmakuv1.NewDanmakuServiceClient(userConn(t, b)).Subscribe(ctx, &danmakuv1.SubscribeRequest{RoomId: "live", ResumeAfter: events[1]}, grpc.PerRPCCredentials(viewerToken))
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := resumed.Recv(); err != nil || resp.GetJoined() == nil || resp.GetJoined().GetGap() {
		t.Fatalf("resuming after %s: %v, %v; want joined without a gap", events[1], resp, err)
	}
	for i := 2; i < len(posted); i++ {
		resp, err := resumed.Recv()
		if err != nil || resp.GetComment().GetId() != posted[i] || resp.GetComment().GetEventId() != events[i] {
			t.Fatalf("resumed comment %d: %v, %v; want %d (%s)", i, resp, err, posted[i], events[i])
		}
	}

	_, err = poster.Post(ctx, &danmakuv1.PostRequest{RoomId: "live", Comment: &danmakuv1.Comment{Text: "who?"}})
	if status.Code(err) != codes.Unauthenticated || grpcerr.Reason(err) != "NO_CREDENTIALS" {
		t.Errorf("Post without a token: %v, want Unauthenticated NO_CREDENTIALS", err)
	}
}
