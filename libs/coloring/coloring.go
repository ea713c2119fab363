// Package coloring carries traffic colour across gRPC hops: the caller's region
// (x-region), which lets every hop prefer endpoints in that region, and the shadow
// flag (x-shadow), which marks copied production traffic that must only ever reach
// shadow-capable endpoints.
//
// Server interceptors read and validate the colour from incoming metadata and put
// it on the context; client interceptors pass the context's colour on to the next
// hop. Pick chooses endpoints for a colour.
package coloring

import (
	"context"
	"fmt"
	"strings"
)

// Metadata keys. gRPC metadata keys are case-insensitive (sent lower-case).
const (
	RegionKey = "x-region"
	ShadowKey = "x-shadow"
)

// Color is the colour of a request.
type Color struct {
	Region string // normalised: lower-case, e.g. "eu-west-1"; empty if unknown
	Shadow bool
}

type colorKey struct{}

// NewContext returns ctx carrying c.
func NewContext(ctx context.Context, c Color) context.Context {
	return context.WithValue(ctx, colorKey{}, c)
}

// FromContext returns the colour on ctx, if any.
func FromContext(ctx context.Context) (Color, bool) {
	c, ok := ctx.Value(colorKey{}).(Color)
	return c, ok
}

// ParseRegion normalises a region value: trimmed, lower-case, made of letters,
// digits and single hyphens, starting with a letter, at most 32 characters.
func ParseRegion(value string) (string, error) {
	region := strings.ToLower(strings.TrimSpace(value))
	if region == "" || len(region) > 32 {
		return "", fmt.Errorf("bad %s %q: want 1 to 32 characters such as eu-west-1", RegionKey, value)
	}
	for i, r := range region {
		switch {
		case r >= 'a' && r <= 'z':
		case (r >= '0' && r <= '9') || r == '-':
			if i == 0 || (r == '-' && (i == len(region)-1 || region[i-1] == '-')) {
				return "", fmt.Errorf("bad %s %q: want letters, digits and single inner hyphens, starting with a letter", RegionKey, value)
			}
		default:
			return "", fmt.Errorf("bad %s %q: want letters, digits and single inner hyphens, starting with a letter", RegionKey, value)
		}
	}
	return region, nil
}

// ParseShadow reads a shadow flag: 1/true/yes/on or 0/false/no/off, any case.
func ParseShadow(value string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(value)) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("bad %s %q: want true or false", ShadowKey, value)
}

// IsShadow reports whether ctx's call is shadow traffic.
func IsShadow(ctx context.Context) bool {
	c, _ := FromContext(ctx)
	return c.Shadow
}

// ForTraffic returns shadow for shadow traffic and production for any other:
// how a service keeps shadow work in a namespace of its own (a store, an output
// root, an engine), never in production's.
func ForTraffic[T any](ctx context.Context, production, shadow T) T {
	if IsShadow(ctx) {
		return shadow
	}
	return production
}
