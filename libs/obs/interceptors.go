package obs

import (
	"context"
	"fmt"
	"runtime/debug"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/monoreel/monoreel/libs/coloring"
)

// ServerOptions returns the interceptors that count and time every call and
// recover from a handler's panic; add the service's own after them (a panic in
// those is recovered too).
func (o *Obs) ServerOptions(extraUnary []grpc.UnaryServerInterceptor, extraStream []grpc.StreamServerInterceptor) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(append([]grpc.UnaryServerInterceptor{o.unary, o.recoverUnary}, extraUnary...)...),
		grpc.ChainStreamInterceptor(append([]grpc.StreamServerInterceptor{o.stream, o.recoverStream}, extraStream...)...),
	}
}

func (o *Obs) observe(ctx context.Context, method string, start time.Time, err error) {
	o.calls.WithLabelValues(method, status.Code(err).String(), strconv.FormatBool(isShadow(ctx))).Inc()
	o.latency.WithLabelValues(method).Observe(time.Since(start).Seconds())
}

// isShadow reports whether a call is shadow traffic (x-shadow, libs/coloring):
// its calls are counted apart, so dashboards and alerts see production's alone.
// A malformed header counts as production: libs/coloring refuses the call.
func isShadow(ctx context.Context) bool {
	values := metadata.ValueFromIncomingContext(ctx, coloring.ShadowKey)
	if len(values) != 1 {
		return false
	}
	shadow, err := coloring.ParseShadow(values[0])
	return err == nil && shadow
}

func (o *Obs) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	o.observe(ctx, info.FullMethod, start, err)
	return resp, err
}

func (o *Obs) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, ss)
	o.observe(ss.Context(), info.FullMethod, start, err)
	return err
}

// recovered turns a recovered panic into the call's error: logged with its
// stack, counted, and answered as Internal. Without it, one bad request would
// kill the process and every call in flight. (A panic in a goroutine the handler
// starts is beyond any interceptor's reach.)
func (o *Obs) recovered(method string, p any) error {
	o.panics.WithLabelValues(method).Inc()
	o.Log.Error("panic in a gRPC handler", "method", method, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	return status.Errorf(codes.Internal, "internal error in %s (the server logged it)", method)
}

func (o *Obs) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			resp, err = nil, o.recovered(info.FullMethod, p)
		}
	}()
	return handler(ctx, req)
}

func (o *Obs) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = o.recovered(info.FullMethod, p)
		}
	}()
	return handler(srv, ss)
}
