// Command depgraph checks Monoreel's module boundaries and module cycles on the
// target graph Bazel itself reports (the depgraph aspect, see tools/rules/depgraph.bzl), and
// explains the module graph to people.
//
//	depgraph [--graph=FILE] [--rules=FILE] [--baseline=FILE] COMMAND
//
//	check [--format=text|sarif]   fail (exit 1) on violations, cycles, bad exceptions
//	graph [--format=dot|svg|json] [-o FILE]
//	uptodate SVG                  fail unless SVG (made by graph --format=svg) shows
//	                              the current graph
//	why A B                       every module path from A to B, with the labels
//	explain                       every module, its tags and what it may depend on
//	baseline                      the current violations, to freeze in a baseline file
//
// Under `bazel run`, the graph and rules default to the repo's (see BUILD.bazel):
// every target of the repository, listed by gazelle (tools/depgraph/gazelle).
package main

import (
	"bytes"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/monoreel/monoreel/tools/depgraph/internal/check"
	"github.com/monoreel/monoreel/tools/depgraph/internal/graph"
	"github.com/monoreel/monoreel/tools/depgraph/internal/render"
	"github.com/monoreel/monoreel/tools/depgraph/internal/rules"
)

// errFailed means the check found problems (already printed).
var errFailed = errors.New("check failed")

func main() {
	err := run(os.Args[1:], os.Stdout)
	switch {
	case errors.Is(err, errFailed):
		os.Exit(1)
	case err != nil:
		fmt.Fprintln(os.Stderr, "depgraph:", err)
		os.Exit(2)
	}
}

// inputs is what every command works on.
type inputs struct {
	g         *graph.Graph
	m         *graph.Modules
	rules     *rules.Rules
	report    *check.Report
	rulesFile string
}

func run(args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("depgraph", flag.ContinueOnError)
	graphFile := flags.String("graph", "", "target graph written by the depgraph aspect")
	rulesFile := flags.String("rules", "", "rules file (see tools/depgraph/rules.txt)")
	baselineFile := flags.String("baseline", "", "baseline of frozen violations (optional)")
	today := flags.String("today", "", "the date exceptions are checked against, YYYY-MM-DD (default: today, UTC)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() == 0 {
		return fmt.Errorf("no command: want check, graph, uptodate, why, explain or baseline")
	}
	in, err := load(*graphFile, *rulesFile, *baselineFile, *today)
	if err != nil {
		return err
	}
	in.rulesFile = *rulesFile
	command, rest := flags.Arg(0), flags.Args()[1:]
	switch command {
	case "check":
		return cmdCheck(in, rest, stdout)
	case "graph":
		return cmdGraph(in, rest, stdout)
	case "uptodate":
		return cmdUpToDate(in, rest, stdout)
	case "why":
		return cmdWhy(in, rest, stdout)
	case "explain":
		return cmdExplain(in, stdout)
	case "baseline":
		for _, v := range in.report.Violations {
			fmt.Fprintln(stdout, v.Key())
		}
		return nil
	}
	return fmt.Errorf("unknown command %q: want check, graph, uptodate, why, explain or baseline", command)
}

func load(graphFile, rulesFile, baselineFile, today string) (*inputs, error) {
	if graphFile == "" || rulesFile == "" {
		return nil, fmt.Errorf("--graph and --rules are required")
	}
	day := time.Now().UTC().Truncate(24 * time.Hour)
	if today != "" {
		var err error
		if day, err = time.Parse("2006-01-02", today); err != nil {
			return nil, fmt.Errorf("--today=%q: want YYYY-MM-DD", today)
		}
	}
	f, err := os.Open(graphFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	g, err := graph.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", graphFile, err)
	}
	rf, err := os.Open(rulesFile)
	if err != nil {
		return nil, err
	}
	defer rf.Close()
	rs, err := rules.Parse(rulesFile, rf)
	if err != nil {
		return nil, err
	}
	baseline := map[string]bool{}
	if baselineFile != "" {
		bf, err := os.Open(baselineFile)
		if err != nil {
			return nil, err
		}
		defer bf.Close()
		if baseline, err = rules.ParseBaseline(baselineFile, bf); err != nil {
			return nil, err
		}
	}
	m := graph.Fold(g)
	return &inputs{g: g, m: m, rules: rs, report: check.Run(g, m, rs, baseline, day)}, nil
}

