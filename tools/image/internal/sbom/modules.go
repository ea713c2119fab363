package sbom

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"debug/gosym"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"
)

// GoBinary is what an SBOM says of a Go binary: its module, Go version and the
// modules linked into it.
type GoBinary struct {
	Path, Version, GoVersion string
	Deps                     []*debug.Module
}

// ReadGoBinary returns the modules of a Go binary. Its build info has them when
// the go command built it; rules_go writes only the Go version there, so then
// the packages linked in (from the pclntab, which every Go binary keeps, even
// stripped) are matched to the modules go.mod requires, with go.mod's versions
// and go.sum's hashes: the same list, restricted to what is really linked.
func ReadGoBinary(path string, goMod, goSum []byte) (*GoBinary, error) {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: build info: %w", path, err)
	}
	if len(info.Deps) > 0 {
		return &GoBinary{Path: info.Path, Version: info.Main.Version, GoVersion: info.GoVersion, Deps: info.Deps}, nil
	}
	mf, err := modfile.ParseLax("go.mod", goMod, nil)
	if err != nil {
		return nil, err
	}
	if mf.Module == nil {
		return nil, fmt.Errorf("go.mod has no module line")
	}
	packages, err := linkedPackages(path)
	if err != nil {
		return nil, err
	}
	sums := goSums(goSum)
	used := map[string]*debug.Module{}
	for _, pkg := range packages {
		var best *modfile.Require
		for _, r := range mf.Require {
			if (pkg == r.Mod.Path || strings.HasPrefix(pkg, r.Mod.Path+"/")) && (best == nil || len(r.Mod.Path) > len(best.Mod.Path)) {
				best = r
			}
		}
		if best != nil && used[best.Mod.Path] == nil {
			used[best.Mod.Path] = &debug.Module{Path: best.Mod.Path, Version: best.Mod.Version, Sum: sums[best.Mod.Path+" "+best.Mod.Version]}
		}
	}
	b := &GoBinary{Path: mf.Module.Mod.Path, Version: "(devel)", GoVersion: info.GoVersion}
	for _, m := range used {
		b.Deps = append(b.Deps, m)
	}
	sort.Slice(b.Deps, func(i, j int) bool { return b.Deps[i].Path < b.Deps[j].Path })
	return b, nil
}

// linkedPackages lists the import paths of the functions in an ELF Go binary.
func linkedPackages(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pcln, text := f.Section(".gopclntab"), f.Section(".text")
	if pcln == nil || text == nil {
		return nil, fmt.Errorf("%s: no .gopclntab: not a Go binary", path)
	}
	data, err := pcln.Data()
	if err != nil {
		return nil, err
	}
	table, err := gosym.NewTable(nil, gosym.NewLineTable(data, text.Addr))
	if err != nil {
		return nil, fmt.Errorf("%s: pclntab: %w", path, err)
	}
	seen := map[string]bool{}
	var out []string
	for _, fn := range table.Funcs {
		if p := fn.PackageName(); p != "" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// goSums maps "path version" to go.sum's h1: hash of the module's content.
func goSums(goSum []byte) map[string]string {
	sums := map[string]string{}
	scanner := bufio.NewScanner(bytes.NewReader(goSum))
	for scanner.Scan() {
		f := strings.Fields(scanner.Text())
		if len(f) == 3 && !strings.HasSuffix(f[1], "/go.mod") {
			sums[f[0]+" "+f[1]] = f[2]
		}
	}
	return sums
}
