// Package server is danmaku's handlers: Chat joins a client to a room, checks
// and rate-limits the comments it posts (per user, by tier), publishes accepted
// ones to the room as msgp events, and streams the room's comments back. Post
// and Subscribe are Chat's two halves for clients that cannot stream both ways
// (browsers): one comment a call, under the same limits (a member's admit,
// post and await), and the room's comments (a feed), with the same code.
//
// A client that joins with Join.resume_after (through a relay) gets the room's
// comments after that id first, then the live ones, each once: it is subscribed
// to the live feed before the stream is read, the live comments that arrive
// meanwhile are held (the subscriber's buffer drained as the catch-up is sent,
// and read again from the stream if it dropped some anyway), and live comments
// no later than the last one sent from the stream are skipped.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/monoreel/monoreel/libs/auth"
	"github.com/monoreel/monoreel/libs/coloring"
	"github.com/monoreel/monoreel/libs/idpool"
	"github.com/monoreel/monoreel/libs/ratelimit"
	danmakuv1 "github.com/monoreel/monoreel/proto/danmaku/v1"
	"github.com/monoreel/monoreel/services/danmaku/internal/comment"
	"github.com/monoreel/monoreel/services/danmaku/internal/event"
	"github.com/monoreel/monoreel/services/danmaku/internal/flow"
	"github.com/monoreel/monoreel/services/danmaku/internal/relay"
	"github.com/monoreel/monoreel/services/danmaku/internal/room"
)

// Server implements danmakuv1.DanmakuServiceServer.
type Server struct {
	danmakuv1.UnimplementedDanmakuServiceServer
	hub      *room.Hub
	flow     *flow.Controller
	ids      idpool.Source
	outcomes *prometheus.CounterVec
	relay    *relay.Redis // nil: one instance, comments go straight to the hub
}

// RelayThrough makes accepted comments go through r, which delivers them to
// the subscribers of every instance (and of this one) in one order per room.
func (s *Server) RelayThrough(r *relay.Redis) *Server {
	s.relay = r
	return s
}

// New returns a Server; its counters of comment outcomes by tier
// (danmaku_comments_total) are registered on reg.
func New(hub *room.Hub, fc *flow.Controller, ids idpool.Source, reg prometheus.Registerer) *Server {
	outcomes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "danmaku_comments_total",
		Help: "Comments by the poster's tier and what became of them.",
	}, []string{"tier", "outcome"})
	reg.MustRegister(outcomes)
	return &Server{hub: hub, flow: fc, ids: ids, outcomes: outcomes}
}

// tiers maps the tier of a user's token (libs/auth) to the API's and the rate
// limiter's.
var tiers = map[string]struct {
	api     danmakuv1.Tier
	limiter ratelimit.Tier
}{
	auth.TierNormal: {danmakuv1.Tier_TIER_NORMAL, ratelimit.Normal},
	auth.TierVIP:    {danmakuv1.Tier_TIER_VIP, ratelimit.VIP},
	auth.TierRobot:  {danmakuv1.Tier_TIER_ROBOT, ratelimit.Robot},
}

// anonymous is who a caller without identity is, on a -plaintext server (no
// authentication: a local experiment).
const anonymous = "anonymous"

// member is a caller in a room: the user and tier their token gives them, and
// the room as the hub knows it (shadow traffic's apart).
type member struct {
	s      *Server
	roomID string // as the client named it
	hubID  string // the hub's and the relay's: "shadow/<room>" for shadow traffic
	userID string
	tier   danmakuv1.Tier
	// limit is the tier's in the rate limiter; user, once acquired
	// (acquireLimit), is the user's limiter, shared by their calls.
	limit ratelimit.Tier
	user  *flow.User
}

