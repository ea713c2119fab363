package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/mock/gomock"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/monoreel/monoreel/libs/auth"
	"github.com/monoreel/monoreel/libs/grpcstream"
	"github.com/monoreel/monoreel/libs/idpool"
	"github.com/monoreel/monoreel/libs/ratelimit"
	"github.com/monoreel/monoreel/libs/testproc"
	danmakuv1 "github.com/monoreel/monoreel/proto/danmaku/v1"
	danmakumock "github.com/monoreel/monoreel/proto/danmaku/v1/mock"
	idgenv1 "github.com/monoreel/monoreel/proto/idgen/v1"
	"github.com/monoreel/monoreel/proto/idgen/v1/mock"
	"github.com/monoreel/monoreel/services/danmaku/internal/event"
	"github.com/monoreel/monoreel/services/danmaku/internal/flow"
	"github.com/monoreel/monoreel/services/danmaku/internal/relay"
	"github.com/monoreel/monoreel/services/danmaku/internal/room"
)

// idgenMock is the IDGen service as a gomock mock handing out 1, 2, 3...
func idgenMock(t *testing.T) *mock.MockIDGenServiceClient {
	m := mock.NewMockIDGenServiceClient(gomock.NewController(t))
	next := int64(0)
	m.EXPECT().NextIDs(gomock.Any(), gomock.Any()).AnyTimes().DoAndReturn(
		func(_ context.Context, req *idgenv1.NextIDsRequest, _ ...grpc.CallOption) (*idgenv1.NextIDsResponse, error) {
			resp := &idgenv1.NextIDsResponse{}
			for range req.GetCount() {
				next++
				resp.Ids = append(resp.Ids, next)
			}
			return resp, nil
		})
	return m
}

// serve runs a Server on loopback and returns a client of it.
// service is a client of a Server running in the test, and its address.
type service struct {
	danmakuv1.DanmakuServiceClient
	target string
}

func serve(t *testing.T, fc *flow.Controller, ids idgenv1.IDGenServiceClient, opts room.Options) service {
	conn := testproc.ServeGRPC(t, func(srv *grpc.Server) {
		danmakuv1.RegisterDanmakuServiceServer(srv, New(room.NewHub(opts), fc, idpool.New(ids, 4), prometheus.NewRegistry()))
	}, grpc.StreamInterceptor(testIdentity), grpc.UnaryInterceptor(testUnaryIdentity))
	return service{danmakuv1.NewDanmakuServiceClient(conn), conn.Target()}
}

// testIdentity stands in for libs/auth in these handler tests: the caller is the
// user and tier its call's test-user and test-tier metadata name. (main_test
// runs the real check, with tokens.)
func testIdentity(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	md, _ := metadata.FromIncomingContext(ss.Context())
	if users := md.Get("test-user"); len(users) == 1 {
		id := auth.Identity{Kind: auth.User, Name: users[0], Tier: md.Get("test-tier")[0]}
		return handler(srv, grpcstream.WithContext(ss, auth.NewContext(ss.Context(), id)))
	}
	return handler(srv, ss)
}

// testUnaryIdentity is testIdentity for unary calls.
func testUnaryIdentity(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if users := md.Get("test-user"); len(users) == 1 {
		ctx = auth.NewContext(ctx, auth.Identity{Kind: auth.User, Name: users[0], Tier: md.Get("test-tier")[0]})
	}
	return handler(ctx, req)
}

// tierNames are the token tiers of the API's.
var tierNames = map[danmakuv1.Tier]string{
	danmakuv1.Tier_TIER_NORMAL: auth.TierNormal, danmakuv1.Tier_TIER_VIP: auth.TierVIP, danmakuv1.Tier_TIER_ROBOT: auth.TierRobot,
}

// asUser is ctx for calls by user with tier.
func asUser(ctx context.Context, user string, tier danmakuv1.Tier) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "test-user", user, "test-tier", tierNames[tier])
}

