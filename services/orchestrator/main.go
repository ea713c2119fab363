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
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"

	"github.com/monoreel/monoreel/libs/cache"
	"github.com/monoreel/monoreel/libs/config"
	"github.com/monoreel/monoreel/libs/config/configgrpc"
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
	s := addFlags(flags)
	if err := flags.Parse(args); err != nil {
		return err
	}
	if s.common.ShowVersion(stdout, "orchestrator", version) {
		return nil
	}
	if s.instance == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("no -instance and no host name: %w", err)
		}
		s.instance = host + s.common.Listen
	}
	svc, err := service.New("orchestrator", s.common, stdout)
	if err != nil {
		return err
	}
	cfg, store, closeConfig, err := s.openStore(ctx, svc)
	if err != nil {
		return err
	}
	defer closeConfig()
	clients, closeClients, err := s.dialDownstreams(svc)
	if err != nil {
		return err
	}
	defer closeClients()
	var workflows *cache.Cache // reads of GetWorkflow; every save invalidates its key
	opts := s.engineOptions(store, svc.Log, svc.Registry)
	opts.OnSave = func(w *workflow.Workflow) {
		workflows.Invalidate(context.Background(), server.CacheKey(w.Shadow, w.VideoID))
	}
	engine, err := workflow.New(clients, opts)
	if err != nil {
		return err
	}
	defer engine.Stop()
	if workflows, err = s.workflowCache(engine, svc); err != nil {
		return err
	}
	defer workflows.Close()
	background, stopBackground := context.WithCancel(ctx)
	defer stopBackground()
	go workflow.FollowRules(background, cfg, s.rulesPrefix, engine.Breakers(), svc.Log)
	go svc.FollowSampling(background, cfg)
	go engine.Follow(background)

	svc.Log.Info("orchestrating", "instance", s.instance, "transcode", s.transcodeAddr, "aitag", s.aitagAddr, "cdnpush", s.cdnpushAddr)
	orchestratorv1.RegisterOrchestratorServiceServer(svc.Server, server.New(engine, workflows))
	return svc.Run(ctx, ready)
}

// settings are the orchestrator's flags: libs/service's, the config center's and
// its own.
type settings struct {
	common                                          *service.Flags
	center                                          *configgrpc.Flags
	stateFile                                       string
	transcodeAddr, aitagAddr, cdnpushAddr           string
	videosDir, edges, instance, prefix, rulesPrefix string
	shadowVideosDir, cacheRedis                     string
	lease, callTimeout, retention                   time.Duration
	deadlines                                       map[string]*time.Duration
}

func addFlags(flags *flag.FlagSet) *settings {
	s := &settings{
		common:    service.AddFlags(flags, 9700),
		center:    configgrpc.AddFlags(flags, "workflows and breaker rules in the embedded store (-state_file)"),
		deadlines: map[string]*time.Duration{},
	}
	flags.StringVar(&s.stateFile, "state_file", "", "the embedded store's file (default: monoreel/orchestrator.state in the user cache dir)")
	flags.StringVar(&s.transcodeAddr, "transcode_addr", "localhost:9500", "the transcode service")
	flags.StringVar(&s.aitagAddr, "aitag_addr", "localhost:9600", "the aitag service")
	flags.StringVar(&s.cdnpushAddr, "cdnpush_addr", "localhost:9400", "the cdnpush service")
	flags.StringVar(&s.videosDir, "videos_dir", "", "where completed uploads are (the upload service's -data_dir/videos), for Publish requests naming no source")
	flags.StringVar(&s.shadowVideosDir, "shadow_videos_dir", "", "-videos_dir for shadow traffic (default: the upload service's -data_dir/shadow/videos, next to -videos_dir)")
	flags.StringVar(&s.edges, "edges", "", "comma-separated edge base URLs to warm; empty: cdnpush's own")
	flags.StringVar(&s.instance, "instance", "", "this instance's name, unique among instances sharing the store (default: host name and -listen)")
	flags.DurationVar(&s.lease, "lease", 30*time.Second, "how long a silent instance keeps its workflows before another takes them over")
	flags.StringVar(&s.cacheRedis, "cache_redis", "", "Redis (host:port) shared by the instances as the second level of the workflow cache; empty: in-process only")
	flags.DurationVar(&s.retention, "retention", 7*24*time.Hour, "how long a finished workflow is kept, then removed")
	flags.StringVar(&s.prefix, "workflow_prefix", "state/orchestrator/workflows/", "store keys of the workflows")
	flags.StringVar(&s.rulesPrefix, "breaker_prefix", "orchestrator/breaker/", "config keys of the downstreams' breaker rules (<prefix>transcode, aitag, cdnpush)")
	flags.DurationVar(&s.callTimeout, "call_timeout", 10*time.Second, "per downstream call")
	for _, stage := range workflow.Stages {
		s.deadlines[stage] = flags.Duration(stage+"_deadline", workflow.DefaultDeadlines[stage], "the longest the "+stage+" stage may run")
	}
	return s
}

