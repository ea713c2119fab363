package buildrun

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseSummary(t *testing.T) {
	for _, tc := range []struct {
		output                                     string
		processes, hits, internal, remote, actions int
		cacheable                                  int
		summary                                    string
	}{
		{"INFO: 252 processes: 229 remote cache hit, 23 internal.\nINFO: Build completed successfully, 252 total actions\n",
			252, 229, 23, 0, 252, 229, "252 processes: 229 remote cache hit, 23 internal."},
		{"INFO: 3 processes: 1 internal, 2 linux-sandbox.\nINFO: Build completed successfully, 3 total actions\n",
			3, 0, 1, 0, 3, 2, "3 processes: 1 internal, 2 linux-sandbox."},
		{"INFO: 267 processes: 6 internal, 261 remote.\nINFO: Build completed successfully, 267 total actions\n",
			267, 0, 6, 261, 267, 261, "267 processes: 6 internal, 261 remote."},
		{"INFO: 9 processes: 2 remote cache hit, 3 remote, 4 internal.\nINFO: Build completed successfully, 9 total actions\n",
			9, 2, 4, 3, 9, 5, "9 processes: 2 remote cache hit, 3 remote, 4 internal."},
		{"INFO: 0 processes.\nINFO: Build completed successfully, 1 total action\n", 0, 0, 0, 0, 1, 0, "0 processes."},
	} {
		r := Result{Output: tc.output}
		r.parse()
		if r.Processes != tc.processes || r.Hits != tc.hits || r.Internal != tc.internal || r.Remote != tc.remote ||
			r.Actions != tc.actions || r.Cacheable() != tc.cacheable || r.Summary != tc.summary {
			t.Errorf("parse(%q) = %+v", tc.output, r)
		}
	}
	if r := (Result{}); r.HitRate() != 1 {
		t.Errorf("hit rate of an empty build = %v, want 1", r.HitRate())
	}
}

// TestCache runs the real nginx: uploads land, anonymous uploads to the
// authenticated cache are refused, and a stopped cache refuses connections.
func TestCache(t *testing.T) {
	c, err := StartCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	put := func(url, user string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, url+"/cas/ab", strings.NewReader("blob"))
		if user != "" {
			req.SetBasicAuth(user, "secret")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := put(c.URL, ""); code != http.StatusCreated {
		t.Fatalf("PUT to the open cache: %d, want 201", code)
	}
	resp, err := http.Get(c.URL + "/cas/ab")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "blob" {
		t.Errorf("GET returned %q, want the uploaded blob", body)
	}
	if code := put(c.AuthURL, ""); code != http.StatusUnauthorized {
		t.Errorf("anonymous PUT to the authenticated cache: %d, want 401", code)
	}
	if code := put(c.AuthURL, "ci"); code != http.StatusCreated {
		t.Errorf("authenticated PUT: %d, want 201", code)
	}
	// nginx writes the access log line after the response: wait for it.
	n := c.Puts()
	for deadline := time.Now().Add(10 * time.Second); n != 3 && time.Now().Before(deadline); n = c.Puts() {
		time.Sleep(20 * time.Millisecond)
	}
	if n != 3 {
		t.Errorf("Puts() = %d, want 3", n)
	}
	c.Stop()
	if _, err := http.Get(c.URL + "/cas/ab"); err == nil {
		t.Error("the stopped cache still answers")
	}
}

func TestDiscardRemovesReadOnlyTreesAndNothingElse(t *testing.T) {
	root := t.TempDir()
	outside := filepath.Join(root, "outside")
	if err := os.Mkdir(outside, 0o555); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "work")
	execroot := filepath.Join(dir, "output", "execroot")
	if err := os.MkdirAll(execroot, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(execroot, "out"), []byte("built"), 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(execroot, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(execroot, 0o555); err != nil { // as Bazel leaves its outputs
		t.Fatal(err)
	}
	if err := Discard(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("after Discard, %s: %v", dir, err)
	}
	if fi, err := os.Stat(outside); err != nil || fi.Mode().Perm() != 0o555 {
		t.Errorf("Discard touched what a symlink points to: %v, %v", fi, err)
	}
	if err := Discard(dir); err != nil {
		t.Errorf("Discard of what is gone already: %v", err)
	}
}

func TestFinishKeepsWhatAFailedOrKeptRunLeaves(t *testing.T) {
	failed := errors.New("step 3 failed")
	for _, c := range []struct {
		name    string
		runErr  error
		keep    bool
		removed bool
	}{
		{"worked", nil, false, true},
		{"worked, --keep", nil, true, false},
		{"failed", failed, false, false},
	} {
		dir := filepath.Join(t.TempDir(), "work")
		if err := os.MkdirAll(filepath.Join(dir, "output"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := Finish(c.runErr, c.keep, dir); err != c.runErr {
			t.Errorf("%s: Finish returned %v, want the run's %v", c.name, err, c.runErr)
		}
		if _, err := os.Stat(dir); os.IsNotExist(err) != c.removed {
			t.Errorf("%s: removed = %v, want %v", c.name, os.IsNotExist(err), c.removed)
		}
	}
}
