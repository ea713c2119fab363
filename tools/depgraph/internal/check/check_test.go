package check

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/monoreel/monoreel/tools/depgraph/internal/graph"
	"github.com/monoreel/monoreel/tools/depgraph/internal/rules"
)

// The shipped layering, in little (same statements as tools/depgraph/rules.txt).
const fixtureRules = `
tag proto/*     layer:proto
tag libs/*      layer:lib
tag services/*  layer:service
tag tools/*     layer:tool
allow layer:proto   -> layer:proto
allow layer:lib     -> layer:lib layer:proto
allow layer:service -> layer:lib layer:proto
allow layer:tool    -> *
allow-test layer:service -> layer:service layer:lib layer:proto
`

var today = time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)

// runFixture checks a graph (format of package graph; tabs written as "|") with
// fixtureRules plus extra rule lines, and returns the text report.
func runFixture(t *testing.T, graphText, extraRules string, baseline map[string]bool) (*Report, string) {
	t.Helper()
	g, err := graph.Parse(strings.NewReader(strings.ReplaceAll(graphText, "|", "\t")))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rules.Parse("rules.txt", strings.NewReader(fixtureRules+extraRules))
	if err != nil {
		t.Fatal(err)
	}
	report := Run(g, graph.Fold(g), rs, baseline, today)
	var out bytes.Buffer
	report.WriteText(&out)
	return report, out.String()
}

func expectReport(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("report:\n%s\nwant:\n%s", got, want)
	}
}

func TestCleanGraphPasses(t *testing.T) {
	report, out := runFixture(t, `
//services/a:a|-|//services/a:lib
//services/a:lib|-|//libs/x:x //proto/a/v1:a
//libs/x:x|-|//libs/y/internal:y //proto/a/v1:a
//proto/a/v1:a|-|//proto/common/v1:common
//tools/t:t|-|//services/a:a
`, "", nil)
	if report.Failed() {
		t.Fatalf("clean graph failed:\n%s", out)
	}
	expectReport(t, out, "depgraph: ok: 0 violations, 0 module cycles, 0 exception problems; 0 tolerated by exceptions, 0 frozen by the baseline\n")
}

func TestLibToService(t *testing.T) {
	_, out := runFixture(t, `
//services/a:a|-|//services/a:lib
//services/a:lib|-|//libs/x:x
//libs/x:x|-|//services/b/internal:y
`, "", nil)
	expectReport(t, out, `depgraph: layering violation: libs/x -> services/b
  rule: allow layer:lib -> layer:lib layer:proto (rules.txt:7)
  path: //services/a:a -> //services/a:lib -> //libs/x:x -> //services/b/internal:y
depgraph: FAILED: 1 violations, 0 module cycles, 0 exception problems; 0 tolerated by exceptions, 0 frozen by the baseline
`)
}

func TestServiceToService(t *testing.T) {
	_, out := runFixture(t, `
//services/orchestrator:orchestrator|-|//services/orchestrator/internal/flow:flow
//services/orchestrator/internal/flow:flow|-|//services/upload/internal/store:store //proto/upload/v1:upload
`, "", nil)
	expectReport(t, out, `depgraph: layering violation: services/orchestrator -> services/upload
  rule: allow layer:service -> layer:lib layer:proto (rules.txt:8)
  path: //services/orchestrator:orchestrator -> //services/orchestrator/internal/flow:flow -> //services/upload/internal/store:store
depgraph: FAILED: 1 violations, 0 module cycles, 0 exception problems; 0 tolerated by exceptions, 0 frozen by the baseline
`)
}

func TestServiceToServiceInTestsIsAllowed(t *testing.T) {
	report, out := runFixture(t, `
//services/orchestrator:integration_test|t|//services/upload:upload //services/orchestrator:lib
`, "", nil)
	if report.Failed() {
		t.Fatalf("test-only service -> service edge failed:\n%s", out)
	}
}

func TestModuleCycleThroughDifferentPackages(t *testing.T) {
	// libs/a -> libs/b through //libs/a:a, and back through other packages: legal for
	// Bazel and Go, not for Monoreel.
	_, out := runFixture(t, `
//libs/a:a|-|//libs/b/codec:codec
//libs/b:b|-|//libs/c:c
//libs/c:c|-|//libs/a/util:util
//libs/b/codec:codec|-|
//libs/a/util:util|-|
`, "", nil)
	expectReport(t, out, `depgraph: module cycle: libs/a -> libs/b -> libs/c -> libs/a
  libs/a -> libs/b: //libs/a:a -> //libs/b/codec:codec
  libs/b -> libs/c: //libs/b:b -> //libs/c:c
  libs/c -> libs/a: //libs/c:c -> //libs/a/util:util
depgraph: FAILED: 0 violations, 1 module cycles, 0 exception problems; 0 tolerated by exceptions, 0 frozen by the baseline
`)
}

