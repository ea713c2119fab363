package testproc

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// SampleVideo makes seconds of synthetic video (a test pattern, 640x360 at 25
// fps, with a 440 Hz tone) with Debian's ffmpeg, for tests of the media pipeline.
func SampleVideo(t testing.TB, seconds int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sample.mp4")
	if err := WriteSampleVideo(Binary(t, "ffmpeg", "ffmpeg"), path, seconds); err != nil {
		t.Fatal(err)
	}
	return path
}

// WriteSampleVideo writes SampleVideo's clip to path with the given ffmpeg.
func WriteSampleVideo(ffmpeg, path string, seconds int) error {
	out, err := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc=size=640x360:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", strconv.Itoa(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("making a sample video: %v\n%s", err, out)
	}
	return nil
}
