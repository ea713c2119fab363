// Package frames samples a video's frames with ffmpeg: a few per second, scaled
// down to a small fixed size, as raw RGB: enough to measure, cheap to decode.
package frames

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/monoreel/monoreel/libs/tracing"
	"github.com/monoreel/monoreel/services/aitag/internal/signals"
)

// Options sets the sampling.
type Options struct {
	FFmpeg        string
	FPS           float64 // frames per second of video (2)
	Width, Height int     // of each frame (64 x 36)
	MaxFrames     int     // stop after this many (600: five minutes at 2 fps)
}

// Sample decodes src. ctx bounds ffmpeg: when it ends, ffmpeg is killed.
func Sample(ctx context.Context, src string, o Options) ([]signals.Frame, error) {
	if o.FPS <= 0 {
		o.FPS = 2
	}
	if o.Width <= 0 || o.Height <= 0 {
		o.Width, o.Height = 64, 36
	}
	if o.MaxFrames <= 0 {
		o.MaxFrames = 600
	}
	cmd := exec.CommandContext(ctx, o.FFmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
		"-i", src, "-an",
		"-vf", fmt.Sprintf("fps=%g,scale=%d:%d", o.FPS, o.Width, o.Height),
		"-frames:v", fmt.Sprint(o.MaxFrames),
		"-f", "rawvideo", "-pix_fmt", "rgb24", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	end := tracing.Process(ctx, "ffmpeg frames", cmd)
	if err := cmd.Start(); err != nil {
		end(err)
		return nil, fmt.Errorf("starting ffmpeg: %w", err)
	}
	size := o.Width * o.Height * 3
	r := bufio.NewReaderSize(stdout, size)
	var frames []signals.Frame
	for {
		buf := make([]byte, size)
		_, err := io.ReadFull(r, buf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			cmd.Process.Kill()
			end(cmd.Wait())
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("reading frame %d: %w", len(frames)+1, err)
		}
		frames = append(frames, signals.Frame{Width: o.Width, Height: o.Height, RGB: buf})
	}
	err = cmd.Wait()
	end(err)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("ffmpeg: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	if len(frames) == 0 {
		return nil, errors.New("ffmpeg decoded no frame")
	}
	return frames, nil
}
