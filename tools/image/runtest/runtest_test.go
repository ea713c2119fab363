// Package runtest runs what the images hold. The amd64 image root of transcode
// and aitag, unpacked (layers applied in order), with bwrap as the container
// runtime: ffmpeg -version, a real encode, and each service serving real calls
// over loopback with mutual TLS. The arm64 half of every image, under qemu's
// user-mode emulator: each entrypoint starts, and the FFmpeg base's ffmpeg
// encodes.
package runtest

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/monoreel/monoreel/libs/testproc"
	aitagv1 "github.com/monoreel/monoreel/proto/aitag/v1"
	commonv1 "github.com/monoreel/monoreel/proto/common/v1"
	transcodev1 "github.com/monoreel/monoreel/proto/transcode/v1"
	"github.com/monoreel/monoreel/tools/image/internal/ociimage"
)

// root is an unpacked image and how to run a command in it.
type root struct {
	dir string
	env []string // the image config's Env
	uid string
}

// unpack writes the linux/amd64 image of the layout in $env to a temporary root.
func unpack(t *testing.T, env string) root {
	t.Helper()
	r, _ := unpackLayout(t, testproc.Runfile(t, env), "amd64")
	return r
}

// unpackLayout writes the linux/<arch> image of the OCI layout at path to a
// temporary root, and returns it with the image's config.
func unpackLayout(t *testing.T, path, arch string) (root, *v1.ConfigFile) {
	t.Helper()
	idx, err := ociimage.ReadLayout(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var img v1.Image
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == arch {
			if img, err = idx.Image(d.Digest); err != nil {
				t.Fatal(err)
			}
		}
	}
	if img == nil {
		t.Fatalf("%s has no linux/%s image", path, arch)
	}
	r := root{dir: filepath.Join(t.TempDir(), "root")}
	if err := ociimage.Unpack(img, r.dir); err != nil {
		t.Fatal(err)
	}
	// Mount points, as a container runtime makes them.
	for _, d := range []string{"dev", "proc"} {
		if err := os.MkdirAll(filepath.Join(r.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	r.env, r.uid = cfg.Config.Env, cfg.Config.User
	return r, cfg
}

// bwrap returns the command line running argv in the root as the image's user:
// its own namespaces but the host's network (the services listen on loopback
// for the test), and binds (host paths, writable) at the same paths inside. The
// root is writable, as a container's is, so bwrap can make their mount points.
func (r root) bwrap(t *testing.T, binds []string, argv ...string) []string {
	t.Helper()
	uid, gid, _ := strings.Cut(r.uid, ":")
	args := []string{testproc.Binary(t, "bwrap", "bubblewrap"),
		"--unshare-all", "--share-net", "--die-with-parent",
		"--bind", r.dir, "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
		"--uid", uid, "--gid", gid, "--clearenv"}
	for _, kv := range r.env {
		k, v, _ := strings.Cut(kv, "=")
		args = append(args, "--setenv", k, v)
	}
	for _, b := range binds {
		args = append(args, "--bind", b, b)
	}
	return append(append(args, "--"), argv...)
}

func (r root) run(t *testing.T, binds []string, argv ...string) string {
	t.Helper()
	cmd := r.bwrap(t, binds, argv...)
	out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s in the image: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// shared is a directory the image's user may write: the services' outputs and
// the sample video.
func shared(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// sample encodes a clip with the image's own ffmpeg: a real encode (H.264 and
// AAC into MP4) inside the image.
func (r root) sample(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "sample.mp4")
	r.run(t, []string{dir}, "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc=size=640x360:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", "3", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", path)
	if info, err := os.Stat(path); err != nil || info.Size() == 0 {
		t.Fatalf("the image's ffmpeg wrote no video: %v", err)
	}
	return path
}

// startService runs the image's /app/<name> in the root through a wrapper
// named like the service (testproc names its certificate after the binary),
// with the test PKI and dir bound inside.
func (r root) startService(t *testing.T, name, dir string, args ...string) *testproc.Service {
	t.Helper()
	pkiDir := string(testproc.TestPKI(t).Dir)
	cmd := r.bwrap(t, []string{dir}, "/app/"+name)
	// The PKI read-only, inserted before "--".
	cmd = append(cmd[:len(cmd)-2], "--ro-bind", pkiDir, pkiDir, "--", "/app/"+name)
	var quoted []string
	for _, a := range cmd {
		quoted = append(quoted, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	wrapper := filepath.Join(t.TempDir(), name)
	script := fmt.Sprintf("#!/bin/sh\nexec %s \"$@\"\n", strings.Join(quoted, " "))
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return testproc.StartService(t, wrapper, args...)
}

func TestFFmpegRunsInTheImage(t *testing.T) {
	r := unpack(t, "TRANSCODE_IMAGE")
	if out := r.run(t, nil, "ffmpeg", "-hide_banner", "-version"); !strings.HasPrefix(out, "ffmpeg version 5.1") {
		t.Errorf("ffmpeg -version in the image: %s", out)
	}
	// An HLS encode, as transcode's ladders are.
	dir := shared(t)
	r.run(t, []string{dir}, "ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-t", "2", "-c:v", "libx264", "-preset", "ultrafast",
		"-f", "hls", "-hls_time", "1", filepath.Join(dir, "index.m3u8"))
	playlist, err := os.ReadFile(filepath.Join(dir, "index.m3u8"))
	if err != nil || !strings.Contains(string(playlist), ".ts") {
		t.Fatalf("the HLS playlist: %v\n%s", err, playlist)
	}
}

func TestTranscodeServesFromTheImage(t *testing.T) {
	r := unpack(t, "TRANSCODE_IMAGE")
	dir := shared(t)
	source := r.sample(t, dir)
	svc := r.startService(t, "transcode", dir, "-out_dir="+filepath.Join(dir, "hls"), "-jobs_file="+filepath.Join(dir, "jobs.json"), "-segment_seconds=1")
	client := transcodev1.NewTranscodeServiceClient(svc.Conn)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sub, err := client.Submit(ctx, &transcodev1.SubmitRequest{
		VideoId: &commonv1.VideoId{Value: 17}, Source: source,
		Renditions: []*transcodev1.Rendition{{Name: "240p", Height: 240, VideoKbps: 400}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := client.Get(ctx, &transcodev1.GetRequest{JobId: sub.GetJob().GetId()})
		if err != nil {
			t.Fatal(err)
		}
		job := resp.GetJob()
		if s := job.GetState(); s == transcodev1.JobState_JOB_STATE_DONE {
			break
		} else if s != transcodev1.JobState_JOB_STATE_QUEUED && s != transcodev1.JobState_JOB_STATE_RUNNING {
			t.Fatalf("the job: %v\nservice log:\n%s", job, svc.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var playlists, segments []string
	err = filepath.WalkDir(filepath.Join(dir, "hls"), func(p string, _ fs.DirEntry, err error) error {
		switch filepath.Ext(p) {
		case ".m3u8":
			playlists = append(playlists, p)
		case ".ts":
			segments = append(segments, p)
		}
		return err
	})
	if err != nil || len(playlists) < 2 || len(segments) == 0 { // the master and the rendition's playlists
		t.Errorf("the job wrote %v and %v under %s; want a playlist and segments", playlists, segments, filepath.Join(dir, "hls"))
	}
}

func TestAITagServesFromTheImage(t *testing.T) {
	r := unpack(t, "AITAG_IMAGE")
	dir := shared(t)
	source := r.sample(t, dir)
	svc := r.startService(t, "aitag", dir)
	resp, err := aitagv1.NewAITagServiceClient(svc.Conn).Tag(context.Background(), &aitagv1.TagRequest{
		VideoId: &commonv1.VideoId{Value: 17}, Source: source, Title: "a test pattern",
	})
	if err != nil {
		t.Fatalf("Tag: %v\nservice log:\n%s", err, svc.Log())
	}
	if resp.GetSignals() == nil || len(resp.GetTags()) == 0 {
		t.Errorf("Tag = %v; want signals from ffmpeg's frames and tags", resp)
	}
}

// emulated runs argv in the linux/arm64 root r as run does, through qemu's
// user-mode emulator (static, bound into the root; it does not search PATH, so
// argv[0] is a path in the image): the program's loader and
// libraries are the image's own, absolute symlinks resolve in the image as in a
// container, and no arm64 machine or binfmt_misc is needed.
func (r root) emulated(t *testing.T, binds []string, argv ...string) string {
	t.Helper()
	const emulator = "/.qemu-aarch64-static"
	qemu := testproc.Binary(t, "qemu-aarch64-static", "qemu-user-static")
	cmd := r.bwrap(t, binds, append([]string{emulator}, argv...)...)
	// The emulator read-only, inserted before "--".
	end := slices.Index(cmd, "--")
	cmd = slices.Insert(cmd, end, "--ro-bind", qemu, emulator)
	out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s in the arm64 image, under qemu: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// TestEveryArm64ImageStarts runs the entrypoint of every image's linux/arm64
// half under emulation: the binary that a push to an arm64 cluster would start
// is an arm64 program that runs, and says which service it is.
func TestEveryArm64ImageStarts(t *testing.T) {
	images := strings.Fields(os.Getenv("IMAGES"))
	if len(images) == 0 {
		t.Fatal("IMAGES names no image")
	}
	for _, image := range images {
		r, cfg := unpackLayout(t, testproc.Rlocation(t, image), "arm64")
		if len(cfg.Config.Entrypoint) == 0 {
			t.Fatalf("%s: the arm64 image has no entrypoint", image)
		}
		entry := cfg.Config.Entrypoint[0]
		out := r.emulated(t, nil, entry, "-version")
		if name := filepath.Base(entry); !strings.HasPrefix(out, name+" ") {
			t.Errorf("%s: %s -version under qemu says %q, want %q first", image, entry, out, name)
		}
	}
}

// TestFFmpegRunsInTheArm64Image: the arm64 Debian closure of ffmpeg is whole
// (every library it links is in the image, for arm64) and encodes.
func TestFFmpegRunsInTheArm64Image(t *testing.T) {
	r, _ := unpackLayout(t, testproc.Runfile(t, "TRANSCODE_IMAGE"), "arm64")
	if out := r.emulated(t, nil, "/usr/bin/ffmpeg", "-hide_banner", "-version"); !strings.HasPrefix(out, "ffmpeg version 5.1") {
		t.Errorf("the arm64 ffmpeg -version: %s", out)
	}
	dir := shared(t)
	out := filepath.Join(dir, "clip.mp4")
	r.emulated(t, []string{dir}, "/usr/bin/ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "1", "-c:v", "libx264", "-preset", "ultrafast", out)
	if info, err := os.Stat(out); err != nil || info.Size() == 0 {
		t.Fatalf("the arm64 ffmpeg wrote no video: %v", err)
	}
}
