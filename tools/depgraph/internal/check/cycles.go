package check

import "github.com/monoreel/monoreel/tools/depgraph/internal/graph"

// Cycles returns one shortest cycle for every strongly connected component of the
// module graph (non-test edges) that has more than one module.
func Cycles(g *graph.Graph, m *graph.Modules) []Cycle {
	var cycles []Cycle
	for _, component := range stronglyConnected(m.Out) {
		if len(component) < 2 {
			continue
		}
		ids := shortestCycle(m.Out, component)
		c := Cycle{}
		for i, id := range ids {
			next := ids[(i+1)%len(ids)]
			c.Modules = append(c.Modules, m.Names[id])
			evidence, _ := m.Find(graph.ModuleEdge{From: id, To: next})
			c.Hops = append(c.Hops, [2]string{g.Labels[evidence[0]], g.Labels[evidence[1]]})
		}
		cycles = append(cycles, c)
	}
	return cycles
}

// stronglyConnected is Tarjan's algorithm, iterative so that deep graphs cannot
// overflow the stack. Components come out in reverse topological order.
func stronglyConnected(out [][]int32) [][]int32 {
	n := len(out)
	index := make([]int32, n)
	low := make([]int32, n)
	onStack := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var stack, components []int32
	var result [][]int32
	next := int32(0)
	type frame struct{ v, edge int32 }
	for root := range out {
		if index[root] != -1 {
			continue
		}
		calls := []frame{{int32(root), 0}}
		index[root], low[root] = next, next
		next++
		stack = append(stack, int32(root))
		onStack[root] = true
		for len(calls) > 0 {
			f := &calls[len(calls)-1]
			if int(f.edge) < len(out[f.v]) {
				w := out[f.v][f.edge]
				f.edge++
				if index[w] == -1 {
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					onStack[w] = true
					calls = append(calls, frame{w, 0})
				} else if onStack[w] && index[w] < low[f.v] {
					low[f.v] = index[w]
				}
				continue
			}
			v := f.v
			calls = calls[:len(calls)-1]
			if len(calls) > 0 {
				if parent := calls[len(calls)-1].v; low[v] < low[parent] {
					low[parent] = low[v]
				}
			}
			if low[v] == index[v] {
				components = components[:0]
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w] = false
					components = append(components, w)
					if w == v {
						break
					}
				}
				result = append(result, append([]int32(nil), components...))
			}
		}
	}
	return result
}

// shortestCycle finds a shortest cycle inside one strongly connected component by a
// breadth-first search from each of its modules, stopping early at length 2.
func shortestCycle(out [][]int32, component []int32) []int32 {
	in := make(map[int32]bool, len(component))
	for _, v := range component {
		in[v] = true
	}
	var best []int32
	parent := make(map[int32]int32, len(component))
	for _, start := range component {
		clear(parent)
		parent[start] = -1
		queue := []int32{start}
		var found []int32
		for len(queue) > 0 && found == nil {
			v := queue[0]
			queue = queue[1:]
			for _, w := range out[v] {
				if !in[w] {
					continue
				}
				if w == start {
					for x := v; x != -1; x = parent[x] {
						found = append([]int32{x}, found...)
					}
					break
				}
				if _, seen := parent[w]; !seen {
					parent[w] = v
					queue = append(queue, w)
				}
			}
		}
		if found != nil && (best == nil || len(found) < len(best)) {
			best = found
			if len(best) == 2 {
				break
			}
		}
	}
	return rotateToSmallest(best)
}

// rotateToSmallest starts a cycle at its smallest module id, so the same cycle is
// always printed the same way.
func rotateToSmallest(cycle []int32) []int32 {
	min := 0
	for i, v := range cycle {
		if v < cycle[min] {
			min = i
		}
	}
	return append(append([]int32(nil), cycle[min:]...), cycle[:min]...)
}
