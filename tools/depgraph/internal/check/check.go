// Package check applies a rules file to a module graph: layering violations,
// exceptions and their expiry, a baseline of frozen violations, and module cycles.
package check

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/monoreel/monoreel/tools/depgraph/internal/graph"
	"github.com/monoreel/monoreel/tools/depgraph/internal/rules"
)

// Violation is a module edge some allow rule forbids.
type Violation struct {
	From, To string
	Test     bool // the edge comes only from testonly targets
	Rule     rules.AllowRule
	// Path runs from a top-level target (one nothing depends on) to the target of
	// the other module that creates the edge.
	Path      []string
	Exception *rules.Exception // set when an unexpired exception tolerates it
	Frozen    bool             // set when the baseline freezes it
}

// Key identifies the violation in a baseline file.
func (v Violation) Key() string {
	if v.Test {
		return "test " + v.From + " -> " + v.To
	}
	return v.From + " -> " + v.To
}

// Cycle is one shortest cycle of a strongly connected set of modules.
type Cycle struct {
	Modules []string    // m0 -> m1 -> ... -> m0, the first not repeated
	Hops    [][2]string // per hop, the target edge that creates it
}

// ExceptionIssue is an exception that is expired or matches no violation.
type ExceptionIssue struct {
	Exception rules.Exception
	Expired   bool // otherwise unused
}

// Report is the outcome of a check.
type Report struct {
	RulesFile       string
	Violations      []Violation // failing ones
	Tolerated       []Violation // by an exception
	Frozen          []Violation // by the baseline
	Cycles          []Cycle
	ExceptionIssues []ExceptionIssue
	StaleBaseline   []string // baseline entries that match nothing any more
}

// Failed reports whether the check must fail the build.
func (r *Report) Failed() bool {
	return len(r.Violations) > 0 || len(r.Cycles) > 0 || len(r.ExceptionIssues) > 0
}

// Run checks the module graph m of g against rs. baseline holds the keys of
// frozen violations; today decides which exceptions have expired.
func Run(g *graph.Graph, m *graph.Modules, rs *rules.Rules, baseline map[string]bool, today time.Time) *Report {
	report := &Report{RulesFile: rs.File}
	// Per module, once: its tags, and the rules its normal and test-only edges obey.
	tags := make([][]string, len(m.Names))
	governing := make([][2][]rules.AllowRule, len(m.Names))
	for id, name := range m.Names {
		tags[id] = rs.TagsOf(name)
		governing[id] = [2][]rules.AllowRule{rs.Governing(tags[id], false), rs.Governing(tags[id], true)}
	}
	exceptionUsed := make([]bool, len(rs.Exceptions))
	baselineUsed := map[string]bool{}
	paths := newPathFinder(g)

	for _, e := range m.Edges {
		var broken *rules.AllowRule
		test := 0
		if e.Test {
			test = 1
		}
		for _, rule := range governing[e.From][test] {
			if !rule.Allows(tags[e.To]) {
				broken = &rule
				break
			}
		}
		if broken == nil {
			continue
		}
		evidence := e.Evidence
		v := Violation{
			From: m.Names[e.From], To: m.Names[e.To], Test: e.Test, Rule: *broken,
			Path: append(paths.fromTop(evidence[0]), g.Labels[evidence[1]]),
		}
		if i, ok := findException(rs.Exceptions, v.From, v.To); ok {
			exceptionUsed[i] = true
			if exc := rs.Exceptions[i]; !today.After(exc.Until) {
				v.Exception = &exc
				report.Tolerated = append(report.Tolerated, v)
				continue
			}
		}
		if baseline[v.Key()] {
			baselineUsed[v.Key()] = true
			v.Frozen = true
			report.Frozen = append(report.Frozen, v)
			continue
		}
		report.Violations = append(report.Violations, v)
	}
	for i, exc := range rs.Exceptions {
		switch {
		case today.After(exc.Until):
			report.ExceptionIssues = append(report.ExceptionIssues, ExceptionIssue{Exception: exc, Expired: true})
		case !exceptionUsed[i]:
			report.ExceptionIssues = append(report.ExceptionIssues, ExceptionIssue{Exception: exc})
		}
	}
	for key := range baseline {
		if !baselineUsed[key] {
			report.StaleBaseline = append(report.StaleBaseline, key)
		}
	}
	sortStrings(report.StaleBaseline)
	report.Cycles = Cycles(g, m)
	return report
}

func findException(exceptions []rules.Exception, from, to string) (int, bool) {
	for i, e := range exceptions {
		if e.From == from && e.To == to {
			return i, true
		}
	}
	return 0, false
}

// WriteText writes the report for people: one block per problem, then a summary.
func (r *Report) WriteText(w io.Writer) {
	for _, v := range r.Violations {
		kind := "layering violation"
		if v.Test {
			kind = "layering violation (test-only edge)"
		}
		fmt.Fprintf(w, "depgraph: %s: %s -> %s\n", kind, v.From, v.To)
		fmt.Fprintf(w, "  rule: %s (%s:%d)\n", v.Rule, r.RulesFile, v.Rule.Line)
		fmt.Fprintf(w, "  path: %s\n", strings.Join(v.Path, " -> "))
	}
	for _, c := range r.Cycles {
		fmt.Fprintf(w, "depgraph: module cycle: %s -> %s\n", strings.Join(c.Modules, " -> "), c.Modules[0])
		for i, hop := range c.Hops {
			next := c.Modules[(i+1)%len(c.Modules)]
			fmt.Fprintf(w, "  %s -> %s: %s -> %s\n", c.Modules[i], next, hop[0], hop[1])
		}
	}
	for _, issue := range r.ExceptionIssues {
		e := issue.Exception
		if issue.Expired {
			fmt.Fprintf(w, "depgraph: expired exception: %s -> %s expired after %s (%s:%d): %s\n",
				e.From, e.To, e.Until.Format("2006-01-02"), r.RulesFile, e.Line, e.Reason)
		} else {
			fmt.Fprintf(w, "depgraph: unused exception: %s -> %s (%s:%d) matches no violation: remove it\n",
				e.From, e.To, r.RulesFile, e.Line)
		}
	}
	for _, key := range r.StaleBaseline {
		fmt.Fprintf(w, "depgraph: note: baseline entry %q no longer occurs: remove it from the baseline\n", key)
	}
	status := "ok"
	if r.Failed() {
		status = "FAILED"
	}
	fmt.Fprintf(w, "depgraph: %s: %d violations, %d module cycles, %d exception problems; %d tolerated by exceptions, %d frozen by the baseline\n",
		status, len(r.Violations), len(r.Cycles), len(r.ExceptionIssues), len(r.Tolerated), len(r.Frozen))
}
