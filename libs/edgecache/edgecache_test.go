package edgecache

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
)

func TestEdgeFetchesOnceAndServesFromCache(t *testing.T) {
	var originCalls atomic.Int32
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		originCalls.Add(1)
		switch r.URL.Path {
		case "/v/seg.ts":
			io.WriteString(w, "segment")
		case "/broken":
			http.Error(w, "disk on fire", http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	}))
	defer origin.Close()
	edge := New(origin.URL)
	srv := httptest.NewServer(edge)
	defer srv.Close()

	get := func(path string) (int, string, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("X-Cache"), string(body)
	}
	for i, want := range []string{"MISS", "HIT", "HIT"} {
		if status, cache, body := get("/v/seg.ts"); status != 200 || cache != want || body != "segment" {
			t.Errorf("GET %d: %d %s %q, want 200 %s segment", i, status, cache, body, want)
		}
	}
	if status, _, _ := get("/missing"); status != http.StatusNotFound {
		t.Errorf("missing object: %d, want 404", status)
	}
	if status, _, body := get("/broken"); status != http.StatusBadGateway || body == "" {
		t.Errorf("failing origin: %d %q, want 502 naming it", status, body)
	}
	if status, _, _ := get("/../v/seg.ts"); status != 200 {
		t.Errorf("dot-dot path: %d, want the cleaned key served", status)
	}
	if hits, misses := edge.Stats(); hits != 3 || misses != 1 || originCalls.Load() != 3 {
		t.Errorf("hits %d, misses %d, origin calls %d: want 3, 1, 3", hits, misses, originCalls.Load())
	}
	if keys := edge.Keys(); !slices.Equal(keys, []string{"v/seg.ts"}) {
		t.Errorf("keys %v", keys)
	}
}
