// Command cdnpush warms edge caches (monoreel.cdnpush.v1.CDNPushService): for each
// key and edge of a Warm request it has the edge fetch the object, with bounded
// concurrency and retries, and reports progress through Status.
//
//	cdnpush -edges=http://edge-eu-1:8080,http://edge-us-1:8080
//
// Jobs are kept in memory (the embedded default): a restart forgets them, and a
// client retrying with the same idempotency key starts the job again. SIGTERM or
// SIGINT stops it gracefully.
package main

import (
	"context"
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/monoreel/monoreel/libs/service"
	cdnpushv1 "github.com/monoreel/monoreel/proto/cdnpush/v1"
	"github.com/monoreel/monoreel/services/cdnpush/internal/server"
	"github.com/monoreel/monoreel/services/cdnpush/internal/warm"
)

// version is set at link time by the release build (x_defs in BUILD.bazel).
var version = "dev"

func main() { service.Main("cdnpush", run) }

// run serves until ctx ends or a SIGTERM/SIGINT arrives. ready, if set, is called
// with the gRPC address once the server accepts calls.
func run(ctx context.Context, args []string, stdout io.Writer, ready func(net.Addr)) error {
	flags := flag.NewFlagSet("cdnpush", flag.ContinueOnError)
	common := service.AddFlags(flags, 9400)
	edges := flags.String("edges", "", "comma-separated edge base URLs used when a request names none")
	concurrency := flags.Int("concurrency", 16, "edge requests in flight at once")
	attempts := flags.Int("attempts", 4, "tries per key and edge")
	timeout := flags.Duration("timeout", 10*time.Second, "per edge request")
	fresh := flags.Duration("fresh", 10*time.Minute, "a key warmed on an edge is not warmed there again for this long")
	jobsFile := flags.String("jobs_file", "", "where warm-up jobs are kept across restarts (default: monoreel/cdnpush/jobs.json in the user cache dir)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if common.ShowVersion(stdout, "cdnpush", version) {
		return nil
	}
	opts := warm.Options{Concurrency: *concurrency, Attempts: *attempts, Timeout: *timeout, Fresh: *fresh}
	if *edges != "" {
		opts.Edges = strings.Split(*edges, ",")
	}
	svc, err := service.New("cdnpush", common, stdout)
	if err != nil {
		return err
	}
	journal, err := service.LocalPath("jobs_file", *jobsFile, filepath.Join("cdnpush", "jobs.json"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(journal), 0o755); err != nil {
		return err
	}
	production := opts
	production.Journal = journal
	engine, err := warm.Open(production)
	if err != nil {
		return err
	}
	jobs, stopJobs := context.WithCancel(context.Background())
	defer stopJobs()
	if n := engine.Resume(jobs); n > 0 {
		svc.Log.Info("warming again the pairs a previous run left pending", "pairs", n, "journal", journal)
	}
	cdnpushv1.RegisterCDNPushServiceServer(svc.Server, server.New(engine, server.NewDryRun(opts), jobs))
	return svc.Run(ctx, ready)
}
