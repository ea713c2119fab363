// Package debian reads Debian's archive (the Packages index of a suite, the
// sources of apt) and resolves a package's run-time closure into a lock: each
// package pinned by name, version, architecture, archive path and sha256, the
// way rules_distroless and apko pin a base. tools/image/debresolve writes the
// lock; the layer builder and the SBOM read it.
package debian

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// Package is one stanza of a Packages index: the fields the resolver and the
// lock use.
type Package struct {
	Name         string
	Version      string
	Architecture string
	Filename     string // the archive path, relative to the mirror's root
	Suite        string // the suite whose index lists it (set by Newest)
	SHA256       string
	Size         string
	Source       string // the source package (Name when absent)
	Essential    bool
	Depends      [][]Relation // Pre-Depends then Depends: AND of OR-groups
	Provides     []string     // virtual packages this one provides
}

// Relation is one alternative of a dependency: a package name, with its version
// constraint kept for messages only (a suite holds one version of each package).
type Relation struct {
	Name       string
	Constraint string // e.g. ">= 2.34", or empty
}

// Index is a Packages index by package name.
type Index struct {
	Packages map[string]*Package
	// providers maps a virtual package to the real packages providing it, in
	// index order.
	providers map[string][]string
}

var fieldName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*$`)

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ParsePackages reads a Packages index (deb822 stanzas separated by blank lines).
// A malformed stanza is an error naming its line; a stanza without Package,
// Version, Architecture, Filename or a valid SHA256 is an error naming the package.
func ParsePackages(r io.Reader) (*Index, error) {
	idx := &Index{Packages: map[string]*Package{}, providers: map[string][]string{}}
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 0, 64<<10), 16<<20)
	fields := map[string]string{}
	var last string
	start, line := 0, 0
	flush := func() error {
		if len(fields) == 0 {
			return nil
		}
		p, err := stanza(fields)
		if err != nil {
			return fmt.Errorf("Packages index, stanza at line %d: %w", start, err)
		}
		// A suite's index can list a package twice (e.g. two versions in a
		// mixed index): the first wins, as with apt at equal priority.
		if _, dup := idx.Packages[p.Name]; !dup {
			idx.Packages[p.Name] = p
			for _, v := range p.Provides {
				idx.providers[v] = append(idx.providers[v], p.Name)
			}
		}
		fields, last = map[string]string{}, ""
		return nil
	}
	for scanner.Scan() {
		line++
		text := strings.TrimRight(scanner.Text(), "\r")
		switch {
		case strings.TrimSpace(text) == "":
			if err := flush(); err != nil {
				return nil, err
			}
		case text[0] == ' ' || text[0] == '\t':
			if last == "" {
				return nil, fmt.Errorf("Packages index, line %d: continuation line without a field", line)
			}
			fields[last] += "\n" + strings.TrimSpace(text)
		default:
			name, value, ok := strings.Cut(text, ":")
			if !ok || !fieldName.MatchString(name) {
				return nil, fmt.Errorf("Packages index, line %d: want \"Field: value\", got %q", line, truncate(text))
			}
			if len(fields) == 0 {
				start = line
			}
			last = name
			fields[name] = strings.TrimSpace(value)
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("Packages index, line %d: %w", line+1, err)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return idx, nil
}

func truncate(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

func stanza(f map[string]string) (*Package, error) {
	p := &Package{
		Name:         f["Package"],
		Version:      f["Version"],
		Architecture: f["Architecture"],
		Filename:     f["Filename"],
		SHA256:       f["SHA256"],
		Size:         f["Size"],
		Source:       f["Source"],
		Essential:    f["Essential"] == "yes",
	}
	if p.Name == "" {
		return nil, fmt.Errorf("no Package field")
	}
	for field, v := range map[string]string{"Version": p.Version, "Architecture": p.Architecture, "Filename": p.Filename} {
		if v == "" {
			return nil, fmt.Errorf("package %s: no %s field", p.Name, field)
		}
	}
	if !sha256Hex.MatchString(p.SHA256) {
		return nil, fmt.Errorf("package %s: SHA256 %q is not 64 lowercase hex digits", p.Name, truncate(p.SHA256))
	}
	if strings.HasPrefix(p.Filename, "/") || strings.Contains(p.Filename, "..") {
		return nil, fmt.Errorf("package %s: Filename %q is not a relative archive path", p.Name, p.Filename)
	}
	// "Source: name (version)" when the binary's version differs.
	if src, _, _ := strings.Cut(p.Source, " "); src != "" {
		p.Source = src
	} else {
		p.Source = p.Name
	}
	for _, field := range []string{"Pre-Depends", "Depends"} {
		rels, err := ParseRelations(f[field])
		if err != nil {
			return nil, fmt.Errorf("package %s: %s: %w", p.Name, field, err)
		}
		p.Depends = append(p.Depends, rels...)
	}
	provides, err := ParseRelations(f["Provides"])
	if err != nil {
		return nil, fmt.Errorf("package %s: Provides: %w", p.Name, err)
	}
	for _, group := range provides {
		if len(group) != 1 {
			return nil, fmt.Errorf("package %s: Provides has alternatives", p.Name)
		}
		p.Provides = append(p.Provides, group[0].Name)
	}
	return p, nil
}

var relationName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)

// ParseRelations parses a relationship field ("a (>= 1), b | c:any") into
// AND-ed groups of alternatives. Architecture qualifiers (":any") are dropped:
// the resolver works within one architecture's index.
func ParseRelations(field string) ([][]Relation, error) {
	field = strings.TrimSpace(field)
	if field == "" {
		return nil, nil
	}
	var groups [][]Relation
	for _, part := range strings.Split(field, ",") {
		var group []Relation
		for _, alt := range strings.Split(part, "|") {
			alt = strings.TrimSpace(alt)
			name, rest, _ := strings.Cut(alt, " ")
			if i := strings.IndexByte(name, '('); i >= 0 { // "a(>= 1)"
				name, rest = name[:i], alt[i:]
			}
			name, _, _ = strings.Cut(name, ":")
			if !relationName.MatchString(name) {
				return nil, fmt.Errorf("bad package name %q in %q", truncate(name), truncate(alt))
			}
			rel := Relation{Name: name}
			rest = strings.TrimSpace(rest)
			if rest != "" {
				if !strings.HasPrefix(rest, "(") || !strings.HasSuffix(rest, ")") {
					return nil, fmt.Errorf("bad version constraint %q in %q", truncate(rest), truncate(alt))
				}
				rel.Constraint = strings.TrimSpace(rest[1 : len(rest)-1])
			}
			group = append(group, rel)
		}
		groups = append(groups, group)
	}
	return groups, nil
}

// Lookup returns the package that satisfies name: the real package of that name,
// else the first package providing it. nil when nothing does.
func (idx *Index) Lookup(name string) *Package {
	if p, ok := idx.Packages[name]; ok {
		return p
	}
	if providers := idx.providers[name]; len(providers) > 0 {
		return idx.Packages[providers[0]]
	}
	return nil
}

// SuiteIndex is the Packages index of one suite.
type SuiteIndex struct {
	Suite string
	Index *Index
}

// Newest merges the indexes of a release and its update suites (-updates,
// -security) as apt sees them together: each package at its highest version
// (CompareVersions), marked with the suite it comes from; at the same version,
// the earlier suite's. Virtual packages keep the earlier suites' order of
// providers, counting only the providers whose newest version provides them.
func Newest(suites []SuiteIndex) *Index {
	idx := &Index{Packages: map[string]*Package{}, providers: map[string][]string{}}
	for _, s := range suites {
		for name, p := range s.Index.Packages {
			if have, ok := idx.Packages[name]; !ok || CompareVersions(p.Version, have.Version) > 0 {
				in := *p // the caller's index stays as it was
				in.Suite = s.Suite
				idx.Packages[name] = &in
			}
		}
	}
	for _, s := range suites {
		for virtual, names := range s.Index.providers {
			for _, name := range names {
				if slices.Contains(idx.Packages[name].Provides, virtual) && !slices.Contains(idx.providers[virtual], name) {
					idx.providers[virtual] = append(idx.providers[virtual], name)
				}
			}
		}
	}
	return idx
}
