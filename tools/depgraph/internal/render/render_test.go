package render

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/monoreel/monoreel/tools/depgraph/internal/check"
	"github.com/monoreel/monoreel/tools/depgraph/internal/graph"
	"github.com/monoreel/monoreel/tools/depgraph/internal/rules"
)

// fixture: services/a -> libs/x is fine, libs/x -> services/b breaks the layering,
// and libs/x <-> libs/y is a cycle.
func fixture(t *testing.T) (*graph.Graph, *graph.Modules, *rules.Rules, *check.Report) {
	t.Helper()
	g, err := graph.Parse(strings.NewReader(strings.ReplaceAll(`//services/a:a|-|//libs/x:x
//libs/x:x|-|//services/b:b //libs/y:y
//libs/y:y|-|//libs/x:x
//libs/x:x_test|t|//libs/x:x
`, "|", "\t")))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rules.Parse("rules.txt", strings.NewReader("tag libs/* layer:lib\ntag services/* layer:service\nallow layer:lib -> layer:lib\nallow layer:service -> layer:lib\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := graph.Fold(g)
	return g, m, rs, check.Run(g, m, rs, nil, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
}

func TestDOTHighlightsViolationsAndCycles(t *testing.T) {
	_, m, rs, report := fixture(t)
	var out bytes.Buffer
	if err := DOT(&out, m, rs, report); err != nil {
		t.Fatal(err)
	}
	dot := out.String()
	for _, want := range []string{
		`"libs/x" -> "services/b" [color=red, penwidth=2, tooltip="violation"];`,
		`"libs/x" -> "libs/y" [color=orange, penwidth=2, tooltip="cycle"];`,
		`"libs/y" -> "libs/x" [color=orange, penwidth=2, tooltip="cycle"];`,
		`"services/a" -> "libs/x";`,
		`"libs/x" [tooltip="layer:lib"];`,
	} {
		if !strings.Contains(dot, want) {
			t.Errorf("DOT lacks %s:\n%s", want, dot)
		}
	}
}

func TestSVGWithGraphviz(t *testing.T) {
	_, m, rs, report := fixture(t)
	var out bytes.Buffer
	if err := SVG(&out, m, rs, report); err != nil {
		t.Fatal(err)
	}
	svg := out.String()
	if !strings.Contains(svg, "<svg") || !strings.Contains(svg, "services/b") || !strings.Contains(svg, `stroke="red"`) {
		t.Errorf("SVG lacks the graph or its red edge:\n%.2000s", svg)
	}
	var dot bytes.Buffer
	if err := DOT(&dot, m, rs, report); err != nil {
		t.Fatal(err)
	}
	if got, ok := RecordedDigest(out.Bytes()); !ok || got != SourceDigest(dot.Bytes()) {
		t.Errorf("SVG records source %q (%v), want %q", got, ok, SourceDigest(dot.Bytes()))
	}
}

func TestJSON(t *testing.T) {
	g, m, rs, report := fixture(t)
	var out bytes.Buffer
	if err := JSON(&out, g, m, rs, report); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Modules []struct{ Name string }
		Edges   []struct {
			From, To, Status string
			Evidence         [2]string
		}
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Modules) != 4 || len(doc.Edges) != 4 {
		t.Fatalf("JSON has %d modules, %d edges:\n%s", len(doc.Modules), len(doc.Edges), out.String())
	}
	found := false
	for _, e := range doc.Edges {
		if e.From == "libs/x" && e.To == "services/b" {
			found = e.Status == "violation" && e.Evidence == [2]string{"//libs/x:x", "//services/b:b"}
		}
	}
	if !found {
		t.Errorf("JSON does not mark libs/x -> services/b as a violation with its evidence:\n%s", out.String())
	}
}

func TestSARIF(t *testing.T) {
	_, _, _, report := fixture(t)
	var out bytes.Buffer
	if err := SARIF(&out, report); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Version string
		Runs    []struct {
			Results []struct {
				RuleID    string
				Message   struct{ Text string }
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }
					}
				}
			}
		}
	}
	if err := json.Unmarshal(out.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 || len(log.Runs[0].Results) != 2 {
		t.Fatalf("SARIF:\n%s", out.String())
	}
	first := log.Runs[0].Results[0]
	if first.RuleID != "depgraph/layering" || first.Locations[0].PhysicalLocation.ArtifactLocation.URI != "libs/x/BUILD.bazel" ||
		!strings.Contains(first.Message.Text, "//libs/x:x -> //services/b:b") {
		t.Errorf("first result = %+v", first)
	}
	if log.Runs[0].Results[1].RuleID != "depgraph/cycle" {
		t.Errorf("second result = %+v", log.Runs[0].Results[1])
	}
}
