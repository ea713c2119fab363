package graph

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestParseAndWrite(t *testing.T) {
	in := "# a comment\n//a:a\t-\t//b:b //c:c\n\n//b:b\tt\t\n"
	g, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Labels) != 3 || g.EdgeCount() != 2 || !g.TestOnly[1] {
		t.Fatalf("parsed %+v", g)
	}
	var out bytes.Buffer
	if err := g.Write(&out); err != nil {
		t.Fatal(err)
	}
	if want := "//a:a\t-\t//b:b //c:c\n//b:b\tt\t\n//c:c\t-\t\n"; out.String() != want {
		t.Errorf("Write = %q, want %q", out.String(), want)
	}
}

func TestParseErrorsNameTheLine(t *testing.T) {
	for in, want := range map[string]string{
		"//a:a\t-\t//b:b\nnot a line\n":    "graph line 2: want LABEL<tab>FLAGS<tab>DEPS",
		"//a:a\tx\t\n":                     `graph line 1: unknown flags "x" (want t or -)`,
		"//a:a\t-\t@ext//b:b\n":            `graph line 1: label "@ext//b:b" does not start with //`,
		"a:a\t-\t\n":                       `graph line 1: label "a:a" does not start with //`,
		"//a:a\t-\t//b:b\n//c\t-\t//d:d\n": `graph line 2: label "//c" has no :name`,
	} {
		_, err := Parse(strings.NewReader(in))
		var pe *ParseError
		if !errors.As(err, &pe) || err.Error() != want {
			t.Errorf("Parse(%q) = %v, want %q", in, err, want)
		}
	}
}

func TestModuleOf(t *testing.T) {
	for label, want := range map[string]string{
		"//libs/snowflake:snowflake":         "libs/snowflake",
		"//services/idgen/internal/server:s": "services/idgen",
		"//proto/idgen/v1/mock:mock":         "proto/idgen",
		"//tools/depgraph:depgraph":          "tools/depgraph",
		"//:release":                         "//",
		"//platforms:linux_arm64":            "platforms",
		"//libs:readme":                      "libs",
	} {
		if got := ModuleOf(label); got != want {
			t.Errorf("ModuleOf(%q) = %q, want %q", label, got, want)
		}
	}
}

func TestFold(t *testing.T) {
	g, err := Parse(strings.NewReader("//libs/a:a\t-\t//libs/a/x:x //libs/b:b //libs/b:c\n//libs/a:t\tt\t//libs/c:c\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := Fold(g)
	if strings.Join(m.Names, " ") != "libs/a libs/b libs/c" {
		t.Fatalf("modules = %v", m.Names)
	}
	a, _ := m.Lookup("libs/a")
	b, _ := m.Lookup("libs/b")
	c, _ := m.Lookup("libs/c")
	if ev, _ := m.Find(ModuleEdge{From: a, To: b}); g.Labels[ev[1]] != "//libs/b:b" {
		t.Errorf("evidence of libs/a -> libs/b = %v, want the first target edge", ev)
	}
	if _, ok := m.Find(ModuleEdge{From: a, To: c, Test: true}); !ok {
		t.Error("test-only edge libs/a -> libs/c missing")
	}
	if len(m.Out[a]) != 1 || m.Out[a][0] != b {
		t.Errorf("non-test out edges of libs/a = %v, want [libs/b]", m.Out[a])
	}
}

// FuzzParse: any input parses or fails with a ParseError; what parses survives a
// Write/Parse round trip unchanged.
func FuzzParse(f *testing.F) {
	f.Add("//a:a\t-\t//b:b //c:c\n//b:b\tt\t\n")
	f.Add("# c\n\n//a:a\t-\t\n")
	f.Add("//a:a\t-\t  //b:b\n")
	f.Fuzz(func(t *testing.T, in string) {
		g, err := Parse(strings.NewReader(in))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a ParseError", err)
			}
			return
		}
		var first bytes.Buffer
		if err := g.Write(&first); err != nil {
			t.Fatal(err)
		}
		again, err := Parse(bytes.NewReader(first.Bytes()))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", first.String(), err)
		}
		var second bytes.Buffer
		again.Write(&second)
		if first.String() != second.String() {
			t.Fatalf("round trip changed the graph:\n%q\n%q", first.String(), second.String())
		}
	})
}
