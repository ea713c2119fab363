// Command cachediff explains remote cache misses. Given the execution logs of two
// builds of the same targets, A (which filled the cache) and B (which missed), it
// prints for every action that missed in B what differs from A: inputs,
// environment variables, arguments, platform properties. Differences that are only
// the consequence of another action's different output are traced back to it, so
// the root causes (a non-reproducible action, a source file, an environment
// variable) come first, the one explaining the most misses at the top.
//
//	bazel build --execution_log_binary_file=/path/a.log ...   (or _compact_file)
//	bazel build --execution_log_binary_file=/path/b.log ...
//	./bazelw run //tools/buildperf/cachediff -- /path/a.log /path/b.log
//
// It exits 0 when B had no miss, 1 when it had some, 2 on bad usage or logs.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/monoreel/monoreel/tools/buildperf/cachediff/execlog"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("cachediff", flag.ContinueOnError)
	flags.SetOutput(stderr)
	max := flags.Int("max", 50, "list at most this many misses")
	flags.Usage = func() {
		fmt.Fprintln(stderr, "usage: cachediff [--max=N] LOG_A LOG_B (execution logs, binary or compact)")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() != 2 {
		flags.Usage()
		return 2
	}
	a, err := readLog(flags.Arg(0))
	if err == nil {
		var b []*execlog.Spawn
		if b, err = readLog(flags.Arg(1)); err == nil {
			r := explain(a, b)
			r.print(stdout, *max)
			if len(r.misses) > 0 {
				return 1
			}
			return 0
		}
	}
	fmt.Fprintln(stderr, "cachediff:", err)
	return 2
}

func readLog(name string) ([]*execlog.Spawn, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	spawns, err := execlog.Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return spawns, nil
}
