package gazelle

import (
	"reflect"
	"testing"

	"github.com/bazelbuild/bazel-gazelle/config"
	"github.com/bazelbuild/bazel-gazelle/label"
	"github.com/bazelbuild/bazel-gazelle/language"
	"github.com/bazelbuild/bazel-gazelle/rule"
)

const rootBuild = `# gazelle:depgraph_module_graph //tools/depgraph:repo
filegroup(name = "release", visibility = ["//tools/depgraph:__pkg__"])
filegroup(name = "nightly", tags = ["manual"], visibility = ["//visibility:public"])  # not in //...
`

var packages = map[string]string{
	"libs/a": `
go_library(name = "a", visibility = ["//visibility:public"])
go_test(name = "a_test")
genrule(name = "gen")                                  # private: checked through its users
go_library(name = "stale", visibility = ["//visibility:public"])
exports_files(["x.txt"])
`,
	"services/s": `
package(default_visibility = ["//tools/depgraph:__pkg__"])
go_binary(name = "s")
sh_test(name = "s_test")
go_library(name = "s_lib", visibility = ["//visibility:private"])
`,
	"services/private": `
package(default_visibility = ["//visibility:private"])
go_library(name = "private")                           # checked through its test
go_test(name = "private_test")
`,
	"tools/depgraph": `
module_graph(name = "repo", roots = ["//old:x"])
go_binary(name = "depgraph", data = [":repo"])
sh_test(name = "check", args = ["$(rootpath :repo)"])
genrule(name = "picture", srcs = ["//tools/depgraph:repo"])
sh_binary(name = "update_picture", data = [":picture"])
go_library(name = "depgraph_lib")
`,
}

// walk runs the language over the packages like gazelle does: post-order
// (the root last), then Resolve on what it generated.
func walk(t *testing.T, rels []string) *rule.Rule {
	t.Helper()
	l := NewLanguage()
	c := config.New()
	root, err := rule.LoadData("BUILD.bazel", "", []byte(rootBuild))
	if err != nil {
		t.Fatal(err)
	}
	l.Configure(c, "", root)
	var graph *rule.Rule
	for _, rel := range rels {
		f := root
		if rel != "" {
			if f, err = rule.LoadData(rel+"/BUILD.bazel", rel, []byte(packages[rel])); err != nil {
				t.Fatal(err)
			}
		}
		args := language.GenerateArgs{Config: c, Rel: rel, File: f}
		if rel == "libs/a" { // the go language deletes one rule and adds another
			args.OtherEmpty = []*rule.Rule{rule.NewRule("go_library", "stale")}
			args.OtherGen = []*rule.Rule{rule.NewRule("go_test", "new_test")}
		}
		res := l.GenerateRules(args)
		if len(res.Gen) != len(res.Imports) {
			t.Fatalf("%s: %d rules, %d imports", rel, len(res.Gen), len(res.Imports))
		}
		if len(res.Gen) == 1 {
			graph = res.Gen[0]
		}
	}
	if graph == nil {
		t.Fatal("no module_graph generated")
	}
	l.Resolve(c, nil, nil, graph, nil, label.New("", "tools/depgraph", "repo"))
	return graph
}

func TestRootsAreEveryVisibleTarget(t *testing.T) {
	graph := walk(t, []string{"libs/a", "services/private", "services/s", "tools/depgraph", ""})
	want := []string{
		":depgraph_lib",
		"//:release",
		"//libs/a",
		"//libs/a:a_test",
		"//libs/a:new_test",
		"//services/private:private_test",
		"//services/s",
		"//services/s:s_test",
	}
	if got := graph.AttrStrings("roots"); !reflect.DeepEqual(got, want) {
		t.Errorf("roots = %q\nwant %q", got, want)
	}
	if graph.Kind() != "module_graph" || graph.Name() != "repo" {
		t.Errorf("generated %s %s, want module_graph repo", graph.Kind(), graph.Name())
	}
}

// TestPartialWalkKeepsRoots: `gazelle libs/a tools/depgraph` sees two packages
// only; the roots stay as they were rather than shrink to those.
func TestPartialWalkKeepsRoots(t *testing.T) {
	graph := walk(t, []string{"libs/a", "tools/depgraph"})
	if got := graph.AttrStrings("roots"); !reflect.DeepEqual(got, []string{"//old:x"}) {
		t.Errorf("roots = %q, want the BUILD file's", got)
	}
}
