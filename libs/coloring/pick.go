package coloring

import "errors"

// Endpoint is one instance a call may go to.
type Endpoint struct {
	Addr          string
	Region        string
	Healthy       bool
	ShadowCapable bool // may receive shadow traffic (writes to shadow stores)
}

// ErrNoEndpoint is returned when no endpoint may take a call of this colour.
var ErrNoEndpoint = errors.New("coloring: no healthy endpoint for this traffic")

// Pick returns the endpoints a call of colour c may go to, best first: healthy ones
// in c's region, or, when there are none, healthy ones anywhere. Shadow traffic only
// ever goes to shadow-capable endpoints; if none is healthy it gets ErrNoEndpoint,
// never a production endpoint.
func Pick(endpoints []Endpoint, c Color) ([]Endpoint, error) {
	var local, anywhere []Endpoint
	for _, e := range endpoints {
		if !e.Healthy || (c.Shadow && !e.ShadowCapable) {
			continue
		}
		anywhere = append(anywhere, e)
		if c.Region != "" && e.Region == c.Region {
			local = append(local, e)
		}
	}
	switch {
	case len(local) > 0:
		return local, nil
	case len(anywhere) > 0:
		return anywhere, nil
	}
	return nil, ErrNoEndpoint
}
