// Command remotecache proves that Monoreel's build is hermetic enough to share a
// remote cache between machines and checkouts. It starts a real remote cache on
// loopback, with its storage under the cache dir: with -backend=http (the
// default) an HTTP cache (nginx with WebDAV PUT, from Debian); with -backend=grpc
// a gRPC (REAPI) cache as a team runs one (tools/buildperf/internal/grpccache:
// buildbox-casd behind tools/reapiadapter behind nginx with TLS and a bearer
// token, Bazel using grpcs:// with --tls_certificate and the token in
// --remote_header). Then:
//
//  1. builds the targets into a fresh output base A, from a copy of the checkout,
//     with an empty cache (uploading), and requires its execution log to hold one
//     GoStdlib action per platform and role (buildrun.CheckStdlibOnce);
//  2. builds them into a fresh output base B from a second copy at another path,
//     and requires every cacheable action to be a remote cache hit (a miss fails
//     with cachediff's explanation);
//  3. compares the outputs of A and B byte for byte;
//  4. builds a planted non-hermetic action (//tools/buildperf/cachediff/testdata) in A and B
//     and requires cachediff to name it as the culprit of the misses it causes;
//  5. stops the cache in the middle of a clean build (HTTP: nginx; gRPC: casd,
//     behind the front): the build must still succeed, locally, with a warning;
//  6. corrupts every blob in the cache (HTTP: nginx's files; gRPC: casd's
//     cas/objects): a clean build must refuse them (digests), run the actions
//     locally and produce the same outputs as A;
//  7. checks that an anonymous upload is refused (HTTP: basic auth, 401; gRPC:
//     no bearer token, UNAUTHENTICATED) and an authenticated one accepted, and
//     that --config=remote-cache (or remote-cache-grpc), read-only, never writes;
//  8. (gRPC) asks Bazel to use casd without the adapter and reports what it says:
//     Bazel 7 and 8 refuse it ("The client supported API versions, 2.0 to 2.0, is
//     not supported by the server, 2.1 to 2.12"); Bazel 9 accepts it.
//
// Run it as `./bazelw run //tools/buildperf/remotecache -- [--backend=grpc] [--targets=//...]`;
// CI runs it after the tests (.ci/run), on both backends.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/monoreel/monoreel/tools/buildperf/cachediff/execlog"
	"github.com/monoreel/monoreel/tools/buildperf/internal/buildrun"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "remotecache:", err)
		os.Exit(1)
	}
}

func run() (err error) {
	workspace := flag.String("workspace", os.Getenv("BUILD_WORKSPACE_DIRECTORY"), "the checkout to build (set by bazel run)")
	workspaceOf := flag.String("workspace_of", "", "a runfile of the checkout (its MODULE.bazel): how the test finds the checkout")
	targets := flag.String("targets", "//...", "space-separated targets to build into A and B (steps 1-3)")
	faultTargets := flag.String("fault_targets", "//libs/snowflake:snowflake_test", "space-separated targets for the fault and access steps (5-7), each a clean build: a Go test binary (the standard library, compile, link) lasts long enough for the cache to die mid-build")
	cachediff := flag.String("cachediff", "", "the cachediff binary (set by the BUILD file)")
	workDir := flag.String("work_dir", "", "where output bases, the copy and the cache storage go (default: <cache dir>/remotecache-check, -grpc-check for gRPC)")
	keep := buildrun.KeepFlag()
	kind := flag.String("backend", "http", "the cache: http (nginx WebDAV) or grpc (casd, the adapter, nginx with TLS and a token)")
	flag.Parse()
	var cache backend
	switch *kind {
	case "http":
		cache = &httpBackend{}
	case "grpc":
		cache = &grpcBackend{}
	default:
		return fmt.Errorf("-backend=%q: want http or grpc", *kind)
	}
	if *workspace == "" && *workspaceOf != "" {
		real, err := filepath.EvalSymlinks(*workspaceOf)
		if err != nil {
			return err
		}
		*workspace = filepath.Dir(real)
	}
	if *workspace == "" {
		return errors.New("no --workspace (run me with ./bazelw run)")
	}
	name := "remotecache-check"
	if *kind != "http" {
		name = "remotecache-" + *kind + "-check"
	}
	work, err := buildrun.FreshWorkDir(*workDir, name)
	if err != nil {
		return err
	}
	defer func() { err = buildrun.Finish(err, *keep, work) }() // after c.shutdown
	if *cachediff == "" {
		return errors.New("no --cachediff (run me with ./bazelw run)")
	}
	cachediffBin, err := filepath.Abs(*cachediff)
	if err != nil {
		return err
	}
	c := &checker{workspace: *workspace, work: work, targets: strings.Fields(*targets),
		faultTargets: strings.Fields(*faultTargets), cachediffBin: cachediffBin, cache: cache}
	defer c.shutdown()
	return c.all()
}

