// Package edgecache is a small caching HTTP edge: GET /<key> is answered from
// the cache, or fetched from <origin>/<key> once, kept, and answered. It is the
// loopback stand-in for a CDN edge in the local platform (tools/devstack) and in
// integration tests: cdnpush warms it like any edge, and its counters show what
// was warmed and what was then served from the cache.
package edgecache

import (
	"fmt"
	"io"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"
)

// Edge is an http.Handler caching an origin's objects in memory.
type Edge struct {
	origin string
	client *http.Client

	mu           sync.Mutex
	objects      map[string][]byte
	hits, misses int
}

// New returns an Edge in front of origin (an http(s) base URL).
func New(origin string) *Edge {
	return &Edge{origin: strings.TrimRight(origin, "/"), client: http.DefaultClient, objects: map[string][]byte{}}
}

// ServeHTTP answers GET and HEAD; X-Cache says HIT or MISS. An object the origin
// does not have is passed on as its status and not kept; an origin that fails
// is a 502.
func (e *Edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "edge: only GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	key := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if key == "" {
		http.Error(w, "edge: no key", http.StatusBadRequest)
		return
	}
	e.mu.Lock()
	body, hit := e.objects[key]
	if hit {
		e.hits++
	}
	e.mu.Unlock()
	if !hit {
		var status int
		var err error
		if body, status, err = e.fetch(r, key); err != nil {
			http.Error(w, err.Error(), status)
			return
		}
		e.mu.Lock()
		e.objects[key] = body
		e.misses++
		e.mu.Unlock()
	}
	w.Header().Set("X-Cache", map[bool]string{true: "HIT", false: "MISS"}[hit])
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.Write(body)
}

func (e *Edge) fetch(r *http.Request, key string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, e.origin+"/"+key, nil)
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, http.StatusBadGateway, fmt.Errorf("edge: origin: %v", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 500:
		return nil, http.StatusBadGateway, fmt.Errorf("edge: origin answered %s for %s", resp.Status, key)
	case resp.StatusCode != http.StatusOK:
		return nil, resp.StatusCode, fmt.Errorf("edge: origin answered %s for %s", resp.Status, key)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, http.StatusBadGateway, fmt.Errorf("edge: reading %s from the origin: %v", key, err)
	}
	return body, http.StatusOK, nil
}

// Keys returns the cached keys, sorted.
func (e *Edge) Keys() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	keys := make([]string, 0, len(e.objects))
	for k := range e.objects {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Stats returns how many requests were answered from the cache and how many
// were fetched from the origin.
func (e *Edge) Stats() (hits, misses int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.hits, e.misses
}
