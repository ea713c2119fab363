// Command remoteexec proves that Bazel executes this repository's actions on a
// real REAPI executor: buildbox-casd (Debian testing's buildbox) with its local
// Execution service and buildbox-run-bubblewrap as the runner, on loopback,
// behind tools/reapiadapter (Bazel < 9 needs it to accept casd). Each action
// runs in its own input root (testproc.CasdExecutorArgs says what it sees). It
//
//  1. builds the targets into a fresh output base L, from a copy of the
//     checkout, with no cache and no executor: the local baseline;
//  2. builds them into a fresh output base R, from a second copy at another
//     path, with --config=remote-exec against the adapter and an empty casd, and
//     counts from the execution log what ran each spawn: every spawn must have
//     run remotely, except those a tag or rule keeps local, which it names with
//     the reason (Bazel's "N processes: ... remote" line is the cross-check);
//  3. compares the outputs of L and R byte for byte;
//  4. runs the test targets in R with --config=remote-exec, the tests executed
//     remotely too, except those tagged no-remote-exec, which it lists: they
//     run locally by design (their BUILD files say why: they read the checkout,
//     which these copies are not, or start a sandbox of their own);
//  5. prints the wall times of 1 and 2 and their ratio.
//
// Run it as `./bazelw run //tools/buildperf/remoteexec -- [--targets=... --tests=...]`.
// Output bases, checkouts and casd's storage go under the cache dir
// (~/.cache/monoreel/remoteexec-check), never /tmp; they are kept after the run
// for a look (the next run deletes them).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/monoreel/monoreel/tools/buildperf/internal/buildrun"
	"github.com/monoreel/monoreel/tools/buildperf/internal/casdstack"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "remoteexec:", err)
		os.Exit(1)
	}
}

// The default scope covers each kind of action the repository has: Go
// compile and link (with nogo), Go and TypeScript code generated from protos
// (Debian's protoc, protoc-gen-go, protoc-gen-es on node), a genrule (the
// console's bundle, esbuild) and Go tests.
const (
	defaultTargets = "//libs/snowflake/... //proto/idgen/... //services/idgen //services/console/web:bundle"
	defaultTests   = "//libs/snowflake:snowflake_test //services/idgen/internal/watermark:watermark_test"
)

func run() (err error) {
	workspace := flag.String("workspace", os.Getenv("BUILD_WORKSPACE_DIRECTORY"), "the checkout to build (set by bazel run)")
	targets := flag.String("targets", defaultTargets, "space-separated targets to build locally and remotely")
	tests := flag.String("tests", defaultTests, "space-separated test targets to run remotely after the build (none: empty)")
	jobs := flag.Int("exec_jobs", runtime.NumCPU(), "actions casd's runner runs at once")
	workDir := flag.String("work_dir", "", "where output bases, the copies and casd's storage go (default: <cache dir>/remoteexec-check)")
	keep := buildrun.KeepFlag()
	flag.Parse()
	if *workspace == "" {
		return errors.New("no --workspace (run me with ./bazelw run)")
	}
	work, err := buildrun.FreshWorkDir(*workDir, "remoteexec-check")
	if err != nil {
		return err
	}
	defer func() { err = buildrun.Finish(err, *keep, work) }() // after c.stop
	c := &checker{
		workspace: *workspace, work: work, jobs: *jobs,
		targets: strings.Fields(*targets), tests: strings.Fields(*tests),
		copyL: filepath.Join(work, "checkout-L"), baseL: filepath.Join(work, "output-L"),
		copyR: filepath.Join(work, "checkout-R"), baseR: filepath.Join(work, "output-R"),
	}
	defer c.stop()
	return c.all()
}

type checker struct {
	workspace, work string
	jobs            int
	targets, tests  []string
	reapi           *casdstack.Stack
	// The local (L) and remote (R) output bases and the checkouts they build from.
	copyL, baseL, copyR, baseR string
}

