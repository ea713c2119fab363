// Command goresolve writes the lock of a Go tool that go_install builds
// (tools/rules/go_install.bzl): the go.mod and go.sum of a scratch module that
// requires the tool, and every module file its offline build reads on any of
// the exec platforms (linux/amd64, linux/arm64, darwin/arm64), each pinned by
// sha256 (tools/gotools/*.lock.json).
//
//	./bazelw run //tools/gotools/goresolve -- --lock=tools/gotools/grpcurl.lock.json github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3
//
// It resolves through the user's GOPROXY and checks every module against the
// checksum database (go get does), once, when a tool is pinned or bumped. The
// repository rule then only downloads the files the lock names, in parallel and
// through Bazel's downloader: no go command runs on a new machine to fetch a tool.
//
// A tool that go_install patches (its `patches`) is resolved with the same
// patches (--patch, in the same order), so that the lock names the module zips
// the patched build reads and not those of the packages a patch cuts off:
//
//	./bazelw run //tools/gotools/goresolve -- --lock=tools/gotools/jaeger.lock.json \
//	    --patch=tools/gotools/jaeger-trim.patch github.com/jaegertracing/jaeger/cmd/jaeger@v1.76.0
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bluekeyes/go-gitdiff/gitdiff"
	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "goresolve:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	flags := flag.NewFlagSet("goresolve", flag.ContinueOnError)
	goBin := flags.String("go", "", "the pinned Go SDK's go (set by the BUILD file)")
	lockPath := flags.String("lock", "", "the lock file to write, relative to the workspace")
	var patchPaths []string
	flags.Func("patch", "a patch of the tool's module that go_install applies (a git diff; repeat it, in go_install's order), relative to the workspace", func(p string) error {
		patchPaths = append(patchPaths, p)
		return nil
	})
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *goBin == "" || *lockPath == "" || flags.NArg() != 1 {
		return errors.New("usage: goresolve --lock=FILE [--patch=FILE]... PACKAGE@VERSION")
	}
	pkg, version, ok := strings.Cut(flags.Arg(0), "@")
	if !ok || pkg == "" || version == "" {
		return fmt.Errorf("%q: want a main package at a version, e.g. github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3", flags.Arg(0))
	}
	goPath, err := filepath.Abs(*goBin)
	if err != nil {
		return err
	}
	ws := os.Getenv("BUILD_WORKSPACE_DIRECTORY")
	inWorkspace := func(p string) string {
		if ws != "" && !filepath.IsAbs(p) {
			return filepath.Join(ws, p)
		}
		return p
	}
	var patches []patch
	for _, p := range patchPaths {
		data, err := os.ReadFile(inWorkspace(p))
		if err != nil {
			return err
		}
		patches = append(patches, patch{name: filepath.ToSlash(p), data: data})
	}
	out := inWorkspace(*lockPath)
	lock, err := resolve(goPath, pkg, version, patches)
	if err != nil {
		return err
	}
	if err := lock.Check(); err != nil {
		return err
	}
	data, err := json.MarshalIndent(lock, "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%s@%s: %d module files\n", pkg, version, len(lock.Files))
	return os.WriteFile(out, append(data, '\n'), 0o644)
}

// Lock is a tool's lock file. Files maps each module file the build reads,
// spelled as a module proxy serves it (module/@v/version.mod or .zip, escaped),
// to its sha256. Patches names the patches it was resolved with, which
// go_install checks against its own.
type Lock struct {
	Package string            `json:"package"`
	Version string            `json:"version"`
	Patches []string          `json:"patches,omitempty"`
	GoMod   string            `json:"go_mod"`
	GoSum   string            `json:"go_sum"`
	Files   map[string]string `json:"files"`
}

