package ratelimit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// policyJSON is how a tier's Policy is stored in the config center:
//
//	{"rate":5,"burst":1,"queue_depth":100,"give_up":"800ms"}
type policyJSON struct {
	Rate       float64 `json:"rate"`
	Burst      int     `json:"burst"`
	QueueDepth int     `json:"queue_depth"`
	GiveUp     string  `json:"give_up"`
}

// MarshalJSON encodes p in the config center's format.
func (p Policy) MarshalJSON() ([]byte, error) {
	return json.Marshal(policyJSON{Rate: p.Rate, Burst: p.Burst, QueueDepth: p.QueueDepth, GiveUp: p.GiveUp.String()})
}

// ParsePolicy decodes and validates a tier's policy; the error names the field
// that is wrong.
func ParsePolicy(tier Tier, data []byte) (Policy, error) {
	var j policyJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return Policy{}, fmt.Errorf("ratelimit: %s policy: %w", tier, err)
	}
	giveUp, err := time.ParseDuration(j.GiveUp)
	if err != nil {
		return Policy{}, fmt.Errorf("ratelimit: %s policy: give_up %q: want a duration such as 800ms", tier, j.GiveUp)
	}
	p := Policy{Rate: j.Rate, Burst: j.Burst, QueueDepth: j.QueueDepth, GiveUp: giveUp}
	if _, err := newTier(tier, p, nil); err != nil {
		return Policy{}, err
	}
	return p, nil
}