type client struct {
	t      *testing.T
	stream danmakuv1.DanmakuService_ChatClient
}

func join(t *testing.T, c danmakuv1.DanmakuServiceClient, roomID, user string, tier danmakuv1.Tier) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(asUser(context.Background(), user, tier), 20*time.Second)
	t.Cleanup(cancel)
	stream, err := c.Chat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&danmakuv1.ChatRequest{Message: &danmakuv1.ChatRequest_Join{Join: &danmakuv1.Join{RoomId: roomID}}}); err != nil {
		t.Fatal(err)
	}
	cl := &client{t: t, stream: stream}
	if resp := cl.recv(); resp.GetJoined() == nil {
		t.Fatalf("first response %v, want joined", resp)
	}
	return cl
}

func (c *client) say(id, text string) {
	c.t.Helper()
	if err := c.stream.Send(&danmakuv1.ChatRequest{Message: &danmakuv1.ChatRequest_Comment{Comment: &danmakuv1.Comment{ClientId: id, Text: text}}}); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) recv() *danmakuv1.ChatResponse {
	c.t.Helper()
	resp, err := c.stream.Recv()
	if err != nil {
		c.t.Fatal(err)
	}
	return resp
}

// ackAndComment returns the ack of the client's comment and the comment as the
// room shows it, whichever comes first.
func (c *client) ackAndComment() (*danmakuv1.CommentAck, *danmakuv1.RoomComment) {
	c.t.Helper()
	var ack *danmakuv1.CommentAck
	var rc *danmakuv1.RoomComment
	for ack == nil || rc == nil {
		resp := c.recv()
		if a := resp.GetAck(); a != nil {
			ack = a
		}
		if r := resp.GetComment(); r != nil {
			rc = r
		}
	}
	return ack, rc
}

// ack returns the next ack, skipping room comments.
func (c *client) ack() *danmakuv1.CommentAck {
	c.t.Helper()
	for {
		if a := c.recv().GetAck(); a != nil {
			return a
		}
	}
}

// comment returns the next room comment, skipping acks.
func (c *client) comment() *danmakuv1.RoomComment {
	c.t.Helper()
	for {
		if rc := c.recv().GetComment(); rc != nil {
			return rc
		}
	}
}

func TestCommentsReachTheRoom(t *testing.T) {
	svc := serve(t, flow.New(), idgenMock(t), room.Options{})
	alice := join(t, svc, "live-1", "alice", danmakuv1.Tier_TIER_VIP)
	bob := join(t, svc, "live-1", "bob", danmakuv1.Tier_TIER_NORMAL)
	elsewhere := join(t, svc, "live-2", "carol", danmakuv1.Tier_TIER_NORMAL)

	alice.say("a1", "first!")
	ack, own := alice.ackAndComment()
	if ack.GetOutcome() != danmakuv1.Outcome_OUTCOME_ACCEPTED || ack.GetClientId() != "a1" || ack.GetCommentId() != 1 {
		t.Fatalf("ack = %v", ack)
	}
	for _, rc := range []*danmakuv1.RoomComment{own, bob.comment()} {
		if rc.GetText() != "first!" || rc.GetUserId() != "alice" || rc.GetTier() != danmakuv1.Tier_TIER_VIP || rc.GetId() != 1 || rc.GetPostedAt() == nil {
			t.Errorf("room comment = %v", rc)
		}
	}
	elsewhere.say("c1", "hello 2")
	if _, rc := elsewhere.ackAndComment(); rc.GetText() != "hello 2" {
		t.Errorf("own room comment = %v", rc)
	}

	bob.say("b1", "bad\x07")
	if a := bob.ack(); a.GetOutcome() != danmakuv1.Outcome_OUTCOME_REJECTED || !strings.Contains(a.GetReason(), "control character U+0007") {
		t.Errorf("ack of a bad comment = %v", a)
	}
}

