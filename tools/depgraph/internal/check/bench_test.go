package check

import (
	"bytes"
	"runtime"
	"strings"
	"testing"

	"github.com/monoreel/monoreel/tools/depgraph/internal/graph"
	"github.com/monoreel/monoreel/tools/depgraph/internal/rules"
	"github.com/monoreel/monoreel/tools/depgraph/internal/synth"
)

// BenchmarkCheckScale: parse, fold and check a synthetic graph of 100,000 targets,
// 2,000 modules and 1,000,000 edges, the size the analyzer must handle in under a
// second. It reports the peak heap in use as MB-heap.
func BenchmarkCheckScale(b *testing.B) {
	var file bytes.Buffer
	if err := synth.Generate(100_000, 2_000, 1_000_000, 1).Write(&file); err != nil {
		b.Fatal(err)
	}
	rs, err := rules.Parse("rules.txt", strings.NewReader(fixtureRules))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(file.Len())/1e6, "MB-input")
	var peak uint64
	for b.Loop() {
		g, err := graph.Parse(bytes.NewReader(file.Bytes()))
		if err != nil {
			b.Fatal(err)
		}
		report := Run(g, graph.Fold(g), rs, nil, today)
		if report.Failed() {
			b.Fatal("synthetic graph has violations")
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	b.ReportMetric(float64(peak)/(1<<20), "MB-heap")
}
