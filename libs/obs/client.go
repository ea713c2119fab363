package obs

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// DialOptions returns the client interceptors that time every call this
// service makes to another (grpc_client_handling_seconds, by method and status
// code): give them to grpcclient.Dial, so that the latency a service sees from
// its dependencies is in its own metrics.
func (o *Obs) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(o.clientUnary),
		grpc.WithChainStreamInterceptor(o.clientStream),
	}
}

func (o *Obs) observeClient(method string, start time.Time, err error) {
	o.clientLatency.WithLabelValues(method, status.Code(err).String()).Observe(time.Since(start).Seconds())
}

func (o *Obs) clientUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	start := time.Now()
	err := invoker(ctx, method, req, reply, cc, opts...)
	o.observeClient(method, start, err)
	return err
}

// clientStream times a stream from its start to its end: the first error of
// RecvMsg (io.EOF is a clean end), or, on a stream with a single response, that
// response.
func (o *Obs) clientStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	start := time.Now()
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		o.observeClient(method, start, err)
		return nil, err
	}
	return &timedStream{ClientStream: cs, singleResponse: !desc.ServerStreams, done: func(err error) { o.observeClient(method, start, err) }}, nil
}

type timedStream struct {
	grpc.ClientStream
	singleResponse bool
	once           sync.Once
	done           func(error)
}

func (s *timedStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil || s.singleResponse {
		observed := err
		if errors.Is(err, io.EOF) {
			observed = nil // a clean end; the caller still gets io.EOF
		}
		s.once.Do(func() { s.done(observed) })
	}
	return err
}
