package workflow

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/monoreel/monoreel/libs/discovery"
	"github.com/monoreel/monoreel/libs/grpcerr"

	aitagv1 "github.com/monoreel/monoreel/proto/aitag/v1"
	cdnpushv1 "github.com/monoreel/monoreel/proto/cdnpush/v1"
	commonv1 "github.com/monoreel/monoreel/proto/common/v1"
	transcodev1 "github.com/monoreel/monoreel/proto/transcode/v1"
)

// stage runs stage i under its deadline.
func (r *run) stage(ctx context.Context, i int, name string) error {
	ctx, cancel := context.WithTimeout(ctx, r.e.opts.Deadlines[name])
	defer cancel()
	var err error
	switch name {
	case StageUpload:
		err = r.upload()
	case StageTranscode:
		err = r.transcode(ctx, i)
	case StageAITag:
		err = r.aitag(ctx, i)
	case StageCDNPush:
		err = r.cdnpush(ctx, i)
	}
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		return fmt.Errorf("stage deadline of %v exceeded: %w", r.e.opts.Deadlines[name], err)
	}
	return err
}

// upload checks that the video's upload is complete: its file is there, whole.
func (r *run) upload() error {
	fi, err := os.Stat(r.w.Source)
	switch {
	case err != nil:
		return fmt.Errorf("upload not complete: %w", err)
	case !fi.Mode().IsRegular() || fi.Size() == 0:
		return fmt.Errorf("upload not complete: %s is not a non-empty file", r.w.Source)
	}
	return nil
}

// transcode submits the transcode job (once: a job already submitted is polled)
// and waits for it.
func (r *run) transcode(ctx context.Context, i int) error {
	return r.submitAndWait(ctx, i, "transcode", "transcode job", &r.w.TranscodeJob, &r.w.TranscodeAt, func(ctx context.Context) (string, error) {
		// The key makes a Submit repeated after a crash (the job's id not yet
		// saved) return the job already running rather than start another.
		resp, err := r.e.clients.Transcode.Submit(ctx, &transcodev1.SubmitRequest{
			VideoId: &commonv1.VideoId{Value: r.w.VideoID}, Source: r.w.Source,
			IdempotencyKey: fmt.Sprintf("publish-%d", r.w.VideoID)})
		return resp.GetJob().GetId(), err
	}, func(ctx context.Context, id string) (bool, error) {
		resp, err := r.e.clients.Transcode.Get(ctx, &transcodev1.GetRequest{JobId: id})
		if err != nil {
			return false, err
		}
		job := resp.GetJob()
		switch job.GetState() {
		case transcodev1.JobState_JOB_STATE_DONE:
			if len(job.GetOutputs()) == 0 {
				return false, &settledError{fmt.Errorf("done but lists no outputs")}
			}
			return true, r.update(ctx, func(w *Workflow) { w.Master, w.Outputs = job.GetMasterPlaylist(), job.GetOutputs() })
		case transcodev1.JobState_JOB_STATE_FAILED, transcodev1.JobState_JOB_STATE_CANCELLED:
			return false, &settledError{fmt.Errorf("%s: %s", stateName(job.GetState().String(), "JOB_STATE_"), job.GetError())}
		}
		return false, nil
	})
}

// settledError is a job that ended badly: the stage fails, no retry.
type settledError struct{ err error }

func (e *settledError) Error() string { return e.err.Error() }