// TestRateLimitQueuesThenDrops: over the user's limit a comment is queued and
// posted when a token comes; with the queue full it is dropped with the reason.
func TestRateLimitQueuesThenDrops(t *testing.T) {
	fc := flow.New()
	fc.SetPolicy(ratelimit.Robot, ratelimit.Policy{Rate: 10, Burst: 1, QueueDepth: 1, GiveUp: time.Second})
	svc := serve(t, fc, idgenMock(t), room.Options{})
	bot := join(t, svc, "r", "bot", danmakuv1.Tier_TIER_ROBOT)
	bot.say("1", "one")
	bot.say("2", "two")
	bot.say("3", "three")
	outcomes := map[string][]danmakuv1.Outcome{}
	reasons := map[string]string{}
	for range 4 { // 1 accepted; 2 queued, then accepted; 3 dropped: the queue holds 2
		a := bot.ack()
		outcomes[a.GetClientId()] = append(outcomes[a.GetClientId()], a.GetOutcome())
		reasons[a.GetClientId()] = a.GetReason()
	}
	want := map[string]string{
		"1": "[OUTCOME_ACCEPTED]",
		"2": "[OUTCOME_QUEUED OUTCOME_ACCEPTED]",
		"3": "[OUTCOME_DROPPED]",
	}
	for id, w := range want {
		if got := fmt.Sprint(outcomes[id]); got != w {
			t.Errorf("comment %s: %s, want %s", id, got, w)
		}
	}
	if !strings.Contains(reasons["3"], "queue full") {
		t.Errorf("drop reason %q, want queue full", reasons["3"])
	}

	// Closing the sending side still delivers the outcome of a queued comment.
	// A new policy starts with a full bucket: 4 goes at once, 5 waits 500ms.
	fc.SetPolicy(ratelimit.Robot, ratelimit.Policy{Rate: 2, Burst: 1, QueueDepth: 1, GiveUp: 2 * time.Second})
	bot.say("4", "last")
	bot.say("5", "words")
	if err := bot.stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var last []danmakuv1.Outcome
	for {
		resp, err := bot.stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("after CloseSend: %v", err)
			}
			break
		}
		if a := resp.GetAck(); a != nil {
			last = append(last, a.GetOutcome())
		}
	}
	if got := fmt.Sprint(last); got != "[OUTCOME_ACCEPTED OUTCOME_QUEUED OUTCOME_ACCEPTED]" {
		t.Errorf("acks of the last comments after CloseSend: %s", got)
	}

	// Another user of the same tier has a bucket of their own.
	other := join(t, svc, "r", "bot2", danmakuv1.Tier_TIER_ROBOT)
	other.say("x", "mine")
	if a := other.ack(); a.GetOutcome() != danmakuv1.Outcome_OUTCOME_ACCEPTED {
		t.Errorf("another user's first comment: %v", a)
	}
}

func TestNoIDMeansDroppedNotLost(t *testing.T) {
	ids := mock.NewMockIDGenServiceClient(gomock.NewController(t))
	ids.EXPECT().NextIDs(gomock.Any(), gomock.Any()).Return(nil, status.Error(codes.Unavailable, "idgen down"))
	svc := serve(t, flow.New(), ids, room.Options{})
	u := join(t, svc, "r", "u", danmakuv1.Tier_TIER_NORMAL)
	u.say("1", "hi")
	if a := u.ack(); a.GetOutcome() != danmakuv1.Outcome_OUTCOME_DROPPED || !strings.Contains(a.GetReason(), "idgen down") {
		t.Errorf("ack without an id = %v", a)
	}
}

