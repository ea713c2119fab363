package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFixture writes a graph where services/a reaches libs/z two ways and libs/x
// depends on services/b, and the repo's rules file; it returns the common flags.
func writeFixture(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	graphFile := filepath.Join(dir, "g.graph")
	graphText := strings.ReplaceAll(`//services/a:a|-|//libs/x:x //libs/y:y
//libs/x:x|-|//libs/z:z //services/b:b
//libs/y:y|-|//libs/z:z
`, "|", "\t")
	if err := os.WriteFile(graphFile, []byte(graphText), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"--graph=" + graphFile, "--rules=rules.txt", "--today=2026-11-21"}
}

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(args, &out)
	return out.String(), err
}

func TestCheckFailsWithThePath(t *testing.T) {
	out, err := runCLI(t, append(writeFixture(t), "check")...)
	if !errors.Is(err, errFailed) {
		t.Fatalf("check = %v, want errFailed", err)
	}
	if !strings.Contains(out, "depgraph: layering violation: libs/x -> services/b\n") ||
		!strings.Contains(out, "  path: //services/a:a -> //libs/x:x -> //services/b:b\n") {
		t.Errorf("check output:\n%s", out)
	}
}

func TestWhy(t *testing.T) {
	out, err := runCLI(t, append(writeFixture(t), "why", "services/a", "//libs/z")...)
	if err != nil {
		t.Fatal(err)
	}
	want := `services/a -> libs/x -> libs/z
  //services/a:a -> //libs/x:x
  //libs/x:x -> //libs/z:z
services/a -> libs/y -> libs/z
  //services/a:a -> //libs/y:y
  //libs/y:y -> //libs/z:z
`
	if out != want {
		t.Errorf("why:\n%s\nwant:\n%s", out, want)
	}
	if _, err := runCLI(t, append(writeFixture(t), "why", "libs/nope", "libs/z")...); err == nil || !strings.Contains(err.Error(), `no module "libs/nope"`) {
		t.Errorf("why with an unknown module: %v", err)
	}
}

func TestExplainUsesTheRepoRules(t *testing.T) {
	out, err := runCLI(t, append(writeFixture(t), "explain")...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "libs/x [layer:lib]\n  allow layer:lib -> layer:lib layer:proto layer:third_party (line ") {
		t.Errorf("explain:\n%s", out)
	}
}

func TestBaselineThenCheckPasses(t *testing.T) {
	flags := writeFixture(t)
	keys, err := runCLI(t, append(flags, "baseline")...)
	if err != nil || keys != "libs/x -> services/b\n" {
		t.Fatalf("baseline = %q, %v", keys, err)
	}
	baseline := filepath.Join(t.TempDir(), "baseline.txt")
	if err := os.WriteFile(baseline, []byte(keys), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, append(flags, "--baseline="+baseline, "check")...)
	if err != nil || !strings.Contains(out, "1 frozen by the baseline") {
		t.Errorf("check with the baseline = %v:\n%s", err, out)
	}
}

func TestBadInputsNameTheProblem(t *testing.T) {
	flags := writeFixture(t)
	for args, want := range map[string]string{
		"check --format=xml": `check --format="xml": want text or sarif`,
		"graph --format=png": `graph --format="png": want dot, svg or json`,
		"frobnicate":         `unknown command "frobnicate"`,
	} {
		_, err := runCLI(t, append(flags, strings.Fields(args)...)...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", args, err, want)
		}
	}
}

// TestUpToDate: a picture drawn from the graph passes; drawn from another
// graph, or not by depgraph at all, it fails and says how to redraw it.
func TestUpToDate(t *testing.T) {
	flags := writeFixture(t)
	dir := t.TempDir()
	fresh, stale, foreign := filepath.Join(dir, "fresh.svg"), filepath.Join(dir, "stale.svg"), filepath.Join(dir, "foreign.svg")
	if _, err := runCLI(t, append(flags, "graph", "--format=svg", "-o", fresh)...); err != nil {
		t.Fatal(err)
	}
	svg, err := os.ReadFile(fresh)
	if err != nil {
		t.Fatal(err)
	}
	for path, data := range map[string]string{stale: strings.Replace(string(svg), "DOT source sha256:", "DOT source sha256:0", 1), foreign: "<svg/>"} {
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := runCLI(t, append(flags, "uptodate", fresh)...); err != nil {
		t.Errorf("uptodate on a fresh picture: %v\n%s", err, out)
	}
	for _, path := range []string{stale, foreign} {
		out, err := runCLI(t, append(flags, "uptodate", path)...)
		if !errors.Is(err, errFailed) || !strings.Contains(out, "run ./bazelw run //tools/depgraph:update_picture") {
			t.Errorf("uptodate on %s = %v, output:\n%s", filepath.Base(path), err, out)
		}
	}
}
