package buildrun

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// CompareOutputs hashes the output files of the targets in two output bases
// (built from the checkouts dirA and dirB), fails on the first that differs,
// and returns how many files it compared.
func CompareOutputs(dirA, baseA, dirB, baseB string, targets []string) (int, error) {
	files, err := outputFiles(dirA, baseA, targets)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, rel := range files {
		// cquery also lists the targets' instances in other configurations (the
		// release and image transitions, "-ST-" in the path), of which a build
		// makes only what it needs: compare what was built.
		a, err := hashTree(filepath.Join(baseA, "execroot", "_main", rel))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return n, err
		}
		b, err := hashTree(filepath.Join(baseB, "execroot", "_main", rel))
		if errors.Is(err, fs.ErrNotExist) && strings.Contains(rel, "-ST-") {
			continue // a transitioned configuration B's targets did not need
		}
		if err != nil {
			return n, err
		}
		for name, ha := range a {
			if b[name] != ha {
				return n, fmt.Errorf("%s differs between A and B", filepath.Join(rel, name))
			}
			n++
		}
		if len(a) != len(b) {
			return n, fmt.Errorf("%s holds %d files in A, %d in B", rel, len(a), len(b))
		}
	}
	return n, nil
}

func outputFiles(dir, base string, targets []string) ([]string, error) {
	// cquery takes one query expression: several targets are their union.
	args := []string{"--output_base=" + base, "cquery", "--output=files", strings.Join(targets, " + ")}
	cmd := exec.Command(filepath.Join(dir, "bazelw"), args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("cquery --output=files: %w", err)
	}
	return strings.Fields(string(out)), nil
}

// hashTree returns the sha256 of a file, or of every file below a directory.
func hashTree(root string) (map[string]string, error) {
	hashes := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		hashes[rel] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	return hashes, err
}

// CacheWarnings returns what Bazel said about the remote cache during a build
// (each "WARNING: Remote Cache" line with the two after it): in a build that
// should have gone cleanly, a failed upload is a miss later.
func (r Result) CacheWarnings() []string {
	var warnings []string
	lines := strings.Split(r.Output, "\n")
	for i, line := range lines {
		if strings.Contains(line, "WARNING: Remote Cache") {
			warnings = append(warnings, strings.Join(lines[i:min(i+3, len(lines))], "\n"))
		}
	}
	return warnings
}
