// Package workflow is the orchestrator's engine: one workflow per video, whose
// stages (upload, transcode, aitag, cdnpush) run in order, each under its own
// deadline, with retries and backoff, through a circuit breaker per downstream.
//
// Workflows live in a config.Store as JSON (Options.Prefix + video id), never
// only in memory: every stage transition is saved before the next step. The
// instance running a workflow holds a lease on it, renewed while it runs; an
// instance that restarts, or another one, takes over a running workflow whose
// lease has run out (or was released by a graceful stop) and continues from the
// first stage not done. Stages are safe to run again: a transcode job already
// submitted is polled rather than submitted again, and the warm-up carries an
// idempotency key.
package workflow

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/monoreel/monoreel/libs/config"
)

// State is where a workflow or a stage stands.
type State string

// States of workflows and stages (a workflow is never pending).
const (
	Pending State = "pending"
	Running State = "running"
	Done    State = "done"
	Failed  State = "failed"
)

// The stages, in the order they run.
const (
	StageUpload    = "upload"
	StageTranscode = "transcode"
	StageAITag     = "aitag"
	StageCDNPush   = "cdnpush"
)

// Stages lists the stages in order.
var Stages = []string{StageUpload, StageTranscode, StageAITag, StageCDNPush}

// Stage is one stage's progress.
type Stage struct {
	Name     string    `json:"name"`
	State    State     `json:"state"`
	Retries  int       `json:"retries,omitempty"`
	Err      string    `json:"error,omitempty"` // the last failed call's error
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
}

// Took is how long the stage ran (so far, if it is running).
func (s Stage) Took(now time.Time) time.Duration {
	switch {
	case s.Started.IsZero():
		return 0
	case s.Finished.IsZero():
		return now.Sub(s.Started)
	}
	return s.Finished.Sub(s.Started)
}

// Tag is one of the video's tags.
type Tag struct {
	Name  string  `json:"name"`
	Score float64 `json:"score"`
}

// Workflow is one video's way to publication, as stored.
type Workflow struct {
	VideoID     int64     `json:"video_id"`
	Uploader    string    `json:"uploader,omitempty"` // the user who uploaded the video: only they (and operators) see the workflow
	Source      string    `json:"source"`
	Title       string    `json:"title,omitempty"`
	Description string    `json:"description,omitempty"`
	State       State     `json:"state"`
	Err         string    `json:"error,omitempty"`
	Stages      []Stage   `json:"stages"`
	Created     time.Time `json:"created"`
	Finished    time.Time `json:"finished,omitzero"`

	// The trace context (W3C traceparent) of the Publish call: the stages are
	// spans of its trace, or, run by another instance, linked to it.
	Trace string `json:"trace,omitempty"`

	// The colour of the Publish call, given to every downstream call.
	Region string `json:"region,omitempty"`
	Shadow bool   `json:"shadow,omitempty"`

	// What the stages produced. A job's "at" is the downstream instance
	// running it (libs/discovery.Sticky), where it is polled.
	TranscodeJob string   `json:"transcode_job,omitempty"`
	TranscodeAt  string   `json:"transcode_at,omitempty"`
	Master       string   `json:"master_playlist,omitempty"`
	Outputs      []string `json:"outputs,omitempty"`
	Tags         []Tag    `json:"tags,omitempty"`
	WarmJob      string   `json:"warm_job,omitempty"`
	WarmAt       string   `json:"warm_at,omitempty"`

	// Who runs it: the instance holding the lease, until LeaseUntil.
	Owner      string    `json:"owner,omitempty"`
	LeaseUntil time.Time `json:"lease_until,omitzero"`

	// rev is the store revision this copy was read or written at: the next
	// write must find it still there (config.Store.CompareAndPut), so two
	// instances can never both run, or both take over, one workflow.
	rev int64
}

func newWorkflow(videoID int64, source, title, description string, now time.Time) *Workflow {
	w := &Workflow{VideoID: videoID, Source: source, Title: title, Description: description, State: Running, Created: now}
	for _, name := range Stages {
		w.Stages = append(w.Stages, Stage{Name: name, State: Pending})
	}
	return w
}

// decode reads a stored workflow, refusing one that is not whole.
func decode(kv config.KV) (*Workflow, error) {
	w := Workflow{rev: kv.Revision}
	if err := json.Unmarshal(kv.Value, &w); err != nil {
		return nil, fmt.Errorf("stored workflow: %w", err)
	}
	if w.VideoID <= 0 || len(w.Stages) != len(Stages) {
		return nil, fmt.Errorf("stored workflow: video id %d with %d stages: want a positive id and %d stages", w.VideoID, len(w.Stages), len(Stages))
	}
	for i, s := range w.Stages {
		if s.Name != Stages[i] {
			return nil, fmt.Errorf("stored workflow: stage %d is %q: want %q", i, s.Name, Stages[i])
		}
	}
	return &w, nil
}

func (w *Workflow) clone() *Workflow {
	c := *w
	c.Stages = append([]Stage(nil), w.Stages...)
	c.Outputs = append([]string(nil), w.Outputs...)
	c.Tags = append([]Tag(nil), w.Tags...)
	return &c
}
