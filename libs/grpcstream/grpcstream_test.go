package grpcstream

import (
	"context"
	"testing"

	"google.golang.org/grpc"
)

type key struct{}

// base is a stream whose methods a wrapper must pass through.
type base struct {
	grpc.ServerStream
	ctx  context.Context
	sent []any
}

func (b *base) Context() context.Context { return b.ctx }
func (b *base) SendMsg(m any) error      { b.sent = append(b.sent, m); return nil }

func TestWithContextReplacesOnlyTheContext(t *testing.T) {
	b := &base{ctx: context.Background()}
	ctx := context.WithValue(b.ctx, key{}, "alice")
	ss := WithContext(b, ctx)
	if got := ss.Context().Value(key{}); got != "alice" {
		t.Errorf("Context() carries %v, want the new context's value", got)
	}
	if err := ss.SendMsg("hello"); err != nil || len(b.sent) != 1 || b.sent[0] != "hello" {
		t.Errorf("SendMsg did not reach the stream: %v, %v", err, b.sent)
	}
}
