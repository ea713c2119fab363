package configgrpc

import (
	"context"
	"flag"
	"fmt"
	"log/slog"

	"github.com/monoreel/monoreel/libs/config"
	"github.com/monoreel/monoreel/libs/grpcclient"
)

// Flags choose where a service's configuration lives: the config center named by
// -config_addr, or a store embedded in the service.
type Flags struct {
	addr, snapshot *string
}

// AddFlags registers -config_addr and -config_snapshot on fs. withoutCenter says,
// in -config_addr's usage, what the service does when it is empty.
func AddFlags(fs *flag.FlagSet, withoutCenter string) *Flags {
	return &Flags{
		addr:     fs.String("config_addr", "", "the config center (host:port); empty: "+withoutCenter),
		snapshot: fs.String("config_snapshot", "", "file keeping the last known config, served if the config center is down at start"),
	}
}

// Center returns -config_addr ("" for the embedded store).
func (f *Flags) Center() string { return *f.addr }

// Open returns the store (the config center's, called through dial, or
// embedded when -config_addr is empty; embedded may be nil otherwise) and a
// Client following it. close releases both. A service's dial is
// libs/service.Service.Dial: its certificate and client metrics.
func (f *Flags) Open(ctx context.Context, embedded config.Store, log *slog.Logger, dial grpcclient.Dialer) (client *config.Client, store config.Store, close func(), err error) {
	var closeStore func() error
	if *f.addr == "" {
		store, closeStore = embedded, embedded.Close
	} else {
		conn, err := dial(*f.addr)
		if err != nil {
			return nil, nil, nil, err
		}
		store, closeStore = NewStore(conn), conn.Close
	}
	client, err = config.Open(ctx, store, config.Options{SnapshotPath: *f.snapshot, Log: log})
	if err != nil {
		closeStore()
		if *f.addr == "" {
			return nil, nil, nil, fmt.Errorf("embedded config store: %w", err)
		}
		return nil, nil, nil, fmt.Errorf("config center %s: %w", *f.addr, err)
	}
	return client, store, func() { client.Close(); closeStore() }, nil
}
