package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/monoreel/monoreel/libs/breaker"
	"github.com/monoreel/monoreel/libs/coloring"
	"github.com/monoreel/monoreel/libs/config"
	"github.com/monoreel/monoreel/libs/discovery"
	"github.com/monoreel/monoreel/libs/grpcerr"
	"github.com/monoreel/monoreel/libs/tracing"
)

// run is one workflow being run by this instance.
type run struct {
	e *Engine
	// resumed is true for a workflow this instance took over: its Publish call
	// is not its parent any more (its trace may have ended), only linked.
	resumed bool

	mu sync.Mutex // guards w and held: the stages' goroutine and the lease renewal both save
	w  *Workflow
	// held is the end of the lease the store last accepted from this run.
	held time.Time
	// cutOff is set when the run stopped because it could not renew its
	// lease: it writes nothing more, as another instance may own it.
	cutOff atomic.Bool
	// saving makes a save one step, from the copy to the new revision: two
	// saves of this run must not race each other into a revision conflict.
	saving sync.Mutex
}

func (e *Engine) newRun(w *Workflow) *run {
	return &run{e: e, w: w.clone()}
}

func (r *run) snapshot() *Workflow {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.w.clone()
}

// update changes the workflow and saves it with a renewed lease.
func (r *run) update(ctx context.Context, change func(w *Workflow)) error {
	r.mu.Lock()
	change(r.w)
	r.mu.Unlock()
	return r.save(ctx)
}

// save writes the workflow, owned by this instance for another lease.
func (r *run) save(ctx context.Context) error {
	return r.saveLease(ctx, r.e.opts.Now().Add(r.e.opts.Lease))
}

func (r *run) saveLease(ctx context.Context, until time.Time) error {
	r.saving.Lock()
	defer r.saving.Unlock()
	r.mu.Lock()
	r.w.Owner, r.w.LeaseUntil = r.e.opts.Instance, until
	data, err := json.Marshal(r.w)
	snapshot := r.w.clone()
	r.mu.Unlock()
	if err != nil {
		return err
	}
	rev, err := r.e.opts.Store.CompareAndPut(ctx, r.e.key(snapshot.Shadow, snapshot.VideoID), data, snapshot.rev)
	if errors.Is(err, config.ErrConflict) {
		return fmt.Errorf("%w: video %d's workflow was written by another instance since this one read it", ErrLost, snapshot.VideoID)
	}
	if err != nil {
		return fmt.Errorf("saving workflow of video %d: %w", snapshot.VideoID, err)
	}
	r.mu.Lock()
	r.w.rev, r.held = rev, until
	r.mu.Unlock()
	if r.e.changed != nil {
		r.e.changed(snapshot)
	}
	if r.e.opts.OnSave != nil {
		r.e.opts.OnSave(snapshot)
	}
	return nil
}

func tracer() trace.Tracer {
	return otel.Tracer("github.com/monoreel/monoreel/services/orchestrator/internal/workflow")
}

// startSpan starts the span of this run of the workflow: a child of the Publish
// call's span, or, for a workflow taken over from another instance, the root of
// a trace of its own with a link to the Publish call's.
func (r *run) startSpan(ctx context.Context) (context.Context, trace.Span) {
	attrs := trace.WithAttributes(attribute.Int64("video.id", r.w.VideoID), attribute.String("workflow.instance", r.e.opts.Instance))
	if r.resumed {
		return tracer().Start(ctx, "workflow (resumed)", attrs, trace.WithNewRoot(), trace.WithLinks(tracing.Link(r.w.Trace)))
	}
	return tracer().Start(tracing.Continue(ctx, r.w.Trace), "workflow", attrs)
}

func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(otelcodes.Error, err.Error())
	}
	span.End()
}

// execute runs the stages not yet done, in order, renewing the lease meanwhile.
// When the engine stops, it releases the lease and leaves the workflow running
// for the next instance.
func (r *run) execute() {
	ctx, cancel := context.WithCancel(r.e.ctx)
	defer cancel()
	if r.w.Region != "" || r.w.Shadow {
		ctx = coloring.NewContext(ctx, coloring.Color{Region: r.w.Region, Shadow: r.w.Shadow})
	}
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		r.renew(ctx, cancel)
	}()
	defer func() { cancel(); <-renewed }()
	ctx, span := r.startSpan(ctx)
	defer span.End()

	log := r.e.opts.Log.With("video_id", r.w.VideoID)
	for i, name := range Stages {
		if r.w.Stages[i].State == Done {
			continue
		}
		stageCtx, stageSpan := tracer().Start(ctx, "stage "+name, trace.WithAttributes(attribute.String("workflow.stage", name)))
		err := r.update(ctx, func(w *Workflow) {
			s := &w.Stages[i]
			s.State, s.Err, s.Finished = Running, "", time.Time{}
			if s.Started.IsZero() {
				s.Started = r.e.opts.Now()
			}
		})
		if err == nil {
			err = r.stage(stageCtx, i, name)
		}
		endSpan(stageSpan, err)
		if errors.Is(err, ErrLost) {
			log.Warn("another instance has the workflow; stopping", "stage", name, "err", err)
			return
		}
		if r.cutOff.Load() {
			log.Warn("stopped, cut off from the store: the workflow is left to the instance that takes it over", "stage", name, "err", err)
			return
		}
		if r.e.ctx.Err() != nil || (ctx.Err() != nil && err != nil && !r.stillMine()) {
			r.release(log)
			return
		}
		now := r.e.opts.Now()
		if err != nil {
			log.WarnContext(stageCtx, "workflow failed", "stage", name, "err", err)
			r.e.metrics.stageEnded(name, Failed, now.Sub(r.w.Stages[i].Started))
			r.finish(log, func(w *Workflow) {
				w.Stages[i].State, w.Stages[i].Err, w.Stages[i].Finished = Failed, err.Error(), now
				w.State, w.Err, w.Finished = Failed, name+": "+err.Error(), now
			})
			return
		}
		if err := r.update(ctx, func(w *Workflow) { w.Stages[i].State, w.Stages[i].Finished = Done, now }); err != nil {
			log.Error("saving a finished stage; the next instance redoes it", "stage", name, "err", err)
			return
		}
		r.e.metrics.stageEnded(name, Done, now.Sub(r.w.Stages[i].Started))
	}
	r.finish(log, func(w *Workflow) { w.State, w.Finished = Done, r.e.opts.Now() })
	log.Info("workflow done")
}

