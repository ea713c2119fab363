// Package grpcclient dials other Monoreel services. It is the client half of
// libs/service, kept apart so that libraries which only call a service (idpool,
// configgrpc) do not link the whole service frame: obs, flags, the server.
package grpcclient

import (
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/monoreel/monoreel/libs/coloring"
)

// Keepalive pings a silent connection every 30s (no more often than servers
// allow: libs/service.KeepaliveEnforcement) so that a dead peer or a middlebox
// that dropped the connection is found before a call waits on it.
var Keepalive = keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}

// Dialer makes a client of the service at target: a service's is
// libs/service.Service.Dial (its certificate, its client metrics).
type Dialer func(target string, opts ...grpc.DialOption) (*grpc.ClientConn, error)

// Dial makes a client of another service over creds (a service's are
// libs/mtls's: its own certificate), which passes the caller's colouring on
// with every call. It connects lazily, at the first call: an error here is a bad
// target or option. opts come after the defaults, so they may add to or
// override them.
func Dial(target string, creds credentials.TransportCredentials, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	opts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithKeepaliveParams(Keepalive),
		grpc.WithChainUnaryInterceptor(coloring.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(coloring.StreamClientInterceptor()),
	}, opts...)
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("a client for %s: %w", target, err)
	}
	return conn, nil
}
