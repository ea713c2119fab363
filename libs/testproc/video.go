package testproc

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// SampleVideo makes seconds of synthetic video (a test pattern, 640x360 at 25
// fps, with a 440 Hz tone) with Debian's ffmpeg, for tests of the media pipeline.
func SampleVideo(t testing.TB, seconds int) string {
	t.Helper()
	ffmpeg := Binary(t, "ffmpeg", "ffmpeg")
	path := filepath.Join(t.TempDir(), "sample.mp4")
	out, err := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc=size=640x360:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", strconv.Itoa(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", path).CombinedOutput()
	if err != nil {
		t.Fatalf("making a sample video: %v\n%s", err, out)
	}
	return path
}