// enter resolves the caller of ctx in roomID. The user and tier are the
// token's: what a request claims is ignored.
func (s *Server) enter(ctx context.Context, roomID string) (*member, error) {
	if roomID == "" {
		return nil, status.Error(codes.InvalidArgument, "room_id is empty")
	}
	userID, tierName := anonymous, auth.TierNormal
	if id := auth.FromContext(ctx); id.Kind == auth.User {
		userID, tierName = id.Name, id.Tier
	}
	tier, ok := tiers[tierName]
	if !ok {
		return nil, status.Errorf(codes.PermissionDenied, "user %s has tier %q, which danmaku does not know", userID, tierName)
	}
	m := &member{s: s, roomID: roomID, hubID: roomID, userID: userID, tier: tier.api, limit: tier.limiter}
	// Shadow traffic (libs/coloring) chats in rooms of its own, with its own
	// limits: a shadow comment never reaches a real viewer, nor uses a real
	// user's budget.
	if coloring.IsShadow(ctx) {
		m.hubID = "shadow/" + roomID
	}
	return m, nil
}

// acquireLimit takes the user's limiter (shared by all their calls); the
// caller releases it.
func (m *member) acquireLimit(ctx context.Context) *flow.User {
	user := m.userID
	if coloring.IsShadow(ctx) {
		user = "shadow/" + user
	}
	m.user = m.s.flow.Acquire(user, m.limit)
	return m.user
}

// admit checks a comment and takes its place under the user's limit: a final
// ack when it goes no further (REJECTED, DROPPED), else its reservation (a
// Delay of 0: post it now; else it is queued, and await posts it).
func (m *member) admit(ctx context.Context, msg *danmakuv1.Comment) (*flow.Reservation, *danmakuv1.CommentAck) {
	if err := comment.Validate(msg.GetText()); err != nil {
		return nil, m.ack(msg, danmakuv1.Outcome_OUTCOME_REJECTED, err.Error(), 0)
	}
	reservation, err := m.user.Reserve(ctx)
	if err != nil {
		return nil, m.ack(msg, danmakuv1.Outcome_OUTCOME_DROPPED, err.Error(), 0)
	}
	return reservation, nil
}

// queued is the ack of a comment admit queued.
func (m *member) queued(msg *danmakuv1.Comment, r *flow.Reservation) *danmakuv1.CommentAck {
	return m.ack(msg, danmakuv1.Outcome_OUTCOME_QUEUED, fmt.Sprintf("over the rate limit: queued for %v", r.Delay().Round(time.Millisecond)), 0)
}

// await waits for a queued comment's token, then posts it: its final ack.
func (m *member) await(ctx context.Context, msg *danmakuv1.Comment, r *flow.Reservation) *danmakuv1.CommentAck {
	if err := r.Wait(ctx); err != nil {
		return m.ack(msg, danmakuv1.Outcome_OUTCOME_DROPPED, err.Error(), 0)
	}
	return m.post(ctx, msg)
}

// post gives the comment an id and publishes it to the room: its final ack.
func (m *member) post(ctx context.Context, msg *danmakuv1.Comment) *danmakuv1.CommentAck {
	id, err := m.s.ids.Next(ctx)
	if err != nil {
		return m.ack(msg, danmakuv1.Outcome_OUTCOME_DROPPED, fmt.Sprintf("no comment id: %v", err), 0)
	}
	e := event.Event{
		ID: id, Room: m.roomID, User: m.userID, Tier: int32(m.tier),
		Text: msg.GetText(), PostedUnixNano: time.Now().UnixNano(),
	}
	data, err := e.MarshalMsg(nil)
	if err != nil {
		return m.ack(msg, danmakuv1.Outcome_OUTCOME_DROPPED, fmt.Sprintf("encoding: %v", err), 0)
	}
	if m.s.relay == nil {
		m.s.hub.Publish(m.hubID, room.Message{Data: data})
	} else if err := m.s.relay.Publish(ctx, m.hubID, data); err != nil {
		return m.ack(msg, danmakuv1.Outcome_OUTCOME_DROPPED, fmt.Sprintf("relaying to the room's other instances: %v", err), 0)
	}
	return m.ack(msg, danmakuv1.Outcome_OUTCOME_ACCEPTED, "", id)
}

// ack counts a comment's outcome and returns its ack.
func (m *member) ack(msg *danmakuv1.Comment, outcome danmakuv1.Outcome, reason string, id int64) *danmakuv1.CommentAck {
	m.s.outcomes.WithLabelValues(m.tier.String(), outcome.String()).Inc()
	return &danmakuv1.CommentAck{ClientId: msg.GetClientId(), Outcome: outcome, Reason: reason, CommentId: id}
}