// submitAndWait starts a job on service unless *id names one already, saves
// its id and *at, the service's instance that runs it, and polls it there until
// poll says it is done. A job the downstream no longer knows (it restarted and
// forgot it, or its instance is gone) is started again.
func (r *run) submitAndWait(ctx context.Context, i int, service, what string, id, at *string,
	submit func(ctx context.Context) (string, error), poll func(ctx context.Context, id string) (bool, error)) error {
	for {
		if *id == "" {
			var started, startedAt string
			err := r.call(ctx, i, func(ctx context.Context) (err error) {
				// Each attempt may go to any instance: a new Sticky.
				on := discovery.NewSticky(service, "")
				started, err = submit(discovery.WithSticky(ctx, on))
				startedAt = on.Addr()
				return err
			})
			if err != nil {
				return fmt.Errorf("starting the %s: %w", what, err)
			}
			if err := r.update(ctx, func(*Workflow) { *id, *at = started, startedAt }); err != nil {
				return err
			}
		}
		var done bool
		err := r.call(ctx, i, func(ctx context.Context) (err error) {
			done, err = poll(discovery.WithSticky(ctx, discovery.NewSticky(service, *at)), *id)
			return err
		})
		var settled *settledError
		switch {
		case status.Code(err) == codes.NotFound || grpcerr.Reason(err) == discovery.ReasonInstanceGone:
			r.e.opts.Log.Warn("the downstream lost the job; starting it again", "video_id", r.w.VideoID, "what", what, "job", *id, "at", *at, "error", err)
			if err := r.update(ctx, func(*Workflow) { *id, *at = "", "" }); err != nil {
				return err
			}
			continue
		case errors.As(err, &settled):
			return fmt.Errorf("%s %s %w", what, *id, settled.err)
		case err != nil:
			return fmt.Errorf("%s %s: %w", what, *id, err)
		case done:
			return nil
		}
		if err := sleep(ctx, r.e.opts.Poll); err != nil {
			return fmt.Errorf("waiting for %s %s: %w", what, *id, err)
		}
	}
}

// aitag tags the video from its source and metadata.
func (r *run) aitag(ctx context.Context, i int) error {
	var resp *aitagv1.TagResponse
	err := r.call(ctx, i, func(ctx context.Context) (err error) {
		resp, err = r.e.clients.AITag.Tag(ctx, &aitagv1.TagRequest{
			VideoId: &commonv1.VideoId{Value: r.w.VideoID}, Source: r.w.Source, Title: r.w.Title, Description: r.w.Description})
		return err
	})
	if err != nil {
		return err
	}
	tags := make([]Tag, 0, len(resp.GetTags()))
	for _, t := range resp.GetTags() {
		tags = append(tags, Tag{Name: t.GetName(), Score: t.GetScore()})
	}
	return r.update(ctx, func(w *Workflow) { w.Tags = tags })
}

// cdnpush has every output of the transcode warmed on the edges and waits until
// each is. The idempotency key makes a resumed workflow's Warm find the job it
// started before, as long as cdnpush remembers it.
func (r *run) cdnpush(ctx context.Context, i int) error {
	return r.submitAndWait(ctx, i, "cdnpush", "warm-up job", &r.w.WarmJob, &r.w.WarmAt, func(ctx context.Context) (string, error) {
		resp, err := r.e.clients.CDNPush.Warm(ctx, &cdnpushv1.WarmRequest{
			Keys: r.w.Outputs, Edges: r.e.opts.Edges, IdempotencyKey: "publish-" + strconv.FormatInt(r.w.VideoID, 10) + "-" + r.w.TranscodeJob})
		return resp.GetJobId(), err
	}, func(ctx context.Context, id string) (bool, error) {
		st, err := r.e.clients.CDNPush.Status(ctx, &cdnpushv1.StatusRequest{JobId: id})
		switch {
		case err != nil:
			return false, err
		case st.GetState() == cdnpushv1.JobState_JOB_STATE_FAILED:
			return false, &settledError{fmt.Errorf("failed: %s", failedPairs(st.GetPairs()))}
		}
		return st.GetState() == cdnpushv1.JobState_JOB_STATE_DONE, nil
	})
}

// failedPairs describes the first few pairs that failed.
func failedPairs(pairs []*cdnpushv1.PairStatus) string {
	var failed []string
	for _, p := range pairs {
		if p.GetState() == cdnpushv1.PairState_PAIR_STATE_FAILED {
			failed = append(failed, fmt.Sprintf("%s on %s: %s", p.GetKey(), p.GetEdge(), p.GetError()))
		}
	}
	if len(failed) > 3 {
		failed = append(failed[:3], fmt.Sprintf("and %d more", len(failed)-3))
	}
	return strings.Join(failed, "; ")
}

// stateName turns an enum value's name into a word: JOB_STATE_FAILED -> failed.
func stateName(enum, prefix string) string {
	return strings.ToLower(strings.TrimPrefix(enum, prefix))
}
