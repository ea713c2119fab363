package jobs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/monoreel/monoreel/libs/atomicfile"
	"github.com/monoreel/monoreel/libs/tracing"
)

// HLS is the Transcoder that runs ffmpeg: one run per rendition (H.264 + AAC HLS
// segments of SegmentSeconds), then a master playlist over them.
type HLS struct {
	FFmpeg         string        // the ffmpeg binary
	Timeout        time.Duration // per rendition; a stuck ffmpeg is killed
	SegmentSeconds int
}

// Transcode implements Transcoder. Output: outDir/<video id>/<job id>/master.m3u8
// and <rendition>/index.m3u8 with its segments.
func (h HLS) Transcode(ctx context.Context, j Job, outDir string) (string, error) {
	if _, err := os.Stat(j.Source); err != nil {
		return "", fmt.Errorf("source: %w", err)
	}
	dir := filepath.Join(outDir, fmt.Sprint(j.VideoID), j.ID)
	var master strings.Builder
	master.WriteString("#EXTM3U\n#EXT-X-VERSION:3\n")
	for _, r := range j.Renditions {
		if err := h.rendition(ctx, j.Source, filepath.Join(dir, r.Name), r); err != nil {
			return "", fmt.Errorf("rendition %s: %w", r.Name, err)
		}
		fmt.Fprintf(&master, "#EXT-X-STREAM-INF:BANDWIDTH=%d,NAME=%q\n%s/index.m3u8\n", (r.VideoKbps+128)*1000, r.Name, r.Name)
	}
	path := filepath.Join(dir, "master.m3u8")
	if err := atomicfile.Write(path, []byte(master.String()), 0o644); err != nil {
		return "", err
	}
	return path, nil
}

func (h HLS) rendition(ctx context.Context, src, dir string, r Rendition) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if h.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.Timeout)
		defer cancel()
	}
	seg := max(h.SegmentSeconds, 1)
	cmd := exec.CommandContext(ctx, h.FFmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
		"-i", src,
		"-map", "0:v:0", "-map", "0:a:0?",
		"-vf", fmt.Sprintf("scale=-2:%d", r.Height),
		"-c:v", "libx264", "-preset", "veryfast", "-b:v", fmt.Sprintf("%dk", r.VideoKbps),
		"-g", fmt.Sprint(seg*25), "-sc_threshold", "0",
		"-c:a", "aac", "-b:a", "128k",
		"-f", "hls", "-hls_time", fmt.Sprint(seg), "-hls_playlist_type", "vod",
		"-hls_segment_filename", filepath.Join(dir, "seg_%03d.ts"),
		filepath.Join(dir, "index.m3u8"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := tracing.Run(ctx, "ffmpeg "+r.Name, cmd)
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		return fmt.Errorf("ffmpeg took longer than %v: killed", h.Timeout)
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		return fmt.Errorf("ffmpeg: %v: %s", err, tail(stderr.String(), 15))
	}
	return nil
}

// tail returns the last lines of s.
func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
