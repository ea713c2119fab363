package push

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/monoreel/monoreel/libs/testproc"
	"github.com/monoreel/monoreel/tools/image/internal/ociimage"
)

// These tests push the real idgen image (IMAGE_LAYOUT, set in BUILD.bazel) to a
// real registry: Debian's docker-registry (the CNCF distribution registry),
// started on loopback by the test, and read it back with skopeo.

func loadImage(t *testing.T) v1.ImageIndex {
	t.Helper()
	return loadLayout(t, "IMAGE_LAYOUT")
}

func loadLayout(t *testing.T, env string) v1.ImageIndex {
	t.Helper()
	layout := os.Getenv(env)
	if layout == "" {
		t.Fatalf("%s is not set: run this test with bazel test", env)
	}
	if !filepath.IsAbs(layout) { // a runfiles path: go_test runs in the package's directory
		layout = filepath.Join(os.Getenv("TEST_SRCDIR"), os.Getenv("TEST_WORKSPACE"), layout)
	}
	idx, err := ociimage.ReadLayout(layout)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func push(t *testing.T, idx v1.ImageIndex, repo string, transport http.RoundTripper, tags ...string) (Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return Push(ctx, idx, Options{Repository: repo, Tags: tags, Insecure: true, Transport: transport, Keychain: authn.NewMultiKeychain()})
}

func skopeo(t *testing.T, args ...string) []byte {
	t.Helper()
	bin := testproc.Binary(t, "skopeo", "skopeo")
	cmd := exec.Command(bin, append([]string{"inspect", "--tls-verify=false"}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("skopeo %v: %v\n%s", args, err, stderr)
	}
	return out
}

func TestPushIndexAndInspectWithSkopeo(t *testing.T) {
	idx := loadImage(t)
	registry := testproc.StartRegistry(t)
	repo := registry + "/monoreel/idgen"
	first, err := push(t, idx, repo, nil, "v1", "latest")
	if err != nil {
		t.Fatal(err)
	}
	digest, _ := idx.Digest()
	if first.Digest != digest || first.Uploaded == 0 {
		t.Fatalf("first push = %+v, want digest %s and some uploads", first, digest)
	}

	// A third-party client sees an index of linux/amd64 and linux/arm64...
	var index struct {
		MediaType string
		Manifests []struct {
			Platform struct{ OS, Architecture string }
		}
	}
	if err := json.Unmarshal(skopeo(t, "--raw", "docker://"+repo+":v1"), &index); err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, m := range index.Manifests {
		platforms = append(platforms, m.Platform.OS+"/"+m.Platform.Architecture)
	}
	if index.MediaType != "application/vnd.oci.image.index.v1+json" || strings.Join(platforms, ",") != "linux/amd64,linux/arm64" {
		t.Errorf("skopeo sees %s with %v", index.MediaType, platforms)
	}
	// ...each image with the right config.
	for _, arch := range []string{"amd64", "arm64"} {
		var cfg struct {
			Architecture, OS string
			Config           struct {
				User         string
				Entrypoint   []string
				ExposedPorts map[string]any
				Labels       map[string]string
			}
		}
		if err := json.Unmarshal(skopeo(t, "--config", "--override-os=linux", "--override-arch="+arch, "docker://"+repo+":latest"), &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.Architecture != arch || cfg.OS != "linux" || cfg.Config.User != "65532:65532" ||
			strings.Join(cfg.Config.Entrypoint, " ") != "/app/idgen" || cfg.Config.ExposedPorts["9090/tcp"] == nil ||
			cfg.Config.Labels["org.opencontainers.image.title"] != "idgen" {
			t.Errorf("%s config = %+v", arch, cfg)
		}
	}

	// Unchanged images: the second push uploads nothing.
	second, err := push(t, idx, repo, nil, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if second.Uploaded != 0 || second.Present == 0 {
		t.Errorf("second push uploaded %d blobs (%d present), want 0 uploads", second.Uploaded, second.Present)
	}
}

func TestPushedImageRuns(t *testing.T) {
	idx := loadImage(t)
	registry := testproc.StartRegistry(t)
	repo := registry + "/monoreel/idgen"
	if _, err := push(t, idx, repo, nil, "run"); err != nil {
		t.Fatal(err)
	}
	// Fetch the amd64 image back from the registry and extract its binary.
	ref, err := name.ParseReference(repo+":run", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))
	if err != nil {
		t.Fatal(err)
	}
	files, err := ociimage.ReadFiles(img)
	if err != nil {
		t.Fatal(err)
	}
	app, ok := files["app/idgen"]
	if !ok {
		t.Fatal("no app/idgen in the amd64 image's layers")
	}
	binary := filepath.Join(t.TempDir(), "idgen")
	if err := os.WriteFile(binary, app.Data, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary, "-version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "idgen ") {
		t.Fatalf("the image's binary: %v: %s", err, out)
	}
}

// flakyRegistry is a proxy to a registry that fails blob uploads on command.
type flakyRegistry struct {
	proxy *httputil.ReverseProxy
	// failFrom: once this many blob uploads have started, fail every request.
	failFrom atomic.Int64
	// failOnce: fail the next blob upload with 503, once.
	failOnce atomic.Bool
	uploads  atomic.Int64
}

func (f *flakyRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	isUpload := r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/blobs/uploads/")
	if isUpload && f.failOnce.CompareAndSwap(true, false) {
		http.Error(w, "injected transient failure", http.StatusServiceUnavailable)
		return
	}
	if isUpload {
		f.uploads.Add(1)
	}
	if from := f.failFrom.Load(); from > 0 && f.uploads.Load() > from {
		// Drop the connection, as a registry that dies mid-push would.
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		http.Error(w, "injected failure", http.StatusInternalServerError)
		return
	}
	f.proxy.ServeHTTP(w, r)
}

func startFlaky(t *testing.T, registry string) (*flakyRegistry, string) {
	t.Helper()
	target, _ := url.Parse("http://" + registry)
	flaky := &flakyRegistry{proxy: httputil.NewSingleHostReverseProxy(target)}
	server := httptest.NewServer(flaky)
	t.Cleanup(server.Close)
	return flaky, strings.TrimPrefix(server.URL, "http://")
}

func TestTransientFailureIsRetried(t *testing.T) {
	idx := loadImage(t)
	flaky, proxy := startFlaky(t, testproc.StartRegistry(t))
	flaky.failOnce.Store(true)
	if _, err := push(t, idx, proxy+"/monoreel/idgen", nil, "v1"); err != nil {
		t.Fatalf("push through one 503: %v", err)
	}
	if flaky.failOnce.Load() {
		t.Error("the injected failure never happened")
	}
}

func TestFailedPushNeverMovesTheTag(t *testing.T) {
	idx := loadImage(t)
	registry := testproc.StartRegistry(t)
	flaky, proxy := startFlaky(t, registry)
	flaky.failFrom.Store(2) // the registry dies after two blob uploads
	repo := proxy + "/monoreel/idgen"
	_, err := push(t, idx, repo, nil, "v1")
	if err == nil || !strings.Contains(err.Error(), "pushing "+repo+":v1") || !strings.Contains(err.Error(), "the tag was not changed") {
		t.Fatalf("push to a failing registry = %v, want an error naming the push and the tag", err)
	}
	// Straight to the registry: the tag does not exist, so nobody sees a partial index.
	ref, _ := name.ParseReference(registry+"/monoreel/idgen:v1", name.Insecure)
	if _, err := remote.Head(ref); err == nil {
		t.Fatal("the tag exists after a failed push")
	}
	// The registry recovers and the push is run again: it completes.
	flaky.failFrom.Store(0)
	result, err := push(t, idx, repo, nil, "v1")
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(ref)
	if err != nil || desc.Digest != result.Digest {
		t.Fatalf("after the retry the tag points at %v (%v), want %s", desc, err, result.Digest)
	}
}

// TestSBOMIsAReferrerOfTheIndex pushes the transcode image (Debian base and Go
// binary) with its SBOM and finds the SBOM again as a client would, through the
// index's referrers: Debian's docker-registry (distribution 2.8) has no
// referrers API, so through the referrers tag sha256-<hex>.
func TestSBOMIsAReferrerOfTheIndex(t *testing.T) {
	idx := loadLayout(t, "TRANSCODE_LAYOUT")
	sbom, err := os.ReadFile(testproc.Runfile(t, "TRANSCODE_SBOM"))
	if err != nil {
		t.Fatal(err)
	}
	registry := testproc.StartRegistry(t)
	repo := registry + "/monoreel/transcode"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := Options{Repository: repo, Tags: []string{"v1"}, Insecure: true, Keychain: authn.NewMultiKeychain(), SBOM: sbom}
	result, err := Push(ctx, idx, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Pushed twice: the referrer is the same manifest, listed once.
	if again, err := Push(ctx, idx, opts); err != nil || again.SBOM != result.SBOM {
		t.Fatalf("second push: %+v, %v; want the same SBOM manifest %s", again, err, result.SBOM)
	}

	// The referrers tag, read raw: an index listing the SBOM's manifest once,
	// with its artifactType.
	resp, err := http.Get(fmt.Sprintf("http://%s/v2/monoreel/transcode/referrers/%s", registry, result.Digest))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	t.Logf("GET /v2/<name>/referrers/<digest>: %s (distribution 2.8 has no referrers API)", resp.Status)
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s/v2/monoreel/transcode/manifests/sha256-%s", registry, result.Digest.Hex), nil)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var fallback struct {
		MediaType string
		Manifests []struct{ MediaType, ArtifactType, Digest string }
	}
	err = json.NewDecoder(resp.Body).Decode(&fallback)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the referrers tag: %s, %v", resp.Status, err)
	}
	if len(fallback.Manifests) != 1 || fallback.Manifests[0].ArtifactType != SBOMArtifactType || fallback.Manifests[0].Digest != result.SBOM.String() {
		t.Fatalf("the referrers tag = %+v; want one %s entry %s", fallback, SBOMArtifactType, result.SBOM)
	}

	// A client's look-up finds the SBOM, byte for byte, with what it must list.
	ref, err := name.NewRepository(repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	found, err := SBOMs(ctx, ref, result.Digest, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || string(found[0]) != string(sbom) {
		t.Fatalf("found %d SBOMs (the first equal to the pushed one: %v)", len(found), len(found) > 0 && string(found[0]) == string(sbom))
	}
	var doc struct {
		SPDXVersion string
		Packages    []struct {
			Name, VersionInfo string
			ExternalRefs      []struct{ ReferenceLocator string }
		}
	}
	if err := json.Unmarshal(found[0], &doc); err != nil {
		t.Fatal(err)
	}
	purls := map[string]bool{}
	for _, p := range doc.Packages {
		for _, r := range p.ExternalRefs {
			purls[r.ReferenceLocator] = true
		}
	}
	var missing []string
	for _, prefix := range []string{
		"pkg:deb/debian/ffmpeg@", "pkg:deb/debian/libc6@", "pkg:deb/debian/libavcodec59@", // the Debian base
		"pkg:golang/google.golang.org/grpc@", "pkg:golang/go.opentelemetry.io/otel@", "pkg:golang/stdlib@go1", // the binary
	} {
		for _, arch := range []string{"amd64", "arm64"} {
			ok := false
			for p := range purls {
				ok = ok || (strings.HasPrefix(p, prefix) && (!strings.HasPrefix(p, "pkg:deb/") || strings.Contains(p, "arch="+arch)))
			}
			if !ok {
				missing = append(missing, prefix+" ("+arch+")")
			}
		}
	}
	if doc.SPDXVersion != "SPDX-2.3" || len(missing) > 0 {
		t.Errorf("the SBOM (%s, %d packages) lacks %v", doc.SPDXVersion, len(doc.Packages), missing)
	}
}
