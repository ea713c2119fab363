package workflow

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/monoreel/monoreel/libs/auth"
	"github.com/monoreel/monoreel/libs/breaker"
	"github.com/monoreel/monoreel/libs/coloring"
	"github.com/monoreel/monoreel/libs/config"
	"github.com/monoreel/monoreel/libs/tracing"
	aitagv1 "github.com/monoreel/monoreel/proto/aitag/v1"
	cdnpushv1 "github.com/monoreel/monoreel/proto/cdnpush/v1"
	transcodev1 "github.com/monoreel/monoreel/proto/transcode/v1"
)

// Clients are the downstream services.
type Clients struct {
	Transcode transcodev1.TranscodeServiceClient
	AITag     aitagv1.AITagServiceClient
	CDNPush   cdnpushv1.CDNPushServiceClient
}

// Options configures an Engine. Zero values take the defaults in brackets.
type Options struct {
	Store    config.Store // where workflows live
	Prefix   string       // their keys' prefix ("state/orchestrator/workflows/")
	Instance string       // this instance's name, unique among instances sharing Store
	// How long a workflow stays with an instance that stopped renewing its lease
	// (30s); renewed every Lease/3.
	Lease time.Duration
	// Retention is how long a finished (done or failed) workflow is kept after
	// it ended (7 days); Follow removes older ones.
	Retention time.Duration
	// Per stage, the longest it may run (DefaultDeadlines). A stage resumed after a
	// restart gets its whole deadline again.
	Deadlines   map[string]time.Duration
	CallTimeout time.Duration // per downstream call (10s)
	Attempts    int           // tries of a call failing with a transient error (5)
	BaseBackoff time.Duration // mean wait before the first retry (200ms); doubles
	MaxBackoff  time.Duration // cap on a wait (5s)
	Poll        time.Duration // how often running transcode and warm-up jobs are polled (250ms)
	VideosDir   string        // where completed uploads are, for Publish naming no source
	// ShadowVideosDir is VideosDir for shadow traffic (the upload service's
	// -data_dir/shadow/videos).
	ShadowVideosDir string
	Edges           []string // edges to warm; empty: cdnpush's own
	// Breakers guard the downstreams, by stage name (StageTranscode, StageAITag,
	// StageCDNPush); a missing one is made with breaker.DefaultRule(CallTimeout/2)
	// and reports to Registerer.
	Breakers map[string]*breaker.Breaker
	// OnSave, if set, is called after each save of a workflow: a cache of
	// workflows (libs/cache) invalidates it there.
	OnSave func(w *Workflow)
	// Registerer gets the stage, retry and breaker metrics (none if nil).
	Registerer prometheus.Registerer
	Log        *slog.Logger
	Now        func() time.Time
}

// DefaultDeadlines are the stages' deadlines unless Options say otherwise.
var DefaultDeadlines = map[string]time.Duration{
	StageUpload:    10 * time.Second,
	StageTranscode: 30 * time.Minute,
	StageAITag:     5 * time.Minute,
	StageCDNPush:   5 * time.Minute,
}

// Errors of Publish and Get, wrapped with details.
var (
	ErrInvalid  = errors.New("invalid request")
	ErrNotFound = errors.New("no such workflow")
	// ErrNotYours is a user reaching for another user's video or workflow.
	ErrNotYours = errors.New("not yours")
)

// Engine runs workflows. Publish, Get and Resume are safe for concurrent use.
type Engine struct {
	opts    Options
	clients Clients
	metrics *metrics

	ctx    context.Context // parent of every run; cancelled by Stop
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex      // guards running; serialises Publish's read-then-write
	running map[int64]*run  // workflows this instance runs
	changed func(*Workflow) // test hook: called after each save
}

