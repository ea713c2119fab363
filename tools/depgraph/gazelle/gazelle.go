// Package gazelle is a gazelle language that keeps the depgraph analyzer's
// view of the repository complete: it writes the roots of the module_graph
// rule (tools/rules/depgraph.bzl) as every target of every package gazelle
// visits, so a new package is checked as soon as `./bazelw run //:gazelle`
// writes its BUILD file, and //:gazelle_test fails while the list is stale.
//
// The graph rule is named by a directive in the root BUILD.bazel:
//
//	# gazelle:depgraph_module_graph //tools/depgraph:repo
//
// A target tagged manual is no root: `//...` leaves it out, and as a root it
// would bring back into every `//...` build whatever it depends on (Bazel runs
// the validations, nogo's among them, of all a built target depends on:
// //:release, manual, still had every service compiled for darwin/arm64).
//
// A root must be visible to the graph's package. Every test is a root (the
// go_test macro of tools/rules/go.bzl makes Go tests visible to it); a target
// private to its package is left out, as it is checked through the targets of
// its package that use it. Targets of the graph's own package that use the
// graph (the analyzer's binary, its tests) are left out: they would be a cycle.
package gazelle

import (
	"flag"
	"log"
	"strings"
	"sync"

	"github.com/bazelbuild/bazel-gazelle/config"
	"github.com/bazelbuild/bazel-gazelle/label"
	"github.com/bazelbuild/bazel-gazelle/language"
	"github.com/bazelbuild/bazel-gazelle/repo"
	"github.com/bazelbuild/bazel-gazelle/resolve"
	"github.com/bazelbuild/bazel-gazelle/rule"
	bzl "github.com/bazelbuild/buildtools/build"
)

const (
	languageName = "depgraph"
	directive    = "depgraph_module_graph"
	graphKind    = "module_graph"
)

// NewLanguage is called by gazelle_binary.
func NewLanguage() language.Language {
	return &depgraphLang{roots: map[label.Label]bool{}}
}

type depgraphLang struct {
	mu    sync.Mutex
	graph label.Label          // from the directive; zero: none
	roots map[label.Label]bool // every visible target of the packages walked so far
	// walkedRoot is set once the walk reached the repository root, i.e. it
	// covered every package. A walk of a subtree (`gazelle services/foo`)
	// leaves the roots as they are rather than cut them down to that subtree.
	walkedRoot bool
	oldRoots   bzl.Expr // the roots in the BUILD file, kept on a partial walk
}

func (*depgraphLang) Name() string { return languageName }

func (*depgraphLang) RegisterFlags(*flag.FlagSet, string, *config.Config) {}
func (*depgraphLang) CheckFlags(*flag.FlagSet, *config.Config) error      { return nil }
func (*depgraphLang) KnownDirectives() []string                           { return []string{directive} }

func (l *depgraphLang) Configure(c *config.Config, rel string, f *rule.File) {
	if f == nil {
		return
	}
	for _, d := range f.Directives {
		if d.Key != directive {
			continue
		}
		lbl, err := label.Parse(d.Value)
		if err != nil || lbl.Repo != "" || lbl.Relative {
			log.Fatalf("%s: # gazelle:%s %s: want an absolute label of this repository", f.Path, directive, d.Value)
		}
		l.graph = lbl
	}
}

func (*depgraphLang) Kinds() map[string]rule.KindInfo {
	return map[string]rule.KindInfo{graphKind: {
		NonEmptyAttrs:  map[string]bool{"roots": true},
		MergeableAttrs: map[string]bool{"testonly": true},
		ResolveAttrs:   map[string]bool{"roots": true},
	}}
}

func (*depgraphLang) Loads() []rule.LoadInfo {
	return []rule.LoadInfo{{Name: "//tools/rules:depgraph.bzl", Symbols: []string{graphKind}}}
}

func (*depgraphLang) Fix(*config.Config, *rule.File) {}

func (*depgraphLang) Imports(*config.Config, *rule.Rule, *rule.File) []resolve.ImportSpec {
	return nil
}

func (*depgraphLang) Embeds(*rule.Rule, label.Label) []label.Label { return nil }

// GenerateRules records the package's targets as roots; in the graph's own
// package it also emits the graph rule, whose roots Resolve fills in once
// every package has been walked.
func (l *depgraphLang) GenerateRules(args language.GenerateArgs) language.GenerateResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	if args.Rel == "" {
		l.walkedRoot = true
	}
	if l.graph.Name == "" {
		return language.GenerateResult{}
	}
	for _, name := range l.packageRoots(args) {
		l.roots[label.New("", args.Rel, name)] = true
	}
	if args.Rel != l.graph.Pkg {
		return language.GenerateResult{}
	}
	if args.File != nil {
		for _, r := range args.File.Rules {
			if r.Kind() == graphKind && r.Name() == l.graph.Name {
				l.oldRoots = r.Attr("roots")
			}
		}
	}
	r := rule.NewRule(graphKind, l.graph.Name)
	r.SetAttr("testonly", true)
	return language.GenerateResult{Gen: []*rule.Rule{r}, Imports: []interface{}{nil}}
}

