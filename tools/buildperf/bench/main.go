// Command bench measures Monoreel's build on this machine, in one run, each figure
// next to its baseline from the same run:
//
//  1. cold: a clean build of the targets into a fresh output base, no cache (it
//     uploads to a fresh remote cache, as CI does, unless --cold_only), and its GoStdlib actions from
//     the execution log: the Go standard library must be built once per platform
//     for targets and once per platform for tools, never twice in two
//     configurations; with --before=REV, the same cold build of that revision
//     first, for a before/after comparison in one run;
//  2. warm: a clean build into another fresh output base, reading that cache;
//     2b. remote execution: a clean build into another fresh output base with
//     every action executed by buildbox-casd on loopback (buildbox-run-bubblewrap,
//     through tools/reapiadapter), its time against the cold build's
//     (--remote_exec=false skips it: one more cold build);
//     2g. then the same two builds against a gRPC cache as a team runs one
//     (tools/buildperf/internal/grpccache: casd behind the REAPI adapter behind
//     nginx with TLS and a bearer token): cold uploading to it, warm reading it,
//     each next to the HTTP cache's figure;
//  3. no-op: the same build again;
//  4. leaf edit: an exported declaration added to one library; how many actions
//     re-run out of the build's total, and whether each belongs to a target that
//     depends on the library;
//  5. //:release cold: every service binary for linux/amd64, linux/arm64 and
//     darwin/arm64, fresh output base, no cache;
//  6. the peer: plain `go build` (the pinned SDK) of the packages it can build (the
//     others need generated code) for the same three platforms, cold (empty
//     GOCACHE) and warm.
//
// It works on a copy of the checkout and a cache under the cache dir, so it never
// touches your tree or your output base. It takes about 25 minutes on 2 cores:
//
//	./bazelw run //tools/buildperf/bench [-- --targets=//... --leaf=libs/snowflake]
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/monoreel/monoreel/tools/buildperf/internal/buildrun"
	"github.com/monoreel/monoreel/tools/buildperf/internal/casdstack"
	"github.com/monoreel/monoreel/tools/buildperf/internal/grpccache"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

var platforms = []string{"linux/amd64", "linux/arm64", "darwin/arm64"}

func run() (err error) {
	workspace := flag.String("workspace", os.Getenv("BUILD_WORKSPACE_DIRECTORY"), "the checkout to measure (set by bazel run)")
	targets := flag.String("targets", "//...", "space-separated targets of the clean, warm, no-op and leaf builds")
	leaf := flag.String("leaf", "libs/snowflake", "the library package the leaf edit changes")
	goBin := flag.String("go", "", "the pinned Go SDK's go (set by the BUILD file)")
	before := flag.String("before", "", "a git revision to build cold too, before the checkout, for a before/after comparison")
	remoteExec := flag.Bool("remote_exec", true, "build the targets with remote execution on a local buildbox-casd too (one more cold build)")
	coldOnly := flag.Bool("cold_only", false, "stop after the cold build (with --before: the before/after comparison alone, two cold builds instead of seven)")
	keep := buildrun.KeepFlag()
	flag.Parse()
	if *workspace == "" || *goBin == "" {
		return errors.New("run me with ./bazelw run //tools/buildperf/bench")
	}
	goTool, err := filepath.EvalSymlinks(*goBin) // the SDK's real bin/, so go finds its GOROOT
	if err != nil {
		return err
	}
	work, err := buildrun.FreshWorkDir("", "bench")
	if err != nil {
		return err
	}
	defer func() { err = buildrun.Finish(err, *keep, work) }() // after the servers and caches stop
	checkout := filepath.Join(work, "checkout")
	if err := buildrun.CopyCheckout(*workspace, checkout); err != nil {
		return err
	}
	cache, err := buildrun.StartCache(filepath.Join(work, "cache"))
	if err != nil {
		return err
	}
	defer cache.Stop()
	grpcCache, err := grpccache.Start(filepath.Join(work, "grpc-cache"))
	if err != nil {
		return err
	}
	defer grpcCache.Stop()
	b := &bench{checkout: checkout, work: work, targets: strings.Fields(*targets), cache: cache, grpcCache: grpcCache, remoteExec: *remoteExec, coldOnly: *coldOnly}
	defer b.shutdown()
	if *before != "" {
		if err := b.coldAt(*workspace, *before); err != nil {
			return err
		}
	}
	return b.all(*leaf, goTool)
}

