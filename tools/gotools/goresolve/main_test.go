package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestGraphNodes(t *testing.T) {
	graph := `monoreel.local/tool github.com/BurntSushi/toml@v1.2.0
monoreel.local/tool go@1.25.0
github.com/BurntSushi/toml@v1.2.0 golang.org/x/net@v0.10.0
golang.org/x/net@v0.10.0 toolchain@go1.21.0
`
	got, err := graphNodes(strings.NewReader(graph))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"github.com/BurntSushi/toml@v1.2.0", "golang.org/x/net@v0.10.0"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("graphNodes = %q, want %q", got, want)
	}
	if _, err := graphNodes(strings.NewReader("a@v1 b@v1 c@v1\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("a line of three nodes: err = %v, want one naming line 1", err)
	}
}

func FuzzGraphNodes(f *testing.F) {
	f.Add("m a@v1\na@v1 b@v2\n")
	f.Add("go@1 toolchain@go1\n\n")
	f.Fuzz(func(t *testing.T, graph string) {
		nodes, err := graphNodes(strings.NewReader(graph))
		if err != nil {
			return
		}
		if !slices.IsSorted(nodes) || len(slices.Compact(slices.Clone(nodes))) != len(nodes) {
			t.Errorf("graphNodes(%q) = %q: not sorted and unique", graph, nodes)
		}
		for _, n := range nodes {
			if !strings.Contains(n, "@") || strings.HasPrefix(n, "go@") || strings.HasPrefix(n, "toolchain@") {
				t.Errorf("graphNodes(%q) has %q", graph, n)
			}
		}
	})
}

func TestZipModules(t *testing.T) {
	packages := []string{"github.com/a/b/c", "github.com/x/y", "fmt"}
	buildList := []string{
		"github.com/a/b@v1.0.0",   // provides github.com/a/b/c
		"github.com/a/b/c@v0.1.0", // could: go checks it
		"github.com/a/bc@v1.0.0",  // a path prefix, not a module prefix
		"github.com/x/y@v2.0.0",
		"github.com/z@v1.0.0",
	}
	got := zipModules(packages, buildList)
	want := []string{"github.com/a/b/c@v0.1.0", "github.com/a/b@v1.0.0", "github.com/x/y@v2.0.0"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("zipModules = %q, want %q", got, want)
	}
}

