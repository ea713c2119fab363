package jobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/monoreel/monoreel/libs/testproc"
)

var ladder = []Rendition{{Name: "360p", Height: 360, VideoKbps: 600}, {Name: "240p", Height: 240, VideoKbps: 300}}

func wait(t *testing.T, m *Manager, id string) Job {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		j, err := m.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State.Final() {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job still %v after 60s", j.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTranscodesToHLS(t *testing.T) {
	ffmpeg := testproc.Binary(t, "ffmpeg", "ffmpeg")
	out := t.TempDir()
	m := New(HLS{FFmpeg: ffmpeg, Timeout: time.Minute, SegmentSeconds: 1}, out, 1, 4)
	defer m.Stop()
	j, err := m.submit("", "", 42, testproc.SampleVideo(t, 3), ladder)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != Queued {
		t.Errorf("new job is %v", j.State)
	}
	done := wait(t, m, j.ID)
	if done.State != Done || done.Err != "" || done.Started.IsZero() || done.Finished.Before(done.Started) {
		t.Fatalf("job %+v", done)
	}
	master, err := os.ReadFile(done.Master)
	if err != nil || !strings.Contains(string(master), "360p/index.m3u8") || !strings.Contains(string(master), "240p/index.m3u8") {
		t.Fatalf("master playlist: %s, %v", master, err)
	}
	wantMaster := fmt.Sprintf("%d/%s/master.m3u8", j.VideoID, j.ID)
	if !slices.Contains(done.Outputs, wantMaster) || !slices.Contains(done.Outputs, fmt.Sprintf("%d/%s/360p/seg_000.ts", j.VideoID, j.ID)) {
		t.Errorf("outputs %q: want %s and the 360p segments", done.Outputs, wantMaster)
	}
	for _, r := range ladder {
		dir := filepath.Join(filepath.Dir(done.Master), r.Name)
		playlist, _ := os.ReadFile(filepath.Join(dir, "index.m3u8"))
		segments, _ := filepath.Glob(filepath.Join(dir, "seg_*.ts"))
		if !strings.Contains(string(playlist), "#EXT-X-ENDLIST") || len(segments) < 2 {
			t.Errorf("%s: playlist %q, %d segments", r.Name, playlist, len(segments))
		}
	}
}

// TestCancelKillsFFmpeg: a running job's ffmpeg is killed by Cancel; a queued
// job behind it never runs.
func TestCancelKillsFFmpeg(t *testing.T) {
	ffmpeg := testproc.Binary(t, "ffmpeg", "ffmpeg")
	src := testproc.SampleVideo(t, 20)
	m := New(HLS{FFmpeg: ffmpeg, Timeout: time.Minute, SegmentSeconds: 1}, t.TempDir(), 1, 4)
	defer m.Stop()
	big := []Rendition{{Name: "1080p", Height: 1080, VideoKbps: 5000}}
	running, _ := m.submit("", "", 1, src, big)
	queued, _ := m.submit("", "", 2, src, big)
	for j, _ := m.Get(running.ID); j.State != Running; j, _ = m.Get(running.ID) {
		time.Sleep(5 * time.Millisecond)
	}
	if j, _ := m.Cancel(queued.ID); j.State != Cancelled {
		t.Errorf("cancelled queued job is %v", j.State)
	}
	start := time.Now()
	m.Cancel(running.ID)
	if j := wait(t, m, running.ID); j.State != Cancelled {
		t.Errorf("cancelled running job: %+v", j)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("cancel took %v: ffmpeg was not killed", took)
	}
	if j, _ := m.Get(queued.ID); !j.Started.IsZero() {
		t.Error("the cancelled queued job ran")
	}
}

// TestBrokenInputFailsWithFFmpegsWords: a corrupt source fails the job with the
// tail of ffmpeg's output; it never hangs.
func TestBrokenInputFailsWithFFmpegsWords(t *testing.T) {
	ffmpeg := testproc.Binary(t, "ffmpeg", "ffmpeg")
	bad := filepath.Join(t.TempDir(), "bad.mp4")
	os.WriteFile(bad, []byte("this is not a video"), 0o644)
	m := New(HLS{FFmpeg: ffmpeg, Timeout: time.Minute}, t.TempDir(), 2, 4)
	defer m.Stop()
	j, _ := m.submit("", "", 3, bad, ladder)
	j = wait(t, m, j.ID)
	if j.State != Failed || !strings.Contains(j.Err, "rendition 360p: ffmpeg: exit status") || !strings.Contains(j.Err, "Invalid data") {
		t.Errorf("job %+v, want failed with ffmpeg's reason", j)
	}
	missing, _ := m.submit("", "", 4, filepath.Join(t.TempDir(), "nope.mp4"), ladder)
	if j := wait(t, m, missing.ID); j.State != Failed || !strings.Contains(j.Err, "source:") {
		t.Errorf("missing source: %+v", j)
	}

	// Past their retention, finished jobs are forgotten.
	if n := m.Prune(j.Finished); n != 0 {
		t.Errorf("Prune before the jobs finished removed %d", n)
	}
	if n := m.Prune(time.Now().Add(time.Second)); n != 2 || len(m.List()) != 0 {
		t.Errorf("Prune after both finished removed %d, left %v", n, m.List())
	}
	if _, err := m.Get(j.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a pruned job: %v, want ErrNotFound", err)
	}
}

func TestSubmitValidation(t *testing.T) {
	m := New(HLS{FFmpeg: "ffmpeg"}, t.TempDir(), 1, 1)
	defer m.Stop()
	for _, tc := range []struct {
		src    string
		ladder []Rendition
		want   string
	}{
		{"", ladder, "source is empty"},
		{"x", nil, "no renditions"},
		{"x", []Rendition{{Name: "odd", Height: 361, VideoKbps: 1}}, "even height"},
		{"x", []Rendition{{Name: "a", Height: 360, VideoKbps: 1}, {Name: "a", Height: 240, VideoKbps: 1}}, "unique name"},
	} {
		if _, err := m.submit("", "", 1, tc.src, tc.ladder); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Submit(%q, %v) = %v, want %q", tc.src, tc.ladder, err, tc.want)
		}
	}
	if _, err := m.Get("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(nope) = %v", err)
	}
}

