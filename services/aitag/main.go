// Command aitag tags videos (monoreel.aitag.v1.AITagService) from frames sampled
// with ffmpeg and from keywords in their title and description.
//
//	aitag -fps=2 -deadline=30s
//
// ffmpeg comes from -ffmpeg or PATH; without one the service refuses to start.
// SIGTERM or SIGINT stops it gracefully.
package main

import (
	"context"
	"flag"
	"io"
	"net"
	"time"

	"github.com/monoreel/monoreel/libs/service"
	aitagv1 "github.com/monoreel/monoreel/proto/aitag/v1"
	"github.com/monoreel/monoreel/services/aitag/internal/frames"
	"github.com/monoreel/monoreel/services/aitag/internal/server"
)

// version is set at link time by the release build (x_defs in BUILD.bazel).
var version = "dev"

func main() { service.Main("aitag", run) }

// run serves until ctx ends or a SIGTERM/SIGINT arrives. ready, if set, is called
// with the gRPC address once the server accepts calls.
func run(ctx context.Context, args []string, stdout io.Writer, ready func(net.Addr)) error {
	flags := flag.NewFlagSet("aitag", flag.ContinueOnError)
	common := service.AddFlags(flags, 9600)
	ffmpeg := service.AddProgramFlag(flags, "ffmpeg", "ffmpeg")
	fps := flags.Float64("fps", 2, "frames sampled per second of video")
	maxFrames := flags.Int("max_frames", 600, "frames sampled at most per video")
	deadline := flags.Duration("deadline", 30*time.Second, "longest a Tag request may take")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if common.ShowVersion(stdout, "aitag", version) {
		return nil
	}
	bin, err := ffmpeg.Path()
	if err != nil {
		return err
	}
	svc, err := service.New("aitag", common, stdout)
	if err != nil {
		return err
	}
	aitagv1.RegisterAITagServiceServer(svc.Server, server.New(frames.Options{FFmpeg: bin, FPS: *fps, MaxFrames: *maxFrames}, *deadline))
	return svc.Run(ctx, ready)
}
