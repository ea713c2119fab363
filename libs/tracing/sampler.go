package tracing

import (
	"fmt"
	"sync/atomic"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// RatioSampler samples a share of new traces (by trace id, so every service
// decides the same for one trace); the share can change while it runs.
type RatioSampler struct {
	current atomic.Pointer[ratio]
}

type ratio struct {
	value   float64
	sampler sdktrace.Sampler
}

// NewRatioSampler samples the share r (0..1) of traces.
func NewRatioSampler(r float64) *RatioSampler {
	s := &RatioSampler{}
	s.current.Store(&ratio{r, sdktrace.TraceIDRatioBased(r)})
	return s
}

// SetRatio changes the share of traces sampled from now on.
func (s *RatioSampler) SetRatio(r float64) error {
	if r < 0 || r > 1 {
		return fmt.Errorf("sample ratio %v: want 0..1", r)
	}
	s.current.Store(&ratio{r, sdktrace.TraceIDRatioBased(r)})
	return nil
}

// Ratio is the share sampled now.
func (s *RatioSampler) Ratio() float64 { return s.current.Load().value }

// ShouldSample implements sdktrace.Sampler.
func (s *RatioSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	return s.current.Load().sampler.ShouldSample(p)
}

// Description implements sdktrace.Sampler.
func (s *RatioSampler) Description() string {
	return fmt.Sprintf("RatioSampler{%v}", s.Ratio())
}
