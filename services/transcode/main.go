// Command transcode turns uploaded videos into HLS renditions
// (monoreel.transcode.v1.TranscodeService) with ffmpeg, on a bounded pool of
// workers.
//
//	transcode -out_dir=/var/lib/monoreel/hls -workers=2
//
// ffmpeg comes from -ffmpeg or PATH; without one the service refuses to start.
// SIGTERM or SIGINT stops it gracefully: running jobs are cancelled (their ffmpeg
// killed) and reported as such.
package main

import (
	"context"
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/monoreel/monoreel/libs/service"
	transcodev1 "github.com/monoreel/monoreel/proto/transcode/v1"
	"github.com/monoreel/monoreel/services/transcode/internal/jobs"
	"github.com/monoreel/monoreel/services/transcode/internal/server"
)

// version is set at link time by the release build (x_defs in BUILD.bazel).
var version = "dev"

// defaultLadder is used for jobs that name no renditions.
var defaultLadder = []jobs.Rendition{
	{Name: "360p", Height: 360, VideoKbps: 800},
	{Name: "720p", Height: 720, VideoKbps: 2800},
}

func main() { service.Main("transcode", run) }

// run serves until ctx ends or a SIGTERM/SIGINT arrives. ready, if set, is called
// with the gRPC address once the server accepts calls.
func run(ctx context.Context, args []string, stdout io.Writer, ready func(net.Addr)) error {
	flags := flag.NewFlagSet("transcode", flag.ContinueOnError)
	common := service.AddFlags(flags, 9500)
	ffmpeg := service.AddProgramFlag(flags, "ffmpeg", "ffmpeg")
	outDir := flags.String("out_dir", "", "where renditions are written (default: monoreel/hls in the user cache dir)")
	workers := flags.Int("workers", 2, "jobs run at once")
	queue := flags.Int("queue", 100, "jobs that may wait")
	timeout := flags.Duration("timeout", 30*time.Minute, "longest ffmpeg run per rendition")
	segment := flags.Int("segment_seconds", 4, "HLS segment duration")
	jobsFile := flags.String("jobs_file", "", "where jobs are kept across restarts (default: monoreel/transcode/jobs.json in the user cache dir; shadow traffic's in a shadow/ directory next to it)")
	retention := flags.Duration("retention", 24*time.Hour, "how long a finished job is kept for Get and List, then forgotten (its outputs stay)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if common.ShowVersion(stdout, "transcode", version) {
		return nil
	}
	bin, err := ffmpeg.Path()
	if err != nil {
		return err
	}
	out, err := service.LocalPath("out_dir", *outDir, "hls")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	svc, err := service.New("transcode", common, stdout)
	if err != nil {
		return err
	}
	journal, err := service.LocalPath("jobs_file", *jobsFile, filepath.Join("transcode", "jobs.json"))
	if err != nil {
		return err
	}
	shadowJournal := filepath.Join(filepath.Dir(journal), "shadow", filepath.Base(journal))
	if err := os.MkdirAll(filepath.Dir(shadowJournal), 0o755); err != nil {
		return err
	}
	hls := jobs.HLS{FFmpeg: bin, Timeout: *timeout, SegmentSeconds: *segment}
	m, err := jobs.Open(hls, out, journal, *workers, *queue)
	if err != nil {
		return err
	}
	defer m.Stop()
	// Shadow traffic's jobs: one worker, outputs under out_dir/shadow, never
	// over production's.
	shadow, err := jobs.Open(hls, filepath.Join(out, "shadow"), shadowJournal, 1, *queue)
	if err != nil {
		return err
	}
	defer shadow.Stop()
	if n := m.Resumed() + shadow.Resumed(); n > 0 {
		svc.Log.Info("resumed the jobs a previous run left waiting or running", "jobs", n, "journal", journal)
	}
	go func() {
		for t := time.NewTicker(min(*retention, time.Minute)); ; {
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case now := <-t.C:
				m.Prune(now.Add(-*retention))
				shadow.Prune(now.Add(-*retention))
			}
		}
	}()
	svc.Log.Info("transcoding", "ffmpeg", bin, "out_dir", out, "workers", *workers)
	transcodev1.RegisterTranscodeServiceServer(svc.Server, server.New(m, shadow, defaultLadder))
	return svc.Run(ctx, ready)
}
