package coloring

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/monoreel/monoreel/libs/grpcstream"
)

// fromIncoming reads the colour of an incoming call. A header sent more than once
// must say the same thing every time.
func fromIncoming(ctx context.Context) (Color, bool, error) {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return Color{}, false, nil
	}
	var c Color
	found := false
	for _, v := range md.Get(RegionKey) { // Get lower-cases the key
		region, err := ParseRegion(v)
		if err != nil {
			return Color{}, false, err
		}
		if found && region != c.Region {
			return Color{}, false, status.Errorf(codes.InvalidArgument, "conflicting %s values %q and %q", RegionKey, c.Region, region)
		}
		c.Region, found = region, true
	}
	shadowSeen := false
	for _, v := range md.Get(ShadowKey) {
		shadow, err := ParseShadow(v)
		if err != nil {
			return Color{}, false, err
		}
		if shadowSeen && shadow != c.Shadow {
			return Color{}, false, status.Errorf(codes.InvalidArgument, "conflicting %s values", ShadowKey)
		}
		c.Shadow, shadowSeen, found = shadow, true, true
	}
	return c, found, nil
}

// serverContext puts the incoming colour on ctx, or fails the call with
// InvalidArgument naming the bad header.
func serverContext(ctx context.Context) (context.Context, error) {
	c, found, err := fromIncoming(ctx)
	if err != nil {
		if _, ok := status.FromError(err); ok && status.Code(err) != codes.Unknown {
			return nil, err
		}
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if found {
		ctx = NewContext(ctx, c)
		if c.Shadow {
			// Shadow work is marked in its traces as in its metrics (libs/obs).
			trace.SpanFromContext(ctx).SetAttributes(attribute.Bool("monoreel.shadow", true))
		}
	}
	return ctx, nil
}

// UnaryServerInterceptor reads the colour of unary calls.
func UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := serverContext(ctx)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor reads the colour of streaming calls.
func StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := serverContext(ss.Context())
		if err != nil {
			return err
		}
		return handler(srv, grpcstream.WithContext(ss, ctx))
	}
}

// outgoing adds the context's colour to the outgoing metadata.
func outgoing(ctx context.Context) context.Context {
	c, ok := FromContext(ctx)
	if !ok {
		return ctx
	}
	pairs := []string{ShadowKey, "false"}
	if c.Shadow {
		pairs[1] = "true"
	}
	if c.Region != "" {
		pairs = append(pairs, RegionKey, c.Region)
	}
	// Replace, not append: a hop's own colour wins over what it received.
	md, _ := metadata.FromOutgoingContext(ctx)
	md = md.Copy()
	md.Delete(RegionKey)
	md.Delete(ShadowKey)
	for i := 0; i < len(pairs); i += 2 {
		md.Set(pairs[i], pairs[i+1])
	}
	return metadata.NewOutgoingContext(ctx, md)
}

// UnaryClientInterceptor passes the colour on with unary calls.
func UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(outgoing(ctx), method, req, reply, cc, opts...)
	}
}

// StreamClientInterceptor passes the colour on with streaming calls.
func StreamClientInterceptor() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		return streamer(outgoing(ctx), desc, cc, method, opts...)
	}
}
