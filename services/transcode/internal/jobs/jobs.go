// Package jobs runs transcoding jobs: a queue, a bounded pool of workers, and
// each job's state machine (queued -> running -> done, failed or cancelled).
// A Transcoder does the work; cancelling a job cancels its context, which kills
// the ffmpeg subprocess (see HLS).
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/monoreel/monoreel/libs/atomicfile"
	"github.com/monoreel/monoreel/libs/tracing"
)

// State is where a job stands.
type State int

// Job states.
const (
	Queued State = iota + 1
	Running
	Done
	Failed
	Cancelled
)

func (s State) String() string {
	return [...]string{"", "queued", "running", "done", "failed", "cancelled"}[s]
}

// Final reports whether the state is an outcome.
func (s State) Final() bool { return s >= Done }

// Rendition is one rung of the ladder.
type Rendition struct {
	Name      string
	Height    int
	VideoKbps int
}

// Job is a snapshot of a job.
type Job struct {
	ID         string
	VideoID    int64
	Source     string
	Renditions []Rendition
	State      State
	Err        string
	Master     string   // the master playlist, once done
	Outputs    []string // once done: every file written, relative to the output root
	Created    time.Time
	Started    time.Time
	Finished   time.Time
	// Trace is the W3C traceparent of the call that submitted the job: its
	// run and ffmpeg's are spans of that trace.
	Trace string
	// Key is the submitter's idempotency key ("" for none).
	Key string
}

// Transcoder turns a job's source into its renditions under outDir and returns
// the master playlist's path. It must return when ctx ends.
type Transcoder interface {
	Transcode(ctx context.Context, j Job, outDir string) (string, error)
}

// Manager's errors wrap one of these. ErrQueueFull and ErrShuttingDown are
// transient: the same job may be taken later, or by another instance.
var (
	ErrNotFound     = errors.New("no such job")
	ErrInvalid      = errors.New("invalid job")
	ErrQueueFull    = errors.New("the queue is full")
	ErrShuttingDown = errors.New("shutting down")
)

// Manager queues jobs and runs them on Workers goroutines. With a journal it
// keeps every job in a file, so a restarted manager never forgets one: it
// reports the finished and runs again those that were waiting or running.
type Manager struct {
	t       Transcoder
	outDir  string
	journal string // "" for none
	queue   chan string
	resumed int

	mu      sync.Mutex
	jobs    map[string]*job
	stopped bool
	wg      sync.WaitGroup
}

type job struct {
	Job
	cancel context.CancelFunc // set while running
}

// New starts a Manager with workers goroutines writing under outDir, keeping
// its jobs in memory only.
func New(t Transcoder, outDir string, workers, queueDepth int) *Manager {
	m, _ := Open(t, outDir, "", workers, queueDepth)
	return m
}

// Open is New with the jobs kept in the file journal (a JSON list, replaced
// whole at every change), loaded first: jobs that were waiting or running
// when the last manager stopped or died are queued again (a rendition half
// written is written again), the others are reported as they ended.
func Open(t Transcoder, outDir, journal string, workers, queueDepth int) (*Manager, error) {
	m := &Manager{t: t, outDir: outDir, journal: journal, jobs: map[string]*job{}}
	var pending []string
	if journal != "" {
		data, err := os.ReadFile(journal)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, err
		default:
			var saved []Job
			if err := json.Unmarshal(data, &saved); err != nil {
				return nil, fmt.Errorf("the jobs journal %s: %w", journal, err)
			}
			for _, j := range saved {
				if j.ID == "" || j.State < Queued || j.State > Cancelled || m.jobs[j.ID] != nil {
					return nil, fmt.Errorf("the jobs journal %s: job %q with state %d: a job needs a unique id and a known state", journal, j.ID, j.State)
				}
				if !j.State.Final() {
					j.State, j.Started = Queued, time.Time{}
					pending = append(pending, j.ID)
				}
				m.jobs[j.ID] = &job{Job: j}
			}
		}
	}
	m.resumed = len(pending)
	m.queue = make(chan string, max(queueDepth, len(pending)))
	for _, id := range pending {
		m.queue <- id
	}
	for range workers {
		m.wg.Add(1)
		go m.work()
	}
	return m, nil
}

// Resumed is how many jobs Open queued again.
func (m *Manager) Resumed() int { return m.resumed }

// persistLocked writes every job to the journal; m.mu is held. A stopping
// manager writes nothing more: the journal keeps its jobs as waiting or
// running, for the next manager to resume.
func (m *Manager) persistLocked() error {
	if m.journal == "" || m.stopped {
		return nil
	}
	all := make([]Job, 0, len(m.jobs))
	for _, j := range m.jobs {
		all = append(all, j.Job)
	}
	data, err := json.Marshal(all)
	if err != nil {
		return err
	}
	return atomicfile.Write(m.journal, data, 0o644)
}

// Submit queues a job, run as part of the trace of traceparent (libs/tracing's
// Parent of the submitting call; "" for none); a full queue is an error, never a
// wait. A key naming a job not failed or cancelled returns that job, and true.
func (m *Manager) Submit(traceparent, key string, videoID int64, source string, ladder []Rendition) (Job, bool, error) {
	if key != "" {
		m.mu.Lock()
		for _, j := range m.jobs {
			if j.Key == key && j.State != Failed && j.State != Cancelled {
				m.mu.Unlock()
				return j.Job, true, nil
			}
		}
		m.mu.Unlock()
	}
	j, err := m.submit(traceparent, key, videoID, source, ladder)
	return j, false, err
}

