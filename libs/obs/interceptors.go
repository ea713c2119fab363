package obs

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// ServerOptions returns the interceptors that count and time every call; add the
// service's own after them.
func (o *Obs) ServerOptions(extraUnary []grpc.UnaryServerInterceptor, extraStream []grpc.StreamServerInterceptor) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(append([]grpc.UnaryServerInterceptor{o.unary}, extraUnary...)...),
		grpc.ChainStreamInterceptor(append([]grpc.StreamServerInterceptor{o.stream}, extraStream...)...),
	}
}

func (o *Obs) observe(method string, start time.Time, err error) {
	o.calls.WithLabelValues(method, status.Code(err).String()).Inc()
	o.latency.WithLabelValues(method).Observe(time.Since(start).Seconds())
}

func (o *Obs) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	o.observe(info.FullMethod, start, err)
	return resp, err
}

func (o *Obs) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, ss)
	o.observe(info.FullMethod, start, err)
	return err
}