func TestShortestCyclePerComponent(t *testing.T) {
	// One component {a, b, c} with cycles a->b->a and a->b->c->a: the two-module one
	// is reported. A second component {d, e} is reported on its own.
	report, _ := runFixture(t, `
//libs/a:a|-|//libs/b:b
//libs/b:b|-|//libs/a:a //libs/c:c
//libs/c:c|-|//libs/a:a
//libs/d:d|-|//libs/e:e
//libs/e:e|-|//libs/d:d
`, "", nil)
	if len(report.Cycles) != 2 {
		t.Fatalf("got %d cycles, want 2: %+v", len(report.Cycles), report.Cycles)
	}
	for _, c := range report.Cycles {
		if len(c.Modules) != 2 {
			t.Errorf("cycle %v is not a shortest one", c.Modules)
		}
	}
}

func TestProtoToLib(t *testing.T) {
	_, out := runFixture(t, `
//proto/upload/v1:upload_go_proto|-|//libs/checksum:checksum
`, "", nil)
	expectReport(t, out, `depgraph: layering violation: proto/upload -> libs/checksum
  rule: allow layer:proto -> layer:proto (rules.txt:6)
  path: //proto/upload/v1:upload_go_proto -> //libs/checksum:checksum
depgraph: FAILED: 1 violations, 0 module cycles, 0 exception problems; 0 tolerated by exceptions, 0 frozen by the baseline
`)
}

const serviceEdge = `
//services/a:a|-|//services/b:client
`

func TestExceptionTolerates(t *testing.T) {
	report, out := runFixture(t, serviceEdge, "except services/a -> services/b until 2026-12-31: moving to the gRPC client (MR-42)\n", nil)
	if report.Failed() || len(report.Tolerated) != 1 {
		t.Fatalf("exception did not tolerate the edge:\n%s", out)
	}
}

func TestExpiredException(t *testing.T) {
	_, out := runFixture(t, serviceEdge, "except services/a -> services/b until 2026-11-20: moving to the gRPC client (MR-42)\n", nil)
	expectReport(t, out, `depgraph: layering violation: services/a -> services/b
  rule: allow layer:service -> layer:lib layer:proto (rules.txt:8)
  path: //services/a:a -> //services/b:client
depgraph: expired exception: services/a -> services/b expired after 2026-11-20 (rules.txt:11): moving to the gRPC client (MR-42)
depgraph: FAILED: 1 violations, 0 module cycles, 1 exception problems; 0 tolerated by exceptions, 0 frozen by the baseline
`)
}

func TestUnusedException(t *testing.T) {
	_, out := runFixture(t, serviceEdge, `except services/a -> services/b until 2026-12-31: moving to the gRPC client
except libs/x -> services/c until 2026-12-31: nothing needs this any more
`, nil)
	expectReport(t, out, `depgraph: unused exception: libs/x -> services/c (rules.txt:12) matches no violation: remove it
depgraph: FAILED: 0 violations, 0 module cycles, 1 exception problems; 1 tolerated by exceptions, 0 frozen by the baseline
`)
}

func TestBaselineFreezesOldViolationsOnly(t *testing.T) {
	graphText := `
//services/a:a|-|//services/b:client //services/c:client
`
	report, out := runFixture(t, graphText, "", map[string]bool{"services/a -> services/b": true, "libs/gone -> services/b": true})
	expectReport(t, out, `depgraph: layering violation: services/a -> services/c
  rule: allow layer:service -> layer:lib layer:proto (rules.txt:8)
  path: //services/a:a -> //services/c:client
depgraph: note: baseline entry "libs/gone -> services/b" no longer occurs: remove it from the baseline
depgraph: FAILED: 1 violations, 0 module cycles, 0 exception problems; 0 tolerated by exceptions, 1 frozen by the baseline
`)
	if len(report.Frozen) != 1 || report.Frozen[0].Key() != "services/a -> services/b" {
		t.Errorf("frozen = %+v", report.Frozen)
	}
}

func TestTestOnlyEdgeHasItsOwnRule(t *testing.T) {
	// A lib's test may not reach a service either: libs have no allow-test rule, so
	// the allow rule decides, and the message says the edge is test-only.
	_, out := runFixture(t, `
//libs/x:x_test|t|//libs/x:x //services/a:a
`, "", nil)
	expectReport(t, out, `depgraph: layering violation (test-only edge): libs/x -> services/a
  rule: allow layer:lib -> layer:lib layer:proto (rules.txt:7)
  path: //libs/x:x_test -> //services/a:a
depgraph: FAILED: 1 violations, 0 module cycles, 0 exception problems; 0 tolerated by exceptions, 0 frozen by the baseline
`)
}

func TestModulePaths(t *testing.T) {
	g, err := graph.Parse(strings.NewReader(strings.ReplaceAll(`
//services/a:a|-|//libs/x:x //libs/y:y
//libs/x:x|-|//libs/z:z
//libs/y:y|-|//libs/x:x //libs/z:z
`, "|", "\t")))
	if err != nil {
		t.Fatal(err)
	}
	m := graph.Fold(g)
	a, _ := m.Lookup("services/a")
	z, _ := m.Lookup("libs/z")
	var got []string
	for _, p := range ModulePaths(m, a, z, 10) {
		var names []string
		for _, id := range p {
			names = append(names, m.Names[id])
		}
		got = append(got, strings.Join(names, " "))
	}
	want := []string{"services/a libs/x libs/z", "services/a libs/y libs/z", "services/a libs/y libs/x libs/z"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("paths = %q, want %q", got, want)
	}
}