func TestBadJoins(t *testing.T) {
	svc := serve(t, flow.New(), idgenMock(t), room.Options{})
	for req, want := range map[*danmakuv1.ChatRequest]string{
		{Message: &danmakuv1.ChatRequest_Comment{Comment: &danmakuv1.Comment{Text: "hi"}}}:                       "first message must be a join",
		{Message: &danmakuv1.ChatRequest_Join{Join: &danmakuv1.Join{}}}:                                          "room_id is empty",
		{Message: &danmakuv1.ChatRequest_Join{Join: &danmakuv1.Join{RoomId: "r", ResumeAfter: "1700000000000"}}}: `resume_after: event id "1700000000000": want <milliseconds>-<sequence>`,
	} {
		stream, err := svc.Chat(asUser(context.Background(), "u", danmakuv1.Tier_TIER_NORMAL))
		if err != nil {
			t.Fatal(err)
		}
		stream.Send(req)
		_, err = stream.Recv()
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want InvalidArgument naming %q", req, err, want)
		}
	}
}

// TestResumingAloneIsAGap: an instance without a relay keeps no history: a
// client resuming is told of a gap, and comments have no event id.
func TestResumingAloneIsAGap(t *testing.T) {
	svc := serve(t, flow.New(), idgenMock(t), room.Options{})
	stream, err := svc.Chat(asUser(context.Background(), "u", danmakuv1.Tier_TIER_VIP))
	if err != nil {
		t.Fatal(err)
	}
	stream.Send(&danmakuv1.ChatRequest{Message: &danmakuv1.ChatRequest_Join{Join: &danmakuv1.Join{RoomId: "r", ResumeAfter: "1700000000000-0"}}})
	u := &client{t: t, stream: stream}
	if resp := u.recv(); !resp.GetJoined().GetGap() {
		t.Fatalf("resuming alone: %v, want joined with a gap", resp)
	}
	u.say("1", "hi")
	if _, rc := u.ackAndComment(); rc.GetEventId() != "" {
		t.Errorf("a comment without a relay has event id %q", rc.GetEventId())
	}
}

// TestSlowReaderIsDisconnected: a client that stops reading is cut off with a
// reason, and the room goes on for the others.
func TestSlowReaderIsDisconnected(t *testing.T) {
	fc := flow.New()
	fc.SetPolicy(ratelimit.VIP, ratelimit.Policy{Rate: 1e6, Burst: 1000})
	evicted := make(chan struct{}, 1)
	svc := serve(t, fc, idgenMock(t), room.Options{Buffer: 4, SlowTimeout: 100 * time.Millisecond,
		OnEvict: func() { evicted <- struct{}{} }})
	poster := join(t, svc, "r", "poster", danmakuv1.Tier_TIER_VIP)

	// The slow reader has a connection of its own with fixed, small HTTP/2
	// windows: once they are full the server cannot send to it, its room
	// buffer fills, and the backlog lasts.
	conn, err := grpc.NewClient(svc.target, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(1<<16), grpc.WithInitialConnWindowSize(1<<16))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	slow := join(t, danmakuv1.NewDanmakuServiceClient(conn), "r", "slow", danmakuv1.Tier_TIER_NORMAL)

	big := strings.Repeat("x", 200)
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; ; i++ {
		poster.say(fmt.Sprint(i), big)
		if a := poster.ack(); a.GetOutcome() != danmakuv1.Outcome_OUTCOME_ACCEPTED {
			t.Fatalf("poster's comment %d: %v", i, a)
		}
		select {
		case <-evicted:
		default:
			if time.Now().After(deadline) {
				t.Fatal("the slow reader was not disconnected within 15s")
			}
			continue
		}
		break
	}
	for {
		_, err := slow.stream.Recv()
		if err == nil {
			continue
		}
		if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "read the room too slowly") {
			t.Fatalf("slow reader ended with %v, want ResourceExhausted naming why", err)
		}
		break
	}
	// The room goes on.
	poster.say("after", "still here")
	if a := poster.ack(); a.GetOutcome() != danmakuv1.Outcome_OUTCOME_ACCEPTED {
		t.Errorf("after the eviction: %v", a)
	}
}