// Check returns an error naming the first inconsistency of a lock (one edited by
// hand, or merged badly): go.mod must require the tool, and each file must have
// a sha256 and a go.sum line that go build checks it against.
func (l *Lock) Check() error {
	if l.Package == "" || l.Version == "" {
		return errors.New("lock: no package or version")
	}
	mod, err := modfile.Parse("go.mod", []byte(l.GoMod), nil)
	if err != nil {
		return fmt.Errorf("lock of %s: %w", l.Package, err)
	}
	tool := false
	for _, t := range mod.Tool {
		tool = tool || t.Path == l.Package
	}
	required := false
	for _, r := range mod.Require {
		required = required || (r.Mod.Version == l.Version && (l.Package == r.Mod.Path || strings.HasPrefix(l.Package, r.Mod.Path+"/")))
	}
	if !tool || !required {
		return fmt.Errorf("lock of %s: go.mod has no tool directive for it or does not require it at %s", l.Package, l.Version)
	}
	sums, err := sumLines(l.GoSum)
	if err != nil {
		return fmt.Errorf("lock of %s: %w", l.Package, err)
	}
	if len(l.Files) == 0 {
		return fmt.Errorf("lock of %s: no module files", l.Package)
	}
	for name, sum := range l.Files {
		if b, err := hex.DecodeString(sum); err != nil || len(b) != sha256.Size {
			return fmt.Errorf("lock of %s: %s: %q is not a sha256", l.Package, name, sum)
		}
		escPath, file, ok := strings.Cut(name, "/@v/")
		ext := filepath.Ext(file)
		if !ok || (ext != ".mod" && ext != ".zip") {
			return fmt.Errorf("lock of %s: %q is not module/@v/version.mod or .zip", l.Package, name)
		}
		path, err := module.UnescapePath(escPath)
		if err != nil {
			return fmt.Errorf("lock of %s: %s: %w", l.Package, name, err)
		}
		version, err := module.UnescapeVersion(strings.TrimSuffix(file, ext))
		if err != nil {
			return fmt.Errorf("lock of %s: %s: %w", l.Package, name, err)
		}
		if key := sumKey(path + "@" + version + ext); !sums[key] {
			return fmt.Errorf("lock of %s: %s: no go.sum line for %s", l.Package, name, key)
		}
	}
	return nil
}

// execPlatforms are the platforms a tool may be built on. go_install builds it
// for Bazel's exec platform, which is the machine building: a developer's
// (linux/amd64, linux/arm64 or darwin/arm64, the platforms the repository
// builds for) or a remote executor's. The lock has the modules each of them
// reads.
var execPlatforms = []string{"linux/amd64", "linux/arm64", "darwin/arm64"}