func (c *checker) all() error {
	step("1. local baseline: clean build into output base L, no cache, no executor")
	if err := buildrun.CopyCheckout(c.workspace, c.copyL); err != nil {
		return err
	}
	local, err := buildrun.Bazel(c.copyL, c.baseL, nil, "build", append([]string{"--disk_cache="}, c.targets...)...)
	if err != nil {
		return err
	}
	fmt.Printf("   %s (%s)\n", local.Summary, round(local.Elapsed))

	if c.reapi, err = casdstack.Start(c.work, casdstack.Options{ExecJobs: c.jobs}); err != nil {
		return err
	}
	step(fmt.Sprintf("casd with buildbox-run-bubblewrap (%d jobs) at %s, storage %s, log %s; the adapter at %s",
		c.jobs, c.reapi.CasdAddr, c.reapi.Storage, c.reapi.Log, c.reapi.AdapterAddr))

	step("2. remote: clean build into output base R, every action executed by casd")
	if err := buildrun.CopyCheckout(c.workspace, c.copyR); err != nil {
		return err
	}
	remote, err := c.bazel("build", c.targets)
	if err != nil {
		return err
	}
	fmt.Printf("   %s (%s)\n", remote.Summary, round(remote.Elapsed))
	counts, err := c.checkRemote(remote)
	if err != nil {
		return err
	}

	step("3. outputs of L and R, byte for byte")
	n, err := buildrun.CompareOutputs(c.copyL, c.baseL, c.copyR, c.baseR, c.targets)
	if err != nil {
		return err
	}
	fmt.Printf("   %d output files identical\n", n)

	var testCounts map[string]int
	var failed error
	if len(c.tests) > 0 {
		step("4. tests, executed remotely: " + strings.Join(c.tests, " "))
		local, err := buildrun.Query(c.copyR, c.baseR, fmt.Sprintf(`attr(tags, "\bno-remote-exec\b", tests(set(%s)))`, strings.Join(c.tests, " ")))
		if err != nil {
			return err
		}
		for _, t := range local {
			fmt.Printf("   left out, tagged no-remote-exec: %s\n", t)
		}
		tested, testErr := c.bazel("test", append([]string{"--keep_going", "--test_tag_filters=-no-remote-exec"}, c.tests...))
		fmt.Printf("   %s (%s)\n", tested.Summary, round(tested.Elapsed))
		// Bazel's test summary: each test that did not pass, then the count.
		for _, line := range strings.Split(tested.Output, "\n") {
			if strings.HasPrefix(line, "Executed ") || (testErr != nil && failedTestRe.MatchString(line)) {
				fmt.Printf("   %s\n", strings.TrimSpace(line))
			}
		}
		if testCounts, err = c.checkRemote(tested); err != nil {
			return err
		}
		if testErr != nil {
			failed = fmt.Errorf("tests failed remotely (their logs: %s/bazel-testlogs): %w", c.copyR, testErr)
		}
	}

	step("summary")
	fmt.Printf("   targets: %s\n", strings.Join(c.targets, " "))
	fmt.Printf("   remote build: %s (execution log); Bazel: %s\n", buildrun.RunnersSummary(counts), remote.Summary)
	if testCounts != nil {
		fmt.Printf("   remote tests: %s (execution log)\n", buildrun.RunnersSummary(testCounts))
	}
	fmt.Printf("   outputs identical to the local build: %d files\n", n)
	fmt.Printf("   wall time: local %s, remote %s (remote/local %.2f) with casd running %d actions at once on this machine\n",
		round(local.Elapsed), round(remote.Elapsed), remote.Elapsed.Seconds()/local.Elapsed.Seconds(), c.jobs)
	if failed != nil {
		return failed
	}
	step("all checks passed")
	return nil
}

// failedTestRe matches the lines of Bazel's test summary for a test that did
// not pass.
var failedTestRe = regexp.MustCompile(`^//\S+\s+(FAILED|TIMEOUT|NO STATUS|FAILED TO BUILD|INCOMPLETE)`)

// bazel runs a build or test in R against the executor, as a user with
// --config=remote-exec and the executor in user.bazelrc would. No disk cache:
// the copies have no user.bazelrc, and --disk_cache= says it again.
func (c *checker) bazel(command string, targets []string) (buildrun.Result, error) {
	return buildrun.Bazel(c.copyR, c.baseR, nil, command, append([]string{
		"--config=remote-exec", "--remote_executor=grpc://" + c.reapi.AdapterAddr, "--disk_cache=",
	}, targets...)...)
}

// checkRemote reads what ran each spawn of r from its execution log, requires
// Bazel's count of remote executions to agree, prints the spawns that did not
// run remotely with why, and fails on those that could have.
func (c *checker) checkRemote(r buildrun.Result) (map[string]int, error) {
	spawns, err := buildrun.ReadSpawns(r.ExecLog)
	if err != nil {
		return nil, err
	}
	counts := buildrun.Runners(spawns)
	fmt.Printf("   execution log: %s\n", buildrun.RunnersSummary(counts))
	if counts["remote"] != r.Remote {
		return counts, fmt.Errorf("the execution log %s has %d remote spawns, Bazel's summary %d", r.ExecLog, counts["remote"], r.Remote)
	}
	runAway := 0
	for _, s := range buildrun.NotRemote(spawns) {
		fmt.Printf("   not remote: %s\n", buildrun.WhyNotRemote(s))
		if s.Remotable {
			runAway++
		}
	}
	if runAway > 0 {
		return counts, fmt.Errorf("%d remotable spawns did not run remotely (execution log %s)", runAway, r.ExecLog)
	}
	return counts, nil
}

// stop ends the Bazel servers of L and R, the adapter and casd.
func (c *checker) stop() {
	for _, p := range [][2]string{{c.copyL, c.baseL}, {c.copyR, c.baseR}} {
		if _, err := os.Stat(p[1]); err == nil {
			buildrun.Bazel(p[0], p[1], nil, "shutdown")
		}
	}
	if c.reapi != nil {
		c.reapi.Stop()
	}
}

func round(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }

func step(s string) { fmt.Println("remoteexec: " + s) }
