// Package forward serves an API on a gRPC server by forwarding each call, as
// it comes, to the backend that implements it: one generic handler, keyed by
// the proto service name, for every method of every API the console exposes.
// Messages cross as raw frames (never decoded); the caller's bearer token goes
// with them, so the backend sees the user (through the console: auth's Via),
// and the backend's headers, trailers and status, error details included, come
// back as they are.
package forward

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/monoreel/monoreel/libs/auth"
)

// Register puts api on srv, every method forwarded to conn. srv must use
// Codec (grpc.ForceServerCodec(Codec{})).
func Register(srv *grpc.Server, api protoreflect.ServiceDescriptor, conn grpc.ClientConnInterface) {
	desc := &grpc.ServiceDesc{ServiceName: string(api.FullName()), HandlerType: (*any)(nil), Metadata: api.ParentFile().Path()}
	methods := api.Methods()
	for i := range methods.Len() {
		m := methods.Get(i)
		// Every method, unary ones included, as a stream: the frames go
		// through unread either way.
		desc.Streams = append(desc.Streams, grpc.StreamDesc{
			StreamName:    string(m.Name()),
			Handler:       handler(conn, m.IsStreamingClient()),
			ServerStreams: m.IsStreamingServer(),
			ClientStreams: m.IsStreamingClient(),
		})
	}
	srv.RegisterService(desc, struct{}{})
}

// Forwarded are the request headers that go to the backend: the caller's
// token. The colouring (x-shadow, x-region) and the trace context go by the
// server's and the client connection's interceptors, as on every hop.
var Forwarded = []string{"authorization"}

// errNoToken refuses a call without a token: the backend would otherwise see
// the console's own certificate, and the caller would call as the console.
var errNoToken = fmt.Errorf("%w: calls through the console need a user's token (authorization: Bearer ...)", auth.ErrNoCredentials)

// handler forwards a call of a method whose client streams (clientStreams)
// or sends one message.
func handler(conn grpc.ClientConnInterface, clientStreams bool) grpc.StreamHandler {
	return func(_ any, ss grpc.ServerStream) error {
		method, ok := grpc.MethodFromServerStream(ss)
		if !ok {
			return status.Error(codes.Internal, "no method in the stream")
		}
		in, _ := metadata.FromIncomingContext(ss.Context())
		out := metadata.MD{}
		for _, k := range Forwarded {
			if v := in.Get(k); len(v) > 0 {
				out.Set(k, v...)
			}
		}
		if len(out.Get("authorization")) == 0 {
			return auth.Errors.ToStatus(errNoToken)
		}
		ctx, cancel := context.WithCancel(metadata.NewOutgoingContext(ss.Context(), out))
		defer cancel()
		cs, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, method, grpc.ForceCodecV2(Codec{}))
		if err != nil {
			return err
		}
		go func() {
			for {
				f := &Frame{}
				if err := ss.RecvMsg(f); err != nil {
					if errors.Is(err, io.EOF) {
						cs.CloseSend()
					} else {
						cancel()
					}
					return
				}
				if err := cs.SendMsg(f); err != nil {
					return // the backend's status comes from RecvMsg
				}
				if !clientStreams {
					// The server stream has read the end of a one-message
					// request with its message.
					cs.CloseSend()
					return
				}
			}
		}()
		sentHeader := false
		for {
			f := &Frame{}
			err := cs.RecvMsg(f)
			if !sentHeader {
				if h, herr := cs.Header(); herr == nil {
					ss.SendHeader(h)
				}
				sentHeader = true
			}
			if err != nil {
				ss.SetTrailer(cs.Trailer())
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err // the backend's status, details and all
			}
			if err := ss.SendMsg(f); err != nil {
				return err
			}
		}
	}
}

// Frame is one message, as the wire has it.
type Frame struct{ Data []byte }

// Codec passes Frames through as they are, and codes every other message as
// protobuf does (the console's own API, served beside the forwarded ones).
type Codec struct{}

var _ encoding.CodecV2 = Codec{}

// Name is protobuf's: the codec stands in for it.
func (Codec) Name() string { return "proto" }

// Marshal implements encoding.CodecV2.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case *Frame:
		return mem.BufferSlice{mem.SliceBuffer(m.Data)}, nil
	case proto.Message:
		data, err := proto.Marshal(m)
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(data)}, nil
	}
	return nil, fmt.Errorf("forward: cannot encode a %T", v)
}

// Unmarshal implements encoding.CodecV2.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	switch m := v.(type) {
	case *Frame:
		m.Data = data.Materialize()
		return nil
	case proto.Message:
		return proto.Unmarshal(data.Materialize(), m)
	}
	return fmt.Errorf("forward: cannot decode into a %T", v)
}
