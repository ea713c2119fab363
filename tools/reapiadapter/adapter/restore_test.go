package adapter

import (
	"context"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// The tests of restore use in-process stand-ins for the backend; the
// execution tests (execute_test.go) run the same code against casd.

func testMover(now *time.Time) *mover {
	return &mover{dir: "_main", now: func() time.Time { return *now }, moved: map[string]rememberedAction{}}
}

func operationFrame(t *testing.T, op *longrunningpb.Operation) *frame {
	t.Helper()
	return &frame{data: marshal(t, op)}
}

func TestRestoreForgetsOperationsAbandonedForAnHour(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	p := &proxy{mover: testMover(&now)}
	action := &movedAction{original: &repb.Digest{Hash: "aa", SizeBytes: 1}, moved: &repb.Digest{Hash: "bb", SizeBytes: 1}}
	running := func(name string) {
		t.Helper()
		if err := p.restore(ctx, operationFrame(t, &longrunningpb.Operation{Name: name}), action); err != nil {
			t.Fatal(err)
		}
	}

	running("a")
	if p.mover.recall("a") != action {
		t.Fatal("a running operation is not remembered for WaitExecution")
	}
	now = now.Add(abandonAfter / 2)
	running("b")
	if p.mover.recall("a") == nil {
		t.Error("an operation was forgotten before abandonAfter")
	}
	now = now.Add(abandonAfter/2 + time.Second)
	running("b")
	if p.mover.recall("a") != nil {
		t.Errorf("an operation nothing streamed for more than %v is still remembered", abandonAfter)
	}
	if p.mover.recall("b") == nil {
		t.Error("an operation streamed a moment ago was forgotten")
	}
	if err := p.restore(ctx, operationFrame(t, &longrunningpb.Operation{Name: "b", Done: true}), action); err != nil {
		t.Fatal(err)
	}
	if p.mover.recall("b") != nil || len(p.mover.moved) != 0 {
		t.Errorf("a done operation is still remembered: %v", p.mover.moved)
	}
}

// refusingCache is a backend whose every unary call (UpdateActionResult)
// fails, as an action cache that is down or full does.
type refusingCache struct{ calls *int }

func (c refusingCache) Invoke(context.Context, string, any, any, ...grpc.CallOption) error {
	*c.calls++
	return status.Error(codes.ResourceExhausted, "action cache full")
}

func (refusingCache) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, status.Error(codes.Unimplemented, "no streams here")
}

func TestRestoreGivesTheResultWhenTheCacheRefusesIt(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	calls := 0
	p := &proxy{backend: refusingCache{&calls}, mover: testMover(&now)}
	action := &movedAction{original: &repb.Digest{Hash: "aa", SizeBytes: 1}, moved: &repb.Digest{Hash: "bb", SizeBytes: 1}, cacheable: true}
	response, err := anypb.New(&repb.ExecuteResponse{Result: &repb.ActionResult{StdoutRaw: []byte("built")}})
	if err != nil {
		t.Fatal(err)
	}
	op := operationFrame(t, &longrunningpb.Operation{Name: "a", Done: true, Result: &longrunningpb.Operation_Response{Response: response}})
	if err := p.restore(context.Background(), op, action); err != nil {
		t.Fatalf("the action ran, yet restore fails it because the cache refused its result: %v", err)
	}
	if calls != 1 {
		t.Errorf("UpdateActionResult called %d times, want 1", calls)
	}
	got := &longrunningpb.Operation{}
	if err := proto.Unmarshal(op.data, got); err != nil {
		t.Fatal(err)
	}
	executed := &repb.ExecuteResponse{}
	if err := got.GetResponse().UnmarshalTo(executed); err != nil {
		t.Fatal(err)
	}
	if string(executed.GetResult().GetStdoutRaw()) != "built" {
		t.Errorf("the client's operation lost its result: %v", executed)
	}
}
