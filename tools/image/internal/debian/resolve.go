package debian

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// Locked is one pinned package of a lock.
type Locked struct {
	Name         string `json:"name"`
	Version      string `json:"version"`
	Architecture string `json:"architecture"` // the package's: "all" or the image's
	Source       string `json:"source"`
	Filename     string `json:"filename"` // the archive path: MIRROR/Filename
	Suite        string `json:"suite"`    // the suite it is in, whose mirror has it
	SHA256       string `json:"sha256"`
}

// Lock pins a run-time closure per architecture.
type Lock struct {
	Suite string `json:"suite"` // the release, e.g. bookworm
	// Suites are the suites read: the release and its updates, in order.
	Suites    []string `json:"suites"`
	Component string   `json:"component"`
	Roots     []string `json:"roots"`
	// Excluded: packages left out of every closure, and why.
	Excluded      map[string]string   `json:"excluded"`
	Architectures map[string][]Locked `json:"architectures"` // sorted by name
}

// Resolve returns the closure of roots in idx over Pre-Depends and Depends,
// sorted by name. Of a group of alternatives the first that idx has (as a
// package or through Provides) is taken; a package in exclude is left out with
// everything only it pulls in. A root or a dependency that nothing satisfies is
// an error naming who needs it.
func Resolve(idx *Index, roots []string, exclude map[string]string) ([]Locked, error) {
	seen := map[string]bool{}
	var queue []*Package
	for _, r := range roots {
		p := idx.Lookup(r)
		if p == nil {
			return nil, fmt.Errorf("root package %s: not in the index", r)
		}
		if !seen[p.Name] {
			seen[p.Name] = true
			queue = append(queue, p)
		}
	}
	var out []Locked
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		out = append(out, Locked{Name: p.Name, Version: p.Version, Architecture: p.Architecture, Source: p.Source, Filename: p.Filename, Suite: p.Suite, SHA256: p.SHA256})
		for _, group := range p.Depends {
			dep := pick(idx, group)
			if dep == nil {
				return nil, fmt.Errorf("%s %s depends on %s: nothing in the index satisfies it", p.Name, p.Version, describe(group))
			}
			if _, skip := exclude[dep.Name]; skip || seen[dep.Name] {
				continue
			}
			seen[dep.Name] = true
			queue = append(queue, dep)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func pick(idx *Index, group []Relation) *Package {
	for _, alt := range group {
		if p := idx.Lookup(alt.Name); p != nil {
			return p
		}
	}
	return nil
}

func describe(group []Relation) string {
	var alts []string
	for _, r := range group {
		if r.Constraint != "" {
			alts = append(alts, fmt.Sprintf("%s (%s)", r.Name, r.Constraint))
		} else {
			alts = append(alts, r.Name)
		}
	}
	return strings.Join(alts, " | ")
}

// ReadLock reads a lock that debresolve wrote.
func ReadLock(path string) (*Lock, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var lock Lock
	if err := json.Unmarshal(data, &lock); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(lock.Architectures) == 0 {
		return nil, fmt.Errorf("%s: pins no packages", path)
	}
	return &lock, nil
}

// Changes lists how lock next differs from lock prev, a line per package and
// architecture ("amd64 libssl3 3.0.20-1~deb12u2 -> 3.0.22-1~deb12u2
// (bookworm-security)", "... added", "... removed"), sorted: what a
// regenerated lock would change.
func Changes(prev, next *Lock) []string {
	var lines []string
	for arch, pkgs := range next.Architectures {
		before := map[string]Locked{}
		for _, p := range prev.Architectures[arch] {
			before[p.Name] = p
		}
		for _, p := range pkgs {
			old, ok := before[p.Name]
			switch {
			case !ok:
				lines = append(lines, fmt.Sprintf("%s %s %s (%s) added", arch, p.Name, p.Version, p.Suite))
			case old.Version != p.Version || old.SHA256 != p.SHA256:
				lines = append(lines, fmt.Sprintf("%s %s %s -> %s (%s)", arch, p.Name, old.Version, p.Version, p.Suite))
			}
			delete(before, p.Name)
		}
		for name, p := range before {
			lines = append(lines, fmt.Sprintf("%s %s %s removed", arch, name, p.Version))
		}
	}
	for arch, pkgs := range prev.Architectures {
		if _, ok := next.Architectures[arch]; !ok {
			lines = append(lines, fmt.Sprintf("%s: all %d packages removed", arch, len(pkgs)))
		}
	}
	sort.Strings(lines)
	return lines
}
