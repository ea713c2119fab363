package check

import (
	"sort"

	"github.com/monoreel/monoreel/tools/depgraph/internal/graph"
)

// pathFinder finds how a target is reached from the top of the graph. It builds the
// reverse edges on first use: a clean check never needs them.
type pathFinder struct {
	g  *graph.Graph
	in [][]int32
}

func newPathFinder(g *graph.Graph) *pathFinder { return &pathFinder{g: g} }

// fromTop returns the labels of a shortest path from a target nothing depends on
// to target (inclusive at both ends).
func (p *pathFinder) fromTop(target int32) []string {
	if p.in == nil {
		p.in = make([][]int32, len(p.g.Labels))
		for from, out := range p.g.Out {
			for _, to := range out {
				p.in[to] = append(p.in[to], int32(from))
			}
		}
	}
	// Breadth-first up the reverse edges; the first target without dependents wins.
	parent := map[int32]int32{target: -1}
	queue := []int32{target}
	top := target
	for len(queue) > 0 {
		t := queue[0]
		queue = queue[1:]
		if len(p.in[t]) == 0 {
			top = t
			break
		}
		for _, up := range p.in[t] {
			if _, seen := parent[up]; !seen {
				parent[up] = t
				queue = append(queue, up)
			}
		}
	}
	var path []string
	for t := top; t != -1; t = parent[t] {
		path = append(path, p.g.Labels[t])
	}
	return path
}

// ModulePaths returns every simple path of modules from a to b (through non-test
// and test edges alike), shortest first, at most limit of them.
func ModulePaths(m *graph.Modules, a, b int32, limit int) [][]int32 {
	out := make([][]int32, len(m.Names))
	for _, e := range m.Edges {
		out[e.From] = append(out[e.From], e.To)
	}
	for _, o := range out {
		sort.Slice(o, func(i, j int) bool { return o[i] < o[j] })
	}
	var paths [][]int32
	onPath := make([]bool, len(m.Names))
	var walk func(path []int32)
	walk = func(path []int32) {
		if len(paths) >= limit {
			return
		}
		at := path[len(path)-1]
		if at == b {
			paths = append(paths, append([]int32(nil), path...))
			return
		}
		onPath[at] = true
		prev := int32(-1)
		for _, next := range out[at] {
			if next != prev && !onPath[next] {
				walk(append(path, next))
			}
			prev = next
		}
		onPath[at] = false
	}
	walk([]int32{a})
	sort.SliceStable(paths, func(i, j int) bool { return len(paths[i]) < len(paths[j]) })
	return paths
}

func sortStrings(s []string) { sort.Strings(s) }