// New returns an Engine. Call Resume to take over workflows left running, and Stop
// when done.
func New(clients Clients, opts Options) (*Engine, error) {
	if opts.Store == nil || opts.Instance == "" {
		return nil, fmt.Errorf("workflow: want a store and an instance name")
	}
	opts.Prefix = cmp.Or(opts.Prefix, "state/orchestrator/workflows/")
	opts.Lease = cmp.Or(opts.Lease, 30*time.Second)
	opts.Retention = cmp.Or(opts.Retention, 7*24*time.Hour)
	opts.CallTimeout = cmp.Or(opts.CallTimeout, 10*time.Second)
	opts.Attempts = cmp.Or(opts.Attempts, 5)
	opts.BaseBackoff = cmp.Or(opts.BaseBackoff, 200*time.Millisecond)
	opts.MaxBackoff = cmp.Or(opts.MaxBackoff, 5*time.Second)
	opts.Poll = cmp.Or(opts.Poll, 250*time.Millisecond)
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	deadlines := map[string]time.Duration{}
	for name, d := range DefaultDeadlines {
		deadlines[name] = d
	}
	for name, d := range opts.Deadlines {
		deadlines[name] = d
	}
	opts.Deadlines = deadlines
	m := newMetrics(opts.Registerer)
	breakers := map[string]*breaker.Breaker{}
	for _, name := range Stages[1:] {
		b := opts.Breakers[name]
		if b == nil {
			var err error
			if b, err = breaker.New(name, breaker.DefaultRule(opts.CallTimeout/2), m.breakers.Option()); err != nil {
				return nil, err
			}
		}
		breakers[name] = b
	}
	opts.Breakers = breakers
	ctx, cancel := context.WithCancel(context.Background())
	return &Engine{opts: opts, clients: clients, metrics: m, ctx: ctx, cancel: cancel, running: map[int64]*run{}}, nil
}

// key is where a video's workflow is stored: shadow traffic's apart, under
// <prefix>shadow/, so a shadow publish never touches the production workflow
// of the same video (and the config center lets shadow traffic write there only).
func (e *Engine) key(shadow bool, videoID int64) string {
	if shadow {
		return e.opts.Prefix + "shadow/" + strconv.FormatInt(videoID, 10)
	}
	return e.opts.Prefix + strconv.FormatInt(videoID, 10)
}

// Breakers returns the downstreams' breakers, by stage name.
func (e *Engine) Breakers() map[string]*breaker.Breaker { return e.opts.Breakers }

// Publish starts the workflow of a video and returns it. A video whose workflow
// exists gets that one back (existing is true) and nothing new starts, unless it
// failed: then it starts again from the stage that failed. An empty source means
// the completed upload in Options.VideosDir. The workflow carries
// ctx's colour to every downstream call.
func (e *Engine) Publish(ctx context.Context, videoID int64, source, title, description string) (w *Workflow, existing bool, err error) {
	if videoID <= 0 {
		return nil, false, fmt.Errorf("%w: video id %d: want a positive id", ErrInvalid, videoID)
	}
	caller := auth.FromContext(ctx)
	if source != "" && isUser(caller) {
		return nil, false, fmt.Errorf("%w: only operators name a source file; %s publishes their own uploads", ErrNotYours, caller)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	w, err = e.Get(ctx, videoID)
	if err == nil {
		if err := MayRead(caller, w); err != nil {
			return nil, false, err
		}
	}
	switch {
	case err == nil && w.State != Failed:
		return w, true, nil
	case err == nil:
		existing = true
		w.State, w.Err, w.Finished = Running, "", time.Time{}
		w.Trace = tracing.Parent(ctx)
	case errors.Is(err, ErrNotFound) && source == "" && e.videosDir(ctx) == "":
		return nil, false, fmt.Errorf("%w: no source, and the orchestrator has no -videos_dir to find video %d in", ErrInvalid, videoID)
	case errors.Is(err, ErrNotFound):
		var owner string
		if source == "" {
			source = filepath.Join(e.videosDir(ctx), strconv.FormatInt(videoID, 10))
			// The upload service writes the uploader's id next to the video.
			data, err := os.ReadFile(source + ".owner")
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, false, err
			}
			owner = string(data)
		}
		if isUser(caller) && owner != caller.Name {
			return nil, false, fmt.Errorf("%w: video %d was not uploaded by %s", ErrNotYours, videoID, caller)
		}
		w = newWorkflow(videoID, source, title, description, e.opts.Now())
		w.Uploader = owner
		w.Trace = tracing.Parent(ctx)
		if c, ok := coloring.FromContext(ctx); ok {
			w.Region, w.Shadow = c.Region, c.Shadow
		}
	default:
		return nil, false, err
	}
	r := e.newRun(w)
	if err := r.save(ctx); err != nil {
		return nil, false, err
	}
	e.startLocked(r)
	return r.snapshot(), existing, nil
}

// isUser is true for a caller limited to their own videos: a user who is not
// an operator.
func isUser(caller auth.Identity) bool { return caller.Kind == auth.User && !caller.Admin }

// MayRead returns an error wrapping ErrNotYours unless caller may see w: its
// owner, an operator or a service.
func MayRead(caller auth.Identity, w *Workflow) error {
	if isUser(caller) && w.Uploader != caller.Name {
		return fmt.Errorf("%w: the workflow of video %d is not %s's", ErrNotYours, w.VideoID, caller)
	}
	return nil
}

