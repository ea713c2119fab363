package auth

import (
	"context"

	"google.golang.org/grpc/credentials"
)

// Token is a user token as per-call credentials of a client: every call carries
// "authorization: Bearer <token>", and only over a secure transport.
type Token string

var _ credentials.PerRPCCredentials = Token("")

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (t Token) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials: a token is
// never sent in the clear.
func (t Token) RequireTransportSecurity() bool { return true }