type checker struct {
	workspace, work string
	targets         []string // steps 1-3
	faultTargets    []string // steps 5-7: smaller, each step is a clean build
	cachediffBin    string
	cache           backend
	// Output bases A and B, and the copies of the checkout they build from: a
	// copy has no convenience symlinks (bazel-<dir>) into another output base,
	// which a build of //... with a new output base would wander into, and no
	// user.bazelrc, so A and B build with the same settings.
	baseA, baseB, copyA, copyB string
}

// all runs the steps of the package comment in order: each builds on the state
// the ones before leave (B reads what A uploaded; 4-7 reuse B's output base).
func (c *checker) all() error {
	if err := c.cache.start(c.work); err != nil {
		return err
	}
	step(c.cache.describe())
	c.baseA, c.baseB = filepath.Join(c.work, "output-A"), filepath.Join(c.work, "output-B")
	c.copyA, c.copyB = filepath.Join(c.work, "checkout-A"), filepath.Join(c.work, "checkout-B")
	a, err := c.buildA()
	if err != nil {
		return err
	}
	if err := c.buildB(a); err != nil {
		return err
	}
	if err := c.compareAB(); err != nil {
		return err
	}
	if err := c.plantedMiss(); err != nil {
		return err
	}
	if err := c.cacheGoesAway(); err != nil {
		return err
	}
	if err := c.corruptCache(); err != nil {
		return err
	}
	if err := c.access(); err != nil {
		return err
	}
	if g, ok := c.cache.(*grpcBackend); ok {
		if err := g.withoutAdapter(c); err != nil {
			return err
		}
	}
	step("all checks passed")
	return nil
}

// buildA is step 1; B's misses are explained against its execution log.
func (c *checker) buildA() (buildrun.Result, error) {
	step("1. clean build into output base A, from a copy of the checkout at " + c.copyA + ", uploading to the empty cache")
	if err := buildrun.CopyCheckout(c.workspace, c.copyA); err != nil {
		return buildrun.Result{}, err
	}
	a, err := c.bazel(c.copyA, c.baseA, "build", append([]string{"--remote_upload_local_results"}, c.targets...)...)
	if err != nil {
		return a, err
	}
	fmt.Printf("   %s (%s)\n", a.Summary, secs(a))
	printCacheWarnings(a)
	// A clean build is where a second configuration of one platform shows.
	summary, err := buildrun.CheckStdlib(a)
	if summary != "" {
		fmt.Printf("   %s\n", summary)
	}
	return a, err
}

// buildB is step 2: every cacheable action of B must hit what A uploaded.
func (c *checker) buildB(a buildrun.Result) error {
	step("2. clean build into output base B, from a copy of the checkout at " + c.copyB)
	if err := buildrun.CopyCheckout(c.workspace, c.copyB); err != nil {
		return err
	}
	b, err := c.bazel(c.copyB, c.baseB, "build", append([]string{"--remote_upload_local_results"}, c.targets...)...)
	if err != nil {
		return err
	}
	fmt.Printf("   %s (%s)\n   remote cache hits: %d of %d cacheable actions (%.1f%%)\n", b.Summary, secs(b), b.Hits, b.Cacheable(), 100*b.HitRate())
	printCacheWarnings(b)
	if b.Hits != b.Cacheable() {
		return fmt.Errorf("%d cacheable actions missed the cache in B: a non-hermetic action. cachediff %s %s says:\n%s",
			b.Cacheable()-b.Hits, a.ExecLog, b.ExecLog, c.cachediff(a.ExecLog, b.ExecLog))
	}
	return nil
}

