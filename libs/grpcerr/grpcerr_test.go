package grpcerr_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/monoreel/monoreel/libs/grpcerr"
	"github.com/monoreel/monoreel/libs/testproc"
	commonv1 "github.com/monoreel/monoreel/proto/common/v1"
)

var (
	errNoShelf = errors.New("no such shelf")
	errFull    = errors.New("shelf full")
)

var shelves = grpcerr.Mapper{Domain: "monoreel.shelves", Rules: []grpcerr.Rule{
	{Err: errNoShelf, Code: codes.NotFound, Reason: "SHELF_NOT_FOUND"},
	{Err: errFull, Code: codes.ResourceExhausted, Reason: "SHELF_FULL"},
}}

// fullError is a domain error with facts for the client.
type fullError struct{ books int }

func (e *fullError) Error() string        { return fmt.Sprintf("%v: %d books", errFull, e.books) }
func (e *fullError) Is(target error) bool { return target == errFull }
func (e *fullError) ErrorMetadata() map[string]string {
	return map[string]string{"books": fmt.Sprint(e.books)}
}

// failing is a Health server whose Check fails with the error named by the
// request's service field, mapped by shelves: a handler as a service writes one.
type failing struct {
	healthpb.UnimplementedHealthServer
	errs map[string]error
}

func (f failing) Check(_ context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	return nil, shelves.ToStatus(f.errs[req.GetService()])
}

// call makes a real gRPC call on loopback that fails with err.
func call(t *testing.T, err error) error {
	t.Helper()
	conn := testproc.ServeGRPC(t, func(srv *grpc.Server) {
		healthpb.RegisterHealthServer(srv, failing{errs: map[string]error{"e": err}})
	})
	_, got := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{Service: "e"})
	return got
}

func TestErrorsCrossTheWire(t *testing.T) {
	downstream := grpcerr.Mapper{Domain: "monoreel.library", Rules: shelves.Rules}.ToStatus(&fullError{books: 3})
	for name, tc := range map[string]struct {
		err      error
		code     codes.Code
		reason   string
		domain   string
		metadata map[string]string
		message  string
	}{
		"a rule": {
			err: fmt.Errorf("%w: %q", errNoShelf, "b7"), code: codes.NotFound,
			reason: "SHELF_NOT_FOUND", domain: "monoreel.shelves", message: `no such shelf: "b7"`,
		},
		"a rule, with metadata": {
			err: fmt.Errorf("putting: %w", &fullError{books: 40}), code: codes.ResourceExhausted,
			reason: "SHELF_FULL", domain: "monoreel.shelves", metadata: map[string]string{"books": "40"},
			message: "putting: shelf full: 40 books",
		},
		"unknown": {
			err: errors.New("disk on fire"), code: codes.Internal,
			reason: grpcerr.ReasonInternal, domain: "monoreel.shelves", message: "disk on fire",
		},
		"canceled": {
			err: fmt.Errorf("reading: %w", context.Canceled), code: codes.Canceled,
			reason: grpcerr.ReasonCanceled, domain: "monoreel.shelves", message: "reading: context canceled",
		},
		"deadline": {
			err: fmt.Errorf("reading: %w", context.DeadlineExceeded), code: codes.DeadlineExceeded,
			reason: grpcerr.ReasonDeadlineExceeded, domain: "monoreel.shelves", message: "reading: context deadline exceeded",
		},
		"a status of the handler's own": {
			err: status.Error(codes.InvalidArgument, "shelf name is empty"), code: codes.InvalidArgument,
			message: "shelf name is empty",
		},
		"a downstream status, passed on with its ErrorInfo": {
			err: fmt.Errorf("asking the library: %w", downstream), code: codes.ResourceExhausted,
			reason: "SHELF_FULL", domain: "monoreel.library", metadata: map[string]string{"books": "3"},
			message: "asking the library: rpc error: code = ResourceExhausted desc = shelf full: 3 books",
		},
	} {
		err := call(t, tc.err)
		st := status.Convert(err)
		info := grpcerr.Info(err)
		if st.Code() != tc.code || st.Message() != tc.message {
			t.Errorf("%s: got %v, want code %v, message %q", name, err, tc.code, tc.message)
		}
		if info.GetReason() != tc.reason || grpcerr.Reason(err) != tc.reason || info.GetDomain() != tc.domain ||
			!maps.Equal(info.GetMetadata(), tc.metadata) {
			t.Errorf("%s: ErrorInfo %v, want reason %q, domain %q, metadata %v", name, info, tc.reason, tc.domain, tc.metadata)
		}
	}
}

func TestFromStatusGivesTheDomainErrorBack(t *testing.T) {
	err := shelves.FromStatus(call(t, fmt.Errorf("%w: %q", errNoShelf, "b7")))
	if !errors.Is(err, errNoShelf) || status.Code(err) != codes.NotFound || grpcerr.Reason(err) != "SHELF_NOT_FOUND" {
		t.Errorf("FromStatus = %v: want errNoShelf, still a NotFound status with its ErrorInfo", err)
	}
	if err.Error() != `no such shelf: "b7"` {
		t.Errorf("FromStatus text = %q, want the server's", err.Error())
	}
	for name, err := range map[string]error{
		"an unknown reason":  call(t, errors.New("disk on fire")),
		"another domain":     grpcerr.Mapper{Domain: "monoreel.library", Rules: shelves.Rules}.ToStatus(errNoShelf),
		"no ErrorInfo":       status.Error(codes.NotFound, "no such shelf"),
		"not a status":       errNoShelf,
		"a transport status": status.Error(codes.Unavailable, "connection refused"),
	} {
		if got := shelves.FromStatus(err); got != err {
			t.Errorf("%s: FromStatus(%v) = %v, want it unchanged", name, err, got)
		}
	}
}

func TestNilIsNil(t *testing.T) {
	if err := shelves.ToStatus(nil); err != nil {
		t.Errorf("ToStatus(nil) = %v", err)
	}
	if grpcerr.Info(nil) != nil || grpcerr.Reason(nil) != "" || shelves.FromStatus(nil) != nil {
		t.Error("a nil error has an ErrorInfo")
	}
}

// FuzzInfo: whatever bytes a status's ErrorInfo detail holds (a peer's bug, or an
// attacker), grpcerr.Info and FromStatus return without panicking, and what grpcerr.Info returns
// is what the bytes decode to.
func FuzzInfo(f *testing.F) {
	good, err := anypb.New(&commonv1.ErrorInfo{Reason: "SHELF_FULL", Domain: "monoreel.shelves", Metadata: map[string]string{"books": "3"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good.GetValue())
	f.Add([]byte{0x0a, 0xff})
	f.Fuzz(func(t *testing.T, value []byte) {
		p := status.New(codes.NotFound, "m").Proto()
		p.Details = []*anypb.Any{{TypeUrl: good.GetTypeUrl(), Value: value}}
		err := status.FromProto(p).Err()
		info := grpcerr.Info(err)
		var want commonv1.ErrorInfo
		decodes := proto.Unmarshal(value, &want) == nil
		if decodes != (info != nil) || decodes && !proto.Equal(info, &want) {
			t.Fatalf("grpcerr.Info = %v on bytes %x, which decode to %v (%v)", info, value, &want, decodes)
		}
		shelves.FromStatus(err)
	})
}
