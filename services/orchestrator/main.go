// Command orchestrator publishes uploaded videos
// (monoreel.orchestrator.v1.OrchestratorService): upload complete -> transcode ->
// aitag -> cdnpush, one workflow per video, each stage with a deadline, retries
// and a circuit breaker per downstream.
//
//	orchestrator -transcode_addr=transcode:9500 -aitag_addr=aitag:9600 \
//	  -cdnpush_addr=cdnpush:9400 -config_addr=config:9100
//
// Workflows are kept in the config center (-config_addr) or, by default, in an
// embedded store on local disk (-state_file), never only in memory: a restarted
// instance, or another one sharing the config center, resumes the workflows that
// were running. Breaker rules come from the same store, under -breaker_prefix,
// and apply without a restart. SIGTERM or SIGINT stops it gracefully: running
// workflows are released to be resumed.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/monoreel/monoreel/libs/config"
	"github.com/monoreel/monoreel/libs/config/configgrpc"
	"github.com/monoreel/monoreel/libs/grpcclient"
	"github.com/monoreel/monoreel/libs/service"
	aitagv1 "github.com/monoreel/monoreel/proto/aitag/v1"
	cdnpushv1 "github.com/monoreel/monoreel/proto/cdnpush/v1"
	orchestratorv1 "github.com/monoreel/monoreel/proto/orchestrator/v1"
	transcodev1 "github.com/monoreel/monoreel/proto/transcode/v1"
	"github.com/monoreel/monoreel/services/orchestrator/internal/server"
	"github.com/monoreel/monoreel/services/orchestrator/internal/workflow"
)

// version is set at link time by the release build (x_defs in BUILD.bazel).
var version = "dev"

func main() { service.Main("orchestrator", run) }

// run serves until ctx ends or a SIGTERM/SIGINT arrives. ready, if set, is called
// with the gRPC address once the server accepts calls.
func run(ctx context.Context, args []string, stdout io.Writer, ready func(net.Addr)) error {
	flags := flag.NewFlagSet("orchestrator", flag.ContinueOnError)
	common := service.AddFlags(flags, 9700)
	center := configgrpc.AddFlags(flags, "workflows and breaker rules in the embedded store (-state_file)")
	stateFile := flags.String("state_file", "", "the embedded store's file (default: monoreel/orchestrator.state in the user cache dir)")
	transcodeAddr := flags.String("transcode_addr", "localhost:9500", "the transcode service")
	aitagAddr := flags.String("aitag_addr", "localhost:9600", "the aitag service")
	cdnpushAddr := flags.String("cdnpush_addr", "localhost:9400", "the cdnpush service")
	videosDir := flags.String("videos_dir", "", "where completed uploads are (the upload service's -data_dir/videos), for Publish requests naming no source")
	edges := flags.String("edges", "", "comma-separated edge base URLs to warm; empty: cdnpush's own")
	instance := flags.String("instance", "", "this instance's name, unique among instances sharing the store (default: host name and -listen)")
	lease := flags.Duration("lease", 30*time.Second, "how long a silent instance keeps its workflows before another takes them over")
	prefix := flags.String("workflow_prefix", "orchestrator/workflows/", "store keys of the workflows")
	rulesPrefix := flags.String("breaker_prefix", "orchestrator/breaker/", "config keys of the downstreams' breaker rules (<prefix>transcode, aitag, cdnpush)")
	callTimeout := flags.Duration("call_timeout", 10*time.Second, "per downstream call")
	deadlines := map[string]*time.Duration{}
	for _, stage := range workflow.Stages {
		deadlines[stage] = flags.Duration(stage+"_deadline", workflow.DefaultDeadlines[stage], "the longest the "+stage+" stage may run")
	}
	if err := flags.Parse(args); err != nil {
		return err
	}
	if common.ShowVersion(stdout, "orchestrator", version) {
		return nil
	}
	if *instance == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("no -instance and no host name: %w", err)
		}
		*instance = host + common.Listen
	}
	svc, err := service.New("orchestrator", common, stdout)
	if err != nil {
		return err
	}

	var embedded config.Store // the config center's, with -config_addr
	if center.Center() == "" {
		path, err := service.LocalPath("state_file", *stateFile, "orchestrator.state")
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if embedded, err = config.OpenFile(path, 0); err != nil {
			return err
		}
		svc.Log.Info("embedded store", "state_file", path)
	}
	cfg, store, closeConfig, err := center.Open(ctx, embedded, svc.Log)
	if err != nil {
		return err
	}
	defer closeConfig()

	dial := func(flag, addr string) *grpc.ClientConn {
		conn, dialErr := grpcclient.Dial(addr)
		if dialErr != nil && err == nil {
			err = fmt.Errorf("-%s: %w", flag, dialErr)
		}
		return conn
	}
	transcodeConn, aitagConn, cdnpushConn := dial("transcode_addr", *transcodeAddr), dial("aitag_addr", *aitagAddr), dial("cdnpush_addr", *cdnpushAddr)
	for _, conn := range []*grpc.ClientConn{transcodeConn, aitagConn, cdnpushConn} {
		if conn != nil {
			defer conn.Close()
		}
	}
	if err != nil {
		return err
	}
	clients := workflow.Clients{
		Transcode: transcodev1.NewTranscodeServiceClient(transcodeConn),
		AITag:     aitagv1.NewAITagServiceClient(aitagConn),
		CDNPush:   cdnpushv1.NewCDNPushServiceClient(cdnpushConn),
	}
	opts := workflow.Options{
		Store: store, Prefix: *prefix, Instance: *instance, Lease: *lease, CallTimeout: *callTimeout,
		VideosDir: *videosDir, Log: svc.Log, Deadlines: map[string]time.Duration{},
	}
	for stage, d := range deadlines {
		opts.Deadlines[stage] = *d
	}
	if *edges != "" {
		opts.Edges = strings.Split(*edges, ",")
	}
	engine, err := workflow.New(clients, opts)
	if err != nil {
		return err
	}
	defer engine.Stop()
	background, stopBackground := context.WithCancel(ctx)
	defer stopBackground()
	go workflow.FollowRules(background, cfg, *rulesPrefix, engine.Breakers(), svc.Log)
	go engine.Follow(background)

	svc.Log.Info("orchestrating", "instance", *instance, "transcode", *transcodeAddr, "aitag", *aitagAddr, "cdnpush", *cdnpushAddr)
	orchestratorv1.RegisterOrchestratorServiceServer(svc.Server, server.New(engine))
	return svc.Run(ctx, ready)
}