// compareAB is step 3.
func (c *checker) compareAB() error {
	step("3. outputs of A and B, byte for byte")
	n, err := buildrun.CompareOutputs(c.copyA, c.baseA, c.copyB, c.baseB, c.targets)
	if err != nil {
		return err
	}
	fmt.Printf("   %d output files identical\n", n)
	return nil
}

// plantedMiss is step 4: a miss must be caught, and cachediff must name its cause.
func (c *checker) plantedMiss() error {
	step("4. a planted non-hermetic action: the misses it causes, explained by cachediff")
	planted := []string{"//tools/buildperf/cachediff/testdata:planted"}
	pa, err := c.bazel(c.copyA, c.baseA, "build", append([]string{"--remote_upload_local_results"}, planted...)...)
	if err != nil {
		return err
	}
	pb, err := c.bazel(c.copyB, c.baseB, "build", planted...)
	if err != nil {
		return err
	}
	if pb.Hits == pb.Cacheable() {
		return fmt.Errorf("the action reading a non-hermetic input hit the cache (%s)", pb.Summary)
	}
	report := c.cachediff(pa.ExecLog, pb.ExecLog)
	culprit := buildrun.FirstLine(report, "1. ")
	if !strings.Contains(culprit, "//tools/buildperf/cachediff/testdata:now") {
		return fmt.Errorf("cachediff did not name the planted //tools/buildperf/cachediff/testdata:now first:\n%s", report)
	}
	fmt.Printf("   B: %s\n   cachediff's first culprit: %s\n", pb.Summary, culprit)
	return nil
}

// cacheGoesAway is step 5; it leaves the cache running again.
func (c *checker) cacheGoesAway() error {
	step("5. the cache goes away in the middle of a clean build")
	if _, err := c.bazel(c.copyB, c.baseB, "clean"); err != nil {
		return err
	}
	fault, err := c.bazelWhile(c.copyB, c.baseB, c.cache.kill, "build", c.faultTargets...)
	if err != nil {
		return fmt.Errorf("the build failed when the cache went away: %w", err)
	}
	// A Bazel warning, not the summary's "remote cache hit": the hits before the
	// cache died do not prove the fallback.
	warning := ""
	if w := fault.CacheWarnings(); len(w) > 0 {
		warning = strings.ReplaceAll(w[0], "\n", " ")
	}
	if warning == "" {
		return fmt.Errorf("the build survived the cache going away but printed no remote cache warning:\n%s", buildrun.Tail(fault.Output, 20))
	}
	fmt.Printf("   build succeeded locally (%s, %s), warned: %.160s\n", fault.Summary, secs(fault), warning)
	return c.cache.restart()
}

// corruptCache is step 6.
func (c *checker) corruptCache() error {
	step("6. every blob in the cache corrupted: detected by digest, never used")
	corrupted, err := corruptBlobs(c.cache.blobDir())
	if err != nil {
		return err
	}
	if _, err := c.bazel(c.copyB, c.baseB, "clean"); err != nil {
		return err
	}
	corrupt, err := c.bazel(c.copyB, c.baseB, "build", c.faultTargets...)
	if err != nil {
		return fmt.Errorf("the build on a corrupt cache failed instead of running the actions locally: %w", err)
	}
	mismatch := buildrun.FirstLine(corrupt.Output, "digest")
	if mismatch == "" {
		return fmt.Errorf("%d corrupt blobs were served without a digest warning:\n%s", corrupted, buildrun.Tail(corrupt.Output, 20))
	}
	served, empty, err := servedHits(corrupt.ExecLog)
	if err != nil {
		return err
	}
	if len(served) != 0 {
		return fmt.Errorf("%d actions were served from a cache whose every blob is corrupt, e.g. %s", len(served), served[0])
	}
	n, err := buildrun.CompareOutputs(c.copyA, c.baseA, c.copyB, c.baseB, c.faultTargets)
	if err != nil {
		return fmt.Errorf("after the corrupt cache: %w", err)
	}
	fmt.Printf("   %d blobs corrupted; refused (%s, %s), ran locally, %d outputs identical to A\n   (%d cache hits had only empty outputs, which Bazel knows by digest and never downloads)\n   warned: %.200s\n",
		corrupted, corrupt.Summary, secs(corrupt), n, empty, mismatch)
	return nil
}

