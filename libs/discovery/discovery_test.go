package discovery

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/monoreel/monoreel/libs/coloring"
	"github.com/monoreel/monoreel/libs/config/configtest"
	"github.com/monoreel/monoreel/libs/grpcerr"
)

// fleet is instances of "svc" registered on a real etcd, counting their calls.
type fleet struct {
	t       *testing.T
	client  *clientv3.Client
	mu      sync.Mutex
	served  map[string]int
	regs    map[string]*Registration
	addrs   map[string]string
	servers map[string]*grpc.Server
}

func newFleet(t *testing.T) *fleet {
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{configtest.StartEtcd(t)}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return &fleet{t: t, client: client, served: map[string]int{}, regs: map[string]*Registration{}, addrs: map[string]string{}, servers: map[string]*grpc.Server{}}
}

// start runs instance name in region and registers it.
func (f *fleet) start(name, region string, shadow bool) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, &countingHealth{f: f, name: name})
	go srv.Serve(lis)
	f.t.Cleanup(srv.Stop)
	reg, err := Register(context.Background(), f.client, "svc", Instance{Addr: lis.Addr().String(), Region: region, ShadowCapable: shadow}, 2*time.Second)
	if err != nil {
		f.t.Fatal(err)
	}
	f.regs[name], f.addrs[name], f.servers[name] = reg, lis.Addr().String(), srv
}

type countingHealth struct {
	healthpb.UnimplementedHealthServer
	f    *fleet
	name string
}

func (h *countingHealth) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	h.f.mu.Lock()
	h.f.served[h.name]++
	h.f.mu.Unlock()
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

// calls makes n calls coloured c and returns who served them.
func (f *fleet) calls(client healthpb.HealthClient, c coloring.Color, n int) (map[string]int, error) {
	f.mu.Lock()
	f.served = map[string]int{}
	f.mu.Unlock()
	ctx := coloring.NewContext(context.Background(), c)
	for range n {
		if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.served, nil
}

// healthClient calls the fleet through etcd:///svc.
func (f *fleet) healthClient() healthpb.HealthClient {
	conn, err := grpc.NewClient("etcd:///svc", grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithResolvers(NewResolver(f.client)))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { conn.Close() })
	return healthpb.NewHealthClient(conn)
}

// count is how many calls name served since the last calls.
func (f *fleet) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.served[name]
}

// TestRegionRoundRobinAndShadow: calls go round robin to the caller's region,
// anywhere when the region has none, shadow calls only to shadow-capable
// instances; an instance that deregisters (draining) or whose lease runs out
// (killed) leaves the set.
func TestRegionRoundRobinAndShadow(t *testing.T) {
	f := newFleet(t)
	f.start("eu-1", "eu", false)
	f.start("eu-2", "eu", false)
	f.start("us-1", "us", true)
	client := f.healthClient()
	waitFor(t, func() bool {
		got, err := f.calls(client, coloring.Color{Region: "eu"}, 10)
		return err == nil && got["eu-1"] == 5 && got["eu-2"] == 5
	}, "eu calls round robin over eu-1 and eu-2")
	if got, err := f.calls(client, coloring.Color{Region: "us"}, 4); err != nil || got["us-1"] != 4 {
		t.Errorf("us calls: %v, %v; want all on us-1", got, err)
	}
	if got, err := f.calls(client, coloring.Color{Region: "ap"}, 6); err != nil || got["eu-1"]+got["eu-2"]+got["us-1"] != 6 || got["us-1"] == 0 {
		t.Errorf("calls from a region with no instance: %v, %v; want them spread over every region", got, err)
	}
	if got, err := f.calls(client, coloring.Color{Region: "eu", Shadow: true}, 4); err != nil || got["us-1"] != 4 {
		t.Errorf("shadow calls: %v, %v; want all on the shadow-capable us-1", got, err)
	}

	// Draining: eu-1 deregisters and gets no new call.
	if err := f.regs["eu-1"].Deregister(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		got, err := f.calls(client, coloring.Color{Region: "eu"}, 4)
		return err == nil && got["eu-2"] == 4
	}, "eu calls all on eu-2 once eu-1 deregistered")

	// Killed: us-1's lease runs out (its renewals stop, nothing revokes it):
	// shadow calls then have nowhere to go.
	f.regs["us-1"].stop()
	waitFor(t, func() bool {
		_, err := f.calls(client, coloring.Color{Shadow: true}, 1)
		return status.Code(err) == codes.Unavailable
	}, "no shadow-capable instance once us-1's lease ran out")
}

// TestSticky: calls with a Sticky all go to the instance the first one was
// picked for; once that instance stops serving (it died: its lease has not
// run out yet), they fail with NotFound at once instead of waiting for it.
func TestSticky(t *testing.T) {
	f := newFleet(t)
	f.start("a", "", false)
	f.start("b", "", false)
	client := f.healthClient()
	waitFor(t, func() bool {
		got, err := f.calls(client, coloring.Color{}, 2)
		return err == nil && got["a"] == 1 && got["b"] == 1
	}, "both instances ready")

	before := map[string]int{"a": f.count("a"), "b": f.count("b")}
	sticky := NewSticky("svc", "")
	ctx := WithSticky(context.Background(), sticky)
	for range 6 {
		if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	pinned := sticky.Addr()
	name := map[string]string{f.addrs["a"]: "a", f.addrs["b"]: "b"}[pinned]
	if got := f.count(name) - before[name]; got != 6 {
		t.Fatalf("pinned to %s (%q): it served %d of 6 calls; want all", pinned, name, got)
	}
	// Another process taking the work over pins to the same instance.
	again := WithSticky(context.Background(), NewSticky("svc", pinned))
	if _, err := client.Check(again, &healthpb.HealthCheckRequest{}); err != nil || f.count(name)-before[name] != 7 {
		t.Fatalf("a Sticky set to %s: %v, %s served %d; want the call on %s", pinned, err, name, f.count(name)-before[name], name)
	}

	f.servers[name].Stop()
	waitFor(t, func() bool {
		_, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
		return status.Code(err) == codes.Unavailable && grpcerr.Reason(err) == ReasonInstanceGone
	}, "calls pinned to a stopped instance fail with INSTANCE_GONE")
	if _, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("an unpinned call with one instance left: %v", err)
	}
	// A Sticky of another service does not touch calls to this one.
	other := WithSticky(context.Background(), NewSticky("other", pinned))
	if _, err := client.Check(other, &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("a call with another service's Sticky: %v", err)
	}
}

func waitFor(t *testing.T, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 20s: %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
