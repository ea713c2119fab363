// Command remotecachegrpc proves that Bazel uses a real gRPC (REAPI) remote
// cache: buildbox-casd (Debian testing's buildbox) on loopback, behind
// tools/reapiadapter, which Bazel < 9 needs to accept casd. It is
// tools/buildperf/remotecache's first three steps on a gRPC cache:
//
//  1. builds the targets into a fresh output base A, from a copy of the
//     checkout, with --config=remote-cache-grpc against the adapter and an empty
//     casd, uploading (as CI does);
//  2. builds them into a fresh output base B from a second copy at another path,
//     and requires every cacheable action to be a remote cache hit;
//  3. compares the outputs of A and B byte for byte;
//  4. asks Bazel to use casd directly (no adapter) and reports what it says:
//     Bazel 7 and 8 refuse it ("The client supported API versions, 2.0 to 2.0, is
//     not supported by the server, 2.1 to 2.12"); Bazel 9 accepts it.
//
// Run it as `./bazelw run //tools/buildperf/remotecachegrpc -- [--targets=//libs/snowflake/...]`.
// Output bases, checkouts and casd's storage go under the cache dir
// (~/.cache/monoreel/remotecache-grpc-check), never /tmp.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/monoreel/monoreel/tools/buildperf/internal/buildrun"
	"github.com/monoreel/monoreel/tools/buildperf/internal/casdstack"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "remotecachegrpc:", err)
		os.Exit(1)
	}
}

func run() error {
	workspace := flag.String("workspace", os.Getenv("BUILD_WORKSPACE_DIRECTORY"), "the checkout to build (set by bazel run)")
	targets := flag.String("targets", "//libs/snowflake/...", "space-separated targets to build into A and B")
	workDir := flag.String("work_dir", "", "where output bases, the copies and casd's storage go (default: <cache dir>/remotecache-grpc-check)")
	flag.Parse()
	if *workspace == "" {
		return errors.New("no --workspace (run me with ./bazelw run)")
	}
	work, err := buildrun.FreshWorkDir(*workDir, "remotecache-grpc-check")
	if err != nil {
		return err
	}
	c := &checker{workspace: *workspace, work: work, targets: strings.Fields(*targets)}
	defer c.stop()
	return c.all()
}

type checker struct {
	workspace, work string
	targets         []string
	// casd and the adapter in front of it, both plaintext gRPC on loopback.
	reapi *casdstack.Stack
	// Output bases A and B and the copies of the checkout they build from, as in
	// tools/buildperf/remotecache.
	baseA, baseB, copyA, copyB string
}

func (c *checker) all() error {
	if err := c.start(); err != nil {
		return err
	}
	c.baseA, c.baseB = filepath.Join(c.work, "output-A"), filepath.Join(c.work, "output-B")
	c.copyA, c.copyB = filepath.Join(c.work, "checkout-A"), filepath.Join(c.work, "checkout-B")

	step("1. clean build into output base A, from a copy of the checkout, uploading to the empty casd through the adapter")
	a, err := c.build(c.copyA, c.baseA)
	if err != nil {
		return err
	}
	fmt.Printf("   %s (%s)\n", a.Summary, a.Elapsed.Round(100*time.Millisecond))
	if a.Hits != 0 {
		return fmt.Errorf("A had %d remote cache hits from an empty cache", a.Hits)
	}

	step("2. clean build into output base B, from another copy of the checkout")
	b, err := c.build(c.copyB, c.baseB)
	if err != nil {
		return err
	}
	fmt.Printf("   %s (%s)\n   remote cache hits: %d of %d cacheable actions (%.1f%%)\n",
		b.Summary, b.Elapsed.Round(100*time.Millisecond), b.Hits, b.Cacheable(), 100*b.HitRate())
	if b.Hits != b.Cacheable() {
		return fmt.Errorf("%d cacheable actions missed the cache in B (execution logs: %s, %s; explain with //tools/buildperf/cachediff)",
			b.Cacheable()-b.Hits, a.ExecLog, b.ExecLog)
	}

	step("3. outputs of A and B, byte for byte")
	n, err := buildrun.CompareOutputs(c.copyA, c.baseA, c.copyB, c.baseB, c.targets)
	if err != nil {
		return err
	}
	fmt.Printf("   %d output files identical\n", n)

	step("4. Bazel and casd without the adapter")
	if err := c.direct(); err != nil {
		return err
	}
	step("all checks passed")
	return nil
}

// build is a clean build of the targets in dir, into its own output base,
// against the adapter, writing to the cache as CI does. No disk cache: the
// copies have no user.bazelrc, and --disk_cache= says it again.
func (c *checker) build(dir, outputBase string) (buildrun.Result, error) {
	if err := buildrun.CopyCheckout(c.workspace, dir); err != nil {
		return buildrun.Result{}, err
	}
	r, err := buildrun.Bazel(dir, outputBase, nil, "build", append([]string{
		"--config=remote-cache-grpc", "--remote_cache=grpc://" + c.reapi.AdapterAddr,
		"--remote_upload_local_results", "--disk_cache=",
	}, c.targets...)...)
	for _, w := range r.CacheWarnings() {
		fmt.Printf("   %s\n", strings.ReplaceAll(w, "\n", "\n   "))
	}
	return r, err
}

// direct asks Bazel to analyze the targets with casd itself as the cache (no
// action runs) and reports Bazel's verdict on casd's API versions.
func (c *checker) direct() error {
	r, err := buildrun.Bazel(c.copyB, c.baseB, nil, "build", append([]string{
		"--nobuild", "--config=remote-cache-grpc", "--remote_cache=grpc://" + c.reapi.CasdAddr, "--disk_cache=",
	}, c.targets...)...)
	refusal := buildrun.FirstLine(r.Output, "is not supported by the server")
	version := c.bazelVersion()
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
func (c *checker) bazelVersion() string {
	cmd := exec.Command(filepath.Join(c.copyB, "bazelw"), "--version")
	cmd.Dir = c.copyB
	out, err := cmd.Output()
	if v := strings.TrimSpace(string(out)); err == nil && v != "" {
		return v
	}
	return "Bazel"
}

// start runs casd (storage under the work dir) and the adapter in front of it.
func (c *checker) start() error {
	var err error
	if c.reapi, err = casdstack.Start(c.work, casdstack.Options{}); err != nil {
		return err
	}
	step(fmt.Sprintf("casd at %s (storage %s), the adapter at %s", c.reapi.CasdAddr, c.reapi.Storage, c.reapi.AdapterAddr))
	return nil
}

// stop ends the adapter, casd and the Bazel servers of A and B.
func (c *checker) stop() {
	for _, p := range [][2]string{{c.copyA, c.baseA}, {c.copyB, c.baseB}} {
		if p[0] != "" {
			if _, err := os.Stat(p[1]); err == nil {
				buildrun.Bazel(p[0], p[1], nil, "shutdown")
			}
		}
	}
	if c.reapi != nil {
		c.reapi.Stop()
	}
}

func step(s string) { fmt.Println("remotecachegrpc: " + s) }