// resolve makes the tool a tool dependency of a scratch module, in a module
// cache of its own, and locks the files of that cache the build reads. With
// patches, the packages the build reads are those of the patched module.
func resolve(goPath, pkg, version string, patches []patch) (*Lock, error) {
	tmp, err := os.MkdirTemp("", "goresolve")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp) // -modcacherw: the module cache's files are writable
	src, modcache := filepath.Join(tmp, "src"), filepath.Join(tmp, "mod")
	// gocmdOn runs go for platform (GOOS/GOARCH; empty: the host's).
	gocmdOn := func(platform string, args ...string) (string, error) {
		cmd := exec.Command(goPath, args...)
		cmd.Dir = src
		cmd.Env = append(os.Environ(),
			"GOMODCACHE="+modcache, "GOFLAGS=-mod=mod -modcacherw", "GOWORK=off",
			"CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOTELEMETRY=off")
		if goos, goarch, ok := strings.Cut(platform, "/"); ok {
			cmd.Env = append(cmd.Env, "GOOS="+goos, "GOARCH="+goarch)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		stdout, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return string(stdout), nil
	}
	gocmd := func(args ...string) (string, error) { return gocmdOn("", args...) }
	// The packages the build reads, on every platform it may run on: a package
	// can import others on one OS only (gopsutil imports purego on darwin).
	deps := func() (string, error) {
		var all strings.Builder
		for _, platform := range execPlatforms {
			out, err := gocmdOn(platform, "list", "-deps", "-f", "{{.ImportPath}}", pkg)
			if err != nil {
				return "", fmt.Errorf("for %s: %w", platform, err)
			}
			all.WriteString(out)
		}
		return all.String(), nil
	}
	if err := os.Mkdir(src, 0o755); err != nil {
		return nil, err
	}
	// A module whose go.mod has replace directives (Jaeger) cannot be `go
	// install`ed by version; as a tool dependency its requirements resolve
	// without them.
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module monoreel.local/tool\n"), 0o644); err != nil {
		return nil, err
	}
	if _, err := gocmd("get", "-tool", pkg+"@"+version); err != nil {
		return nil, err
	}
	graph, err := gocmd("mod", "graph")
	if err != nil {
		return nil, err
	}
	buildList, err := gocmd("list", "-m", "-f", "{{if not .Main}}{{.Path}}@{{.Version}}{{end}}", "all")
	if err != nil {
		return nil, err
	}
	lock := &Lock{Package: pkg, Version: version, Files: map[string]string{}}
	var packages string
	if len(patches) > 0 {
		// The build replaces the tool's module with its patched copy (the
		// same requirements): list the packages from that copy, then drop the
		// replace again, which the repository rule writes itself.
		modPath, err := patchedModule(gocmd, pkg, filepath.Join(tmp, "tool"), patches)
		if err != nil {
			return nil, err
		}
		for _, p := range patches {
			lock.Patches = append(lock.Patches, p.name)
		}
		if _, err := gocmd("mod", "edit", "-replace", modPath+"=../tool"); err != nil {
			return nil, err
		}
		if packages, err = deps(); err != nil {
			return nil, err
		}
		if _, err := gocmd("mod", "edit", "-dropreplace", modPath); err != nil {
			return nil, err
		}
	} else if packages, err = deps(); err != nil {
		return nil, err
	}
	zips := zipModules(strings.Fields(packages), strings.Fields(buildList))
	// go list downloads only the modules it loads packages from; the build
	// checks the others too.
	if len(zips) > 0 {
		if _, err := gocmd(append([]string{"mod", "download"}, zips...)...); err != nil {
			return nil, err
		}
	}
	for name, dst := range map[string]*string{"go.mod": &lock.GoMod, "go.sum": &lock.GoSum} {
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			return nil, err
		}
		*dst = string(data)
	}
	sums, err := sumLines(lock.GoSum)
	if err != nil {
		return nil, err
	}
	nodes, err := graphNodes(strings.NewReader(graph))
	if err != nil {
		return nil, err
	}
	var files []string
	for _, n := range nodes {
		files = append(files, n+".mod")
	}
	for _, z := range zips {
		files = append(files, z+".zip")
	}
	download := filepath.Join(modcache, "cache", "download")
	for _, f := range files {
		// The build (GOSUMDB=off, -mod=readonly) uses no file that go.sum does
		// not verify: resolving read more (the .mod of versions the upgrade
		// passed over, the .zip of a module that might have provided a package).
		if !sums[sumKey(f)] {
			continue
		}
		name, err := proxyPath(f)
		if err != nil {
			return nil, err
		}
		sum, err := fileSHA256(filepath.Join(download, filepath.FromSlash(name)))
		if errors.Is(err, os.ErrNotExist) && strings.HasSuffix(f, ".mod") {
			continue // go reads no .mod for a leaf of the pruned graph
		} else if err != nil {
			return nil, err
		}
		lock.Files[name] = sum
	}
	return lock, nil
}

// patch is one of go_install's patches: its path in the workspace and its text.
type patch struct {
	name string
	data []byte
}

// patchedModule copies the module that provides pkg out of the module cache
// into dir and applies the patches to it, as go_install does, and returns the
// module's path.
func patchedModule(gocmd func(...string) (string, error), pkg, dir string, patches []patch) (string, error) {
	out, err := gocmd("list", "-f", "{{.Module.Path}}\t{{.Module.Dir}}", pkg)
	if err != nil {
		return "", err
	}
	modPath, modDir, ok := strings.Cut(strings.TrimSpace(out), "\t")
	if !ok || modDir == "" {
		return "", fmt.Errorf("go list %s: no module directory in %q", pkg, out)
	}
	if err := os.CopyFS(dir, os.DirFS(modDir)); err != nil {
		return "", err
	}
	for _, p := range patches {
		if err := applyPatch(dir, p.data); err != nil {
			return "", fmt.Errorf("patch %s: %w", p.name, err)
		}
	}
	return modPath, nil
}