type bench struct {
	checkout, work string
	targets        []string
	cache          *buildrun.Cache
	remoteExec     bool
	coldOnly       bool
	grpcCache      *grpccache.Cache
	bases          []string
	before         *buildrun.Result // the cold build of --before, if any
}

// coldAt builds the targets cold at a git revision of the workspace (its files
// as committed, in a directory of their own) with no cache at all.
func (b *bench) coldAt(workspace, rev string) error {
	dir := filepath.Join(b.work, "before")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	archive := exec.Command("git", "-C", workspace, "archive", "--format=tar", rev)
	extract := exec.Command("tar", "-x", "-C", dir)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return err
	}
	extract.Stdin = pipe
	if err := extract.Start(); err != nil {
		return err
	}
	var stderr strings.Builder
	archive.Stderr = &stderr
	if err := archive.Run(); err != nil {
		return fmt.Errorf("git archive %s: %w\n%s", rev, err, stderr.String())
	}
	if err := extract.Wait(); err != nil {
		return fmt.Errorf("extracting %s: %w", rev, err)
	}
	base := filepath.Join(b.work, "output-before")
	defer buildrun.Bazel(dir, base, nil, "shutdown")
	r, err := buildrun.Bazel(dir, base, nil, "build", append([]string{"--disk_cache="}, b.targets...)...)
	if err != nil {
		return fmt.Errorf("building %s: %w", rev, err)
	}
	b.before = &r
	report("0. before: cold clean build of %s at %s (no cache): %s, %d actions", strings.Join(b.targets, " "), rev, secs(r.Elapsed), r.Actions)
	// Before the change it measures, a platform may well be built twice.
	if summary, err := buildrun.CheckStdlib(r); summary != "" {
		report("   %s", summary)
	} else if err != nil {
		return err
	}
	return nil
}

// reportStdlib prints a build's GoStdlib actions and fails if one platform's
// standard library was built twice for the same role.
func reportStdlib(r buildrun.Result) error {
	summary, err := buildrun.CheckStdlib(r)
	if summary != "" {
		report("   %s", summary)
	}
	return err
}

func (b *bench) base(name string) string {
	base := filepath.Join(b.work, "output-"+name)
	b.bases = append(b.bases, base)
	return base
}

// shutdown stops the Bazel servers of the output bases, which would otherwise
// idle for hours.
func (b *bench) shutdown() {
	for _, base := range b.bases {
		buildrun.Bazel(b.checkout, base, nil, "shutdown")
	}
}

func (b *bench) build(base string, flags ...string) (buildrun.Result, error) {
	args := append([]string{"--disk_cache="}, flags...)
	return buildrun.Bazel(b.checkout, base, nil, "build", append(args, b.targets...)...)
}

func (b *bench) all(leaf, goTool string) error {
	t := strings.Join(b.targets, " ")
	// The warm builds read what the cold one uploads; alone, it builds as the
	// --before build did, uploading nothing, for a like-for-like ratio.
	flags, what := []string{"--remote_cache=" + b.cache.URL, "--remote_upload_local_results"}, "no cache; uploading"
	if b.coldOnly {
		flags, what = nil, "no cache"
	}
	cold, err := b.build(b.base("cold"), flags...)
	if err != nil {
		return err
	}
	report("1. cold clean build of %s (%s): %s, %d actions", t, what, secs(cold.Elapsed), cold.Actions)
	if err := reportStdlib(cold); err != nil {
		return err
	}
	if b.before != nil {
		report("   before / now: %.2f (%s -> %s)", ratio(b.before.Elapsed, cold.Elapsed), secs(b.before.Elapsed), secs(cold.Elapsed))
	}
	if b.coldOnly {
		return nil
	}

	warmBase := b.base("warm")
	readCache := []string{"--config=remote-cache", "--remote_cache=" + b.cache.URL}
	warm, err := b.build(warmBase, readCache...)
	if err != nil {
		return err
	}
	report("2. clean build of %s with the warm remote cache: %s, %d of %d cacheable actions hit; %.1fx faster than cold (target: 5x)",
		t, secs(warm.Elapsed), warm.Hits, warm.Cacheable(), ratio(cold.Elapsed, warm.Elapsed))

	if err := b.grpcRows(cold, warm); err != nil {
		return err
	}
	if b.remoteExec {
		if err := b.remote(cold); err != nil {
			return err
		}
	}

	noop, err := b.build(warmBase, readCache...)
	if err != nil {
		return err
	}
	report("3. no-op rebuild: %s, %d actions run (target: under 1 s)", secs(noop.Elapsed), noop.Processes-noop.Internal)

	if err := b.leafEdit(warmBase, leaf, readCache, warm.Actions); err != nil {
		return err
	}

	release, err := buildrun.Bazel(b.checkout, b.base("release"), nil, "build", "--disk_cache=", "//:release")
	if err != nil {
		return err
	}
	report("5. cold clean build of //:release (%s): %s, %d actions", strings.Join(platforms, ", "), secs(release.Elapsed), release.Actions)

	return b.goPeer(goTool, release.Elapsed, noop.Elapsed)
}

