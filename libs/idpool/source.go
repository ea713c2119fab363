package idpool

import (
	"context"
	"flag"
	"fmt"

	"google.golang.org/grpc"

	"github.com/monoreel/monoreel/libs/grpcclient"
	"github.com/monoreel/monoreel/libs/snowflake"
	idgenv1 "github.com/monoreel/monoreel/proto/idgen/v1"
)

// Source hands out unique IDs: a Pool on the IDGen service, or Local.
type Source interface {
	Next(ctx context.Context) (int64, error)
}

// local is a Source on an in-process snowflake generator.
type local struct{ gen *snowflake.Generator }

func (l local) Next(context.Context) (int64, error) { return l.gen.Next() }

// Local returns a Source backed by an in-process generator: the embedded default
// of a service that mints IDs, when no IDGen service is configured.
func Local(gen *snowflake.Generator) Source { return local{gen} }

// Flags choose a service's ID source.
type Flags struct {
	Addr     string
	WorkerID int64
}

// AddFlags registers -idgen_addr and -worker_id on fs.
func AddFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.StringVar(&f.Addr, "idgen_addr", "", "the IDGen service (host:port); empty: an in-process generator with -worker_id")
	fs.Int64Var(&f.WorkerID, "worker_id", 0, "worker id (0..1023) of the in-process generator, unique among running instances")
	return f
}

// Open returns the Source the flags ask for, calling IDGen through dial (a
// service's: its certificate and client metrics), and the connection to close
// when done (nil for the in-process generator).
func (f *Flags) Open(dial grpcclient.Dialer) (Source, *grpc.ClientConn, error) {
	if f.Addr == "" {
		gen, err := snowflake.New(snowflake.Config{WorkerID: f.WorkerID})
		if err != nil {
			return nil, nil, fmt.Errorf("-worker_id: %w", err)
		}
		return Local(gen), nil, nil
	}
	conn, err := dial(f.Addr)
	if err != nil {
		return nil, nil, err
	}
	return New(idgenv1.NewIDGenServiceClient(conn), DefaultBatch), conn, nil
}