// feed is a room's comments as one subscriber receives them: after a resume
// point (from the relay's stream, held live comments meanwhile), then live.
type feed struct {
	s       *Server
	room    *room.Room
	sub     *room.Subscriber
	ctx     context.Context
	emit    func(*danmakuv1.RoomComment) error
	after   *relay.EventID // the resume point; nil: live only
	backlog []room.Message // the relay's comments after it, read at join
	// resumed is the last event a resuming client got from the stream, until
	// the live feed is past it; nil otherwise (the sending goroutine's only).
	resumed *relay.EventID
}

// join subscribes m to its room and reads, when resuming, the room's comments
// after resumeAfter; emit sends a comment to the client. The caller leaves
// (feed.leave) and sends Joined first.
func (s *Server) join(ctx context.Context, m *member, resumeAfter string, emit func(*danmakuv1.RoomComment) error) (*feed, *danmakuv1.Joined, error) {
	f := &feed{s: s, ctx: ctx, emit: emit}
	if resumeAfter != "" {
		id, err := relay.ParseEventID(resumeAfter)
		if err != nil {
			return nil, nil, status.Errorf(codes.InvalidArgument, "resume_after: %v", err)
		}
		f.after = &id
	}
	f.room, f.sub = s.hub.Join(m.hubID)
	joined := &danmakuv1.Joined{RoomId: m.roomID, Subscribers: int32(f.room.Subscribers()), UserId: m.userID, Tier: m.tier}
	// Subscribed first, then the stream read: a comment posted in between is
	// in the live feed, the stream or both, never neither.
	switch {
	case f.after == nil:
	case s.relay == nil:
		joined.Gap = true // alone, this instance keeps no history
	default:
		var err error
		if f.backlog, joined.Gap, err = s.relay.Since(ctx, f.room.ID(), *f.after); err != nil {
			f.leave()
			return nil, nil, status.Errorf(codes.Unavailable, "resuming after %v: %v", f.after, err)
		}
	}
	return f, joined, nil
}

// leave unsubscribes.
func (f *feed) leave() { f.s.hub.Leave(f.room, f.sub) }

// evicted is the error that ends a subscriber the room cut off (Gone).
func (f *feed) evicted() error {
	return status.Errorf(codes.ResourceExhausted, "disconnected: this client read the room too slowly (%d comments dropped)", f.sub.Dropped())
}

// start sends, when resuming, the room's comments after the resume point, and
// then the live ones that came meanwhile. After it, the caller delivers the
// live comments (deliver).
func (f *feed) start() error {
	if f.after == nil || f.s.relay == nil {
		return nil
	}
	pending, err := f.catchUp()
	if err != nil {
		return err
	}
	for _, m := range pending {
		if err := f.deliver(m); err != nil {
			return err
		}
	}
	return nil
}

// maxPending is how many live comments a catch-up holds at most; past it the
// subscriber's buffer drops the oldest, and the catch-up reads them again from
// the stream.
const maxPending = relay.MaxLen

// catchUp sends the backlog (the room's comments after the resume point),
// draining the live feed meanwhile, and returns the live comments it held. If
// the live feed dropped comments all the same, it reads the stream again after
// the last one sent: a dropped comment was either sent already or is read
// then. The feed ends with DATA_LOSS if the stream dropped, meanwhile,
// comments not yet sent (a room faster than this client): the client resumes
// again, and is told of the gap.
func (f *feed) catchUp() ([]room.Message, error) {
	after, backlog := *f.after, f.backlog
	var pending []room.Message
	var drops int64 // a new subscriber has dropped nothing
	for {
		for _, m := range backlog {
			id, err := relay.ParseEventID(m.ID)
			if err != nil {
				return nil, status.Errorf(codes.Internal, "room event: %v", err)
			}
			if err := f.send(m); err != nil {
				return nil, err
			}
			after = id
			pending = drain(f.sub, pending)
		}
		pending = drain(f.sub, pending)
		if d := f.sub.Dropped(); d != drops {
			drops = d
			var gap bool
			var err error
			if backlog, gap, err = f.s.relay.Since(f.ctx, f.room.ID(), after); err != nil {
				return nil, status.Errorf(codes.Unavailable, "resuming after %v: %v", after, err)
			}
			if gap {
				return nil, status.Errorf(codes.DataLoss, "the room's comments after %v are gone: it moved on faster than this client caught up; join again with resume_after", after)
			}
			continue
		}
		f.resumed = &after
		return pending, nil
	}
}

