package breaker

import "github.com/prometheus/client_golang/prometheus"

// Metrics exports breakers' states and transitions to Prometheus:
//
//	breaker_state{breaker="aitag",state="open"} 1        (1 for the current state, 0 for the others)
//	breaker_transitions_total{breaker="aitag",from="closed",to="open"} 3
//
// One Metrics serves every breaker of a process; give each its Option.
type Metrics struct {
	state       *prometheus.GaugeVec
	transitions *prometheus.CounterVec
}

// NewMetrics registers the breaker metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "breaker_state", Help: "1 for a circuit breaker's current state (closed, open, half-open), 0 for the others.",
		}, []string{"breaker", "state"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "breaker_transitions_total", Help: "Circuit breaker state transitions, by breaker and states.",
		}, []string{"breaker", "from", "to"}),
	}
	reg.MustRegister(m.state, m.transitions)
	return m
}

// Option makes New's breaker report to m, under its name, from its start
// (closed).
func (m *Metrics) Option() Option {
	return func(b *Breaker) {
		m.set(b.name, Closed)
		b.onChange = append(b.onChange, func(from, to State) {
			m.transitions.WithLabelValues(b.name, from.String(), to.String()).Inc()
			m.set(b.name, to)
		})
	}
}

func (m *Metrics) set(name string, current State) {
	for _, s := range []State{Closed, Open, HalfOpen} {
		v := 0.0
		if s == current {
			v = 1
		}
		m.state.WithLabelValues(name, s.String()).Set(v)
	}
}
