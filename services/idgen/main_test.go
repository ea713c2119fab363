package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/monoreel/monoreel/libs/config/configtest"
	"github.com/monoreel/monoreel/libs/discovery"
	"github.com/monoreel/monoreel/libs/grpcerr"
	"github.com/monoreel/monoreel/libs/snowflake"
	"github.com/monoreel/monoreel/libs/testproc"
	"github.com/monoreel/monoreel/libs/testutil"
	idgenv1 "github.com/monoreel/monoreel/proto/idgen/v1"
	"github.com/monoreel/monoreel/services/idgen/internal/watermark"
)

// TestServeAndStopOnSIGTERM runs the real binary, calls it over gRPC, sends it
// SIGTERM and checks that it exits cleanly and saves the watermark.
func TestServeAndStopOnSIGTERM(t *testing.T) {
	wm := filepath.Join(t.TempDir(), "watermark")
	svc := testproc.StartService(t, testproc.Runfile(t, "IDGEN_BINARY"), "-worker_id=9", "-watermark_file="+wm)
	resp, err := idgenv1.NewIDGenServiceClient(svc.Conn).NextID(context.Background(), &idgenv1.NextIDRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetWorkerId() != 9 {
		t.Errorf("worker = %d, want 9", resp.GetWorkerId())
	}
	if err := svc.Terminate(t, 30*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, svc.Log())
	}
	if !strings.Contains(svc.Log(), "shutting down") {
		t.Errorf("no shutdown log line:\n%s", svc.Log())
	}
	saved, found, err := watermark.Load(wm)
	if err != nil || !found {
		t.Fatalf("watermark after shutdown: found=%v err=%v", found, err)
	}
	if issued := snowflake.Decompose(resp.GetId(), time.Time{}).Time; saved.WorkerID != 9 || saved.Last().Before(issued) {
		t.Errorf("watermark %+v does not cover the issued ID at %v", saved, issued)
	}
}

func TestRefusesAnotherWorkersWatermark(t *testing.T) {
	wm := filepath.Join(t.TempDir(), "watermark")
	if err := watermark.Save(wm, watermark.Watermark{WorkerID: 1, LastUnixMilli: time.Now().UnixMilli()}); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"-listen=127.0.0.1:0", "-plaintext", "-worker_id=2", "-watermark_file=" + wm}, &testutil.Buffer{}, nil)
	if err == nil || !strings.Contains(err.Error(), "belongs to worker 1") {
		t.Fatalf("run with worker 1's watermark = %v, want an error naming worker 1", err)
	}
}

func TestVersionFlag(t *testing.T) {
	out := &testutil.Buffer{}
	if err := run(context.Background(), []string{"-version"}, out, nil); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "idgen dev\n" {
		t.Errorf("-version printed %q", got)
	}
}

