// Package server is danmaku's Chat handler: it joins a client to a room, checks
// and rate-limits the comments it posts (per user, by tier), publishes accepted
// ones to the room as msgp events, and streams the room's comments back.
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

// chat is one Chat stream. One goroutine (sender) makes every Send: the room's
// comments and the acks other goroutines queue on out.
type chat struct {
	s      *Server
	roomID string
	userID string
	tier   danmakuv1.Tier
	room   *room.Room
	user   *flow.User
	out    chan *danmakuv1.ChatResponse // nil: the last response, the sender stops
	ctx    context.Context              // ends when Chat returns
	// queued counts the comments waiting for a token (receive's goroutine only).
	queued sync.WaitGroup
	// resumed is the last event a resuming client got from the stream, until
	// the live feed is past it; nil otherwise (sender's goroutine only).
	resumed *relay.EventID
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
	if join.GetRoomId() == "" {
		return status.Error(codes.InvalidArgument, "join: room_id is empty")
	}
	var resumeAfter *relay.EventID
	if after := join.GetResumeAfter(); after != "" {
		id, err := relay.ParseEventID(after)
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "join: resume_after: %v", err)
		}
		resumeAfter = &id
	}
	// The user and tier are the token's: a Join's own claims are ignored.
	userID, tierName := anonymous, auth.TierNormal
	if id := auth.FromContext(stream.Context()); id.Kind == auth.User {
		userID, tierName = id.Name, id.Tier
	}
	tier, ok := tiers[tierName]
	if !ok {
		return status.Errorf(codes.PermissionDenied, "user %s has tier %q, which danmaku does not know", userID, tierName)
	}
	// Shadow traffic (libs/coloring) chats in rooms of its own, with its own
	// limits: a shadow comment never reaches a real viewer, nor uses a real
	// user's budget.
	roomID, user := join.GetRoomId(), userID
	if coloring.IsShadow(stream.Context()) {
		roomID, user = "shadow/"+roomID, "shadow/"+userID
	}
	r, sub := s.hub.Join(roomID)
	defer s.hub.Leave(r, sub)
	ctx, cancel := context.WithCancel(stream.Context())
	// Queued comments still waiting for a token are dropped when the chat ends.
	defer cancel()
	c := &chat{s: s, roomID: join.GetRoomId(), userID: userID, tier: tier.api, room: r, user: s.flow.Acquire(user, tier.limiter),
		out: make(chan *danmakuv1.ChatResponse, 64), ctx: ctx}
	defer c.user.Release()

	joined := &danmakuv1.Joined{RoomId: join.GetRoomId(), Subscribers: int32(r.Subscribers()), UserId: userID, Tier: tier.api}
	// Subscribed first, then the stream read: a comment posted in between is
	// in the live feed, the stream or both, never neither.
	var backlog []room.Message
	switch {
	case resumeAfter == nil:
	case s.relay == nil:
		joined.Gap = true // alone, this instance keeps no history
	default:
		if backlog, joined.Gap, err = s.relay.Since(ctx, r.ID(), *resumeAfter); err != nil {
			return status.Errorf(codes.Unavailable, "resuming after %v: %v", resumeAfter, err)
		}
	}
	sent := make(chan error, 1)
	go func() {
		sent <- c.sender(stream, sub, &danmakuv1.ChatResponse{Message: &danmakuv1.ChatResponse_Joined{Joined: joined}}, resumeAfter, backlog)
	}()
	received := make(chan error, 1)
	go func() { received <- c.receive(stream) }()
	select {
	case <-sub.Gone():
		return status.Errorf(codes.ResourceExhausted, "disconnected: this client read the room too slowly (%d comments dropped)", sub.Dropped())
	case err := <-sent:
		return err
	case err := <-received:
		if err != nil {
			return err
		}
		// The client is done sending: its last acks go out, then the chat ends.
		select {
		case <-sub.Gone():
			return status.Errorf(codes.ResourceExhausted, "disconnected: this client read the room too slowly (%d comments dropped)", sub.Dropped())
		case err := <-sent:
			return err
		}
	}
}

// sender sends joined, then (resuming after resumeAfter) the room's comments
// since, starting with backlog, then the room's live comments and the queued
// responses until the chat ends.
func (c *chat) sender(stream danmakuv1.DanmakuService_ChatServer, sub *room.Subscriber, joined *danmakuv1.ChatResponse, resumeAfter *relay.EventID, backlog []room.Message) error {
	if err := stream.Send(joined); err != nil {
		return err
	}
	if resumeAfter != nil && c.s.relay != nil {
		pending, err := c.catchUp(stream, sub, *resumeAfter, backlog)
		if err != nil {
			return err
		}
		for _, m := range pending {
			if err := c.deliver(stream, m); err != nil {
				return err
			}
		}
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
		case m := <-sub.Events():
			if err := c.deliver(stream, m); err != nil {
				return err
			}
		}
	}
}

// maxPending is how many live comments a catch-up holds at most; past it the
// subscriber's buffer drops the oldest, and the catch-up reads them again from
// the stream.
const maxPending = relay.MaxLen

