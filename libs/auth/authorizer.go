package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/monoreel/monoreel/libs/grpcerr"
	"github.com/monoreel/monoreel/libs/grpcstream"
	"github.com/monoreel/monoreel/libs/pki"
	commonv1 "github.com/monoreel/monoreel/proto/common/v1"
)

// Reasons a call is refused, beside the token's (ErrTokenExpired, ErrTokenInvalid).
var (
	ErrNoCredentials = errors.New("no credentials")
	ErrNotAllowed    = errors.New("not allowed")
	ErrNoAccessRule  = errors.New("method states no access")
)

// Errors is the auth error table: clients read the reason of a refusal with
// grpcerr.Reason, or get these errors back with Errors.FromStatus.
var Errors = grpcerr.Mapper{Domain: "monoreel.auth", Rules: []grpcerr.Rule{
	{Err: ErrNoCredentials, Code: codes.Unauthenticated, Reason: "NO_CREDENTIALS"},
	{Err: ErrTokenExpired, Code: codes.Unauthenticated, Reason: "TOKEN_EXPIRED"},
	{Err: ErrTokenInvalid, Code: codes.Unauthenticated, Reason: "TOKEN_INVALID"},
	{Err: ErrNotAllowed, Code: codes.PermissionDenied, Reason: "NOT_ALLOWED"},
	{Err: ErrNoAccessRule, Code: codes.PermissionDenied, Reason: "NO_ACCESS_RULE"},
}}

// Infrastructure services every server has, which state no access in a .proto of
// ours: anyone may ask for health (load balancers and probes carry no identity);
// reflection is for known callers (grpcurl with a certificate or a token).
var (
	knownCallers  = &commonv1.Access{Services: true, Users: true, Admins: true}
	builtinAccess = map[string]*commonv1.Access{
		"grpc.health.v1.Health":                    knownCallers,
		"grpc.reflection.v1.ServerReflection":      knownCallers,
		"grpc.reflection.v1alpha.ServerReflection": knownCallers,
	}
	publicServices = map[string]bool{"grpc.health.v1.Health": true}
)

// Authorizer authenticates every call to a server and checks it against the
// access its method states.
type Authorizer struct {
	verifier *Verifier // nil: no user tokens are accepted
	log      *slog.Logger
	refusals *prometheus.CounterVec
	access   sync.Map // full method name -> *commonv1.Access (nil: none stated)
}

// NewAuthorizer makes an Authorizer that verifies user tokens with verifier (nil
// if the service takes none), logs each refusal once on log and counts refusals
// in auth_refusals_total{method,reason} on reg.
func NewAuthorizer(verifier *Verifier, log *slog.Logger, reg prometheus.Registerer) *Authorizer {
	a := &Authorizer{
		verifier: verifier,
		log:      log,
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auth_refusals_total",
			Help: "Calls refused for lack of authentication or permission, by method and reason.",
		}, []string{"method", "reason"}),
	}
	reg.MustRegister(a.refusals)
	return a
}

// UnaryServerInterceptor authorizes unary calls.
func (a *Authorizer) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := a.Authorize(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		resp, err := handler(ctx, req)
		a.handlerRefused(ctx, info.FullMethod, err)
		return resp, err
	}
}

// StreamServerInterceptor authorizes streaming calls.
func (a *Authorizer) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := a.Authorize(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		err = handler(srv, grpcstream.WithContext(ss, ctx))
		a.handlerRefused(ctx, info.FullMethod, err)
		return err
	}
}

// handlerRefused logs and counts a refusal a handler made by rules of its own
// (an upload that is another user's, a configuration key for operators), as
// Authorize does its own: every refusal is seen in one place.
func (a *Authorizer) handlerRefused(ctx context.Context, fullMethod string, err error) {
	if code := status.Code(err); code != codes.PermissionDenied && code != codes.Unauthenticated {
		return
	}
	a.refused(ctx, fullMethod, FromContext(ctx), err, err)
}

// refused counts a refusal (the status st) and logs it once, with the caller
// and the cause.
func (a *Authorizer) refused(ctx context.Context, fullMethod string, caller Identity, st, cause error) {
	reason := grpcerr.Reason(st)
	a.refusals.WithLabelValues(fullMethod, reason).Inc()
	a.log.WarnContext(ctx, "refused", "method", fullMethod, "caller", caller.String(), "peer", peerAddr(ctx), "reason", reason, "error", cause)
}