// remote builds the targets clean with every action executed by a local
// buildbox-casd (its bubblewrap runner running as many actions as there are
// cores), as --config=remote-exec does with a real executor, and reports its
// time against the cold local build's.
func (b *bench) remote(cold buildrun.Result) error {
	jobs := runtime.NumCPU()
	stack, err := casdstack.Start(filepath.Join(b.work, "casd"), casdstack.Options{ExecJobs: jobs})
	if err != nil {
		return err
	}
	defer stack.Stop()
	r, err := b.build(b.base("remote-exec"), "--config=remote-exec", "--remote_executor=grpc://"+stack.AdapterAddr)
	if err != nil {
		return err
	}
	spawns, err := buildrun.ReadSpawns(r.ExecLog)
	if err != nil {
		return err
	}
	report("2b. clean build of %s with remote execution (buildbox-casd on loopback, bubblewrap, %d jobs): %s, %s; %.2fx the cold build's time",
		strings.Join(b.targets, " "), jobs, secs(r.Elapsed), buildrun.RunnersSummary(buildrun.Runners(spawns)), ratio(r.Elapsed, cold.Elapsed))
	return nil
}

// grpcRows builds cold uploading to the gRPC cache, then warm from it, and
// sets each figure next to the HTTP cache's.
func (b *bench) grpcRows(httpCold, httpWarm buildrun.Result) error {
	t := strings.Join(b.targets, " ")
	flags := append([]string{"--config=remote-cache-grpc"}, b.grpcCache.Flags()...)
	cold, err := b.build(b.base("cold-grpc"), append(flags, "--remote_upload_local_results")...)
	if err != nil {
		return err
	}
	report("2g. cold clean build of %s uploading to the gRPC cache (TLS, token, adapter, casd): %s, %d actions; gRPC / HTTP upload: %.2f (%s)",
		t, secs(cold.Elapsed), cold.Actions, ratio(cold.Elapsed, httpCold.Elapsed), secs(httpCold.Elapsed))
	warm, err := b.build(b.base("warm-grpc"), flags...)
	if err != nil {
		return err
	}
	report("    clean build of %s with the warm gRPC cache: %s, %d of %d cacheable actions hit; %.1fx faster than its cold; gRPC / HTTP warm: %.2f (%s)",
		t, secs(warm.Elapsed), warm.Hits, warm.Cacheable(), ratio(cold.Elapsed, warm.Elapsed), ratio(warm.Elapsed, httpWarm.Elapsed), secs(httpWarm.Elapsed))
	return nil
}

// leafEdit adds an exported constant to a library, rebuilds, and checks that only
// the library and the targets that depend on it re-ran actions.
func (b *bench) leafEdit(base, leaf string, flags []string, total int) error {
	src, err := firstSource(filepath.Join(b.checkout, leaf))
	if err != nil {
		return err
	}
	f, err := os.OpenFile(src, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "\n// BenchEdit is tools/buildperf/bench's leaf edit: a change to the package's API.\nconst BenchEdit = %d\n", time.Now().UnixNano())
	if err := f.Close(); err != nil {
		return err
	}
	edit, err := b.build(base, flags...)
	if err != nil {
		return err
	}
	dependents, err := b.query(base, fmt.Sprintf("rdeps(%s, //%s:all)", strings.Join(b.targets, " + "), leaf))
	if err != nil {
		return err
	}
	spawns, err := buildrun.ReadSpawns(edit.ExecLog)
	if err != nil {
		return err
	}
	var strangers []string
	for _, s := range spawns {
		if label := strings.TrimLeft(s.Label, "@"); !dependents[label] {
			strangers = append(strangers, s.Mnemonic+" "+label)
		}
	}
	report("4. leaf edit of //%s: %d of %d actions re-ran (%.1f%%), in %s; %d targets depend on it",
		leaf, len(spawns), total, 100*float64(len(spawns))/float64(max(total, 1)), secs(edit.Elapsed), len(dependents))
	if len(strangers) > 0 {
		sort.Strings(strangers)
		return fmt.Errorf("the leaf edit re-ran %d actions of targets that do not depend on //%s: %s",
			len(strangers), leaf, strings.Join(strangers, ", "))
	}
	report("   every re-run action belongs to //%s or a target that depends on it", leaf)
	return nil
}