// TestSubmitRefusesWhenFullOrStopped: a full queue and a stopping manager refuse
// a job at once, with errors the service marks as worth retrying.
func TestSubmitRefusesWhenFullOrStopped(t *testing.T) {
	m := New(HLS{FFmpeg: "ffmpeg"}, t.TempDir(), 0, 1) // no workers: the queue stays full
	if _, err := m.submit("", "", 1, "x", ladder); err != nil {
		t.Fatal(err)
	}
	if _, err := m.submit("", "", 2, "x", ladder); !errors.Is(err, ErrQueueFull) {
		t.Errorf("Submit to a full queue = %v, want ErrQueueFull", err)
	}
	m.Stop()
	if _, err := m.submit("", "", 3, "x", ladder); !errors.Is(err, ErrShuttingDown) {
		t.Errorf("Submit after Stop = %v, want ErrShuttingDown", err)
	}
}

// blocking is a Transcoder whose jobs run until released (or cancelled).
type blocking struct {
	started chan string
	release chan struct{}
}

func (b *blocking) Transcode(ctx context.Context, j Job, outDir string) (string, error) {
	b.started <- j.ID
	select {
	case <-b.release:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	dir := filepath.Join(outDir, j.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	master := filepath.Join(dir, "master.m3u8")
	return master, os.WriteFile(master, []byte("#EXTM3U\n"), 0o644)
}

// TestJournalResumesJobsAfterARestart: a manager stopped with one job running
// and one waiting, reopened on its journal, reports the done job and runs the
// other two to the end; nothing is forgotten.
func TestJournalResumesJobsAfterARestart(t *testing.T) {
	out, journal := t.TempDir(), filepath.Join(t.TempDir(), "jobs.json")
	b := &blocking{started: make(chan string, 8), release: make(chan struct{})}
	m, err := Open(b, out, journal, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	done, _, _ := m.Submit("", "", 1, "a.mp4", ladder)
	<-b.started
	b.release <- struct{}{}
	wait(t, m, done.ID)
	running, _, _ := m.Submit("", "", 2, "b.mp4", ladder)
	<-b.started
	queued, _, _ := m.Submit("", "", 3, "c.mp4", ladder)
	m.Stop()

	close(b.release)
	again, err := Open(b, out, journal, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Stop()
	if again.Resumed() != 2 {
		t.Errorf("Resumed = %d, want the running and the waiting job", again.Resumed())
	}
	for _, id := range []string{done.ID, running.ID, queued.ID} {
		if j := wait(t, again, id); j.State != Done {
			t.Errorf("job %s after the restart: %+v", id, j)
		}
	}
}

// TestIdempotencyKey: a Submit with the key of a live job returns that job; once
// it failed, the key starts a new one.
func TestIdempotencyKey(t *testing.T) {
	b := &blocking{started: make(chan string, 8), release: make(chan struct{})}
	m := New(b, t.TempDir(), 1, 4)
	defer m.Stop()
	first, existing, err := m.Submit("", "publish-7", 7, "a.mp4", ladder)
	if err != nil || existing {
		t.Fatalf("first Submit: %v, existing %v", err, existing)
	}
	again, existing, err := m.Submit("", "publish-7", 7, "a.mp4", ladder)
	if err != nil || !existing || again.ID != first.ID {
		t.Fatalf("second Submit: %+v, existing %v, %v; want job %s", again, existing, err, first.ID)
	}
	<-b.started
	if _, err := m.Cancel(first.ID); err != nil {
		t.Fatal(err)
	}
	wait(t, m, first.ID)
	third, existing, err := m.Submit("", "publish-7", 7, "a.mp4", ladder)
	if err != nil || existing || third.ID == first.ID {
		t.Errorf("Submit after the keyed job was cancelled: %+v, existing %v, %v; want a new job", third, existing, err)
	}
}

// FuzzOpenJournal: no journal file makes Open panic; a damaged one is an error
// naming the file, never a manager with half the jobs.
func FuzzOpenJournal(f *testing.F) {
	f.Add([]byte(`[{"ID":"a","VideoID":1,"Source":"s","State":3}]`))
	f.Add([]byte(`[{"ID":"a","State":2}]`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		journal := filepath.Join(t.TempDir(), "jobs.json")
		if err := os.WriteFile(journal, data, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := Open(&blocking{started: make(chan string, 1000), release: make(chan struct{})}, t.TempDir(), journal, 0, 1)
		if err != nil {
			if !strings.Contains(err.Error(), journal) {
				t.Fatalf("error %v does not name the journal", err)
			}
			return
		}
		m.Stop()
	})
}