// videosDir is where the completed uploads of ctx's traffic are: shadow
// traffic's videos are the upload service's shadow ones.
func (e *Engine) videosDir(ctx context.Context) string {
	return coloring.ForTraffic(ctx, e.opts.VideosDir, e.opts.ShadowVideosDir)
}

// Get returns a video's workflow as stored (shadow traffic's, for a shadow
// call), or an error wrapping ErrNotFound.
func (e *Engine) Get(ctx context.Context, videoID int64) (*Workflow, error) {
	kv, err := e.opts.Store.Get(ctx, e.key(coloring.IsShadow(ctx), videoID))
	if errors.Is(err, config.ErrNotFound) {
		return nil, fmt.Errorf("%w for video %d", ErrNotFound, videoID)
	}
	if err != nil {
		return nil, err
	}
	return decode(kv)
}

// Resume takes over every running workflow whose lease has run out, or that
// this instance owned before a restart, and returns how many it took. Call it at
// start and then now and again (Follow does).
func (e *Engine) Resume(ctx context.Context) (int, error) {
	kvs, _, err := e.opts.Store.List(ctx, e.opts.Prefix)
	if err != nil {
		return 0, fmt.Errorf("listing workflows: %w", err)
	}
	taken := 0
	for _, kv := range kvs {
		w, err := decode(kv)
		if err != nil {
			e.opts.Log.Error("skipping a stored workflow", "key", kv.Key, "err", err)
			continue
		}
		if w.State != Running || !(w.Owner == e.opts.Instance || e.opts.Now().After(w.LeaseUntil)) {
			continue
		}
		e.mu.Lock()
		if _, mine := e.running[w.VideoID]; !mine {
			if err := e.claimLocked(ctx, w); err != nil {
				e.opts.Log.Warn("did not take over a workflow", "video_id", w.VideoID, "err", err)
			} else {
				taken++
			}
		}
		e.mu.Unlock()
	}
	return taken, nil
}

// claimLocked takes w's lease and starts it, unless another instance took it
// first: the claim is written only if the workflow is still at the revision w
// was read at (config.Store.CompareAndPut), so of instances racing for it
// exactly one wins.
func (e *Engine) claimLocked(ctx context.Context, w *Workflow) error {
	previous := w.Owner
	r := e.newRun(w)
	r.resumed = true
	if err := r.save(ctx); err != nil {
		return err
	}
	e.opts.Log.Info("took over a workflow", "video_id", w.VideoID, "from", previous)
	e.startLocked(r)
	return nil
}

// Prune removes the workflows that ended more than Options.Retention ago, and
// returns how many.
func (e *Engine) Prune(ctx context.Context) (int, error) {
	kvs, _, err := e.opts.Store.List(ctx, e.opts.Prefix)
	if err != nil {
		return 0, fmt.Errorf("listing workflows: %w", err)
	}
	cutoff := e.opts.Now().Add(-e.opts.Retention)
	removed := 0
	for _, kv := range kvs {
		w, err := decode(kv)
		if err != nil || w.State == Running || w.Finished.IsZero() || !w.Finished.Before(cutoff) {
			continue
		}
		if _, err := e.opts.Store.Delete(ctx, kv.Key); err != nil && !errors.Is(err, config.ErrNotFound) {
			return removed, fmt.Errorf("removing %s: %w", kv.Key, err)
		}
		removed++
	}
	return removed, nil
}

// Follow resumes orphaned workflows every Lease/2 until ctx ends.
func (e *Engine) Follow(ctx context.Context) {
	t := time.NewTicker(e.opts.Lease / 2)
	defer t.Stop()
	for {
		if _, err := e.Resume(ctx); err != nil && ctx.Err() == nil {
			e.opts.Log.Warn("looking for workflows to take over", "err", err)
		}
		if _, err := e.Prune(ctx); err != nil && ctx.Err() == nil {
			e.opts.Log.Warn("removing workflows past their retention", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Stop stops running workflows without failing them: each releases its lease,
// so an instance's Resume takes it over at once.
func (e *Engine) Stop() {
	e.cancel()
	e.wg.Wait()
}

func (e *Engine) startLocked(r *run) {
	e.running[r.w.VideoID] = r
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		r.execute()
		e.mu.Lock()
		delete(e.running, r.w.VideoID)
		e.mu.Unlock()
	}()
}
