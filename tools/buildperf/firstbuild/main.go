// Command firstbuild measures what a new machine goes through before its first
// green `./bazelw build //...`. From a fresh copy of the checkout, with every cache
// the set-up and Bazel keep empty (output base, repository cache, Monoreel's cache
// dir with the offline module overrides, the Go module cache ./bazelw's set-up
// downloads them into, the Go build cache the tool repositories' go commands use,
// npm's cache), it times the whole command,
// ./bazelw's set-up included:
//
//  1. cold: no remote cache (it uploads what it builds to a fresh one, nginx on
//     loopback, as CI does);
//  2. warm: a second fresh environment reading that cache: a newcomer's first
//     build once CI has filled the team's cache.
//
// For each it prints the phases of Bazel's profile (set-up, loading and analysis
// with the repository fetches, execution), the repository fetches that took
// longest, where the actions' time went (summed by mnemonic), how busy the
// machine's cores were (the profile's CPU counter: a build that keeps every core
// busy is cut only by doing less work, not by reordering it), and the critical
// path (bazel analyze-profile). Debian packages are not
// counted: the machine has them once ./bazelw has installed them the first time.
//
//	./bazelw run //tools/buildperf/firstbuild [-- --targets=//...]
package main

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/monoreel/monoreel/tools/buildperf/internal/buildrun"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "firstbuild:", err)
		os.Exit(1)
	}
}

func run() (err error) {
	workspace := flag.String("workspace", os.Getenv("BUILD_WORKSPACE_DIRECTORY"), "the checkout to measure (set by bazel run)")
	targets := flag.String("targets", "//...", "space-separated targets of the first build")
	warmOnly := flag.Bool("warm_only", false, "skip the cold build and read the cache the last run's cold build filled (a run with --keep, same checkout and targets)")
	keep := buildrun.KeepFlag()
	flag.Parse()
	if *workspace == "" {
		return errors.New("run me with ./bazelw run //tools/buildperf/firstbuild")
	}
	work, err := buildrun.WorkDir("firstbuild")
	if err != nil {
		return err
	}
	if *warmOnly {
		// Only the warm environment starts from empty again; the cache stays.
		if _, err := os.Stat(filepath.Join(work, "cache")); err != nil {
			return fmt.Errorf("--warm_only: no cache of a last run (run once with --keep): %w", err)
		}
		if err := buildrun.Discard(filepath.Join(work, "warm")); err != nil {
			return err
		}
	} else if err := buildrun.Discard(work); err != nil {
		return err
	}
	defer func() { err = buildrun.Finish(err, *keep, work) }() // after the cache and the servers stop
	cache, err := buildrun.StartCache(filepath.Join(work, "cache"))
	if err != nil {
		return err
	}
	defer cache.Stop()

	var cold buildrun.Result
	if !*warmOnly {
		if cold, err = firstBuild(*workspace, filepath.Join(work, "cold"), strings.Fields(*targets),
			"--remote_cache="+cache.URL, "--remote_upload_local_results"); err != nil {
			return err
		}
	}
	warm, err := firstBuild(*workspace, filepath.Join(work, "warm"), strings.Fields(*targets),
		"--config=remote-cache", "--remote_cache="+cache.URL)
	if err != nil {
		return err
	}
	if *warmOnly {
		fmt.Printf("firstbuild: warm %s; %d of %d cacheable actions hit\n", secs(warm.Elapsed), warm.Hits, warm.Cacheable())
		return nil
	}
	fmt.Printf("firstbuild: cold %s, warm %s (%.1fx); %d of %d cacheable actions hit in the warm one\n",
		secs(cold.Elapsed), secs(warm.Elapsed), cold.Elapsed.Seconds()/warm.Elapsed.Seconds(), warm.Hits, warm.Cacheable())
	return nil
}

// firstBuild builds the targets from a new copy of the checkout in env, with
// every cache under env, and reports where the time went.
func firstBuild(workspace, env string, targets []string, flags ...string) (buildrun.Result, error) {
	name := filepath.Base(env)
	checkout := filepath.Join(env, "checkout")
	if err := buildrun.CopyCheckout(workspace, checkout); err != nil {
		return buildrun.Result{}, err
	}
	// The caches a fresh machine does not have: ./bazelw's (offline modules) and
	// the Go module cache it downloads them into, and those the repository rules
	// read from the client's environment (go_install's fetches have a module
	// cache of their own).
	for variable, dir := range map[string]string{
		"MONOREEL_CACHE_DIR": "monoreel",
		"GOMODCACHE":         "gomodcache",
		"GOCACHE":            "gocache",
		"npm_config_cache":   "npm",
	} {
		if err := os.Setenv(variable, filepath.Join(env, dir)); err != nil {
			return buildrun.Result{}, err
		}
	}
	base := filepath.Join(env, "output")
	defer buildrun.Bazel(checkout, base, nil, "shutdown")
	profile := filepath.Join(env, "profile.gz")
	args := append([]string{
		"--repository_cache=" + filepath.Join(env, "repos"),
		"--disk_cache=",
		"--profile=" + profile,
	}, flags...)
	r, err := buildrun.Bazel(checkout, base, nil, "build", append(args, targets...)...)
	if err != nil {
		return r, err
	}
	fmt.Printf("firstbuild: %s first build of %s: %s, %s\n", name, strings.Join(targets, " "), secs(r.Elapsed), r.Summary)
	if err := reportProfile(profile); err != nil {
		return r, err
	}
	analysis, err := buildrun.Bazel(checkout, base, nil, "analyze-profile", profile)
	if err != nil {
		return r, err
	}
	fmt.Println(criticalPath(analysis.Output, 12))
	return r, nil
}

