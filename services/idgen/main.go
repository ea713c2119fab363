// Command idgen serves snowflake IDs over gRPC (monoreel.idgen.v1.IDGenService).
//
//	idgen -listen=:9090 -worker_id=3 -watermark_file=/var/lib/idgen/watermark
//	idgen -listen=:9090 -etcd_endpoints=etcd-1:2379,etcd-2:2379   # a fleet
//
// Each running instance needs its own worker id (0..1023): given by hand with
// -worker_id, or, with -etcd_endpoints, leased from etcd (internal/workerlease),
// so that two live instances never share one and an instance that loses its
// lease stops issuing first. The newest issued timestamp survives restarts, in
// -watermark_file or in etcd with the lease: a worker whose clock is behind it
// refuses to issue IDs until the clock catches up. SIGTERM or SIGINT stops it
// gracefully: in-flight calls finish, the watermark is saved and the lease
// given back.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/monoreel/monoreel/libs/service"
	"github.com/monoreel/monoreel/libs/snowflake"
	idgenv1 "github.com/monoreel/monoreel/proto/idgen/v1"
	"github.com/monoreel/monoreel/services/idgen/internal/server"
	"github.com/monoreel/monoreel/services/idgen/internal/watermark"
	"github.com/monoreel/monoreel/services/idgen/internal/workerlease"
)

// version is set at link time by the release build (x_defs in BUILD.bazel).
var version = "dev"

func main() { service.Main("idgen", run) }

// run serves until ctx ends or a SIGTERM/SIGINT arrives (see libs/obs). ready, if
// set, is called with the gRPC address once the server accepts calls.
func run(ctx context.Context, args []string, stdout io.Writer, ready func(net.Addr)) error {
	flags := flag.NewFlagSet("idgen", flag.ContinueOnError)
	workerID := flags.Int64("worker_id", 0, "this instance's worker id, unique among running instances (0..1023)")
	watermarkFile := flags.String("watermark_file", "", "file keeping the newest issued timestamp across restarts (none if empty)")
	saveEvery := flags.Duration("watermark_interval", time.Second, "how often to save the watermark while running")
	etcdEndpoints := flags.String("etcd_endpoints", "", "comma-separated etcd endpoints to lease the worker id from (instead of -worker_id); empty: -worker_id")
	leaseTTL := flags.Duration("worker_lease_ttl", 10*time.Second, "with -etcd_endpoints: the worker lease's ttl; an instance cut off from etcd stops issuing within it")
	leasePrefix := flags.String("worker_lease_prefix", "idgen/", "with -etcd_endpoints: the etcd key prefix of worker leases and watermarks")
	common := service.AddFlags(flags, 9090)
	if err := flags.Parse(args); err != nil {
		return err
	}
	if common.ShowVersion(stdout, "idgen", version) {
		return nil
	}
	svc, err := service.New("idgen", common, stdout)
	if err != nil {
		return err
	}

	var lease *workerlease.Lease
	if *etcdEndpoints != "" {
		if *watermarkFile != "" {
			return errors.New("-watermark_file and -etcd_endpoints: with a leased worker id the watermark is kept in etcd")
		}
		if lease, err = leaseWorker(ctx, strings.Split(*etcdEndpoints, ","), *leasePrefix, common.Listen, *leaseTTL, svc); err != nil {
			return err
		}
		defer func() {
			releaseCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := lease.Release(releaseCtx); err != nil {
				svc.Log.Warn("giving the worker lease back; it expires by itself", "error", err)
			}
		}()
		*workerID = lease.WorkerID
	}
	cfg := snowflake.Config{WorkerID: *workerID, Logger: svc.Log}
	if lease != nil {
		cfg.NotBefore = lease.NotBefore
	}
	if *watermarkFile != "" {
		w, found, err := watermark.Load(*watermarkFile)
		if err != nil {
			return err
		}
		if found && w.WorkerID != *workerID {
			return fmt.Errorf("watermark %s belongs to worker %d, not %d", *watermarkFile, w.WorkerID, *workerID)
		}
		if found {
			cfg.NotBefore = w.Last()
		}
	}
	gen, err := snowflake.New(cfg)
	if err != nil {
		return err
	}
	save := func() error {
		switch {
		case gen.LastTimestamp().IsZero():
			return nil
		case lease != nil:
			ctx, cancel := context.WithTimeout(context.Background(), *saveEvery)
			defer cancel()
			return lease.SaveWatermark(ctx, gen.LastTimestamp())
		case *watermarkFile != "":
			return watermark.Save(*watermarkFile, watermark.Watermark{WorkerID: *workerID, LastUnixMilli: gen.LastTimestamp().UnixMilli()})
		}
		return nil
	}
	var may func() error
	if lease != nil {
		may = lease.Check
	}
	idgenv1.RegisterIDGenServiceServer(svc.Server, server.New(gen, snowflake.DefaultEpoch, may))

	saveCtx, stopSaving := context.WithCancel(ctx)
	defer stopSaving()
	go func() {
		ticker := time.NewTicker(*saveEvery)
		defer ticker.Stop()
		for {
			select {
			case <-saveCtx.Done():
				return
			case <-ticker.C:
				if err := save(); err != nil {
					svc.Log.Error("saving watermark", "err", err)
				}
			}
		}
	}()
	err = svc.Run(ctx, ready)
	stopSaving()
	return errors.Join(err, save())
}

// leaseWorker takes a worker id from etcd for this instance (named by its
// listen address), logging which.
func leaseWorker(ctx context.Context, endpoints []string, prefix, listen string, ttl time.Duration, svc *service.Service) (*workerlease.Lease, error) {
	client, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("-etcd_endpoints: %w", err)
	}
	acquireCtx, cancel := context.WithTimeout(ctx, ttl)
	defer cancel()
	host, _ := os.Hostname()
	lease, err := workerlease.Acquire(acquireCtx, client, prefix, host+listen, ttl, svc.Log)
	if err != nil {
		client.Close()
		return nil, err
	}
	svc.Log.Info("leased a worker id from etcd", "worker_id", lease.WorkerID, "ttl", ttl, "not_before", lease.NotBefore)
	return lease, nil
}
