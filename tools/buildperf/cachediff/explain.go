package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/monoreel/monoreel/tools/buildperf/cachediff/execlog"
)

// report is what cachediff found: the misses of build B against build A, and the
// causes behind them.
type report struct {
	spawns, cacheable, hits int
	misses                  []*miss
	culprits                []*culprit // most misses explained first
}

// miss is one action of B that was not a cache hit, and how it differs from A.
type miss struct {
	spawn *execlog.Spawn
	diffs []string
}

// culprit is a root cause: a difference between A and B that is not itself the
// consequence of another action's difference.
type culprit struct {
	rank     int // kind: lower comes first among culprits explaining as many misses
	what     string
	explains map[string]bool // IDs of the missed spawns it explains
}

// Culprit kinds, in the order they are listed when they explain as many misses:
// an action that is not reproducible is the classic non-hermetic action.
const (
	rankUnreproducible = iota
	rankEnv
	rankArg
	rankPlatform
	rankSource
	rankUncached
	rankNew
)

type explainer struct {
	a, b      map[string]*execlog.Spawn // by ID
	producerB map[string]*execlog.Spawn // B's output path -> the spawn that wrote it
	culprits  map[string]*culprit
	causes    map[string][]string // spawn ID -> culprit keys (memoised)
	busy      map[string]bool
}

// explain compares build B's spawns with build A's.
func explain(a, b []*execlog.Spawn) *report {
	e := &explainer{
		a: byID(a), b: byID(b), producerB: map[string]*execlog.Spawn{},
		culprits: map[string]*culprit{}, causes: map[string][]string{}, busy: map[string]bool{},
	}
	for _, s := range b {
		for out := range s.Outputs {
			e.producerB[out] = s
		}
	}
	r := &report{spawns: len(b)}
	for _, s := range b {
		if !s.RemoteCacheable {
			continue
		}
		r.cacheable++
		if s.CacheHit {
			r.hits++
			continue
		}
		m := &miss{spawn: s, diffs: e.diffs(s)}
		for _, key := range e.causesOf(s) {
			e.culprits[key].explains[s.ID()] = true
		}
		r.misses = append(r.misses, m)
	}
	for _, c := range e.culprits {
		if len(c.explains) > 0 {
			r.culprits = append(r.culprits, c)
		}
	}
	sort.Slice(r.culprits, func(i, j int) bool {
		ci, cj := r.culprits[i], r.culprits[j]
		if len(ci.explains) != len(cj.explains) {
			return len(ci.explains) > len(cj.explains)
		}
		if ci.rank != cj.rank {
			return ci.rank < cj.rank
		}
		return ci.what < cj.what
	})
	return r
}

func byID(spawns []*execlog.Spawn) map[string]*execlog.Spawn {
	m := make(map[string]*execlog.Spawn, len(spawns))
	for _, s := range spawns {
		m[s.ID()] = s
	}
	return m
}

// culprit returns the culprit with this description, creating it.
func (e *explainer) culprit(rank int, format string, args ...any) string {
	what := fmt.Sprintf(format, args...)
	if e.culprits[what] == nil {
		e.culprits[what] = &culprit{rank: rank, what: what, explains: map[string]bool{}}
	}
	return what
}

// causesOf returns the keys of the root culprits behind spawn s of B differing
// from its counterpart in A; inputs written by other spawns that differ are
// followed to those spawns' own causes.
func (e *explainer) causesOf(s *execlog.Spawn) []string {
	id := s.ID()
	if c, ok := e.causes[id]; ok {
		return c
	}
	if e.busy[id] {
		return nil // a cycle cannot happen in a build graph; a corrupt log must not hang us
	}
	e.busy[id] = true
	defer delete(e.busy, id)

	a := e.a[id]
	var keys []string
	add := func(k string) { keys = append(keys, k) }
	switch {
	case a == nil:
		add(e.culprit(rankNew, "%s %s: an action A did not run (a target only B built, or outputs at other paths)", s.Mnemonic, s.Label))
	default:
		for _, d := range mapDiffs(a.Env, s.Env) {
			add(e.culprit(rankEnv, "environment variable %s", d))
		}
		for _, d := range mapDiffs(a.Platform, s.Platform) {
			add(e.culprit(rankPlatform, "platform property %s", d))
		}
		if d := argDiff(a.Args, s.Args); d != "" {
			add(e.culprit(rankArg, "%s arguments: %s", s.Mnemonic, d))
		}
		for _, path := range sortedUnion(a.Inputs, s.Inputs) {
			da, inA := a.Inputs[path]
			db, inB := s.Inputs[path]
			if inA && inB && da == db {
				continue
			}
			producer := e.producerB[path]
			switch {
			case producer == nil && strings.HasPrefix(path, "bazel-out/"):
				add(e.culprit(rankSource, "%s, written by Bazel itself (not by a spawn), differs", path))
			case producer == nil:
				add(e.culprit(rankSource, "source file %s differs", path))
			case e.sameAction(producer):
				add(e.culprit(rankUnreproducible, "%s %s wrote %s differently from identical inputs: not reproducible%s",
					producer.Mnemonic, producer.Label, path, uncachedNote(producer)))
			default:
				keys = append(keys, e.causesOf(producer)...)
			}
		}
		if len(keys) == 0 {
			add(e.culprit(rankUncached, "%s %s: same action as in A, but A did not leave it in the cache%s",
				s.Mnemonic, s.Label, uncachedNote(a)))
		}
	}
	e.causes[id] = dedupe(keys)
	return e.causes[id]
}