// TestFailedSendLeavesTheRoom: Chat ends with the error of a Send that fails,
// and the user is no longer in the room. A real stream's Send fails only on a
// broken connection, so the stream is a mock.
func TestFailedSendLeavesTheRoom(t *testing.T) {
	hub := room.NewHub(room.Options{})
	s := New(hub, flow.New(), idpool.New(idgenMock(t), 4), prometheus.NewRegistry())
	stream := danmakumock.NewMockDanmakuService_ChatServer(gomock.NewController(t))
	// Cancelled before the controller checks its calls (cleanups run last first).
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream.EXPECT().Context().Return(ctx).AnyTimes()
	join := &danmakuv1.ChatRequest{Message: &danmakuv1.ChatRequest_Join{Join: &danmakuv1.Join{RoomId: "live"}}}
	gomock.InOrder(
		stream.EXPECT().Recv().Return(join, nil),
		// Then the client is silent, if Chat reads again at all before it ends.
		stream.EXPECT().Recv().DoAndReturn(func() (*danmakuv1.ChatRequest, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}).MaxTimes(1),
	)
	broken := errors.New("connection reset by peer")
	stream.EXPECT().Send(gomock.Cond(func(resp *danmakuv1.ChatResponse) bool {
		return resp.GetJoined().GetRoomId() == "live"
	})).Return(broken)

	if err := s.Chat(stream); !errors.Is(err, broken) {
		t.Fatalf("Chat: %v, want the failed Send's %v", err, broken)
	}
	r, sub := hub.Join("live")
	defer hub.Leave(r, sub)
	if n := r.Subscribers(); n != 1 {
		t.Errorf("the room has %d subscribers after the failed chat and a new join, want 1", n)
	}
}