// emptyDigest is the SHA-256 of no bytes: Bazel never fetches a blob with it.
const emptyDigest = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// servedHits reads a build's execution log and returns the cache hits that
// took a blob from the cache, and how many hits had only empty outputs (nogo's
// for a package with no findings, say): those are correct whatever the cache
// holds, so a corrupt cache may serve them.
func servedHits(execLog string) (served []string, empty int, err error) {
	f, err := os.Open(execLog)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	spawns, err := execlog.Read(f)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", execLog, err)
	}
	for _, s := range spawns {
		if !s.CacheHit {
			continue
		}
		blobs := false
		for _, digest := range s.Outputs {
			blobs = blobs || (digest != "" && digest != emptyDigest)
		}
		if blobs {
			served = append(served, s.Mnemonic+" "+s.ID())
		} else {
			empty++
		}
	}
	return served, empty, nil
}

// access is step 7.
func (c *checker) access() error {
	step("7. access: an anonymous upload, an authenticated one, and the read-only config")
	refused, err := c.cache.checkAuth()
	if err != nil {
		return err
	}
	writes := c.cache.writes()
	if _, err := c.bazel(c.copyB, c.baseB, "clean"); err != nil {
		return err
	}
	if _, err := c.bazel(c.copyB, c.baseB, "build", c.faultTargets...); err != nil {
		return err
	}
	if after := c.cache.writes(); after != writes {
		return fmt.Errorf("%s wrote to the cache %d times", c.cache.flags()[0], after-writes)
	}
	fmt.Printf("   anonymous upload refused (%s), authenticated accepted; %s wrote nothing\n", refused, c.cache.flags()[0])
	return nil
}

func secs(r buildrun.Result) string { return fmt.Sprintf("%.1f s", r.Elapsed.Seconds()) }

func step(s string) { fmt.Println("remotecache: " + s) }

// printCacheWarnings shows what Bazel said about the cache during a build that
// should have gone cleanly: a failed upload there is a miss later.
func printCacheWarnings(r buildrun.Result) {
	for _, w := range r.CacheWarnings() {
		fmt.Printf("   %s\n", strings.ReplaceAll(w, "\n", "\n   "))
	}
}

// cachediff returns what //tools/buildperf/cachediff says about the misses of log b against a.
func (c *checker) cachediff(a, b string) string {
	out, err := exec.Command(c.cachediffBin, a, b).CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) { // 1: there were misses
		return fmt.Sprintf("cachediff failed: %v\n%s", err, out)
	}
	return string(out)
}

// bazel builds (or cleans) in dir with its own output base, against the cache
// with --config=remote-cache(-grpc) as users have it (it reads and never writes); the
// upload steps add --remote_upload_local_results as CI does. No disk cache.
func (c *checker) bazel(dir, outputBase, command string, args ...string) (buildrun.Result, error) {
	return c.bazelWhile(dir, outputBase, nil, command, args...)
}

// bazelWhile is bazel, calling during (if set) once the build is under way.
func (c *checker) bazelWhile(dir, outputBase string, during func(), command string, args ...string) (buildrun.Result, error) {
	if command == "build" {
		args = append(append(c.cache.flags(), "--disk_cache="), args...)
	}
	return buildrun.Bazel(dir, outputBase, during, command, args...)
}

// corruptBlobs flips a byte in every stored blob.
func corruptBlobs(dir string) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil || len(data) == 0 {
			return err
		}
		data[len(data)/2] ^= 0xff
		n++
		return os.WriteFile(path, data, 0o644)
	})
	return n, err
}

// shutdown stops the cache and the Bazel servers of A and B, which would
// otherwise idle for hours.
func (c *checker) shutdown() {
	for _, p := range [][2]string{{c.copyA, c.baseA}, {c.copyB, c.baseB}} {
		if _, err := os.Stat(p[1]); p[0] != "" && err == nil {
			buildrun.Bazel(p[0], p[1], nil, "shutdown")
		}
	}
	c.cache.stop()
}