// BenchmarkNextIDSecurity calls the real binary over loopback, from 2×GOMAXPROCS
// goroutines on one connection, in plaintext (no TLS, no authentication: the
// baseline), over mutual TLS as a service, and over TLS with an operator's
// token: the cost per call of transport security and the access check.
func BenchmarkNextIDSecurity(b *testing.B) {
	bin := testproc.Runfile(b, "IDGEN_BINARY")
	plain := testproc.StartPlaintextService(b, bin, "-worker_id=1", "-watermark_file="+filepath.Join(b.TempDir(), "wm"))
	secure := testproc.StartService(b, bin, "-worker_id=2", "-watermark_file="+filepath.Join(b.TempDir(), "wm"))
	for _, tc := range []struct {
		name string
		conn grpc.ClientConnInterface
	}{
		{"plaintext", plain.Conn},
		{"mtls", secure.Conn},
		{"tls+token", secure.AdminConn(b)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			client := idgenv1.NewIDGenServiceClient(tc.conn)
			b.SetParallelism(2)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := client.NextID(context.Background(), &idgenv1.NextIDRequest{}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// workerOf calls NextID on svc and returns the worker id that issued it.
func workerOf(t *testing.T, svc *testproc.Service) int32 {
	t.Helper()
	resp, err := idgenv1.NewIDGenServiceClient(svc.Conn).NextID(context.Background(), &idgenv1.NextIDRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetWorkerId()
}

// TestWorkerIDsLeasedFromEtcd: the real binaries on a real etcd. Two live
// instances get different worker ids; one killed (SIGKILL) gives its id back
// when its lease runs out, and the next instance takes it.
func TestWorkerIDsLeasedFromEtcd(t *testing.T) {
	etcd := configtest.StartEtcd(t)
	args := []string{"-etcd_endpoints=" + etcd, "-worker_lease_ttl=2s"}
	bin := testproc.Runfile(t, "IDGEN_BINARY")
	a := testproc.StartService(t, bin, args...)
	b := testproc.StartService(t, bin, args...)
	wa, wb := workerOf(t, a), workerOf(t, b)
	if wa == wb {
		t.Fatalf("two live instances both issue as worker %d", wa)
	}
	a.Stop()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c := testproc.StartService(t, bin, args...)
		if w := workerOf(t, c); w == wa {
			break
		} else if w == wb {
			t.Fatalf("a third instance issues as live worker %d", w)
		}
		c.Stop()
		if time.Now().After(deadline) {
			t.Fatalf("worker %d, whose instance was killed, never came free", wa)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestLostLeaseStopsIssuing: an instance cut off from etcd (etcd stopped)
// refuses to issue, with a reason, before its lease could have expired and its
// worker id gone to another instance.
func TestLostLeaseStopsIssuing(t *testing.T) {
	etcd, proc := configtest.StartEtcdProcess(t)
	svc := testproc.StartService(t, testproc.Runfile(t, "IDGEN_BINARY"), "-etcd_endpoints="+etcd, "-worker_lease_ttl=2s")
	workerOf(t, svc)
	proc.Stop()
	client := idgenv1.NewIDGenServiceClient(svc.Conn)
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := client.NextID(context.Background(), &idgenv1.NextIDRequest{})
		if status.Code(err) == codes.Unavailable && grpcerr.Reason(err) == "WORKER_LEASE_LOST" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still issuing (%v) long after its etcd stopped", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestFleetBehindDiscovery: two real instances register in etcd and lease
// their worker ids there; a client of etcd:///idgen spreads calls over both.
// One draining (SIGTERM) loses no call; one killed (SIGKILL) is left out, and
// every later call goes to the live ones.
func TestFleetBehindDiscovery(t *testing.T) {
	etcd := configtest.StartEtcd(t)
	bin := testproc.Runfile(t, "IDGEN_BINARY")
	args := []string{"-registry=" + etcd, "-etcd_endpoints=" + etcd, "-worker_lease_ttl=2s"}
	a, b, c := testproc.StartService(t, bin, args...), testproc.StartService(t, bin, args...), testproc.StartService(t, bin, args...)
	client := fleetClient(t, etcd)
	workers := func(n int) (map[int32]int, error) {
		seen := map[int32]int{}
		for range n {
			resp, err := client.NextID(context.Background(), &idgenv1.NextIDRequest{})
			if err != nil {
				return seen, err
			}
			seen[resp.GetWorkerId()]++
		}
		return seen, nil
	}
	deadline := time.Now().Add(20 * time.Second)
	for seen, _ := workers(30); len(seen) != 3; seen, _ = workers(30) {
		if time.Now().After(deadline) {
			t.Fatalf("calls reached workers %v: want all three instances", seen)
		}
		time.Sleep(100 * time.Millisecond)
	}

	stopped := make(chan error, 1)
	go func() { stopped <- a.Terminate(t, 30*time.Second) }()
	for range 20 { // while a drains
		if _, err := workers(10); err != nil {
			t.Fatalf("a call failed while an instance drained: %v", err)
		}
	}
	if err := <-stopped; err != nil {
		t.Fatalf("the draining instance's exit: %v", err)
	}

	killed := workerOf(t, b)
	b.Stop() // SIGKILL
	deadline = time.Now().Add(20 * time.Second)
	for {
		seen, err := workers(20)
		if err == nil && len(seen) == 1 && seen[killed] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a kill, calls reach %v (%v): want only the live instance", seen, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	workerOf(t, c)
}

// fleetClient is a client of etcd:///idgen, as the harness's service identity.
func fleetClient(tb testing.TB, etcd string) idgenv1.IDGenServiceClient {
	tb.Helper()
	registry, err := clientv3.New(clientv3.Config{Endpoints: []string{etcd}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { registry.Close() })
	creds, err := testproc.TestPKI(tb).ServiceCredentials(testproc.Harness)
	if err != nil {
		tb.Fatal(err)
	}
	conn, err := grpc.NewClient("etcd:///idgen", grpc.WithTransportCredentials(creds), grpc.WithResolvers(discovery.NewResolver(registry)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return idgenv1.NewIDGenServiceClient(conn)
}

// waitForWorkers calls until n different workers have answered.
func waitForWorkers(tb testing.TB, client idgenv1.IDGenServiceClient, n int) {
	tb.Helper()
	seen := map[int32]bool{}
	for deadline := time.Now().Add(20 * time.Second); len(seen) < n; {
		if time.Now().After(deadline) {
			tb.Fatalf("calls reached workers %v: want %d", seen, n)
		}
		if resp, err := client.NextID(context.Background(), &idgenv1.NextIDRequest{}); err == nil {
			seen[resp.GetWorkerId()] = true
		}
	}
}

// BenchmarkFleetThroughBalancer: NextID from 16 concurrent callers through
// the balancer (etcd:///idgen, libs/discovery) to 1, then 2, real instances
// on a real etcd. On one machine the instances share its cores, so the
// ratio shows the balancer's cost and spread more than added capacity.
// (ghz, the load tool of tools/grpctools/load, knows only gRPC's own
// resolvers, so the load here is generated in Go through ours.)
func BenchmarkFleetThroughBalancer(b *testing.B) {
	etcd := configtest.StartEtcd(b)
	bin := testproc.Runfile(b, "IDGEN_BINARY")
	args := []string{"-registry=" + etcd, "-etcd_endpoints=" + etcd}
	client := fleetClient(b, etcd)
	for n := 1; n <= 2; n++ {
		testproc.StartService(b, bin, args...)
		waitForWorkers(b, client, n)
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := client.NextID(context.Background(), &idgenv1.NextIDRequest{}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}

// BenchmarkConvergenceAfterKill: two real instances behind discovery, one
// killed (SIGKILL) while a caller keeps calling. Reported: how long until
// calls succeed again on the live one (the balancer drops a closed
// connection at once), the calls that failed meanwhile, and how long until
// the dead one's registration left etcd (its lease, -registry_ttl=2s).
func BenchmarkConvergenceAfterKill(b *testing.B) {
	etcd := configtest.StartEtcd(b)
	bin := testproc.Runfile(b, "IDGEN_BINARY")
	args := []string{"-registry=" + etcd, "-etcd_endpoints=" + etcd, "-registry_ttl=2s", "-worker_lease_ttl=2s"}
	registry, err := clientv3.New(clientv3.Config{Endpoints: []string{etcd}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	defer registry.Close()
	var routedSum, left time.Duration
	failed := 0
	for range b.N {
		b.StopTimer()
		client := fleetClient(b, etcd)
		victim, survivor := testproc.StartService(b, bin, args...), testproc.StartService(b, bin, args...)
		waitForWorkers(b, client, 2)
		b.StartTimer()
		killed := time.Now()
		victim.Stop()
		var routed time.Duration // to the first of the 20 calls in a row that succeed
		for ok := 0; ok < 20; {
			if _, err := client.NextID(context.Background(), &idgenv1.NextIDRequest{}); err != nil {
				ok = 0
				failed++
				routed = 0
				continue
			}
			if ok++; routed == 0 {
				routed = time.Since(killed)
			}
		}
		routedSum += routed
		for {
			resp, err := registry.Get(context.Background(), discovery.Prefix+"idgen/"+victim.Addr)
			if err == nil && resp.Count == 0 {
				left += time.Since(killed)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		b.StopTimer()
		survivor.Stop()
		b.StartTimer()
	}
	b.ReportMetric(float64(routedSum.Microseconds())/1000/float64(b.N), "ms-to-route-around")
	b.ReportMetric(float64(failed)/float64(b.N), "failed-calls/kill")
	b.ReportMetric(float64(left.Milliseconds())/float64(b.N), "ms-to-leave-etcd")
}