func (m *Manager) submit(traceparent, key string, videoID int64, source string, ladder []Rendition) (Job, error) {
	if source == "" {
		return Job{}, fmt.Errorf("%w: source is empty", ErrInvalid)
	}
	if len(ladder) == 0 {
		return Job{}, fmt.Errorf("%w: no renditions", ErrInvalid)
	}
	seen := map[string]bool{}
	for _, r := range ladder {
		if r.Name == "" || seen[r.Name] || r.Height < 16 || r.Height%2 != 0 || r.VideoKbps <= 0 {
			return Job{}, fmt.Errorf("%w: rendition %+v: want a unique name, an even height >= 16 and a positive bitrate", ErrInvalid, r)
		}
		seen[r.Name] = true
	}
	var b [8]byte
	rand.Read(b[:])
	j := &job{Job: Job{ID: hex.EncodeToString(b[:]), VideoID: videoID, Source: source, Renditions: ladder, State: Queued, Created: time.Now(), Trace: traceparent, Key: key}}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return Job{}, ErrShuttingDown
	}
	if len(m.queue) == cap(m.queue) {
		return Job{}, fmt.Errorf("%w (%d jobs waiting)", ErrQueueFull, cap(m.queue))
	}
	m.jobs[j.ID] = j
	if err := m.persistLocked(); err != nil {
		delete(m.jobs, j.ID)
		return Job{}, fmt.Errorf("recording the job: %w", err)
	}
	m.queue <- j.ID // room checked above; senders hold m.mu
	return j.Job, nil
}

// Get returns a job.
func (m *Manager) Get(id string) (Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[id]
	if !ok {
		return Job{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return j.Job, nil
}

// List returns every job, newest first.
func (m *Manager) List() []Job {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Job, 0, len(m.jobs))
	for _, j := range m.jobs {
		out = append(out, j.Job)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Created.After(out[b].Created) })
	return out
}

// Prune forgets the jobs that finished before cutoff (their outputs stay), and
// returns how many: a job is kept for a retention period, not for ever.
func (m *Manager) Prune(cutoff time.Time) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for id, j := range m.jobs {
		if j.State.Final() && j.Finished.Before(cutoff) {
			delete(m.jobs, id)
			n++
		}
	}
	if n > 0 {
		m.persistLocked()
	}
	return n
}

// Cancel stops a job. Cancelling a finished job changes nothing.
func (m *Manager) Cancel(id string) (Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[id]
	if !ok {
		return Job{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	switch j.State {
	case Queued:
		j.finish(Cancelled, "cancelled before it ran")
		m.persistLocked()
	case Running:
		j.cancel() // the worker records the outcome
	}
	return j.Job, nil
}

func (j *job) finish(s State, err string) {
	j.State, j.Err, j.Finished = s, err, time.Now()
}

func (m *Manager) work() {
	defer m.wg.Done()
	for id := range m.queue {
		m.mu.Lock()
		j := m.jobs[id]
		if j.State != Queued { // cancelled while waiting
			m.mu.Unlock()
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		j.State, j.Started, j.cancel = Running, time.Now(), cancel
		snapshot := j.Job
		m.persistLocked()
		m.mu.Unlock()

		ctx, span := otel.Tracer("github.com/monoreel/monoreel/services/transcode/internal/jobs").Start(
			tracing.Continue(ctx, snapshot.Trace), "transcode job",
			trace.WithAttributes(attribute.String("transcode.job", snapshot.ID), attribute.Int64("video.id", snapshot.VideoID)))
		master, err := m.t.Transcode(ctx, snapshot, m.outDir)
		if err != nil {
			span.RecordError(err)
			span.SetStatus(otelcodes.Error, err.Error())
		}
		span.End()

		m.mu.Lock()
		switch {
		case ctx.Err() != nil:
			j.finish(Cancelled, "cancelled while running")
		case err != nil:
			j.finish(Failed, err.Error())
		default:
			j.Master = master
			if j.Outputs, err = outputs(m.outDir, filepath.Dir(master)); err != nil {
				j.finish(Failed, err.Error())
				break
			}
			j.finish(Done, "")
		}
		j.cancel = nil
		m.persistLocked()
		m.mu.Unlock()
		cancel()
	}
}

// Stop cancels every job and waits for the workers.
func (m *Manager) Stop() {
	m.mu.Lock()
	if !m.stopped {
		m.stopped = true
		close(m.queue)
		for _, j := range m.jobs {
			switch j.State {
			case Queued:
				j.finish(Cancelled, "the service stopped")
			case Running:
				j.cancel()
			}
		}
	}
	m.mu.Unlock()
	m.wg.Wait()
}

// outputs lists the files under dir, relative to root and slash-separated: the
// keys a CDN serves them under when root is its origin.
func outputs(root, dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, path)
		files = append(files, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing outputs: %w", err)
	}
	return files, nil
}
