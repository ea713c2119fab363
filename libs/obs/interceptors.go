package obs

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ServerOptions returns the interceptors that count and time every call and
// turn a handler's panic into Internal; add the service's own after them.
func (o *Obs) ServerOptions(extraUnary []grpc.UnaryServerInterceptor, extraStream []grpc.StreamServerInterceptor) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(append([]grpc.UnaryServerInterceptor{o.unary, o.recoverUnary}, extraUnary...)...),
		grpc.ChainStreamInterceptor(append([]grpc.StreamServerInterceptor{o.stream, o.recoverStream}, extraStream...)...),
	}
}

// recoverUnary and recoverStream turn a panic in a handler (or an interceptor
// after them) into an Internal status: one bad request must not kill the
// process and every call in flight with it. The panic is logged with its stack
// and counted (grpc_server_panics_total).
func (o *Obs) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer o.recovered(ctx, info.FullMethod, &err)
	return handler(ctx, req)
}

func (o *Obs) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer o.recovered(ss.Context(), info.FullMethod, &err)
	return handler(srv, ss)
}

func (o *Obs) recovered(ctx context.Context, method string, err *error) {
	r := recover()
	if r == nil {
		return
	}
	o.panics.WithLabelValues(method).Inc()
	o.Log.ErrorContext(ctx, "handler panicked", "method", method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	*err = status.Errorf(codes.Internal, "%s failed: an internal error (logged by the service)", method)
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
