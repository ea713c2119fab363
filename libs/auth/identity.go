// Package auth knows who calls a Monoreel service and decides whether they may.
//
// A caller is a service, known by the identity in its client certificate
// (libs/pki: spiffe://monoreel/service/<name>, verified by the TLS handshake), or
// a user, known by a signed token in the call's "authorization: Bearer" metadata
// (an Ed25519 or ES256 JWT: issuer, audience and expiry checked). Each method of
// each API states who may call it with the monoreel.common.v1.access option in
// its .proto file; Authorizer's interceptors enforce that on every server and put
// the caller's Identity in the handler's context.
package auth

import (
	"context"
	"fmt"
)

// Kind is what sort of caller an Identity is.
type Kind int

const (
	Anonymous Kind = iota // no certificate with an identity, no token
	Service               // another service, by its certificate
	User                  // a user, by a verified token
)

// Tiers a user's token may give them (the danmaku flow-control classes).
const (
	TierNormal = "normal"
	TierVIP    = "vip"
	TierRobot  = "robot"
)

// RoleAdmin is the role of operators: it opens the methods whose access says admins.
const RoleAdmin = "admin"

// Identity is who makes a call.
type Identity struct {
	Kind Kind
	// Name is the service's name or the user's id (the token's subject).
	Name string
	// Tier is a user's class of service, from the token: TierNormal if it says none.
	Tier string
	// Admin is true for a user whose token has RoleAdmin.
	Admin bool
	// Via is, for a user, the service whose certificate carried the call (the
	// console, say); empty when the user called directly.
	Via string
}

// String names the caller for logs: "service:orchestrator", "user:alice (vip)".
func (id Identity) String() string {
	switch id.Kind {
	case Service:
		return "service:" + id.Name
	case User:
		s := fmt.Sprintf("user:%s (%s", id.Name, id.Tier)
		if id.Admin {
			s += ", admin"
		}
		if id.Via != "" {
			s += ", via " + id.Via
		}
		return s + ")"
	default:
		return "anonymous"
	}
}

type contextKey struct{}

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, contextKey{}, id)
}

// FromContext returns the caller's identity; Anonymous if ctx has none (a call
// that did not come through Authorizer).
func FromContext(ctx context.Context) Identity {
	id, _ := ctx.Value(contextKey{}).(Identity)
	return id
}