// applyPatch applies a git diff to the tree at root, as go_install's
// ctx.patch(strip = 1) does. Each file's change must start with its own
// "diff --git" line: without it Bazel's patch carries the previous file's line
// numbers over to the next and fails ("the position of chunk > target size").
func applyPatch(root string, data []byte) error {
	files, _, err := gitdiff.Parse(bytes.NewReader(data))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return errors.New("changes no file")
	}
	headers := bytes.Count(data, []byte("\ndiff --git "))
	if bytes.HasPrefix(data, []byte("diff --git ")) {
		headers++
	}
	if headers != len(files) {
		return fmt.Errorf("changes %d files under %d \"diff --git\" lines: Bazel's patch needs one at the start of each file's change", len(files), headers)
	}
	for _, f := range files {
		name := f.NewName
		if f.IsDelete {
			name = f.OldName
		}
		if f.IsRename || f.IsCopy || f.IsBinary {
			return fmt.Errorf("%s: renames, copies and binary changes are not supported", name)
		}
		if !filepath.IsLocal(filepath.FromSlash(name)) {
			return fmt.Errorf("%q is not a path inside the module", name)
		}
		target := filepath.Join(root, filepath.FromSlash(name))
		if f.IsDelete {
			if err := os.Remove(target); err != nil {
				return err
			}
			continue
		}
		var old []byte
		if !f.IsNew {
			if old, err = os.ReadFile(target); err != nil {
				return err
			}
		}
		var patched bytes.Buffer
		if err := gitdiff.Apply(&patched, bytes.NewReader(old), f); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(target, patched.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// sumKey is the "module version" of a module file's go.sum line; a .mod
// file's version ends in /go.mod.
func sumKey(file string) string {
	ext := filepath.Ext(file)
	key := strings.Replace(strings.TrimSuffix(file, ext), "@", " ", 1)
	if ext == ".mod" {
		key += "/go.mod"
	}
	return key
}

// sumLines returns the "module version" of each line of a go.sum.
func sumLines(goSum string) (map[string]bool, error) {
	sums := map[string]bool{}
	for i, line := range strings.Split(strings.TrimSuffix(goSum, "\n"), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || !strings.HasPrefix(f[2], "h1:") {
			return nil, fmt.Errorf("go.sum line %d: %q is not \"module version h1:hash\"", i+1, line)
		}
		sums[f[0]+" "+f[1]] = true
	}
	return sums, nil
}

// graphNodes returns the module versions (path@version) of `go mod graph`'s
// output, sorted, without the main module and the go@ and toolchain@ nodes.
func graphNodes(r io.Reader) ([]string, error) {
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 2 {
			return nil, fmt.Errorf("go mod graph, line %d: %q is not an edge (two module versions)", line, sc.Text())
		}
		for _, n := range fields {
			if strings.HasPrefix(n, "go@") || strings.HasPrefix(n, "toolchain@") || !strings.Contains(n, "@") {
				continue
			}
			seen[n] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	nodes := make([]string, 0, len(seen))
	for n := range seen {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	return nodes, nil
}

// zipModules returns the modules of the build list (path@version) whose .zip
// the build reads: those that provide one of the tool's packages, or could
// (their path is a prefix of one), since go checks every such module so that an
// import path is never ambiguous.
func zipModules(packages, buildList []string) []string {
	var zips []string
	for _, m := range buildList {
		path, _, _ := strings.Cut(m, "@")
		for _, p := range packages {
			if p == path || strings.HasPrefix(p, path+"/") {
				zips = append(zips, m)
				break
			}
		}
	}
	sort.Strings(zips)
	return zips
}

// proxyPath spells a module file (path@version.ext) as a module proxy serves it
// and a module cache stores it: escaped path, "@v", escaped version and extension.
func proxyPath(file string) (string, error) {
	ext := filepath.Ext(file)
	path, version, ok := strings.Cut(strings.TrimSuffix(file, ext), "@")
	if !ok {
		return "", fmt.Errorf("%q is not path@version%s", file, ext)
	}
	escPath, err := module.EscapePath(path)
	if err != nil {
		return "", err
	}
	escVersion, err := module.EscapeVersion(version)
	if err != nil {
		return "", err
	}
	return escPath + "/@v/" + escVersion + ext, nil
}

func fileSHA256(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
