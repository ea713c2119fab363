package graph

import "sort"

// ModuleEdge is a dependency between two different modules. Test is set when it
// comes only from testonly targets (go_test and friends).
type ModuleEdge struct {
	From, To int32
	Test     bool
}

// Edge is a module edge with its evidence: the first target edge (from, to), in
// target order, that creates it. Messages show it.
type Edge struct {
	ModuleEdge
	Evidence [2]int32
}

// Modules is the module graph folded from a target graph.
type Modules struct {
	Names []string // module id -> name, sorted
	Of    []int32  // target id -> module id
	// Edges holds every cross-module edge, sorted by (From, To, Test).
	Edges []Edge
	// Out lists, per module, the modules it depends on through non-test edges,
	// sorted and without duplicates.
	Out [][]int32

	first []int32 // module id -> index of its first edge in Edges
	index map[string]int32
}

// Fold computes the module graph of g. It visits the targets module by module and
// marks the modules seen from each in a dense array: no hashing per edge, which is
// what keeps a million-edge graph well under a second.
func Fold(g *Graph) *Modules {
	names := map[string]int32{}
	targetModule := make([]string, len(g.Labels))
	for id, label := range g.Labels {
		targetModule[id] = ModuleOf(label)
		names[targetModule[id]] = 0
	}
	m := &Modules{index: names}
	for name := range names {
		m.Names = append(m.Names, name)
	}
	sort.Strings(m.Names)
	for id, name := range m.Names {
		names[name] = int32(id)
	}
	n := len(m.Names)
	m.Of = make([]int32, len(g.Labels))
	count := make([]int32, n+1)
	for id := range g.Labels {
		m.Of[id] = names[targetModule[id]]
		count[m.Of[id]+1]++
	}
	// Targets grouped by module, in id order within each (a counting sort).
	for i := 1; i <= n; i++ {
		count[i] += count[i-1]
	}
	byModule := make([]int32, len(g.Labels))
	next := append([]int32(nil), count[:n]...)
	for id := range g.Labels {
		a := m.Of[id]
		byModule[next[a]] = int32(id)
		next[a]++
	}

	// seen[b*2+test] == a+1 while module a's edges are collected.
	seen := make([]int32, 2*n)
	m.Out = make([][]int32, n)
	m.first = make([]int32, n+1)
	for a := range n {
		m.first[a] = int32(len(m.Edges))
		edges := m.Edges[len(m.Edges):]
		for _, from := range byModule[count[a]:count[a+1]] {
			test := g.TestOnly[from]
			for _, to := range g.Out[from] {
				b := m.Of[to]
				if int(b) == a {
					continue
				}
				slot := 2 * b
				if test {
					slot++
				}
				if seen[slot] == int32(a)+1 {
					continue
				}
				seen[slot] = int32(a) + 1
				edges = append(edges, Edge{ModuleEdge{From: int32(a), To: b, Test: test}, [2]int32{from, to}})
			}
		}
		sort.Slice(edges, func(i, j int) bool {
			if edges[i].To != edges[j].To {
				return edges[i].To < edges[j].To
			}
			return !edges[i].Test && edges[j].Test
		})
		for _, e := range edges {
			if !e.Test {
				m.Out[a] = append(m.Out[a], e.To)
			}
		}
		m.Edges = append(m.Edges[:m.first[a]], edges...)
	}
	m.first[n] = int32(len(m.Edges))
	return m
}

// Find returns the evidence of a module edge, if the graph has it.
func (m *Modules) Find(e ModuleEdge) ([2]int32, bool) {
	edges := m.Edges[m.first[e.From]:m.first[e.From+1]]
	i := sort.Search(len(edges), func(i int) bool {
		x := edges[i]
		return x.To > e.To || (x.To == e.To && (x.Test || !e.Test))
	})
	if i < len(edges) && edges[i].ModuleEdge == e {
		return edges[i].Evidence, true
	}
	return [2]int32{}, false
}

// Lookup returns the id of a module by name.
func (m *Modules) Lookup(name string) (int32, bool) {
	id, ok := m.index[name]
	return id, ok
}
