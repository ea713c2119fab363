package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"github.com/monoreel/monoreel/tools/buildperf/internal/buildrun"
	"github.com/monoreel/monoreel/tools/buildperf/internal/grpccache"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// backend is a kind of remote cache the check runs against: what each step
// needs of it.
type backend interface {
	start(work string) error
	describe() string
	// flags are Bazel's for a build against it, read-only: the config first.
	flags() []string
	kill()          // step 5: the cache dies
	restart() error // after step 5, with the storage it had
	blobDir() string
	// checkAuth is step 7's: an anonymous upload refused (it says how), an
	// authenticated one accepted.
	checkAuth() (refused string, err error)
	writes() int // the uploads tried so far
	stop()
}

// httpBackend is nginx serving WebDAV (buildrun.StartCache).
type httpBackend struct {
	work  string
	cache *buildrun.Cache
}

func (h *httpBackend) start(work string) error {
	h.work = work
	cache, err := buildrun.StartCache(work)
	h.cache = cache
	return err
}

func (h *httpBackend) describe() string {
	return "an HTTP cache: nginx WebDAV at " + h.cache.URL + " (storage " + filepath.Join(h.work, "storage") + ")"
}

func (h *httpBackend) flags() []string {
	return []string{"--config=remote-cache", "--remote_cache=" + h.cache.URL}
}

func (h *httpBackend) kill()           { h.cache.Stop() }
func (h *httpBackend) restart() error  { return h.start(h.work) }
func (h *httpBackend) blobDir() string { return filepath.Join(h.work, "storage", "cas") }
func (h *httpBackend) writes() int     { return h.cache.Puts() }
func (h *httpBackend) stop()           { h.cache.Stop() }

func (h *httpBackend) checkAuth() (string, error) {
	put := func(user string) (int, error) {
		req, err := http.NewRequest(http.MethodPut, h.cache.AuthURL+"/cas/0000000000000000000000000000000000000000000000000000000000000000", strings.NewReader("x"))
		if err != nil {
			return 0, err
		}
		if user != "" {
			req.SetBasicAuth(user, "secret")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := put(""); err != nil || code != http.StatusUnauthorized {
		return "", fmt.Errorf("anonymous upload to the authenticated cache: %d, %v; want 401", code, err)
	}
	if code, err := put("ci"); err != nil || code >= 300 {
		return "", fmt.Errorf("authenticated upload: %d, %v; want 2xx", code, err)
	}
	return "401", nil
}

// grpcBackend is casd behind the adapter behind nginx with TLS and a token.
type grpcBackend struct {
	cache *grpccache.Cache
}

func (g *grpcBackend) start(work string) error {
	cache, err := grpccache.Start(filepath.Join(work, "grpc-cache"))
	g.cache = cache
	return err
}

func (g *grpcBackend) describe() string {
	return fmt.Sprintf("a gRPC cache: nginx at %s (TLS, CA %s) and %s (plaintext: Debian's Bazel cannot do TLS), bearer token -> reapiadapter -> buildbox-casd (storage %s)",
		g.cache.Endpoint, g.cache.CAFile, g.cache.PlainEndpoint, filepath.Dir(filepath.Dir(g.cache.CASDir())))
}

func (g *grpcBackend) flags() []string {
	return append([]string{"--config=remote-cache-grpc"}, g.cache.Flags()...)
}

// kill stops casd: the store dies behind the front, which answers every call
// with an error (502, UNAVAILABLE) from then on.
func (g *grpcBackend) kill() { g.cache.StopCasd() }

func (g *grpcBackend) restart() error {
	if err := g.cache.StartCasd(); err != nil {
		return err
	}
	return g.cache.WaitReady()
}

func (g *grpcBackend) blobDir() string { return g.cache.CASDir() }
func (g *grpcBackend) writes() int     { return g.cache.Writes() }
func (g *grpcBackend) stop()           { g.cache.Stop() }

// checkAuth writes a blob without the token (refused: UNAUTHENTICATED, and the
// blob is still missing) and with it (stored).
func (g *grpcBackend) checkAuth() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	blob := []byte(fmt.Sprintf("remotecache's step 7, %d", time.Now().UnixNano()))
	sum := sha256.Sum256(blob)
	digest := &repb.Digest{Hash: hex.EncodeToString(sum[:]), SizeBytes: int64(len(blob))}
	write := func(token string) (*repb.BatchUpdateBlobsResponse, error) {
		conn, err := g.cache.Dial(token)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		return repb.NewContentAddressableStorageClient(conn).BatchUpdateBlobs(ctx, &repb.BatchUpdateBlobsRequest{
			Requests: []*repb.BatchUpdateBlobsRequest_Request{{Digest: digest, Data: blob}}})
	}
	_, err := write("")
	if status.Code(err) != codes.Unauthenticated {
		return "", fmt.Errorf("anonymous BatchUpdateBlobs: %v; want UNAUTHENTICATED", err)
	}
	// The first line: the status without nginx's HTML page, which follows it.
	refused, _, _ := strings.Cut(strings.TrimPrefix(err.Error(), "rpc error: "), "\n")
	resp, err := write(g.cache.Token)
	if err != nil {
		return "", fmt.Errorf("BatchUpdateBlobs with the token: %w", err)
	}
	if code := codes.Code(resp.GetResponses()[0].GetStatus().GetCode()); code != codes.OK {
		return "", fmt.Errorf("BatchUpdateBlobs with the token: the blob's status is %v", code)
	}
	return refused, nil
}

// withoutAdapter is step 8: Bazel analyzes the fault targets with casd itself
// as the cache (no action runs) and the check reports its verdict on casd's API
// versions: the reason the adapter is there.
func (g *grpcBackend) withoutAdapter(c *checker) error {
	step("8. Bazel and casd without the adapter")
	r, err := buildrun.Bazel(c.copyB, c.baseB, nil, "build", append([]string{
		"--nobuild", "--config=remote-cache-grpc", "--remote_cache=" + g.cache.CasdEndpoint(), "--disk_cache=",
	}, c.faultTargets...)...)
	refusal := buildrun.FirstLine(r.Output, "is not supported by the server")
	version := bazelVersion(c.copyB)
	switch {
	case refusal != "":
		fmt.Printf("   %s refuses casd directly: %s\n", version, refusal)
	case err == nil:
		fmt.Printf("   %s accepts casd directly: it needs no adapter\n", version)
	default:
		return fmt.Errorf("bazel with casd directly: %w", err)
	}
	return nil
}

// bazelVersion is what `bazel --version` says ("bazel 7.7.1"), or "Bazel".
func bazelVersion(dir string) string {
	cmd := exec.Command(filepath.Join(dir, "bazelw"), "--version")
	cmd.Dir = dir
	out, err := cmd.Output()
	if v := strings.TrimSpace(string(out)); err == nil && v != "" {
		return v
	}
	return "Bazel"
}
