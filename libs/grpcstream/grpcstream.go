// Package grpcstream is what gRPC stream interceptors share: a unary
// interceptor passes its handler a new context, but a stream interceptor can
// only pass a stream, so the context it adds to (a caller's identity, a
// colour) goes in a stream that answers Context() with it.
package grpcstream

import (
	"context"

	"google.golang.org/grpc"
)

// WithContext returns ss answering Context() with ctx; everything else is ss's.
func WithContext(ss grpc.ServerStream, ctx context.Context) grpc.ServerStream {
	return &stream{ServerStream: ss, ctx: ctx}
}

type stream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *stream) Context() context.Context { return s.ctx }