// Authorize returns ctx with the caller's Identity if the caller may call
// fullMethod, or else the refusal as a status (Unauthenticated or
// PermissionDenied, with an ErrorInfo reason), which it has logged and counted.
func (a *Authorizer) Authorize(ctx context.Context, fullMethod string) (context.Context, error) {
	id, err := a.identify(ctx)
	if err == nil {
		ctx = NewContext(ctx, id)
		err = allowed(a.accessOf(fullMethod), serviceOf(fullMethod), id)
	}
	if err != nil {
		st := Errors.ToStatus(fmt.Errorf("%s may not call %s: %w", id, fullMethod, err))
		a.refused(ctx, fullMethod, id, st, err)
		return nil, st
	}
	return ctx, nil
}

// identify finds the caller: a verified token makes a user (Via the service whose
// certificate carried it), else a certificate with a service identity makes a
// service, else the caller is anonymous.
func (a *Authorizer) identify(ctx context.Context) (Identity, error) {
	var id Identity
	if p, ok := peer.FromContext(ctx); ok {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.VerifiedChains) > 0 {
			if name, ok := pki.ServiceName(info.State.VerifiedChains[0][0]); ok {
				id = Identity{Kind: Service, Name: name}
			}
		}
	}
	token, err := bearerToken(ctx)
	if err != nil || token == "" {
		return id, err
	}
	if a.verifier == nil {
		return id, fmt.Errorf("%w: this service takes no user tokens (it has no -token_key)", ErrTokenInvalid)
	}
	user, err := a.verifier.Verify(token)
	if err != nil {
		return id, err
	}
	if id.Kind == Service {
		user.Via = id.Name
	}
	return user, nil
}

func bearerToken(ctx context.Context) (string, error) {
	values := metadata.ValueFromIncomingContext(ctx, "authorization")
	switch len(values) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", fmt.Errorf("%w: %d authorization headers", ErrTokenInvalid, len(values))
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", fmt.Errorf("%w: authorization is not \"Bearer <token>\"", ErrTokenInvalid)
	}
	return token, nil
}

func allowed(access *commonv1.Access, service string, id Identity) error {
	switch {
	case access == nil:
		return ErrNoAccessRule
	case publicServices[service]:
		return nil
	case id.Kind == Anonymous:
		return ErrNoCredentials
	case id.Kind == Service && access.GetServices(),
		id.Kind == User && access.GetUsers(),
		id.Kind == User && id.Admin && access.GetAdmins():
		return nil
	}
	return fmt.Errorf("%w: it is for %s", ErrNotAllowed, describe(access))
}

func describe(access *commonv1.Access) string {
	var who []string
	if access.GetServices() {
		who = append(who, "services")
	}
	if access.GetUsers() {
		who = append(who, "users")
	}
	if access.GetAdmins() {
		who = append(who, "admins")
	}
	if len(who) == 0 {
		return "nobody"
	}
	return strings.Join(who, " and ")
}

// accessOf reads the access option of fullMethod ("/pkg.Service/Method") from the
// generated descriptors, once per method.
func (a *Authorizer) accessOf(fullMethod string) *commonv1.Access {
	if v, ok := a.access.Load(fullMethod); ok {
		return v.(*commonv1.Access)
	}
	access := lookupAccess(fullMethod)
	a.access.Store(fullMethod, access)
	return access
}

func lookupAccess(fullMethod string) *commonv1.Access {
	service, method := serviceOf(fullMethod), fullMethod[strings.LastIndex(fullMethod, "/")+1:]
	if access, ok := builtinAccess[service]; ok {
		return access
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(service))
	if err != nil {
		return nil
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil
	}
	md := sd.Methods().ByName(protoreflect.Name(method))
	if md == nil || md.Options() == nil {
		return nil
	}
	access, _ := proto.GetExtension(md.Options(), commonv1.E_Access).(*commonv1.Access)
	return access
}

// MethodAccess returns the access fullMethod states, nil if none: for tests that
// every method of an API states one.
func MethodAccess(fullMethod string) *commonv1.Access { return lookupAccess(fullMethod) }

func serviceOf(fullMethod string) string {
	s := strings.TrimPrefix(fullMethod, "/")
	if i := strings.LastIndex(s, "/"); i >= 0 {
		return s[:i]
	}
	return s
}

func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}
