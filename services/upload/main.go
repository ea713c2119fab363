// Command upload takes video files in resumable, chunked uploads
// (monoreel.upload.v1.UploadService) and stores them on local disk.
//
//	upload -data_dir=/var/lib/monoreel/upload
//	upload -idgen_addr=idgen:9090          # video ids from the IDGen service
//
// Uploads in progress live under -data_dir and survive restarts: a client lists
// the parts already stored and sends the rest. Completed files are under
// -data_dir/videos/<video id> (shadow traffic's under -data_dir/shadow/, apart). SIGTERM or SIGINT stops it gracefully.
package main

import (
	"context"
	"flag"
	"io"
	"net"
	"path/filepath"

	"google.golang.org/grpc"

	"github.com/monoreel/monoreel/libs/idpool"
	"github.com/monoreel/monoreel/libs/service"
	uploadv1 "github.com/monoreel/monoreel/proto/upload/v1"
	"github.com/monoreel/monoreel/services/upload/internal/server"
	"github.com/monoreel/monoreel/services/upload/internal/store"
)

// version is set at link time by the release build (x_defs in BUILD.bazel).
var version = "dev"

func main() { service.Main("upload", run) }

// run serves until ctx ends or a SIGTERM/SIGINT arrives. ready, if set, is called
// with the gRPC address once the server accepts calls.
func run(ctx context.Context, args []string, stdout io.Writer, ready func(net.Addr)) error {
	flags := flag.NewFlagSet("upload", flag.ContinueOnError)
	common := service.AddFlags(flags, 9300)
	ids := idpool.AddFlags(flags)
	dataDir := flags.String("data_dir", "", "where uploads and videos are stored (default: monoreel/upload in the user cache dir)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if common.ShowVersion(stdout, "upload", version) {
		return nil
	}
	dir, err := service.LocalPath("data_dir", *dataDir, "upload")
	if err != nil {
		return err
	}
	st, err := store.Open(dir)
	if err != nil {
		return err
	}
	// Shadow traffic's uploads and videos: the same layout, under shadow/.
	shadow, err := store.Open(filepath.Join(dir, "shadow"))
	if err != nil {
		return err
	}
	// UploadPart's message: a part of at most MaxUnaryPartSize, its header.
	svc, err := service.New("upload", common, stdout, grpc.MaxRecvMsgSize(server.MaxUnaryPartSize+64<<10))
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
	svc.Log.Info("storing uploads", "data_dir", dir)
	uploadv1.RegisterUploadServiceServer(svc.Server, server.New(st, shadow, idSource))
	return svc.Run(ctx, ready)
}