// packageRoots are the names of the package's targets the graph can use:
// those in its BUILD file and those the other languages generate now, less
// those they delete, the ones not visible to the graph and the graph's users.
func (l *depgraphLang) packageRoots(args language.GenerateArgs) []string {
	deleted := map[string]string{} // name -> kind
	for _, r := range args.OtherEmpty {
		deleted[r.Name()] = r.Kind()
	}
	var defaultVisibility []string
	var rules []*rule.Rule
	if args.File != nil {
		for _, r := range args.File.Rules {
			if r.Kind() == "package" {
				defaultVisibility = r.AttrStrings("default_visibility")
			}
		}
		rules = append(rules, args.File.Rules...)
	}
	rules = append(rules, args.OtherGen...)
	exclude := map[string]bool{}
	if args.Rel == l.graph.Pkg {
		exclude = graphUsers(rules, l.graph)
	}
	// A name may come twice (in the file and generated again): the caller's
	// set of roots keeps it once.
	var names []string
	for _, r := range rules {
		if name := r.Name(); name != "" && !exclude[name] && deleted[name] != r.Kind() && !manual(r) && l.visible(r, args.Rel, defaultVisibility) {
			names = append(names, name)
		}
	}
	return names
}

// manual says whether r is tagged manual (a tags expression Bazel evaluates
// is not).
func manual(r *rule.Rule) bool {
	for _, t := range r.AttrStrings("tags") {
		if t == "manual" {
			return true
		}
	}
	return false
}

// visible says whether the graph's package may depend on r. A test with no
// visibility of its own always is: tests are what nothing else depends on, so
// they must be roots (the go_test macro of tools/rules/go.bzl makes them
// visible; a hand-written test without a visibility for the graph fails the
// graph's analysis, naming it). Any other rule with no visibility of its own
// or from its package is private.
func (l *depgraphLang) visible(r *rule.Rule, pkg string, defaultVisibility []string) bool {
	if pkg == l.graph.Pkg {
		return true
	}
	vis := defaultVisibility
	if r.Attr("visibility") != nil {
		vis = r.AttrStrings("visibility")
		if vis == nil {
			return true // an expression: Bazel says so if it is not visible
		}
	} else if strings.HasSuffix(r.Kind(), "_test") || r.Kind() == "test_suite" {
		return true
	}
	for _, v := range vis {
		lbl, err := label.Parse(v)
		if err != nil {
			continue
		}
		switch {
		case v == "//visibility:public":
			return true
		case lbl.Name == "__pkg__" && lbl.Pkg == l.graph.Pkg:
			return true
		case lbl.Name == "__subpackages__" && (lbl.Pkg == "" || l.graph.Pkg == lbl.Pkg || strings.HasPrefix(l.graph.Pkg, lbl.Pkg+"/")):
			return true
		}
	}
	return false
}

// graphUsers are the graph rule and the rules of its package that use it,
// directly or through one another (":repo", "$(rootpath :repo)", ...): as
// roots they would make a cycle.
func graphUsers(rules []*rule.Rule, graph label.Label) map[string]bool {
	users := map[string]bool{graph.Name: true}
	for grew := true; grew; {
		grew = false
		for _, r := range rules {
			if !users[r.Name()] && mentions(r, graph.Pkg, users) {
				users[r.Name()] = true
				grew = true
			}
		}
	}
	return users
}

// mentions says whether an attribute of r names one of the targets of package
// pkg in names, by a relative (":x") or an absolute ("//pkg:x") label.
func mentions(r *rule.Rule, pkg string, names map[string]bool) bool {
	found := false
	for _, key := range r.AttrKeys() {
		bzl.Walk(r.Attr(key), func(x bzl.Expr, _ []bzl.Expr) {
			s, ok := x.(*bzl.StringExpr)
			if !ok {
				return
			}
			for _, field := range strings.FieldsFunc(s.Value, func(c rune) bool { return strings.ContainsRune(" ()", c) }) {
				if lbl, err := label.Parse(field); err == nil && lbl.Repo == "" && (lbl.Relative || lbl.Pkg == pkg) && names[lbl.Name] {
					found = true
				}
			}
		})
	}
	return found
}

// Resolve writes the roots: every target recorded during the walk.
func (l *depgraphLang) Resolve(_ *config.Config, _ *resolve.RuleIndex, _ *repo.RemoteCache, r *rule.Rule, _ interface{}, from label.Label) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.walkedRoot {
		if l.oldRoots != nil {
			r.SetAttr("roots", l.oldRoots)
		}
		return
	}
	roots := make([]string, 0, len(l.roots))
	for lbl := range l.roots {
		roots = append(roots, lbl.Rel("", from.Pkg).String())
	}
	// Sorted, and replacing the list in the file rather than merged into it
	// (which would keep the old order and append).
	r.SetAttr("roots", rule.SortedStrings(roots))
}