// traceEvent is the part of a Chrome trace event (Bazel's --profile) used here.
type traceEvent struct {
	Category string  `json:"cat"`
	Name     string  `json:"name"`
	Phase    string  `json:"ph"`
	Start    float64 `json:"ts"`  // microseconds
	Duration float64 `json:"dur"` // microseconds
	Args     struct {
		Mnemonic string  `json:"mnemonic"`   // of an action
		CPU      float64 `json:"system cpu"` // of the "CPU usage (total)" counter: cores busy
	} `json:"args"`
}

// cpuCounter is the counter event of the machine's CPU use (cores busy), which
// Bazel samples about once a second during a build.
const cpuCounter = "CPU usage (total)"

// span is a named stretch of a build: a phase, or a repository's fetches.
type span struct {
	Name     string
	Duration time.Duration
}

// profile is what firstbuild reads from Bazel's --profile: the phases of the
// command in order, the repositories fetched and the actions' time per mnemonic
// (both longest first), and the mean of the machine's CPU use while it built.
type profile struct {
	Phases, Fetches, Mnemonics []span
	Actions                    map[string]int // per mnemonic
	CPU                        float64        // cores busy, on average
}

// readProfile reads a gzipped Bazel profile (a Chrome trace): a phase lasts from
// its marker to the next one (the last to the end of the trace), and a
// repository's fetch time is the sum of its "Fetching repository" events.
func readProfile(r io.Reader) (profile, error) {
	z, err := gzip.NewReader(r)
	if err != nil {
		return profile{}, err
	}
	var trace struct {
		Events []traceEvent `json:"traceEvents"`
	}
	if err := json.NewDecoder(z).Decode(&trace); err != nil {
		return profile{}, fmt.Errorf("not a Bazel profile: %w", err)
	}
	var markers []traceEvent
	var end, cpuSum float64
	var cpuSamples int
	fetchTotal, actionTotal := map[string]float64{}, map[string]float64{}
	p := profile{Actions: map[string]int{}}
	for _, e := range trace.Events {
		end = max(end, e.Start+e.Duration)
		switch {
		case e.Category == "build phase marker":
			markers = append(markers, e)
		case e.Category == "Fetching repository":
			fetchTotal[e.Name] += e.Duration
		case e.Category == "action processing" && e.Phase == "X" && e.Args.Mnemonic != "":
			actionTotal[e.Args.Mnemonic] += e.Duration
			p.Actions[e.Args.Mnemonic]++
		case e.Phase == "C" && e.Name == cpuCounter:
			cpuSum += e.Args.CPU
			cpuSamples++
		}
	}
	if cpuSamples > 0 {
		p.CPU = cpuSum / float64(cpuSamples)
	}
	sort.SliceStable(markers, func(i, j int) bool { return markers[i].Start < markers[j].Start })
	for i, m := range markers {
		next := end
		if i+1 < len(markers) {
			next = markers[i+1].Start
		}
		p.Phases = append(p.Phases, span{m.Name, micros(next - m.Start)})
	}
	p.Fetches = longestFirst(fetchTotal)
	p.Mnemonics = longestFirst(actionTotal)
	return p, nil
}

// longestFirst turns microseconds per name into spans, longest first.
func longestFirst(total map[string]float64) []span {
	spans := make([]span, 0, len(total))
	for name, d := range total {
		spans = append(spans, span{name, micros(d)})
	}
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].Duration != spans[j].Duration {
			return spans[i].Duration > spans[j].Duration
		}
		return spans[i].Name < spans[j].Name
	})
	return spans
}

// reportProfile prints a build's phases and its longest repository fetches.
func reportProfile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	p, err := readProfile(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, phase := range p.Phases {
		fmt.Printf("   phase %-32s %s\n", phase.Name, secs(phase.Duration))
	}
	var total time.Duration
	for _, f := range p.Fetches {
		total += f.Duration
	}
	fmt.Printf("   %d repositories fetched, %s in all (some concurrently); the longest:\n", len(p.Fetches), secs(total))
	for _, f := range p.Fetches[:min(8, len(p.Fetches))] {
		fmt.Printf("     %-60s %s\n", f.Name, secs(f.Duration))
	}
	var actions time.Duration
	for _, m := range p.Mnemonics {
		actions += m.Duration
	}
	fmt.Printf("   actions: %s in all (summed; some ran at once); by mnemonic:\n", secs(actions))
	for _, m := range p.Mnemonics[:min(8, len(p.Mnemonics))] {
		fmt.Printf("     %-28s %5d  %s\n", m.Name, p.Actions[m.Name], secs(m.Duration))
	}
	fmt.Printf("   CPU: %.2f of %d cores busy on average\n", p.CPU, runtime.NumCPU())
	return nil
}

// criticalPath keeps the critical path section of analyze-profile's output, its
// first n entries.
func criticalPath(analysis string, n int) string {
	_, after, found := strings.Cut(analysis, "Critical path")
	if !found {
		return "   (analyze-profile printed no critical path)"
	}
	lines := strings.Split("Critical path"+after, "\n")
	return "   " + strings.Join(lines[:min(n+3, len(lines))], "\n   ")
}

func micros(us float64) time.Duration { return time.Duration(us * float64(time.Microsecond)) }

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
