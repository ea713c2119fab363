package breaker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// ruleJSON is how a Rule is stored in the config center:
//
//	{"strategy":"slow-ratio","threshold":0.5,"max_rt":"800ms","min_calls":20,
//	 "window":"10s","buckets":10,"open_for":"5s","probes":3}
type ruleJSON struct {
	Strategy  string  `json:"strategy"`
	Threshold float64 `json:"threshold"`
	MaxRT     string  `json:"max_rt,omitempty"`
	MinCalls  int     `json:"min_calls"`
	Window    string  `json:"window"`
	Buckets   int     `json:"buckets"`
	OpenFor   string  `json:"open_for"`
	Probes    int     `json:"probes"`
}

var strategyNames = map[string]Strategy{"slow-ratio": SlowRatio, "error-ratio": ErrorRatio, "error-count": ErrorCount}

// MarshalJSON encodes r in the config center's format.
func (r Rule) MarshalJSON() ([]byte, error) {
	j := ruleJSON{Threshold: r.Threshold, MinCalls: r.MinCalls, Window: r.Window.String(),
		Buckets: r.Buckets, OpenFor: r.OpenFor.String(), Probes: r.Probes}
	for name, s := range strategyNames {
		if s == r.Strategy {
			j.Strategy = name
		}
	}
	if r.Strategy == SlowRatio {
		j.MaxRT = r.MaxRT.String()
	}
	return json.Marshal(j)
}

// ParseRule decodes and validates a rule in the config center's format; the
// error names the field that is wrong.
func ParseRule(data []byte) (Rule, error) {
	var j ruleJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return Rule{}, fmt.Errorf("breaker rule: %w", err)
	}
	strategy, ok := strategyNames[j.Strategy]
	if !ok {
		return Rule{}, fmt.Errorf("breaker rule: strategy %q: want slow-ratio, error-ratio or error-count", j.Strategy)
	}
	r := Rule{Strategy: strategy, Threshold: j.Threshold, MinCalls: j.MinCalls, Buckets: j.Buckets, Probes: j.Probes}
	for _, d := range []struct {
		name, value string
		into        *time.Duration
		optional    bool
	}{{"max_rt", j.MaxRT, &r.MaxRT, strategy != SlowRatio}, {"window", j.Window, &r.Window, false}, {"open_for", j.OpenFor, &r.OpenFor, false}} {
		if d.value == "" && d.optional {
			continue
		}
		v, err := time.ParseDuration(d.value)
		if err != nil {
			return Rule{}, fmt.Errorf("breaker rule: %s %q: want a duration such as 800ms", d.name, d.value)
		}
		*d.into = v
	}
	if err := r.validate(); err != nil {
		return Rule{}, err
	}
	return r, nil
}
