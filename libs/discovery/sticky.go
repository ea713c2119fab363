package discovery

import (
	"context"
	"sync"
)

// Sticky holds the instance of a service that keeps a caller's state (a job
// it runs, say): the first call to the service made with WithSticky records
// the instance the balancer picked, and later calls go to that instance only
// (calls to other services with the same context are not affected). When it is no
// longer among the ready instances while others are, a call fails at once
// with the reason ReasonInstanceGone, as the instance's state is gone with it
// (the caller starts over, on another instance); with none ready, calls wait
// as usual.
//
// Addr can be saved and set again (by another process taking the work over).
// Targets other than "etcd:///" ignore it: there is one instance.
type Sticky struct {
	service string
	mu      sync.Mutex
	addr    string
}

// NewSticky returns a Sticky to service's instance at addr ("" to pin the
// next call's pick).
func NewSticky(service, addr string) *Sticky { return &Sticky{service: service, addr: addr} }

// Addr is the instance calls go to ("" before the first call).
func (s *Sticky) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// pin returns the pinned address, or pins picked if there is none yet.
func (s *Sticky) pin(picked func() string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.addr == "" {
		s.addr = picked()
	}
	return s.addr
}

type stickyKey struct{}

// WithSticky makes the calls of ctx follow s.
func WithSticky(ctx context.Context, s *Sticky) context.Context {
	return context.WithValue(ctx, stickyKey{}, s)
}
