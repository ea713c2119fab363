package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/monoreel/monoreel/tools/monitoring"
)

// traceReport is what Jaeger showed of the publish trace.
type traceReport struct {
	spans    int
	services []string
	ffmpeg   int // ffmpeg runs: one span each
}

// summary follows the trace id in the report: what Jaeger has, and where.
func (t traceReport) summary(st *stack, id string) string {
	if st.jaeger == nil || t.spans == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d spans from %s; %d ffmpeg runs)\n    %s (API: %s)", t.spans, strings.Join(t.services, ", "), t.ffmpeg, st.jaeger.TraceURL(id), st.jaeger.TraceAPIURL(id))
}

// tracedServices must each have spans in the publish trace.
var tracedServices = []string{"devstack", "orchestrator", "transcode", "aitag", "cdnpush"}

// checkTrace waits (services export every 2 s) until Jaeger's query API shows
// the publish as one trace: spans of every service the workflow calls, ffmpeg's
// runs among transcode's, and every span's parent in the trace, up to the one
// root devstack made.
func (sc *scenario) checkTrace(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		spans, err := sc.st.jaeger.Trace(ctx, sc.r.traceID)
		if err == nil {
			if sc.r.trace, err = checkPublishTrace(spans); err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("trace %s in Jaeger: %w", sc.r.traceID, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// checkPublishTrace checks the spans of one publish trace.
func checkPublishTrace(spans []monitoring.Span) (traceReport, error) {
	byID := map[string]monitoring.Span{}
	for _, s := range spans {
		byID[s.SpanID] = s
	}
	var r traceReport
	var roots []string
	for _, s := range spans {
		if !slices.Contains(r.services, s.Service) {
			r.services = append(r.services, s.Service)
		}
		parent := s.Parent()
		switch _, ok := byID[parent]; {
		case parent == "":
			roots = append(roots, s.Service+" "+s.Operation)
		case !ok:
			return r, fmt.Errorf("%s %q has parent %s, not in the trace (yet)", s.Service, s.Operation, parent)
		}
		if strings.HasPrefix(s.Operation, "ffmpeg ") && s.Service == "transcode" {
			if !descendsFrom(s, "transcode job", byID) {
				return r, fmt.Errorf("transcode's %q is not under its job's span", s.Operation)
			}
			r.ffmpeg++
		}
	}
	r.spans = len(spans)
	slices.Sort(r.services)
	switch {
	case len(roots) != 1 || roots[0] != "devstack publish":
		return r, fmt.Errorf("roots %v: want only devstack's publish", roots)
	case r.ffmpeg == 0:
		return r, fmt.Errorf("no ffmpeg span under transcode's job")
	}
	for _, want := range tracedServices {
		if !slices.Contains(r.services, want) {
			return r, fmt.Errorf("no span of %s (spans from %v)", want, r.services)
		}
	}
	for _, stage := range []string{"stage upload", "stage transcode", "stage aitag", "stage cdnpush"} {
		if !slices.ContainsFunc(spans, func(s monitoring.Span) bool {
			return s.Operation == stage && descendsFrom(s, "monoreel.orchestrator.v1.OrchestratorService/Publish", byID)
		}) {
			return r, fmt.Errorf("no %q span under the orchestrator's Publish", stage)
		}
	}
	return r, nil
}

// descendsFrom reports whether an ancestor of s has the operation op.
func descendsFrom(s monitoring.Span, op string, byID map[string]monitoring.Span) bool {
	for seen := 0; seen < len(byID); seen++ {
		parent, ok := byID[s.Parent()]
		if !ok {
			return false
		}
		if parent.Operation == op {
			return true
		}
		s = parent
	}
	return false
}