// catchUp sends backlog (the room's comments after `after`), draining the live
// feed meanwhile, and returns the live comments it held. If the live feed
// dropped comments all the same, it reads the stream again after the last one
// sent: a dropped comment was either sent already or is read then. The chat
// ends with DATA_LOSS if the stream dropped, meanwhile, comments not yet sent
// (a room faster than this client): the client resumes again, and is told of
// the gap.
func (c *chat) catchUp(stream danmakuv1.DanmakuService_ChatServer, sub *room.Subscriber, after relay.EventID, backlog []room.Message) ([]room.Message, error) {
	var pending []room.Message
	var drops int64 // a new subscriber has dropped nothing
	for {
		for _, m := range backlog {
			id, err := relay.ParseEventID(m.ID)
			if err != nil {
				return nil, status.Errorf(codes.Internal, "room event: %v", err)
			}
			if err := c.send(stream, m); err != nil {
				return nil, err
			}
			after = id
			pending = drain(sub, pending)
		}
		pending = drain(sub, pending)
		if d := sub.Dropped(); d != drops {
			drops = d
			var gap bool
			var err error
			if backlog, gap, err = c.s.relay.Since(c.ctx, c.room.ID(), after); err != nil {
				return nil, status.Errorf(codes.Unavailable, "resuming after %v: %v", after, err)
			}
			if gap {
				return nil, status.Errorf(codes.DataLoss, "the room's comments after %v are gone: it moved on faster than this client caught up; join again with resume_after", after)
			}
			continue
		}
		c.resumed = &after
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
func (c *chat) deliver(stream danmakuv1.DanmakuService_ChatServer, m room.Message) error {
	if c.resumed != nil {
		id, err := relay.ParseEventID(m.ID)
		if err != nil {
			return status.Errorf(codes.Internal, "room event: %v", err)
		}
		if !id.After(*c.resumed) {
			return nil
		}
		c.resumed = nil // the live feed is past the catch-up: in order from here
	}
	return c.send(stream, m)
}

// send sends a room event as a RoomComment.
func (c *chat) send(stream danmakuv1.DanmakuService_ChatServer, m room.Message) error {
	e, err := event.Decode(m.Data)
	if err != nil {
		return status.Errorf(codes.Internal, "room event: %v", err)
	}
	return stream.Send(&danmakuv1.ChatResponse{Message: &danmakuv1.ChatResponse_Comment{Comment: &danmakuv1.RoomComment{
		Id: e.ID, RoomId: e.Room, UserId: e.User, Tier: danmakuv1.Tier(e.Tier), Text: e.Text,
		PostedAt: timestamppb.New(time.Unix(0, e.PostedUnixNano)), EventId: m.ID,
	}}})
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
		if err := comment.Validate(msg.GetText()); err != nil {
			c.ack(msg, danmakuv1.Outcome_OUTCOME_REJECTED, err.Error(), 0)
			continue
		}
		reservation, err := c.user.Reserve(c.ctx)
		switch {
		case err != nil:
			c.ack(msg, danmakuv1.Outcome_OUTCOME_DROPPED, err.Error(), 0)
		case reservation.Delay() == 0:
			c.post(msg)
		default:
			c.ack(msg, danmakuv1.Outcome_OUTCOME_QUEUED, fmt.Sprintf("over the rate limit: queued for %v", reservation.Delay().Round(time.Millisecond)), 0)
			c.queued.Add(1)
			go func() {
				defer c.queued.Done()
				if err := reservation.Wait(c.ctx); err != nil {
					c.ack(msg, danmakuv1.Outcome_OUTCOME_DROPPED, err.Error(), 0)
					return
				}
				c.post(msg)
			}()
		}
	}
}

// post gives the comment an id, publishes it to the room and acknowledges it.
func (c *chat) post(msg *danmakuv1.Comment) {
	id, err := c.s.ids.Next(c.ctx)
	if err != nil {
		c.ack(msg, danmakuv1.Outcome_OUTCOME_DROPPED, fmt.Sprintf("no comment id: %v", err), 0)
		return
	}
	e := event.Event{
		ID: id, Room: c.roomID, User: c.userID, Tier: int32(c.tier),
		Text: msg.GetText(), PostedUnixNano: time.Now().UnixNano(),
	}
	data, err := e.MarshalMsg(nil)
	if err != nil {
		c.ack(msg, danmakuv1.Outcome_OUTCOME_DROPPED, fmt.Sprintf("encoding: %v", err), 0)
		return
	}
	if c.s.relay == nil {
		c.room.Publish(room.Message{Data: data})
	} else if err := c.s.relay.Publish(c.ctx, c.room.ID(), data); err != nil {
		c.ack(msg, danmakuv1.Outcome_OUTCOME_DROPPED, fmt.Sprintf("relaying to the room's other instances: %v", err), 0)
		return
	}
	c.ack(msg, danmakuv1.Outcome_OUTCOME_ACCEPTED, "", id)
}

// ack counts a comment's outcome and queues its ack for the sender.
func (c *chat) ack(msg *danmakuv1.Comment, outcome danmakuv1.Outcome, reason string, id int64) {
	c.s.outcomes.WithLabelValues(c.tier.String(), outcome.String()).Inc()
	c.queue(&danmakuv1.ChatResponse{Message: &danmakuv1.ChatResponse_Ack{Ack: &danmakuv1.CommentAck{
		ClientId: msg.GetClientId(), Outcome: outcome, Reason: reason, CommentId: id,
	}}})
}

func (c *chat) queue(resp *danmakuv1.ChatResponse) {
	select {
	case c.out <- resp:
	case <-c.ctx.Done():
	}
}