// TestResumeIsExactlyOnceWhileTheRoomGoesOn: through a relay on a real Redis,
// a client resuming after the 100th of 1,000 comments, while 1,000 more are
// posted, gets each comment from the 101st on once, in order: the catch-up
// from the stream and the live feed meet without a gap or a duplicate.
func TestResumeIsExactlyOnceWhileTheRoomGoesOn(t *testing.T) {
	addr := testproc.FreeAddr(t)
	testproc.StartRedis(t, addr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hub := room.NewHub(room.Options{})
	r := relay.New(addr, hub, slog.New(slog.DiscardHandler))
	defer r.Close()
	go r.Run(ctx)
	conn := testproc.ServeGRPC(t, func(srv *grpc.Server) {
		danmakuv1.RegisterDanmakuServiceServer(srv, New(hub, flow.New(), idpool.New(idgenMock(t), 4), prometheus.NewRegistry()).RelayThrough(r))
	}, grpc.StreamInterceptor(testIdentity), grpc.UnaryInterceptor(testUnaryIdentity))
	post := func(id int64) error {
		e := event.Event{ID: id, Room: "live", Text: "x"}
		data, err := e.MarshalMsg(nil)
		if err != nil {
			return err
		}
		return r.Publish(ctx, "live", data)
	}
	const backlog, live = 1000, 1000
	for i := range int64(backlog) {
		if err := post(i); err != nil {
			t.Fatal(err)
		}
	}
	events, _, err := r.Since(ctx, "live", relay.EventID{})
	if err != nil || len(events) != backlog {
		t.Fatalf("the room's stream: %d events, %v", len(events), err)
	}
	posting := make(chan error, 1)
	go func() {
		for i := int64(backlog); i < backlog+live; i++ {
			if err := post(i); err != nil {
				posting <- err
				return
			}
			time.Sleep(time.Millisecond)
		}
		posting <- nil
	}()
	streamCtx, stop := context.WithTimeout(asUser(ctx, "viewer", danmakuv1.Tier_TIER_NORMAL), 20*time.Second)
	defer stop()
	stream, err := danmakuv1.NewDanmakuServiceClient(conn).Chat(streamCtx)
	if err != nil {
		t.Fatal(err)
	}
	stream.Send(&danmakuv1.ChatRequest{Message: &danmakuv1.ChatRequest_Join{Join: &danmakuv1.Join{RoomId: "live", ResumeAfter: events[99].ID}}})
	viewer := &client{t: t, stream: stream}
	if resp := viewer.recv(); resp.GetJoined() == nil || resp.GetJoined().GetGap() {
		t.Fatalf("resuming: %v, want joined without a gap", resp)
	}
	for want := int64(100); want < backlog+live; want++ {
		if got := viewer.comment().GetId(); got != want {
			t.Fatalf("comment %d, want %d: the catch-up and the live feed must meet exactly", got, want)
		}
	}
	if err := <-posting; err != nil {
		t.Fatal(err)
	}
}

// subscribe opens Subscribe on roomID as user and returns it after Joined.
func subscribe(t *testing.T, c danmakuv1.DanmakuServiceClient, roomID, resumeAfter, user string, tier danmakuv1.Tier) (danmakuv1.DanmakuService_SubscribeClient, *danmakuv1.Joined) {
	t.Helper()
	ctx, cancel := context.WithTimeout(asUser(context.Background(), user, tier), 20*time.Second)
	t.Cleanup(cancel)
	stream, err := c.Subscribe(ctx, &danmakuv1.SubscribeRequest{RoomId: roomID, ResumeAfter: resumeAfter})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil || resp.GetJoined() == nil {
		t.Fatalf("first response of Subscribe: %v, %v; want joined", resp, err)
	}
	return stream, resp.GetJoined()
}

// post posts text in roomID as user with Post.
func post(t *testing.T, c danmakuv1.DanmakuServiceClient, roomID, user string, tier danmakuv1.Tier, id, text string) *danmakuv1.PostResponse {
	t.Helper()
	resp, err := c.Post(asUser(context.Background(), user, tier), &danmakuv1.PostRequest{RoomId: roomID, Comment: &danmakuv1.Comment{ClientId: id, Text: text}})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestPostAndSubscribe: Chat's halves. A subscriber and a chatter both get a
// posted comment, as the poster's token names them; an invalid comment is
// rejected with the reason, and a bad request is InvalidArgument.
func TestPostAndSubscribe(t *testing.T) {
	svc := serve(t, flow.New(), idgenMock(t), room.Options{})
	sub, joined := subscribe(t, svc, "live", "", "viewer", danmakuv1.Tier_TIER_NORMAL)
	if joined.GetRoomId() != "live" || joined.GetUserId() != "viewer" || joined.GetSubscribers() != 1 || joined.GetGap() {
		t.Errorf("joined = %v", joined)
	}
	chatter := join(t, svc, "live", "bob", danmakuv1.Tier_TIER_NORMAL)

	resp := post(t, svc, "live", "alice", danmakuv1.Tier_TIER_VIP, "a1", "hello")
	if a := resp.GetAck(); a.GetOutcome() != danmakuv1.Outcome_OUTCOME_ACCEPTED || a.GetClientId() != "a1" || a.GetCommentId() == 0 || resp.GetQueued() {
		t.Fatalf("Post = %v", resp)
	}
	got, err := sub.Recv()
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range []*danmakuv1.RoomComment{got.GetComment(), chatter.comment()} {
		if rc.GetText() != "hello" || rc.GetUserId() != "alice" || rc.GetTier() != danmakuv1.Tier_TIER_VIP || rc.GetId() != resp.GetAck().GetCommentId() {
			t.Errorf("room comment = %v", rc)
		}
	}
	if a := post(t, svc, "live", "alice", danmakuv1.Tier_TIER_VIP, "a2", "bad\x07").GetAck(); a.GetOutcome() != danmakuv1.Outcome_OUTCOME_REJECTED || !strings.Contains(a.GetReason(), "control character") {
		t.Errorf("Post of a bad comment = %v", a)
	}
	if _, err := svc.Post(asUser(context.Background(), "alice", danmakuv1.Tier_TIER_VIP), &danmakuv1.PostRequest{Comment: &danmakuv1.Comment{Text: "x"}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("Post without a room: %v, want InvalidArgument", err)
	}
	bad, err := svc.Subscribe(asUser(context.Background(), "u", danmakuv1.Tier_TIER_NORMAL), &danmakuv1.SubscribeRequest{RoomId: "r", ResumeAfter: "x"})
	if err == nil {
		_, err = bad.Recv()
	}
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "resume_after") {
		t.Errorf("Subscribe with a bad resume_after: %v, want InvalidArgument", err)
	}
	// Alone, an instance keeps no history: a resume is a gap.
	if _, joined := subscribe(t, svc, "live", "1700000000000-0", "viewer", danmakuv1.Tier_TIER_NORMAL); !joined.GetGap() {
		t.Errorf("resuming alone: %v, want a gap", joined)
	}
}

// TestPostWaitsForTheQueue: Post is under the user's limit as Chat is: over
// it, a comment waits in the queue and the call returns its final outcome; with
// the queue full it is dropped. One call after another shares the bucket, and
// so do Post and Chat.
func TestPostWaitsForTheQueue(t *testing.T) {
	fc := flow.New()
	fc.SetPolicy(ratelimit.Robot, ratelimit.Policy{Rate: 1, Burst: 1, QueueDepth: 1, GiveUp: 5 * time.Second})
	svc := serve(t, fc, idgenMock(t), room.Options{})
	results := make(chan *danmakuv1.PostResponse, 3)
	for i := range 3 {
		go func() {
			resp, err := svc.Post(asUser(context.Background(), "bot", danmakuv1.Tier_TIER_ROBOT), &danmakuv1.PostRequest{RoomId: "r", Comment: &danmakuv1.Comment{ClientId: fmt.Sprint(i), Text: "spam"}})
			if err != nil {
				t.Error(err)
			}
			results <- resp
		}()
	}
	var outcomes []string
	for range 3 {
		r := <-results
		outcomes = append(outcomes, fmt.Sprintf("%v queued=%v", r.GetAck().GetOutcome(), r.GetQueued()))
	}
	slices.Sort(outcomes)
	if got, want := strings.Join(outcomes, ", "), "OUTCOME_ACCEPTED queued=false, OUTCOME_ACCEPTED queued=true, OUTCOME_DROPPED queued=false"; got != want {
		t.Errorf("three Posts at once: %s, want %s", got, want)
	}

	// Sequential calls: the bucket the last call emptied is still empty.
	fc.SetPolicy(ratelimit.Robot, ratelimit.Policy{Rate: 0.5, Burst: 1, QueueDepth: 0})
	if a := post(t, svc, "r", "bot2", danmakuv1.Tier_TIER_ROBOT, "1", "one").GetAck(); a.GetOutcome() != danmakuv1.Outcome_OUTCOME_ACCEPTED {
		t.Fatalf("first Post: %v", a)
	}
	if a := post(t, svc, "r", "bot2", danmakuv1.Tier_TIER_ROBOT, "2", "two").GetAck(); a.GetOutcome() != danmakuv1.Outcome_OUTCOME_DROPPED || !strings.Contains(a.GetReason(), "queue full") {
		t.Errorf("second Post right after: %v, want dropped (a fresh bucket per call would accept it)", a)
	}
	// The bucket is the user's Chat's too.
	chat := join(t, svc, "r", "bot2", danmakuv1.Tier_TIER_ROBOT)
	chat.say("3", "three")
	if a := chat.ack(); a.GetOutcome() != danmakuv1.Outcome_OUTCOME_DROPPED {
		t.Errorf("Chat comment right after the Posts: %v, want dropped", a)
	}
}
