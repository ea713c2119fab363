// Package render writes a checked module graph as DOT, SVG (through graphviz),
// JSON, or SARIF for code-scanning UIs.
package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/monoreel/monoreel/tools/depgraph/internal/check"
	"github.com/monoreel/monoreel/tools/depgraph/internal/graph"
	"github.com/monoreel/monoreel/tools/depgraph/internal/rules"
)

// edgeStatus says how the check sees a module edge.
func edgeStatus(report *check.Report) map[string]string {
	status := map[string]string{}
	mark := func(vs []check.Violation, s string) {
		for _, v := range vs {
			status[v.Key()] = s
		}
	}
	mark(report.Frozen, "frozen")
	mark(report.Tolerated, "tolerated")
	mark(report.Violations, "violation")
	for _, c := range report.Cycles {
		for i := range c.Modules {
			key := c.Modules[i] + " -> " + c.Modules[(i+1)%len(c.Modules)]
			if status[key] == "" {
				status[key] = "cycle"
			}
		}
	}
	return status
}

func edgeKey(m *graph.Modules, e graph.ModuleEdge) string {
	key := m.Names[e.From] + " -> " + m.Names[e.To]
	if e.Test {
		return "test " + key
	}
	return key
}

// DOT writes the module graph in graphviz's language: violating edges red,
// cycle edges orange, tolerated or frozen ones grey, test-only edges dashed.
func DOT(w io.Writer, m *graph.Modules, rs *rules.Rules, report *check.Report) error {
	var b strings.Builder
	b.WriteString("digraph modules {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=Helvetica];\n")
	for _, name := range m.Names {
		fmt.Fprintf(&b, "  %q [tooltip=%q];\n", name, strings.Join(rs.TagsOf(name), " "))
	}
	status := edgeStatus(report)
	colors := map[string]string{"violation": "red", "cycle": "orange", "tolerated": "grey", "frozen": "grey"}
	for _, e := range m.Edges {
		var attrs []string
		if s := status[edgeKey(m, e.ModuleEdge)]; s != "" {
			attrs = append(attrs, fmt.Sprintf("color=%s", colors[s]), "penwidth=2", fmt.Sprintf("tooltip=%q", s))
		}
		if e.Test {
			attrs = append(attrs, "style=dashed")
		}
		fmt.Fprintf(&b, "  %q -> %q", m.Names[e.From], m.Names[e.To])
		if len(attrs) > 0 {
			fmt.Fprintf(&b, " [%s]", strings.Join(attrs, ", "))
		}
		b.WriteString(";\n")
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// SVG renders the DOT graph with graphviz's dot, and records the digest of the
// DOT source in a comment at the end (see SourceDigest).
func SVG(w io.Writer, m *graph.Modules, rs *rules.Rules, report *check.Report) error {
	dot, err := exec.LookPath("dot")
	if err != nil {
		return fmt.Errorf("SVG output needs graphviz's dot on PATH (Debian package graphviz): %w", err)
	}
	var src bytes.Buffer
	if err := DOT(&src, m, rs, report); err != nil {
		return err
	}
	digest := SourceDigest(src.Bytes())
	cmd := exec.Command(dot, "-Tsvg")
	cmd.Stdin = &src
	cmd.Stdout = w
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("dot -Tsvg: %w: %s", err, stderr.String())
	}
	_, err = fmt.Fprintf(w, "%s%s -->\n", digestComment, digest)
	return err
}

// digestComment starts the comment in which an SVG records its DOT source.
const digestComment = "<!-- depgraph DOT source "

// SourceDigest names a DOT source. An SVG records the digest of the source it
// was drawn from, so whether a committed picture shows the current graph can be
// checked without graphviz, whose output varies between its versions.
func SourceDigest(dot []byte) string {
	sum := sha256.Sum256(dot)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// RecordedDigest returns the source digest an SVG made by SVG records.
func RecordedDigest(svg []byte) (string, bool) {
	i := bytes.LastIndex(svg, []byte(digestComment))
	if i < 0 {
		return "", false
	}
	rest := svg[i+len(digestComment):]
	end := bytes.Index(rest, []byte(" -->"))
	if end < 0 {
		return "", false
	}
	return string(rest[:end]), true
}

type jsonModule struct {
	Name string   `json:"name"`
	Tags []string `json:"tags"`
}

type jsonEdge struct {
	From     string    `json:"from"`
	To       string    `json:"to"`
	Test     bool      `json:"test,omitempty"`
	Status   string    `json:"status,omitempty"`
	Evidence [2]string `json:"evidence"`
}

// JSON writes the modules with their tags and the edges with their status and the
// target edge that creates each.
func JSON(w io.Writer, g *graph.Graph, m *graph.Modules, rs *rules.Rules, report *check.Report) error {
	out := struct {
		Modules []jsonModule `json:"modules"`
		Edges   []jsonEdge   `json:"edges"`
	}{Modules: []jsonModule{}, Edges: []jsonEdge{}}
	for _, name := range m.Names {
		out.Modules = append(out.Modules, jsonModule{Name: name, Tags: rs.TagsOf(name)})
	}
	status := edgeStatus(report)
	for _, e := range m.Edges {
		ev := e.Evidence
		out.Edges = append(out.Edges, jsonEdge{
			From: m.Names[e.From], To: m.Names[e.To], Test: e.Test,
			Status: status[edgeKey(m, e.ModuleEdge)], Evidence: [2]string{g.Labels[ev[0]], g.Labels[ev[1]]},
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// SARIF writes the failing problems as a SARIF 2.1.0 log, each located at the
// BUILD file of the package that creates the edge.
func SARIF(w io.Writer, report *check.Report) error {
	type location struct {
		PhysicalLocation struct {
			ArtifactLocation struct {
				URI string `json:"uri"`
			} `json:"artifactLocation"`
		} `json:"physicalLocation"`
	}
	type result struct {
		RuleID  string `json:"ruleId"`
		Level   string `json:"level"`
		Message struct {
			Text string `json:"text"`
		} `json:"message"`
		Locations []location `json:"locations"`
	}
	at := func(uri string) []location {
		var l location
		l.PhysicalLocation.ArtifactLocation.URI = uri
		return []location{l}
	}
	buildFile := func(label string) string {
		if pkg := graph.Package(label); pkg != "" {
			return pkg + "/BUILD.bazel"
		}
		return "BUILD.bazel"
	}
	results := []result{}
	add := func(rule, text, uri string) {
		r := result{RuleID: rule, Level: "error", Locations: at(uri)}
		r.Message.Text = text
		results = append(results, r)
	}
	for _, v := range report.Violations {
		crossing := v.Path[len(v.Path)-2]
		add("depgraph/layering", fmt.Sprintf("%s -> %s breaks `%s`: %s", v.From, v.To, v.Rule, strings.Join(v.Path, " -> ")), buildFile(crossing))
	}
	for _, c := range report.Cycles {
		add("depgraph/cycle", fmt.Sprintf("module cycle %s -> %s", strings.Join(c.Modules, " -> "), c.Modules[0]), buildFile(c.Hops[0][0]))
	}
	for _, issue := range report.ExceptionIssues {
		what := "unused"
		if issue.Expired {
			what = "expired"
		}
		add("depgraph/exception", fmt.Sprintf("%s exception %s -> %s", what, issue.Exception.From, issue.Exception.To), report.RulesFile)
	}
	log := map[string]any{
		"version": "2.1.0",
		"$schema": "https://json.schemastore.org/sarif-2.1.0.json",
		"runs": []any{map[string]any{
			"tool": map[string]any{"driver": map[string]any{
				"name": "depgraph",
				"rules": []any{
					map[string]any{"id": "depgraph/layering", "shortDescription": map[string]string{"text": "A module depends on one its tags may not depend on"}},
					map[string]any{"id": "depgraph/cycle", "shortDescription": map[string]string{"text": "Modules depend on each other in a cycle"}},
					map[string]any{"id": "depgraph/exception", "shortDescription": map[string]string{"text": "An exception has expired or matches nothing"}},
				},
			}},
			"results": results,
		}},
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
}
