// Package atomicfile replaces files so that readers see the old content or the
// new, never a torn mix, even if the process or the machine dies mid-write.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data: it writes a temporary file in the same
// directory, fsyncs it, renames it over path, and fsyncs the directory.
func Write(path string, data []byte, perm os.FileMode) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}

// File is the future content of a path, written as a stream: Commit puts it in
// place; Abort, or a failed Commit, leaves the path as it was.
type File struct {
	*os.File
	path string
	perm os.FileMode
}

// Create starts a replacement for path: a temporary file in the same directory.
func Create(path string, perm os.FileMode) (*File, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, err
	}
	return &File{File: tmp, path: path, perm: perm}, nil
}

// Commit fsyncs the file, renames it over the path and fsyncs the directory.
func (f *File) Commit() error {
	defer os.Remove(f.Name()) // after a successful rename this finds nothing
	if err := f.Chmod(f.perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), f.path); err != nil {
		return err
	}
	// The rename itself is durable only once the directory is synced.
	d, err := os.Open(filepath.Dir(f.path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Abort drops the replacement.
func (f *File) Abort() {
	f.Close()
	os.Remove(f.Name())
}
