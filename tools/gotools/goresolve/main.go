// Command goresolve writes the lock of a Go tool that go_install builds
// (tools/rules/go_install.bzl): the go.mod and go.sum of a scratch module that
// requires the tool, and every module file its offline build reads, each pinned
// by sha256 (tools/gotools/*.lock.json).
//
//	./bazelw run //tools/gotools/goresolve -- --lock=tools/gotools/grpcurl.lock.json github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3
//
// It resolves through the user's GOPROXY and checks every module against the
// checksum database (go get does), once, when a tool is pinned or bumped. The
// repository rule then only downloads the files the lock names, in parallel and
// through Bazel's downloader: no go command runs on a new machine to fetch a tool.
package main

import (
	"bufio"
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
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *goBin == "" || *lockPath == "" || flags.NArg() != 1 {
		return errors.New("usage: goresolve --lock=FILE PACKAGE@VERSION")
	}
	pkg, version, ok := strings.Cut(flags.Arg(0), "@")
	if !ok || pkg == "" || version == "" {
		return fmt.Errorf("%q: want a main package at a version, e.g. github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3", flags.Arg(0))
	}
	goPath, err := filepath.Abs(*goBin)
	if err != nil {
		return err
	}
	out := *lockPath
	if ws := os.Getenv("BUILD_WORKSPACE_DIRECTORY"); ws != "" && !filepath.IsAbs(out) {
		out = filepath.Join(ws, out)
	}
	lock, err := resolve(goPath, pkg, version)
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
// to its sha256.
type Lock struct {
	Package string            `json:"package"`
	Version string            `json:"version"`
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

// resolve makes the tool a tool dependency of a scratch module, in a module
// cache of its own, and locks the files of that cache the build reads.
func resolve(goPath, pkg, version string) (*Lock, error) {
	tmp, err := os.MkdirTemp("", "goresolve")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp) // -modcacherw: the module cache's files are writable
	src, modcache := filepath.Join(tmp, "src"), filepath.Join(tmp, "mod")
	gocmd := func(args ...string) (string, error) {
		cmd := exec.Command(goPath, args...)
		cmd.Dir = src
		cmd.Env = append(os.Environ(),
			"GOMODCACHE="+modcache, "GOFLAGS=-mod=mod -modcacherw", "GOWORK=off",
			"CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOTELEMETRY=off")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		stdout, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return string(stdout), nil
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
	packages, err := gocmd("list", "-deps", "-f", "{{.ImportPath}}", pkg)
	if err != nil {
		return nil, err
	}
	buildList, err := gocmd("list", "-m", "-f", "{{if not .Main}}{{.Path}}@{{.Version}}{{end}}", "all")
	if err != nil {
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

	lock := &Lock{Package: pkg, Version: version, Files: map[string]string{}}
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
