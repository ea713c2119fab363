package workflow

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/monoreel/monoreel/libs/breaker"
)

// metrics are what the engine tells Prometheus: how long stages take and how
// often their calls are retried, and the downstreams' breakers.
type metrics struct {
	stageSeconds *prometheus.HistogramVec
	retries      *prometheus.CounterVec
	breakers     *breaker.Metrics
}

// newMetrics registers the engine's metrics on reg (a registry of their own,
// never gathered, if reg is nil).
func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &metrics{
		stageSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "workflow_stage_duration_seconds",
			Help: "Time from a workflow stage's start to its end (done or failed), by stage and outcome.",
			// 10ms (the upload check) to 40 minutes (a long transcode).
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 12),
		}, []string{"stage", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "workflow_stage_retries_total", Help: "Downstream calls of a workflow stage retried after a transient error, by stage.",
		}, []string{"stage"}),
		breakers: breaker.NewMetrics(reg),
	}
	reg.MustRegister(m.stageSeconds, m.retries)
	for _, stage := range Stages {
		m.retries.WithLabelValues(stage) // at 0 from the start: rate() and alerts need a series
	}
	return m
}

// stageEnded records a stage's end: outcome is Done or Failed.
func (m *metrics) stageEnded(stage string, outcome State, took time.Duration) {
	m.stageSeconds.WithLabelValues(stage, string(outcome)).Observe(took.Seconds())
}
