package service

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// LocalPath returns value, or, when it is empty, name under monoreel/ in the
// user cache dir: where a service keeps its embedded data unless a flag says
// otherwise. flagName names the flag in the error.
func LocalPath(flagName, value, name string) (string, error) {
	if value != "" {
		return value, nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no -%s and no user cache dir: %w", flagName, err)
	}
	return filepath.Join(dir, "monoreel", name), nil
}

// Program is an external program a service runs (ffmpeg), chosen by a flag.
type Program struct {
	name, debianPackage string
	value               *string
}

// AddProgramFlag registers -<name>: the program's path, or a name looked up in
// PATH (by default its own).
func AddProgramFlag(fs *flag.FlagSet, name, debianPackage string) *Program {
	p := &Program{name: name, debianPackage: debianPackage}
	p.value = fs.String(name, name, "the "+name+" binary (a path, or a name looked up in PATH)")
	return p
}

// Path finds the program; the error says how to get it and which flag to set.
func (p *Program) Path() (string, error) {
	bin, err := exec.LookPath(*p.value)
	if err != nil {
		return "", fmt.Errorf("%s not found (%v): install it (Debian: %s) or point -%s at it", p.name, err, p.debianPackage, p.name)
	}
	return bin, nil
}
