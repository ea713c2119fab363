// Command repofiles fails when a git work tree holds what should not be
// committed: build outputs and other binaries, and anything over a size limit.
//
//	repofiles FILE    checks the work tree at whose root FILE is (through symlinks)
//
// `bazel test //...` runs it on the repository (//tools/repofiles:check), with
// the reasoned exceptions of tools/repofiles/allowed.txt.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: repofiles FILE_AT_THE_ROOT_OF_THE_WORK_TREE")
		os.Exit(2)
	}
	n, problems, err := checkWorkTree(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "repofiles:", err)
		os.Exit(2)
	}
	for _, p := range problems {
		fmt.Println("repofiles:", p)
	}
	if len(problems) > 0 {
		fmt.Println("repofiles: git must not hold these; add a reasoned line to tools/repofiles/allowed.txt only if one truly belongs in git")
		os.Exit(1)
	}
	fmt.Printf("repofiles: %d files, no binary, none over %d bytes\n", n, MaxSize)
}

// checkWorkTree checks the work tree whose root holds file (a runfile's
// symlink leads there): it returns the number of files and the problems.
func checkWorkTree(file string) (int, []Problem, error) {
	real, err := filepath.EvalSymlinks(file)
	if err != nil {
		return 0, nil, err
	}
	root := filepath.Dir(real)
	files, err := Files(root)
	if err != nil {
		return 0, nil, err
	}
	if len(files) < 100 {
		return 0, nil, fmt.Errorf("git lists only %d files under %s: not the repository?", len(files), root)
	}
	f, err := os.Open(filepath.Join(root, "tools/repofiles/allowed.txt"))
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	allowed, err := ParseAllowList(f)
	if err != nil {
		return 0, nil, fmt.Errorf("tools/repofiles/allowed.txt: %w", err)
	}
	problems, err := Check(root, files, allowed)
	return len(files), problems, err
}

// MaxSize is the largest file the repository holds: sources are small, and a
// large file is almost always something a build or a tool made.
const MaxSize = 1 << 20

// sniffLen is how much of a file is read to tell binary from text: git's own
// heuristic, a NUL byte in the first 8000 bytes.
const sniffLen = 8000

// Problem is a file that should not be in the repository.
type Problem struct {
	Path   string
	Reason string
}

func (p Problem) String() string { return p.Path + ": " + p.Reason }

// Files lists the files git would commit in the work tree at root: tracked
// ones and untracked ones that .gitignore does not exclude (so a file is
// caught before it is added).
func Files(root string) ([]string, error) {
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git ls-files in %s (the check needs a git checkout): %v: %s", root, err, stderr.String())
	}
	var files []string
	for _, f := range strings.Split(string(out), "\x00") {
		if f != "" {
			files = append(files, f)
		}
	}
	sort.Strings(files)
	return files, nil
}

// Check returns a Problem for every file under root that is larger than
// MaxSize or binary, unless allowed lists it. A listed file that is gone is a
// problem too, so the allow-list cannot rot.
func Check(root string, files []string, allowed map[string]string) ([]Problem, error) {
	var problems []Problem
	seen := map[string]bool{}
	for _, f := range files {
		if _, ok := allowed[f]; ok {
			seen[f] = true
			continue
		}
		reason, err := inspect(filepath.Join(root, f))
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the work tree, not yet in the index
		}
		if err != nil {
			return nil, err
		}
		if reason != "" {
			problems = append(problems, Problem{f, reason})
		}
	}
	for _, f := range slices.Sorted(maps.Keys(allowed)) {
		if !seen[f] {
			problems = append(problems, Problem{f, "in the allow-list but not in the repository: remove its line"})
		}
	}
	return problems, nil
}

// inspect says why the file at path does not belong in git, or "".
func inspect(path string) (string, error) {
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return "", err // symlinks and submodules are not file contents
	}
	if fi.Size() > MaxSize {
		return fmt.Sprintf("%d bytes, over the %d-byte limit (a build output? large data belongs outside git)", fi.Size(), MaxSize), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", err
	}
	if bytes.IndexByte(head[:n], 0) >= 0 {
		return "binary (a build output? Bazel makes binaries, git keeps sources)", nil
	}
	return "", nil
}

// ParseAllowList reads "PATH: reason" lines; # starts a comment. Every entry
// needs its reason.
func ParseAllowList(r io.Reader) (map[string]string, error) {
	allowed := map[string]string{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		path, reason, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(path) == "" || strings.TrimSpace(reason) == "" {
			return nil, fmt.Errorf("line %d: want \"PATH: reason\", got %q", n, line)
		}
		allowed[strings.TrimSpace(path)] = strings.TrimSpace(reason)
	}
	return allowed, sc.Err()
}
