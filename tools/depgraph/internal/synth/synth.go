// Package synth generates large synthetic target graphs shaped like Monoreel's
// (proto, libs and services modules, edges pointing down the layers), to measure
// the depgraph check at scale.
package synth

import (
	"fmt"
	"math/rand/v2"

	"github.com/monoreel/monoreel/tools/depgraph/internal/graph"
)

// Generate returns a graph of targets spread over modules (a tenth proto, 60% libs,
// the rest services) with edges out-edges in all, every one allowed by the shipped
// rules: proto -> proto, libs -> libs/proto, services -> libs/proto, always towards
// lower-numbered modules so the module graph is acyclic. The same seed gives the
// same graph.
func Generate(targets, modules, edges int, seed uint64) *graph.Graph {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	nProto, nLibs := modules/10, modules*6/10
	module := func(i int) string {
		switch {
		case i < nProto:
			return fmt.Sprintf("proto/p%04d", i)
		case i < nProto+nLibs:
			return fmt.Sprintf("libs/l%04d", i)
		default:
			return fmt.Sprintf("services/s%04d", i)
		}
	}
	g := graph.New()
	// Target t lives in module t*modules/targets, in one of a few packages.
	moduleOf := make([]int, targets)
	for t := range targets {
		m := t * modules / targets
		moduleOf[t] = m
		g.ID(fmt.Sprintf("//%s/pkg%d:t%d", module(m), t%4, t))
	}
	// firstTarget[m] is the first target of module m.
	firstTarget := make([]int, modules+1)
	for t := targets - 1; t >= 0; t-- {
		firstTarget[moduleOf[t]] = t
	}
	firstTarget[modules] = targets
	for e := range edges {
		from := e % targets
		m := moduleOf[from]
		// Depend within the module, or on a lower module of an allowed layer.
		var to int
		if m == 0 || rng.IntN(4) == 0 {
			to = firstTarget[m] + rng.IntN(firstTarget[m+1]-firstTarget[m])
		} else {
			limit := m
			if m >= nProto+nLibs {
				limit = nProto + nLibs // services never depend on services
			}
			if m < nProto {
				limit = m // proto on lower proto only
			}
			target := rng.IntN(limit)
			to = firstTarget[target] + rng.IntN(firstTarget[target+1]-firstTarget[target])
		}
		if to == from {
			continue
		}
		g.AddEdge(int32(from), int32(to))
	}
	return g
}