// openStore opens the config center named by -config_addr, or else the embedded
// store in -state_file: workflows are never kept only in memory.
func (s *settings) openStore(ctx context.Context, svc *service.Service) (*config.Client, config.Store, func(), error) {
	var embedded config.Store // the config center's, with -config_addr
	if s.center.Center() == "" {
		path, err := service.LocalPath("state_file", s.stateFile, "orchestrator.state")
		if err != nil {
			return nil, nil, nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, nil, nil, err
		}
		if embedded, err = config.OpenFile(path, 0); err != nil {
			return nil, nil, nil, err
		}
		svc.Log.Info("embedded store", "state_file", path)
	}
	return s.center.Open(ctx, embedded, svc.Log, svc.Dial)
}

// dialDownstreams returns the clients of the services the workflows call, and a
// function closing their connections.
func (s *settings) dialDownstreams(svc *service.Service) (workflow.Clients, func(), error) {
	var conns []*grpc.ClientConn
	closeAll := func() {
		for _, conn := range conns {
			conn.Close()
		}
	}
	for _, d := range []struct{ flag, addr string }{
		{"transcode_addr", s.transcodeAddr},
		{"aitag_addr", s.aitagAddr},
		{"cdnpush_addr", s.cdnpushAddr},
	} {
		conn, err := svc.Dial(d.addr)
		if err != nil {
			closeAll()
			return workflow.Clients{}, nil, fmt.Errorf("-%s: %w", d.flag, err)
		}
		conns = append(conns, conn)
	}
	return workflow.Clients{
		Transcode: transcodev1.NewTranscodeServiceClient(conns[0]),
		AITag:     aitagv1.NewAITagServiceClient(conns[1]),
		CDNPush:   cdnpushv1.NewCDNPushServiceClient(conns[2]),
	}, closeAll, nil
}

func (s *settings) engineOptions(store config.Store, log *slog.Logger, reg prometheus.Registerer) workflow.Options {
	opts := workflow.Options{
		Store: store, Prefix: s.prefix, Instance: s.instance, Lease: s.lease, Retention: s.retention, CallTimeout: s.callTimeout,
		VideosDir: s.videosDir, ShadowVideosDir: s.shadowVideosDir, Log: log, Registerer: reg, Deadlines: map[string]time.Duration{},
	}
	for stage, d := range s.deadlines {
		opts.Deadlines[stage] = *d
	}
	if s.edges != "" {
		opts.Edges = strings.Split(s.edges, ",")
	}
	if opts.ShadowVideosDir == "" && opts.VideosDir != "" {
		opts.ShadowVideosDir = filepath.Join(filepath.Dir(opts.VideosDir), "shadow", "videos")
	}
	return opts
}

// workflowCache is the cache of GetWorkflow's reads (server.NewCache): in
// process, and in Redis with -cache_redis; its hits and loads are metrics.
func (s *settings) workflowCache(engine *workflow.Engine, svc *service.Service) (*cache.Cache, error) {
	opts := cache.Options{L1TTL: time.Second, L2TTL: time.Minute, Prefix: "orchestrator:workflow:", Log: svc.Log}
	if s.cacheRedis != "" {
		opts.Redis = redis.NewClient(&redis.Options{Addr: s.cacheRedis})
	}
	c, err := server.NewCache(engine, opts)
	if err != nil {
		return nil, err
	}
	for _, m := range []struct {
		result string
		count  func(cache.Stats) int64
	}{
		{"l1_hit", func(st cache.Stats) int64 { return st.L1Hits }},
		{"l2_hit", func(st cache.Stats) int64 { return st.L2Hits }},
		{"load", func(st cache.Stats) int64 { return st.Loads }},
	} {
		svc.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "orchestrator_workflow_reads_total", Help: "GetWorkflow reads, by where they were answered from: the cache (l1_hit, l2_hit) or the store (load).",
			ConstLabels: prometheus.Labels{"result": m.result},
		}, func() float64 { return float64(m.count(c.Stats())) }))
	}
	return c, nil
}