func cmdCheck(in *inputs, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("check", flag.ContinueOnError)
	format := flags.String("format", "text", "text or sarif")
	if err := flags.Parse(args); err != nil {
		return err
	}
	switch *format {
	case "text":
		in.report.WriteText(stdout)
	case "sarif":
		if err := render.SARIF(stdout, in.report); err != nil {
			return err
		}
	default:
		return fmt.Errorf("check --format=%q: want text or sarif", *format)
	}
	if in.report.Failed() {
		return errFailed
	}
	return nil
}

func cmdGraph(in *inputs, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("graph", flag.ContinueOnError)
	format := flags.String("format", "dot", "dot, svg or json")
	out := flags.String("o", "", "output file (default: standard output)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	w := stdout
	if *out != "" {
		path := *out
		// Under `bazel run`, relative paths are relative to where the user ran it.
		if dir := os.Getenv("BUILD_WORKING_DIRECTORY"); dir != "" && !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	switch *format {
	case "dot":
		return render.DOT(w, in.m, in.rules, in.report)
	case "svg":
		return render.SVG(w, in.m, in.rules, in.report)
	case "json":
		return render.JSON(w, in.g, in.m, in.rules, in.report)
	}
	return fmt.Errorf("graph --format=%q: want dot, svg or json", *format)
}

// cmdUpToDate compares the DOT source an SVG was drawn from with the current
// graph's, so a picture that no longer shows the graph fails a test.
func cmdUpToDate(in *inputs, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("want: uptodate SVG")
	}
	svg, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	var dot bytes.Buffer
	if err := render.DOT(&dot, in.m, in.rules, in.report); err != nil {
		return err
	}
	recorded, ok := render.RecordedDigest(svg)
	if current := render.SourceDigest(dot.Bytes()); !ok || recorded != current {
		fmt.Fprintf(stdout, "depgraph: %s does not show the current module graph (it was drawn from %s, the graph is %s): run ./bazelw run //tools/depgraph:update_picture\n",
			args[0], cmp.Or(recorded, "an unknown source"), current)
		return errFailed
	}
	fmt.Fprintf(stdout, "depgraph: %s shows the current module graph\n", args[0])
	return nil
}

func cmdWhy(in *inputs, args []string, stdout io.Writer) error {
	if len(args) != 2 {
		return fmt.Errorf("want: why MODULE MODULE")
	}
	ids := [2]int32{}
	for i, name := range args {
		id, ok := in.m.Lookup(strings.TrimSuffix(strings.TrimPrefix(name, "//"), "/..."))
		if !ok {
			return fmt.Errorf("no module %q in the graph (modules look like libs/snowflake)", name)
		}
		ids[i] = id
	}
	const limit = 100
	paths := check.ModulePaths(in.m, ids[0], ids[1], limit)
	if len(paths) == 0 {
		fmt.Fprintf(stdout, "%s does not depend on %s\n", args[0], args[1])
		return nil
	}
	for _, path := range paths {
		var names []string
		for _, id := range path {
			names = append(names, in.m.Names[id])
		}
		fmt.Fprintln(stdout, strings.Join(names, " -> "))
		for i := 0; i+1 < len(path); i++ {
			for _, test := range []bool{false, true} {
				if ev, ok := in.m.Find(graph.ModuleEdge{From: path[i], To: path[i+1], Test: test}); ok {
					kind := ""
					if test {
						kind = " (test)"
					}
					fmt.Fprintf(stdout, "  %s -> %s%s\n", in.g.Labels[ev[0]], in.g.Labels[ev[1]], kind)
				}
			}
		}
	}
	if len(paths) == limit {
		fmt.Fprintf(stdout, "(stopped after %d paths)\n", limit)
	}
	return nil
}

func cmdExplain(in *inputs, stdout io.Writer) error {
	fmt.Fprintf(stdout, "Rules: %s. An edge A -> B between modules is allowed when every allow rule\n", in.rules.File)
	fmt.Fprintln(stdout, "for a tag of A lets one of B's tags in (allow-test rules decide test-only edges).")
	fmt.Fprintln(stdout)
	for _, name := range in.m.Names {
		tags := in.rules.TagsOf(name)
		fmt.Fprintf(stdout, "%s [%s]\n", name, strings.Join(tags, " "))
		for _, test := range []bool{false, true} {
			for _, r := range in.rules.Governing(tags, test) {
				if test && !r.Test {
					continue // the same rules as above
				}
				fmt.Fprintf(stdout, "  %s (line %d)\n", r, r.Line)
			}
		}
	}
	return nil
}
