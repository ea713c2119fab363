// Command idgen serves snowflake IDs over gRPC (monoreel.idgen.v1.IDGenService).
//
//	idgen -listen=:9090 -worker_id=3 -watermark_file=/var/lib/idgen/watermark
//
// Each running instance needs its own worker id (0..1023). With -watermark_file
// the newest issued timestamp survives restarts: a worker whose clock is behind it
// refuses to issue IDs until the clock catches up. SIGTERM or SIGINT stops it
// gracefully: in-flight calls finish and the watermark is saved.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/monoreel/monoreel/libs/service"
	"github.com/monoreel/monoreel/libs/snowflake"
	idgenv1 "github.com/monoreel/monoreel/proto/idgen/v1"
	"github.com/monoreel/monoreel/services/idgen/internal/server"
	"github.com/monoreel/monoreel/services/idgen/internal/watermark"
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

	cfg := snowflake.Config{WorkerID: *workerID, Logger: svc.Log}
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
		if *watermarkFile == "" || gen.LastTimestamp().IsZero() {
			return nil
		}
		return watermark.Save(*watermarkFile, watermark.Watermark{WorkerID: *workerID, LastUnixMilli: gen.LastTimestamp().UnixMilli()})
	}

	idgenv1.RegisterIDGenServiceServer(svc.Server, server.New(gen, snowflake.DefaultEpoch))

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