func TestProxyPath(t *testing.T) {
	for in, want := range map[string]string{
		"github.com/BurntSushi/toml@v1.2.0.mod": "github.com/!burnt!sushi/toml/@v/v1.2.0.mod",
		"golang.org/x/net@v0.10.0.zip":          "golang.org/x/net/@v/v0.10.0.zip",
	} {
		if got, err := proxyPath(in); err != nil || got != want {
			t.Errorf("proxyPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := proxyPath("golang.org/x/net.mod"); err == nil {
		t.Error("proxyPath of a file with no version: no error")
	}
}

// TestLocks checks every lock of tools/gotools as the repository rule will read it.
func TestLocks(t *testing.T) {
	paths, err := filepath.Glob("../*.lock.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no locks next to the package (%v)", err)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var lock Lock
		if err := json.Unmarshal(data, &lock); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if err := lock.Check(); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

func TestCheckNamesTheFault(t *testing.T) {
	good := Lock{
		Package: "example.com/tool/cmd/tool",
		Version: "v1.0.0",
		GoMod:   "module monoreel.local/tool\n\ngo 1.25\n\ntool example.com/tool/cmd/tool\n\nrequire example.com/tool v1.0.0\n",
		GoSum:   "example.com/tool v1.0.0 h1:x=\nexample.com/tool v1.0.0/go.mod h1:y=\n",
		Files: map[string]string{
			"example.com/tool/@v/v1.0.0.mod": strings.Repeat("ab", 32),
			"example.com/tool/@v/v1.0.0.zip": strings.Repeat("cd", 32),
		},
	}
	if err := good.Check(); err != nil {
		t.Fatalf("a consistent lock: %v", err)
	}
	for fault, edit := range map[string]func(*Lock){
		"no tool directive":    func(l *Lock) { l.GoMod = strings.Replace(l.GoMod, "tool example.com/tool/cmd/tool\n", "", 1) },
		"does not require it":  func(l *Lock) { l.Version = "v1.0.1" },
		"is not a sha256":      func(l *Lock) { l.Files["example.com/tool/@v/v1.0.0.zip"] = "abc" },
		"no go.sum line":       func(l *Lock) { l.GoSum = "example.com/tool v1.0.0 h1:x=\n" },
		"is not module/@v/":    func(l *Lock) { l.Files["example.com/tool/v1.0.0.zip"] = strings.Repeat("ab", 32) },
		"is not \"module vers": func(l *Lock) { l.GoSum += "garbage\n" },
	} {
		l := good
		l.Files = map[string]string{}
		for k, v := range good.Files {
			l.Files[k] = v
		}
		edit(&l)
		if err := l.Check(); err == nil || !strings.Contains(err.Error(), fault) {
			t.Errorf("%s: Check() = %v", fault, err)
		}
	}
}

// twoFilePatch changes a.go and deletes b.go, each under its "diff --git" line.
const twoFilePatch = `Keeps one import.

diff --git a/a.go b/a.go
--- a/a.go
+++ b/a.go
@@ -1,4 +1,3 @@
 package a
 
 import "fmt"
-import "os"
diff --git a/sub/b.go b/sub/b.go
deleted file mode 100644
--- a/sub/b.go
+++ /dev/null
@@ -1 +0,0 @@
-package sub
`

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, text := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestApplyPatch(t *testing.T) {
	root := writeTree(t, map[string]string{
		"a.go":     "package a\n\nimport \"fmt\"\nimport \"os\"\n",
		"sub/b.go": "package sub\n",
	})
	if err := applyPatch(root, []byte(twoFilePatch)); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "a.go")); string(got) != "package a\n\nimport \"fmt\"\n" {
		t.Errorf("a.go after the patch: %q", got)
	}
	if _, err := os.Stat(filepath.Join(root, "sub/b.go")); !os.IsNotExist(err) {
		t.Errorf("sub/b.go after the patch that deletes it: %v", err)
	}
}

func TestApplyPatchNamesTheFault(t *testing.T) {
	withoutGitLines := strings.Join(slices.DeleteFunc(strings.SplitAfter(twoFilePatch, "\n"),
		func(l string) bool { return strings.HasPrefix(l, "diff --git") }), "")
	for fault, text := range map[string]string{
		// Bazel's ctx.patch fails on this one with a message that does not say why.
		`changes 2 files under 0 "diff --git" lines`: withoutGitLines,
		"a.go: ":               strings.Replace(twoFilePatch, `-import "os"`, `-import "io"`, 1),
		"changes no file":      "just words\n",
		"is not a path inside": strings.ReplaceAll(twoFilePatch, "sub/b.go", "../b.go"),
	} {
		root := writeTree(t, map[string]string{
			"a.go":     "package a\n\nimport \"fmt\"\nimport \"os\"\n",
			"sub/b.go": "package sub\n",
		})
		if err := applyPatch(root, []byte(text)); err == nil || !strings.Contains(err.Error(), fault) {
			t.Errorf("%s: applyPatch() = %v", fault, err)
		}
	}
}

func FuzzApplyPatch(f *testing.F) {
	f.Add([]byte(twoFilePatch))
	f.Add([]byte("diff --git a/x b/x\nnew file mode 100644\n--- /dev/null\n+++ b/x\n@@ -0,0 +1 @@\n+x\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		parent := t.TempDir()
		root := filepath.Join(parent, "module")
		if err := os.Mkdir(root, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "a.go"), []byte("package a\n\nimport \"fmt\"\nimport \"os\"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_ = applyPatch(root, text) // any error is fine; what matters is where it writes
		entries, err := os.ReadDir(parent)
		if err != nil || len(entries) != 1 {
			t.Errorf("applyPatch(%q) wrote outside the module: %v %v", text, entries, err)
		}
	})
}