// goPeer builds with plain go what plain go can build, for the three platforms.
func (b *bench) goPeer(goTool string, releaseCold, bazelNoop time.Duration) error {
	env := append(os.Environ(), "GOCACHE="+filepath.Join(b.work, "gocache"), "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	pkgs, total, err := b.goBuildable(goTool, env)
	if err != nil {
		return err
	}
	pass := func() (time.Duration, error) {
		start := time.Now()
		for _, p := range platforms {
			goos, goarch, _ := strings.Cut(p, "/")
			// Several packages at once: go builds them all and keeps nothing.
			if out, err := b.goCmd(goTool, append(env, "GOOS="+goos, "GOARCH="+goarch), append([]string{"build"}, pkgs...)...); err != nil {
				return 0, fmt.Errorf("go build for %s: %w\n%s", p, err, buildrun.Tail(out, 20))
			}
		}
		return time.Since(start), nil
	}
	cold, err := pass()
	if err != nil {
		return err
	}
	warm, err := pass()
	if err != nil {
		return err
	}
	report("6. peer: go build of %d of %d packages (the rest need generated code) for %s: cold %s, warm %s",
		len(pkgs), total, strings.Join(platforms, ", "), secs(cold), secs(warm))
	report("   Bazel //:release cold / go build cold: %.2f (Bazel also builds the generated code, the SDK's standard library per platform and links every service)",
		ratio(releaseCold, cold))
	report("   Bazel no-op / go build warm: %.2f", ratio(bazelNoop, warm))
	return nil
}

// goBuildable returns the packages plain go builds, and how many there are in
// all: it drops those that fail for want of generated code (missing packages or
// methods) and everything that imports them. It builds with a scratch cache of
// its own, so the measured cold build stays cold.
func (b *bench) goBuildable(goTool string, env []string) ([]string, int, error) {
	// Packages of tests alone (no GoFiles) are not for go build: "no non-test Go files".
	out, err := b.goCmd(goTool, env, "list", "-e", "-f", "{{if .GoFiles}}{{.ImportPath}} {{.Incomplete}} {{join .Deps \" \"}}{{end}}", "./...")
	if err != nil {
		return nil, 0, fmt.Errorf("go list: %w\n%s", err, out)
	}
	deps := map[string][]string{}
	var all []string
	bad := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		all = append(all, f[0])
		deps[f[0]] = f[2:]
		if f[1] == "true" {
			bad[f[0]] = true
		}
	}
	probe := append(env, "GOCACHE="+filepath.Join(b.work, "gocache-probe"))
	for {
		var ok []string
		for _, p := range all {
			if !bad[p] && !slices.ContainsFunc(deps[p], func(d string) bool { return bad[d] }) {
				ok = append(ok, p)
			}
		}
		out, err := b.goCmd(goTool, probe, append([]string{"build"}, ok...)...)
		if err == nil {
			return ok, len(all), nil
		}
		failing := 0
		for _, line := range strings.Split(out, "\n") {
			if pkg, found := strings.CutPrefix(line, "# "); found && !bad[pkg] {
				bad[pkg] = true
				failing++
			}
		}
		if failing == 0 {
			return nil, 0, fmt.Errorf("go build: %w\n%s", err, buildrun.Tail(out, 20))
		}
	}
}

func (b *bench) goCmd(goTool string, env []string, args ...string) (string, error) {
	cmd := exec.Command(goTool, args...)
	cmd.Dir, cmd.Env = b.checkout, env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (b *bench) query(base, expr string) (map[string]bool, error) {
	found, err := buildrun.Query(b.checkout, base, expr)
	if err != nil {
		return nil, err
	}
	labels := map[string]bool{}
	for _, label := range found {
		labels[label] = true
	}
	return labels, nil
}

// firstSource returns the first non-test Go file of a package directory.
func firstSource(dir string) (string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			return f, nil
		}
	}
	return "", fmt.Errorf("no Go source in %s", dir)
}

func report(format string, args ...any) { fmt.Printf("bench: "+format+"\n", args...) }

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return a.Seconds() / b.Seconds()
}
