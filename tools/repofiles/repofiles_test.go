package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	root := t.TempDir()
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(root, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("main.go", []byte("package main\n"))
	write("big.txt", []byte(strings.Repeat("a", MaxSize+1)))
	write("tool.test", []byte("\x7fELF\x02\x01\x01\x00"))
	write("logo.png", []byte("\x89PNG\r\n\x1a\n\x00\x00"))
	files := []string{"main.go", "big.txt", "tool.test", "logo.png", "deleted.go"}
	problems, err := Check(root, files, map[string]string{"logo.png": "the README's logo", "gone.bin": "once needed"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range problems {
		got[p.Path] = p.Reason
	}
	for path, want := range map[string]string{"big.txt": "over the 1048576-byte limit", "tool.test": "binary", "gone.bin": "not in the repository"} {
		if !strings.Contains(got[path], want) {
			t.Errorf("%s: reason %q, want it to say %q", path, got[path], want)
		}
	}
	if len(got) != 3 {
		t.Errorf("problems %v, want exactly big.txt, tool.test and gone.bin", problems)
	}
}

// TestFilesSeesUntracked: a file planted but not yet added is caught, one
// .gitignore excludes is not.
func TestFilesSeesUntracked(t *testing.T) {
	root := t.TempDir()
	git := func(args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	git("init", "-q")
	for name, data := range map[string]string{"a.go": "package a\n", ".gitignore": "*.test\n", "x.test": "\x00", "planted.bin": "\x00"} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git("add", "a.go", ".gitignore")
	files, err := Files(root)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(files, " "); got != ".gitignore a.go planted.bin" {
		t.Errorf("Files = %q, want the tracked files and the untracked, not ignored one", got)
	}
}

func TestParseAllowList(t *testing.T) {
	got, err := ParseAllowList(strings.NewReader("# c\n\nlogo.png: the README's logo\n"))
	if err != nil || len(got) != 1 || got["logo.png"] != "the README's logo" {
		t.Errorf("ParseAllowList = %v, %v", got, err)
	}
	if _, err := ParseAllowList(strings.NewReader("logo.png\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("a line without a reason: err = %v, want one naming line 1", err)
	}
}