// drain moves the live comments waiting in sub's buffer to pending, up to
// maxPending.
func drain(sub *room.Subscriber, pending []room.Message) []room.Message {
	for len(pending) < maxPending {
		select {
		case m := <-sub.Events():
			pending = append(pending, m)
		default:
			return pending
		}
	}
	return pending
}

// deliver sends a live comment, unless a catch-up sent it already.
func (f *feed) deliver(m room.Message) error {
	if f.resumed != nil {
		id, err := relay.ParseEventID(m.ID)
		if err != nil {
			return status.Errorf(codes.Internal, "room event: %v", err)
		}
		if !id.After(*f.resumed) {
			return nil
		}
		f.resumed = nil // the live feed is past the catch-up: in order from here
	}
	return f.send(m)
}

// send sends a room event as a RoomComment.
func (f *feed) send(m room.Message) error {
	e, err := event.Decode(m.Data)
	if err != nil {
		return status.Errorf(codes.Internal, "room event: %v", err)
	}
	return f.emit(&danmakuv1.RoomComment{
		Id: e.ID, RoomId: e.Room, UserId: e.User, Tier: danmakuv1.Tier(e.Tier), Text: e.Text,
		PostedAt: timestamppb.New(time.Unix(0, e.PostedUnixNano)), EventId: m.ID,
	})
}

// chat is one Chat stream. One goroutine (sender) makes every Send: the room's
// comments and the acks other goroutines queue on out.
type chat struct {
	m    *member
	feed *feed
	out  chan *danmakuv1.ChatResponse // nil: the last response, the sender stops
	ctx  context.Context              // ends when Chat returns
	// queued counts the comments waiting for a token (receive's goroutine only).
	queued sync.WaitGroup
}

// Chat implements danmakuv1.DanmakuServiceServer.
func (s *Server) Chat(stream danmakuv1.DanmakuService_ChatServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	join := first.GetJoin()
	if join == nil {
		return status.Error(codes.InvalidArgument, "the first message must be a join")
	}
	m, err := s.enter(stream.Context(), join.GetRoomId())
	if err != nil {
		return joinError(err)
	}
	ctx, cancel := context.WithCancel(stream.Context())
	f, joined, err := s.join(ctx, m, join.GetResumeAfter(), func(rc *danmakuv1.RoomComment) error {
		return stream.Send(&danmakuv1.ChatResponse{Message: &danmakuv1.ChatResponse_Comment{Comment: rc}})
	})
	if err != nil {
		cancel()
		return joinError(err)
	}
	defer f.leave()
	// Queued comments still waiting for a token are dropped when the chat ends.
	defer cancel()
	defer m.acquireLimit(ctx).Release()
	c := &chat{m: m, feed: f, out: make(chan *danmakuv1.ChatResponse, 64), ctx: ctx}

	sent := make(chan error, 1)
	go func() {
		sent <- c.sender(stream, &danmakuv1.ChatResponse{Message: &danmakuv1.ChatResponse_Joined{Joined: joined}})
	}()
	received := make(chan error, 1)
	go func() { received <- c.receive(stream) }()
	select {
	case <-f.sub.Gone():
		return f.evicted()
	case err := <-sent:
		return err
	case err := <-received:
		if err != nil {
			return err
		}
		// The client is done sending: its last acks go out, then the chat ends.
		select {
		case <-f.sub.Gone():
			return f.evicted()
		case err := <-sent:
			return err
		}
	}
}

// joinError names the Join in an invalid argument's message.
func joinError(err error) error {
	if st, ok := status.FromError(err); ok && st.Code() == codes.InvalidArgument {
		return status.Error(codes.InvalidArgument, "join: "+st.Message())
	}
	return err
}