// finish saves a workflow's end, holding on through a short store outage (the
// run's own context may be what ended it).
func (r *run) finish(log *slog.Logger, change func(w *Workflow)) {
	ctx, cancel := context.WithTimeout(context.Background(), r.e.opts.CallTimeout)
	defer cancel()
	if err := r.update(ctx, change); err != nil {
		log.Error("saving the workflow's end; the next instance redoes its last stage", "err", err)
	}
}

// release hands the workflow back, still running, to whichever instance resumes
// it first.
func (r *run) release(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), r.e.opts.CallTimeout)
	defer cancel()
	if r.stillMine() {
		r.saveLease(ctx, time.Time{})
		log.Info("released the workflow for another instance")
	}
}

// renew saves the lease every Lease/3 until ctx ends, and cancels the run when
// another instance has taken the workflow over (this one was presumed dead),
// or when it could not renew the lease and less than Lease/3 of it is left: cut
// off from the store, it stops before another instance may take it over, so
// two never run it at once.
func (r *run) renew(ctx context.Context, cancel context.CancelFunc) {
	t := time.NewTicker(r.e.opts.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !r.stillMine() {
			r.e.opts.Log.Warn("another instance took the workflow over; stopping", "video_id", r.w.VideoID)
			cancel()
			return
		}
		// Unless renewed, the run stops by deadline: a save stuck on a store
		// that does not answer must not take it past that.
		deadline := r.heldUntil().Add(-r.e.opts.Lease / 3)
		saveCtx, saved := context.WithDeadline(ctx, deadline)
		err := r.save(saveCtx)
		saved()
		switch {
		case errors.Is(err, ErrLost):
			r.e.opts.Log.Warn("another instance took the workflow over; stopping", "video_id", r.w.VideoID, "err", err)
			cancel()
			return
		case err != nil && ctx.Err() == nil && !r.e.opts.Now().Before(deadline):
			r.e.opts.Log.Error("cut off from the store with the lease about to end: stopping, for another instance to take the workflow over",
				"video_id", r.w.VideoID, "lease_until", r.heldUntil(), "err", err)
			r.cutOff.Store(true)
			cancel()
			return
		case err != nil && ctx.Err() == nil:
			r.e.opts.Log.Warn("renewing a workflow's lease", "video_id", r.w.VideoID, "err", err)
		}
	}
}

func (r *run) heldUntil() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.held
}

// stillMine reports whether the stored workflow is still this instance's (true
// when the store cannot say: better two runs of idempotent stages than none).
func (r *run) stillMine() bool {
	ctx, cancel := context.WithTimeout(context.Background(), r.e.opts.CallTimeout)
	defer cancel()
	stored, err := r.e.Get(ctx, r.w.VideoID)
	return err != nil || stored.Owner == r.e.opts.Instance
}

// call makes one downstream call of a stage through its breaker, with a timeout,
// and retries it with backoff while it fails transiently. A permanent error, the
// last attempt's error, or the end of ctx (the stage's deadline) ends it.
func (r *run) call(ctx context.Context, stage int, fn func(ctx context.Context) error) error {
	name := Stages[stage]
	b := r.e.opts.Breakers[name]
	for attempt := 1; ; attempt++ {
		err := b.Do(ctx, func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, r.e.opts.CallTimeout)
			defer cancel()
			return fn(ctx)
		})
		if err == nil || !transient(err) || attempt == r.e.opts.Attempts {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w; last error: %v", ctx.Err(), err)
		}
		r.update(ctx, func(w *Workflow) { w.Stages[stage].Retries++; w.Stages[stage].Err = err.Error() })
		r.e.metrics.retries.WithLabelValues(name).Inc()
		if serr := sleep(ctx, r.backoff(attempt)); serr != nil {
			return fmt.Errorf("%w while retrying; last error: %v", serr, err)
		}
	}
}

// transient says whether a failed call may succeed if tried again.
func transient(err error) bool {
	switch {
	case errors.Is(err, breaker.ErrOpen):
		return true
	case grpcerr.Reason(err) == discovery.ReasonInstanceGone:
		return false // for good: its job is started again elsewhere
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
		return true
	}
	return false
}

// backoff is the wait before retry n: exponential, capped, with full jitter.
func (r *run) backoff(n int) time.Duration {
	d := r.e.opts.BaseBackoff << min(n-1, 20)
	if d <= 0 || d > r.e.opts.MaxBackoff {
		d = r.e.opts.MaxBackoff
	}
	return rand.N(d) + time.Millisecond
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ErrLost is a run that found another instance had written its workflow: it
// stops, and leaves the workflow to that one.
var ErrLost = errors.New("workflow taken by another instance")
