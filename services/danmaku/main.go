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
//
// Instances form a fleet through Redis:
//
//	danmaku -relay_redis=redis:6379             # rooms and users' limits shared
//	danmaku -relay_redis=redis:6379 -ratelimit_redis=limits:6379
//
// -relay_redis shares the rooms' comments (internal/relay). Users' limits are
// shared through -ratelimit_redis, which is the relay's Redis unless set
// otherwise: a fleet sharing rooms but not limits would let a user post N times
// the tier's rate through N instances, so one flag turns both on; the second is
// there to move the limits' hot, tiny keys to a Redis of their own. Limits are
// exact while that Redis answers, and each instance's own while it does not
// (internal/flow says how, and what it counts).
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
	limitsAddr := flags.String("ratelimit_redis", "", "Redis (host:port) holding users' rate limits shared by the instances; empty: -relay_redis's (none without it: each instance's own limits)")
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
	if *limitsAddr == "" {
		*limitsAddr = *relayAddr
	}
	if *limitsAddr != "" {
		shared := flow.NewShared(*limitsAddr, svc.Log, svc.Registry)
		defer shared.Close()
		limits.Share(shared)
		svc.Log.Info("users' rate limits shared with the other instances through Redis", "ratelimit_redis", *limitsAddr)
	}
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