// sameAction reports whether spawn s of B ran exactly the action its counterpart
// in A ran: same command, environment, platform and input contents.
func (e *explainer) sameAction(s *execlog.Spawn) bool {
	a := e.a[s.ID()]
	return a != nil && len(mapDiffs(a.Env, s.Env)) == 0 && len(mapDiffs(a.Platform, s.Platform)) == 0 &&
		argDiff(a.Args, s.Args) == "" && len(mapDiffs(a.Inputs, s.Inputs)) == 0
}

func uncachedNote(s *execlog.Spawn) string {
	if s.RemoteCacheable {
		return ""
	}
	return " (and never cached remotely: tagged no-remote-cache, no-cache or stamped)"
}

// diffs lists, for a report, how spawn s of B differs from A.
func (e *explainer) diffs(s *execlog.Spawn) []string {
	a := e.a[s.ID()]
	if a == nil {
		return []string{"not in A"}
	}
	var out []string
	for _, d := range mapDiffs(a.Env, s.Env) {
		out = append(out, "env "+d)
	}
	for _, d := range mapDiffs(a.Platform, s.Platform) {
		out = append(out, "platform "+d)
	}
	if d := argDiff(a.Args, s.Args); d != "" {
		out = append(out, "args: "+d)
	}
	for _, path := range sortedUnion(a.Inputs, s.Inputs) {
		if d := valueDiff(a.Inputs, s.Inputs, path); d != "" {
			line := "input " + d
			if p := e.producerB[path]; p != nil {
				line += fmt.Sprintf(" (written by %s %s)", p.Mnemonic, p.Label)
			}
			out = append(out, line)
		}
	}
	return out
}

// mapDiffs returns "KEY: A → B" for every key whose value differs, sorted.
func mapDiffs(a, b map[string]string) []string {
	var out []string
	for _, k := range sortedUnion(a, b) {
		if d := valueDiff(a, b, k); d != "" {
			out = append(out, d)
		}
	}
	return out
}

func valueDiff(a, b map[string]string, k string) string {
	va, inA := a[k]
	vb, inB := b[k]
	switch {
	case inA && inB && va == vb:
		return ""
	case !inA:
		return fmt.Sprintf("%s: only in B (%s)", k, short(vb))
	case !inB:
		return fmt.Sprintf("%s: only in A (%s)", k, short(va))
	}
	return fmt.Sprintf("%s: %s → %s", k, short(va), short(vb))
}

// argDiff describes the first difference between two command lines.
func argDiff(a, b []string) string {
	for i := 0; i < len(a) || i < len(b); i++ {
		switch {
		case i >= len(a):
			return fmt.Sprintf("B adds %q at %d", b[i], i)
		case i >= len(b):
			return fmt.Sprintf("B drops %q at %d", a[i], i)
		case a[i] != b[i]:
			return fmt.Sprintf("%q → %q", a[i], b[i])
		}
	}
	return ""
}

func short(s string) string {
	if len(s) > 80 {
		return fmt.Sprintf("%q…", s[:77])
	}
	return fmt.Sprintf("%q", s)
}

func sortedUnion(a, b map[string]string) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

func dedupe(keys []string) []string {
	seen := map[string]bool{}
	out := keys[:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// print writes the report: the culprits first, then each miss (at most max).
func (r *report) print(w io.Writer, max int) {
	fmt.Fprintf(w, "B: %d spawns, %d remotely cacheable, %d remote cache hits, %d misses\n",
		r.spawns, r.cacheable, r.hits, len(r.misses))
	if len(r.misses) == 0 {
		return
	}
	fmt.Fprintln(w, "\nMost likely culprits (the first explains the most misses):")
	for i, c := range r.culprits {
		fmt.Fprintf(w, "%3d. %s\n     explains %d miss(es)\n", i+1, c.what, len(c.explains))
	}
	fmt.Fprintln(w, "\nMisses:")
	for i, m := range r.misses {
		if i == max {
			fmt.Fprintf(w, "  ... and %d more (--max)\n", len(r.misses)-max)
			break
		}
		fmt.Fprintf(w, "  %s %s (%s)\n", m.spawn.Mnemonic, m.spawn.Label, m.spawn.ID())
		for _, d := range m.diffs {
			fmt.Fprintf(w, "      %s\n", d)
		}
	}
}
