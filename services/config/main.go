// Command config is the config center: it serves libs/config's revisioned store
// over gRPC (monoreel.config.v1.ConfigService). Services keep a local copy of the
// keys they need and follow changes through Watch (libs/config/configgrpc), so
// rate limits, breaker rules and feature flags change without a restart.
//
//	config                                   # embedded store, saved to a file
//	config -backend=etcd -etcd_endpoints=10.0.0.5:2379,10.0.0.6:2379
//
// The embedded store keeps every key in memory and writes each change to
// -data_file (atomically, fsynced) before acknowledging it; it starts from that
// file. SIGTERM or SIGINT stops it gracefully.
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

	"github.com/monoreel/monoreel/libs/config"
	"github.com/monoreel/monoreel/libs/config/configgrpc"
	"github.com/monoreel/monoreel/libs/service"
	configv1 "github.com/monoreel/monoreel/proto/config/v1"
)

// version is set at link time by the release build (x_defs in BUILD.bazel).
var version = "dev"

func main() { service.Main("config", run) }

// run serves until ctx ends or a SIGTERM/SIGINT arrives. ready, if set, is called
// with the gRPC address once the server accepts calls.
func run(ctx context.Context, args []string, stdout io.Writer, ready func(net.Addr)) error {
	flags := flag.NewFlagSet("config", flag.ContinueOnError)
	common := service.AddFlags(flags, 9100)
	backend := flags.String("backend", "embedded", "where keys live: embedded (memory + -data_file) or etcd")
	dataFile := flags.String("data_file", "", "the embedded store's file (default: monoreel/config-center.snapshot in the user cache dir)")
	history := flags.Int("history", 10000, "changes the embedded store keeps for watches that resume")
	etcdEndpoints := flags.String("etcd_endpoints", "", "comma-separated etcd client addresses, for -backend=etcd")
	etcdTimeout := flags.Duration("etcd_dial_timeout", 5*time.Second, "how long to wait for etcd at start")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if common.ShowVersion(stdout, "config", version) {
		return nil
	}
	store, describe, err := openStore(*backend, *dataFile, *history, *etcdEndpoints, *etcdTimeout)
	if err != nil {
		return err
	}
	defer store.Close()
	svc, err := service.New("config", common, stdout)
	if err != nil {
		return err
	}
	svc.Log.Info("store", "backend", *backend, "at", describe)
	configv1.RegisterConfigServiceServer(svc.Server, configgrpc.NewServer(store))
	return svc.Run(ctx, ready)
}

// openStore opens the backend, returning it and where it keeps its keys.
func openStore(backend, dataFile string, history int, etcdEndpoints string, etcdTimeout time.Duration) (config.Store, string, error) {
	switch backend {
	case "embedded":
		dataFile, err := service.LocalPath("data_file", dataFile, "config-center.snapshot")
		if err != nil {
			return nil, "", err
		}
		if err := os.MkdirAll(filepath.Dir(dataFile), 0o755); err != nil {
			return nil, "", err
		}
		file, err := config.OpenFile(dataFile, history)
		return file, dataFile, err
	case "etcd":
		if etcdEndpoints == "" {
			return nil, "", fmt.Errorf("-backend=etcd needs -etcd_endpoints")
		}
		etcd, err := config.NewEtcd(strings.Split(etcdEndpoints, ","), etcdTimeout)
		return etcd, etcdEndpoints, err
	}
	return nil, "", fmt.Errorf("-backend=%q: want embedded or etcd", backend)
}
