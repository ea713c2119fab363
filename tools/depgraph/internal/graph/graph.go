// Package graph holds the target graph the depgraph analyzer checks, as Bazel's
// depgraph aspect writes it, and folds it into a graph of modules.
//
// The file format is one target per line, fields separated by tabs:
//
//	//libs/idpool:idpool_test	t	//libs/idpool:idpool //proto/idgen/v1/mock:mock
//
// the target's label, its flags ("t": testonly, "-": none) and the labels it
// depends on, space-separated (possibly none). Lines starting with '#' and blank
// lines are ignored. A dependency need not have a line of its own.
package graph

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
)

// Graph is a directed graph of Bazel targets.
type Graph struct {
	Labels   []string  // target id -> label
	TestOnly []bool    // target id -> testonly
	Out      [][]int32 // target id -> the ids it depends on
	index    map[string]int32
}

// New returns an empty Graph.
func New() *Graph { return &Graph{index: map[string]int32{}} }

// ID returns the id of label, adding the target if it is new.
func (g *Graph) ID(label string) int32 {
	if id, ok := g.index[label]; ok {
		return id
	}
	id := int32(len(g.Labels))
	g.index[label] = id
	g.Labels = append(g.Labels, label)
	g.TestOnly = append(g.TestOnly, false)
	g.Out = append(g.Out, nil)
	return id
}

// idOf is ID for a label still in the parser's buffer: looking it up does not
// copy it; only a new label is.
func (g *Graph) idOf(label []byte) int32 {
	if id, ok := g.index[string(label)]; ok {
		return id
	}
	return g.ID(string(label))
}

// Lookup returns the id of label, if the graph has it.
func (g *Graph) Lookup(label string) (int32, bool) {
	id, ok := g.index[label]
	return id, ok
}

// AddEdge records that from depends on to.
func (g *Graph) AddEdge(from, to int32) { g.Out[from] = append(g.Out[from], to) }

// EdgeCount returns the number of target edges.
func (g *Graph) EdgeCount() int {
	n := 0
	for _, out := range g.Out {
		n += len(out)
	}
	return n
}

// ParseError is a malformed line of a graph file.
type ParseError struct {
	Line   int
	Reason string
}

func (e *ParseError) Error() string { return fmt.Sprintf("graph line %d: %s", e.Line, e.Reason) }

// Parse reads a graph file.
func Parse(r io.Reader) (*Graph, error) {
	g := New()
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 0, 1<<20), 1<<28)
	line := 0
	for scanner.Scan() {
		line++
		text := scanner.Bytes()
		if len(text) == 0 || text[0] == '#' {
			continue
		}
		label, rest, ok := bytes.Cut(text, []byte{'\t'})
		if !ok {
			return nil, &ParseError{line, "want LABEL<tab>FLAGS<tab>DEPS"}
		}
		flags, deps, ok := bytes.Cut(rest, []byte{'\t'})
		if !ok {
			return nil, &ParseError{line, "want LABEL<tab>FLAGS<tab>DEPS"}
		}
		if err := checkLabel(label); err != nil {
			return nil, &ParseError{line, err.Error()}
		}
		from := g.idOf(label)
		switch string(flags) {
		case "t":
			g.TestOnly[from] = true
		case "-":
		default:
			return nil, &ParseError{line, fmt.Sprintf("unknown flags %q (want t or -)", flags)}
		}
		for len(deps) > 0 {
			var dep []byte
			dep, deps, _ = bytes.Cut(deps, []byte{' '})
			if len(dep) == 0 {
				continue
			}
			if err := checkLabel(dep); err != nil {
				return nil, &ParseError{line, err.Error()}
			}
			g.AddEdge(from, g.idOf(dep))
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("graph line %d: %w", line+1, err)
	}
	return g, nil
}

// checkLabel accepts labels of the main repository: //package:name.
func checkLabel(label []byte) error {
	s := string(label)
	if !strings.HasPrefix(s, "//") {
		return fmt.Errorf("label %q does not start with //", s)
	}
	if !strings.Contains(s, ":") {
		return fmt.Errorf("label %q has no :name", s)
	}
	if strings.ContainsAny(s, " \t") {
		return fmt.Errorf("label %q contains whitespace", s)
	}
	return nil
}

// Write writes g in the format Parse reads, one line per target in id order.
func (g *Graph) Write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for id, label := range g.Labels {
		flags := "-"
		if g.TestOnly[id] {
			flags = "t"
		}
		bw.WriteString(label)
		bw.WriteByte('\t')
		bw.WriteString(flags)
		bw.WriteByte('\t')
		for i, dep := range g.Out[id] {
			if i > 0 {
				bw.WriteByte(' ')
			}
			bw.WriteString(g.Labels[dep])
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// Package returns the package of a label: "libs/x" for "//libs/x:y".
func Package(label string) string {
	pkg, _, _ := strings.Cut(strings.TrimPrefix(label, "//"), ":")
	return pkg
}

// ModuleOf returns the module a label belongs to. Modules are proto/<domain>,
// libs/<name>, services/<name> and tools/<name>; any other package belongs to the
// module named after its top-level directory ("platforms", "third_party"), and the
// root package to "//".
func ModuleOf(label string) string {
	pkg := Package(label)
	if pkg == "" {
		return "//"
	}
	top, rest, _ := strings.Cut(pkg, "/")
	switch top {
	case "proto", "libs", "services", "tools":
		if rest == "" {
			return top
		}
		name, _, _ := strings.Cut(rest, "/")
		return top + "/" + name
	}
	return top
}
