// Command danmaku runs live bullet-comment rooms (monoreel.danmaku.v1.DanmakuService):
// clients join a room over a bidirectional stream, post comments under per-user
// rate limits by tier, and receive the room's comments as they are posted.
//
//	danmaku                                    # embedded: default limits, local IDs
//	danmaku -config_addr=config:9100 -idgen_addr=idgen:9090
//
// With -config_addr the tiers' limits are read from the config center (keys
// -ratelimit_prefix + normal|vip|robot, JSON as in libs/ratelimit) and applied to
// connected users as soon as they change. SIGTERM or SIGINT stops it gracefully.
package main

import (
	"context"
	"flag"
	"io"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/monoreel/monoreel/libs/config"
	"github.com/monoreel/monoreel/libs/config/configgrpc"
	"github.com/monoreel/monoreel/libs/idpool"
	"github.com/monoreel/monoreel/libs/service"
	danmakuv1 "github.com/monoreel/monoreel/proto/danmaku/v1"
	"github.com/monoreel/monoreel/services/danmaku/internal/flow"
	"github.com/monoreel/monoreel/services/danmaku/internal/relay"
	"github.com/monoreel/monoreel/services/danmaku/internal/room"
	"github.com/monoreel/monoreel/services/danmaku/internal/server"
)

// version is set at link time by the release build (x_defs in BUILD.bazel).
var version = "dev"

func main() { service.Main("danmaku", run) }

// run serves until ctx ends or a SIGTERM/SIGINT arrives. ready, if set, is called
// with the gRPC address once the server accepts calls.
func run(ctx context.Context, args []string, stdout io.Writer, ready func(net.Addr)) error {
	flags := flag.NewFlagSet("danmaku", flag.ContinueOnError)
	common := service.AddFlags(flags, 9200)
	ids := idpool.AddFlags(flags)
	center := configgrpc.AddFlags(flags, "the default limits, fixed")
	prefix := flags.String("ratelimit_prefix", "danmaku/ratelimit/", "config keys of the tiers' rate-limit policies")
	buffer := flags.Int("buffer", 256, "comments a subscriber may lag behind before the oldest are dropped")
	relayAddr := flags.String("relay_redis", "", "Redis (host:port) through which instances share their rooms' comments (one stream per room); empty: one instance, rooms in memory")
	slow := flags.Duration("slow_timeout", 5*time.Second, "how long a subscriber may stay a full buffer behind before it is disconnected")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if common.ShowVersion(stdout, "danmaku", version) {
		return nil
	}
	svc, err := service.New("danmaku", common, stdout)
	if err != nil {
		return err
	}
	idSource, idConn, err := ids.Open(svc.Dial)
	if err != nil {
		return err
	}
	if idConn != nil {
		defer idConn.Close()
	}

	cfg, _, closeConfig, err := center.Open(ctx, config.NewMemory(0), svc.Log, svc.Dial)
	if err != nil {
		return err
	}
	defer closeConfig()
	limits := flow.New()
	followCtx, stopFollowing := context.WithCancel(ctx)
	defer stopFollowing()
	go limits.Follow(followCtx, cfg, *prefix, svc.Log)
	go svc.FollowSampling(followCtx, cfg)

	drops := prometheus.NewCounter(prometheus.CounterOpts{Name: "danmaku_subscriber_drops_total", Help: "Comments dropped from lagging subscribers' buffers."})
	evictions := prometheus.NewCounter(prometheus.CounterOpts{Name: "danmaku_subscriber_evictions_total", Help: "Subscribers disconnected for a sustained backlog."})
	svc.Registry.MustRegister(drops, evictions)
	hub := room.NewHub(room.Options{Buffer: *buffer, SlowTimeout: *slow, OnDrop: drops.Inc, OnEvict: evictions.Inc})
	srv := server.New(hub, limits, idSource, svc.Registry)
	if *relayAddr != "" {
		r := relay.New(*relayAddr, hub, svc.Log)
		defer r.Close()
		go r.Run(followCtx)
		srv.RelayThrough(r)
		svc.Log.Info("rooms shared with the other instances through Redis", "relay_redis", *relayAddr)
	}
	danmakuv1.RegisterDanmakuServiceServer(svc.Server, srv)
	return svc.Run(ctx, ready)
}
