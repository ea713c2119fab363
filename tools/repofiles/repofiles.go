// Package repofiles finds the files of a git work tree that should not be
// committed: build outputs and other binaries, and anything over a size limit.
// Its test (repofiles_test.go) runs on the repository itself in `bazel test //...`.
package repofiles

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
