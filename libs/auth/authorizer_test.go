package auth

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/monoreel/monoreel/libs/grpcerr"
	configv1 "github.com/monoreel/monoreel/proto/config/v1"
)

// The generated code of an API with access options: importing it registers
// its descriptors, which Authorizer reads.
var _ = configv1.File_proto_config_v1_config_proto

const (
	configPut  = "/monoreel.config.v1.ConfigService/Put"
	configList = "/monoreel.config.v1.ConfigService/List"
)

// TestDecisions: each kind of caller against the access a method states, as the
// interceptor sees them (the TLS handshake and the real binaries are tested in
// services/config).
func TestDecisions(t *testing.T) {
	iss, v := newIssuer(t)
	v.now = time.Now
	var logs strings.Builder
	reg := prometheus.NewRegistry()
	a := NewAuthorizer(v, slog.New(slog.NewTextHandler(&logs, nil)), reg)
	token := func(user, tier string, roles ...string) context.Context {
		tok, err := iss.Sign(user, tier, roles, time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+tok))
	}
	anonymous := context.Background()
	badHeader := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Basic dXNlcg=="))
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		method string
		reason string // "" for allowed
	}{
		{"an operator writes", token("ops", TierNormal, RoleAdmin), configPut, ""},
		{"a user writes", token("uma", TierVIP), configPut, "NOT_ALLOWED"},
		{"nobody", anonymous, configList, "NO_CREDENTIALS"},
		{"not a bearer token", badHeader, configList, "TOKEN_INVALID"},
		{"health, by anybody", anonymous, "/grpc.health.v1.Health/Check", ""},
		{"reflection, by nobody", anonymous, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", "NO_CREDENTIALS"},
		{"reflection, by a user", token("uma", TierNormal), "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", ""},
		{"a method stating no access", token("ops", TierNormal, RoleAdmin), "/monoreel.config.v1.ConfigService/Rename", "NO_ACCESS_RULE"},
		{"an unknown service", token("ops", TierNormal, RoleAdmin), "/evil.Service/Do", "NO_ACCESS_RULE"},
	} {
		ctx, err := a.Authorize(tc.ctx, tc.method)
		if grpcerr.Reason(err) != tc.reason {
			t.Errorf("%s: %v, want reason %q", tc.name, err, tc.reason)
			continue
		}
		if err != nil {
			if code := status.Code(err); code != codes.Unauthenticated && code != codes.PermissionDenied {
				t.Errorf("%s: code %v", tc.name, code)
			}
			continue
		}
		if tc.ctx != anonymous && FromContext(ctx).Kind != User {
			t.Errorf("%s: the handler's context has %+v", tc.name, FromContext(ctx))
		}
	}
	if got := refusals(t, reg, configPut, "NOT_ALLOWED"); got != 1 {
		t.Errorf("refusals of a user's write counted %v, want 1", got)
	}
	if !strings.Contains(logs.String(), `caller="user:uma (vip)"`) || strings.Count(logs.String(), "refused") != 6 {
		t.Errorf("each refusal is logged once, naming the caller:\n%s", logs.String())
	}
}

// TestNoVerifierRefusesTokens: a service given no token key refuses tokens,
// saying so, rather than ignoring them.
func TestNoVerifierRefusesTokens(t *testing.T) {
	a := NewAuthorizer(nil, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer x.y.z"))
	if _, err := a.Authorize(ctx, configList); !strings.Contains(err.Error(), "no -token_key") {
		t.Errorf("a token to a service without a key: %v", err)
	}
}

// refusals reads auth_refusals_total{method,reason} from reg.
func refusals(t *testing.T, reg *prometheus.Registry, method, reason string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "auth_refusals_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["method"] == method && labels["reason"] == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestHandlersRefusalsAreCounted: a refusal a handler makes itself (its own
// rules) is logged with the caller and counted like the interceptor's.
func TestHandlersRefusalsAreCounted(t *testing.T) {
	iss, v := newIssuer(t)
	v.now = time.Now
	var logs strings.Builder
	reg := prometheus.NewRegistry()
	a := NewAuthorizer(v, slog.New(slog.NewTextHandler(&logs, nil)), reg)
	tok, err := iss.Sign("eve", TierNormal, []string{RoleAdmin}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+tok))
	notYours := grpcerr.Mapper{Domain: "monoreel.test", Rules: []grpcerr.Rule{{Err: errNotYours, Code: codes.PermissionDenied, Reason: "NOT_YOURS"}}}
	handler := func(context.Context, any) (any, error) { return nil, notYours.ToStatus(errNotYours) }
	if _, err := a.UnaryServerInterceptor()(ctx, nil, &grpc.UnaryServerInfo{FullMethod: configList}, handler); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("the handler's refusal became %v", err)
	}
	if got := refusals(t, reg, configList, "NOT_YOURS"); got != 1 {
		t.Errorf("the handler's refusal counted %v times, want 1", got)
	}
	if !strings.Contains(logs.String(), `caller="user:eve (normal, admin)"`) {
		t.Errorf("the handler's refusal is not logged with the caller:\n%s", logs.String())
	}
}

var errNotYours = errors.New("not yours")
