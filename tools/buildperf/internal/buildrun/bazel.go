package buildrun

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Result is what one Bazel invocation reported.
type Result struct {
	Output  string
	Summary string // "N processes: ..."
	// Processes counts the spawns; Hits those served by the remote cache;
	// Internal those Bazel does itself (never cached); Remote those executed
	// remotely.
	Processes, Hits, Internal, Remote int
	// Actions counts every action of the build, spawns or not ("N total actions").
	Actions int
	// ExecLog is the binary execution log of a build or test run.
	ExecLog string
	Elapsed time.Duration
}

// Cacheable counts the actions that could have been cache hits.
func (r Result) Cacheable() int { return r.Processes - r.Internal }

// HitRate is Hits over Cacheable (1 when there was nothing to run).
func (r Result) HitRate() float64 {
	if r.Cacheable() == 0 {
		return 1
	}
	return float64(r.Hits) / float64(r.Cacheable())
}

var (
	summaryRe  = regexp.MustCompile(`INFO: (\d+) processes?(?:: ([^\n]*))?\.`)
	hitRe      = regexp.MustCompile(`(\d+) remote cache hit`)
	internalRe = regexp.MustCompile(`(\d+) internal`)
	remoteRe   = regexp.MustCompile(`(\d+) remote(?:,|$)`)
	actionsRe  = regexp.MustCompile(`(\d+) total actions?`)
)

// Bazel runs dir/bazelw with its own output base. A build or a test run also
// writes its binary execution log next to the output base
// (<output base>.<command>.exec.bin) (the binary log, not the compact one:
// Debian's Bazel lacks the zstd library the compact log needs). If during is set,
// it is called once, when the first action starts.
func Bazel(dir, outputBase string, during func(), command string, args ...string) (Result, error) {
	all := []string{"--output_base=" + outputBase, command}
	var r Result
	if command == "build" || command == "test" {
		r.ExecLog = outputBase + "." + command + ".exec.bin"
		all = append(all, "--execution_log_binary_file="+r.ExecLog, "--color=no", "--curses=no")
	}
	all = append(all, args...)
	cmd := exec.Command(filepath.Join(dir, "bazelw"), all...)
	cmd.Dir = dir
	out := &watchedOutput{during: during}
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	err := cmd.Run()
	r.Elapsed = time.Since(start)
	r.Output = out.String()
	// A failed build or test run has its summary too (what ran before it failed).
	r.parse()
	if err != nil {
		return r, fmt.Errorf("bazel %s in %s: %w\n%s", command, dir, err, Tail(r.Output, 40))
	}
	return r, nil
}

// Query runs `bazel query --output=label expr` in dir with its own output base
// and returns the labels it printed, in its order (Bazel's own lines, which
// share the output, are left out).
func Query(dir, outputBase, expr string) ([]string, error) {
	r, err := Bazel(dir, outputBase, nil, "query", "--output=label", expr)
	if err != nil {
		return nil, err
	}
	var labels []string
	for _, line := range strings.Split(r.Output, "\n") {
		if strings.HasPrefix(line, "//") || strings.HasPrefix(line, "@") {
			labels = append(labels, strings.TrimSpace(line))
		}
	}
	return labels, nil
}

// parse reads the counts of Bazel's summary lines in r.Output.
func (r *Result) parse() {
	if m := actionsRe.FindStringSubmatch(r.Output); m != nil {
		r.Actions, _ = strconv.Atoi(m[1])
	}
	if m := summaryRe.FindStringSubmatch(r.Output); m != nil {
		r.Summary = strings.TrimPrefix(m[0], "INFO: ")
		r.Processes, _ = strconv.Atoi(m[1])
		if h := hitRe.FindStringSubmatch(m[2]); h != nil {
			r.Hits, _ = strconv.Atoi(h[1])
		}
		if i := internalRe.FindStringSubmatch(m[2]); i != nil {
			r.Internal, _ = strconv.Atoi(i[1])
		}
		if x := remoteRe.FindStringSubmatch(m[2]); x != nil {
			r.Remote, _ = strconv.Atoi(x[1])
		}
	}
}

// watchedOutput collects a command's output and calls during (once) when the
// first progress line "[n / m] ..." shows that actions have started.
type watchedOutput struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	during func()
}

func (w *watchedOutput) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.during != nil && bytes.Contains(w.buf.Bytes(), []byte("\n[")) {
		w.during()
		w.during = nil
	}
	return len(p), nil
}

func (w *watchedOutput) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// CopyCheckout copies the files git tracks, as they are in the working tree, to
// dst: a second checkout at another path.
func CopyCheckout(src, dst string) error {
	out, err := exec.Command("git", "-C", src, "ls-files", "-z").Output()
	if err != nil {
		return fmt.Errorf("listing the checkout's files: %w", err)
	}
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		from, to := filepath.Join(src, name), filepath.Join(dst, name)
		info, err := os.Lstat(from)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the working tree
		}
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		data, err := os.ReadFile(from)
		if err != nil {
			return err
		}
		if err := os.WriteFile(to, data, info.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil
}

// WorkDir returns name under Monoreel's cache dir (MONOREEL_CACHE_DIR, else the
// user's cache dir): where throwaway output bases and checkouts go, never /tmp,
// which Bazel's sandbox hides.
func WorkDir(name string) (string, error) {
	cache := os.Getenv("MONOREEL_CACHE_DIR")
	if cache == "" {
		home, err := os.UserCacheDir()
		if err != nil {
			return "", err
		}
		cache = filepath.Join(home, "monoreel")
	}
	return filepath.Join(cache, name), nil
}

// KeepFlag registers the --keep flag every measuring tool takes.
func KeepFlag() *bool {
	return flag.Bool("keep", false, "keep the scratch space (output bases, copies of the checkout, caches) after a run that worked; one that failed always keeps it")
}

// Finish ends a run that worked in dir. A run that failed, or one told to keep
// it, leaves dir for a look (the output names what is in it); otherwise dir is
// discarded: several gigabytes that nothing reads once the figures are printed.
// The Bazel servers of its output bases must be shut down first.
func Finish(runErr error, keep bool, dir string) error {
	if runErr != nil || keep {
		fmt.Fprintf(os.Stderr, "kept %s\n", dir)
		return runErr
	}
	return Discard(dir)
}

// Discard removes dir and everything under it. Bazel leaves some of what it
// writes read-only, so each directory is made writable before it is emptied.
func Discard(dir string) error {
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.Chmod(path, 0o755)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// FreshWorkDir empties dir, or WorkDir(name) when dir is "", creates it, and
// returns it: a check's scratch space, cleared at each run.
func FreshWorkDir(dir, name string) (string, error) {
	if dir == "" {
		var err error
		if dir, err = WorkDir(name); err != nil {
			return "", err
		}
	}
	if err := Discard(dir); err != nil {
		return "", err
	}
	return dir, os.MkdirAll(dir, 0o755)
}

// Tail returns the last lines of s.
func Tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// FirstLine returns the first line of s that contains substr (case-insensitive).
func FirstLine(s, substr string) string {
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(strings.ToLower(line), strings.ToLower(substr)) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}