// sender sends joined, then (resuming) the room's comments since, then the
// room's live comments and the queued responses until the chat ends.
func (c *chat) sender(stream danmakuv1.DanmakuService_ChatServer, joined *danmakuv1.ChatResponse) error {
	if err := stream.Send(joined); err != nil {
		return err
	}
	if err := c.feed.start(); err != nil {
		return err
	}
	for {
		select {
		case <-c.ctx.Done():
			return nil
		case resp := <-c.out:
			if resp == nil {
				return nil
			}
			if err := stream.Send(resp); err != nil {
				return err
			}
		case m := <-c.feed.sub.Events():
			if err := c.feed.deliver(m); err != nil {
				return err
			}
		}
	}
}

// receive handles the client's comments until the stream ends. When the client
// closes its side, it waits for the queued comments' outcomes and queues the end.
func (c *chat) receive(stream danmakuv1.DanmakuService_ChatServer) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			c.queued.Wait()
			c.queue(nil)
			return nil
		}
		if err != nil {
			return err
		}
		msg := req.GetComment()
		if msg == nil {
			return status.Error(codes.InvalidArgument, "already joined: only comments may follow the join")
		}
		reservation, ack := c.m.admit(c.ctx, msg)
		switch {
		case ack != nil:
			c.queueAck(ack)
		case reservation.Delay() == 0:
			c.queueAck(c.m.post(c.ctx, msg))
		default:
			c.queueAck(c.m.queued(msg, reservation))
			c.queued.Add(1)
			go func() {
				defer c.queued.Done()
				c.queueAck(c.m.await(c.ctx, msg, reservation))
			}()
		}
	}
}

// queueAck queues an ack for the sender.
func (c *chat) queueAck(ack *danmakuv1.CommentAck) {
	c.queue(&danmakuv1.ChatResponse{Message: &danmakuv1.ChatResponse_Ack{Ack: ack}})
}

func (c *chat) queue(resp *danmakuv1.ChatResponse) {
	select {
	case c.out <- resp:
	case <-c.ctx.Done():
	}
}

// Post implements danmakuv1.DanmakuServiceServer: a Chat comment in one call,
// which returns the comment's final outcome (waiting for it while queued).
func (s *Server) Post(ctx context.Context, req *danmakuv1.PostRequest) (*danmakuv1.PostResponse, error) {
	m, err := s.enter(ctx, req.GetRoomId())
	if err != nil {
		return nil, err
	}
	// The user's limiter outlives the call while its bucket refills: a user
	// posting one call at a time is limited as over one Chat.
	defer m.acquireLimit(ctx).ReleaseAfterRefill()
	msg := req.GetComment()
	resp := &danmakuv1.PostResponse{}
	reservation, ack := m.admit(ctx, msg)
	switch {
	case ack != nil:
	case reservation.Delay() == 0:
		ack = m.post(ctx, msg)
	default:
		m.queued(msg, reservation)
		resp.Queued = true
		ack = m.await(ctx, msg, reservation)
	}
	resp.Ack = ack
	return resp, nil
}

// Subscribe implements danmakuv1.DanmakuServiceServer: Chat's receiving half.
func (s *Server) Subscribe(req *danmakuv1.SubscribeRequest, stream danmakuv1.DanmakuService_SubscribeServer) error {
	m, err := s.enter(stream.Context(), req.GetRoomId())
	if err != nil {
		return err
	}
	ctx := stream.Context()
	f, joined, err := s.join(ctx, m, req.GetResumeAfter(), func(rc *danmakuv1.RoomComment) error {
		return stream.Send(&danmakuv1.SubscribeResponse{Message: &danmakuv1.SubscribeResponse_Comment{Comment: rc}})
	})
	if err != nil {
		return err
	}
	defer f.leave()
	if err := stream.Send(&danmakuv1.SubscribeResponse{Message: &danmakuv1.SubscribeResponse_Joined{Joined: joined}}); err != nil {
		return err
	}
	if err := f.start(); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-f.sub.Gone():
			return f.evicted()
		case msg := <-f.sub.Events():
			if err := f.deliver(msg); err != nil {
				return err
			}
		}
	}
}
