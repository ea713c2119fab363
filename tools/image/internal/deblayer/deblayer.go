// Package deblayer turns Debian packages (.deb files) into one reproducible
// container layer: the files of each package's data.tar, merged the way a
// merged-/usr Debian system lays them out (/lib, /bin, /sbin under /usr, with
// top-level symlinks), in sorted order, owned by root, with epoch times, and a
// dpkg status.d entry per package so image scanners can list them. Nothing of a
// package runs: no maintainer script; the few links they would make that a
// program needs at run time are made here (Alternatives).
package deblayer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Package is one .deb and what the lock says of it.
type Package struct {
	Name, Version, Architecture, Source string
	Deb                                 []byte
}

// Dropped lists the trees left out of the layer: documentation nobody reads in a
// container. /usr/share/doc/<package>/copyright stays (the licences).
var Dropped = []string{"usr/share/doc/", "usr/share/man/", "usr/share/info/", "usr/share/lintian/", "usr/share/bug/"}

// mergedDirs are moved under /usr, as on a merged-/usr system (Debian 12's default).
var mergedDirs = []string{"bin", "sbin", "lib", "lib32", "lib64", "libx32"}

// Alternatives are the links that maintainer scripts make with
// update-alternatives and that a program needs to load its libraries: per
// package, link -> target, with TRIPLET the architecture's multiarch triplet.
var Alternatives = map[string]map[string]string{
	"libblas3":   {"usr/lib/TRIPLET/libblas.so.3": "blas/libblas.so.3"},
	"liblapack3": {"usr/lib/TRIPLET/liblapack.so.3": "lapack/liblapack.so.3"},
}

// Triplets maps Debian architectures to their multiarch triplets.
var Triplets = map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}

type entry struct {
	hdr  tar.Header
	data []byte
	from string // the package it came from
}

// Build writes the uncompressed layer tar of pkgs, for architecture arch, to w.
func Build(w io.Writer, arch string, pkgs []Package) error {
	triplet, ok := Triplets[arch]
	if !ok {
		return fmt.Errorf("architecture %q: want one of amd64, arm64", arch)
	}
	entries := map[string]*entry{}
	add := func(e *entry) error {
		name := e.hdr.Name
		if old, ok := entries[name]; ok {
			switch {
			case old.hdr.Typeflag == tar.TypeDir && e.hdr.Typeflag == tar.TypeDir:
				return nil
			case old.hdr.Typeflag == e.hdr.Typeflag && bytes.Equal(old.data, e.data) && old.hdr.Linkname == e.hdr.Linkname:
				return nil // the same file shipped by two packages (Multi-Arch: same)
			default:
				return fmt.Errorf("%s: shipped differently by %s and %s", name, old.from, e.from)
			}
		}
		entries[name] = e
		return nil
	}
	for _, p := range pkgs {
		files, err := dataTar(p)
		if err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
		}
		for _, e := range files {
			if err := add(e); err != nil {
				return err
			}
		}
		for link, target := range Alternatives[p.Name] {
			link = strings.ReplaceAll(link, "TRIPLET", triplet)
			if err := add(&entry{hdr: tar.Header{Name: link, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}, from: p.Name + " (alternative)"}); err != nil {
				return err
			}
		}
		status := fmt.Sprintf("Package: %s\nStatus: install ok installed\nVersion: %s\nArchitecture: %s\nSource: %s\n", p.Name, p.Version, p.Architecture, p.Source)
		if err := add(&entry{hdr: tar.Header{Name: "var/lib/dpkg/status.d/" + p.Name, Typeflag: tar.TypeReg, Mode: 0o644}, data: []byte(status), from: p.Name}); err != nil {
			return err
		}
	}
	// Every parent directory is listed before what it holds.
	for name := range entries {
		for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
			if _, ok := entries[dir]; !ok {
				entries[dir] = &entry{hdr: tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755}}
			}
		}
	}
	// The merged-/usr links, for the directories that exist under /usr.
	for _, d := range mergedDirs {
		if _, ok := entries["usr/"+d]; ok {
			if err := add(&entry{hdr: tar.Header{Name: d, Typeflag: tar.TypeSymlink, Linkname: "usr/" + d, Mode: 0o777}, from: "merged /usr"}); err != nil {
				return err
			}
		}
	}
	names := make([]string, 0, len(entries))
	for name := range entries {
		names = append(names, name)
	}
	sort.Strings(names)
	tw := tar.NewWriter(w)
	epoch := time.Unix(0, 0).UTC()
	for _, name := range names {
		e := entries[name]
		hdr := &tar.Header{
			Name:     name,
			Typeflag: e.hdr.Typeflag,
			Linkname: e.hdr.Linkname,
			Mode:     e.hdr.Mode,
			Size:     int64(len(e.data)),
			ModTime:  epoch,
			Format:   tar.FormatPAX,
		}
		if hdr.Typeflag == tar.TypeDir {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	return tw.Close()
}

// clean returns a data.tar member's path relative to the root, moved under
// /usr when its top directory is merged; "" for the root itself.
func clean(name string) string {
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	for _, d := range mergedDirs {
		if name == d || strings.HasPrefix(name, d+"/") {
			return "usr/" + name
		}
	}
	return name
}

func dropped(name string) bool {
	for _, d := range Dropped {
		if strings.HasPrefix(name+"/", d) && !(strings.HasPrefix(name, "usr/share/doc/") && path.Base(name) == "copyright") {
			return true
		}
	}
	return false
}

// dataTar reads the files of a .deb's data.tar: regular files, directories and
// symlinks; a hard link becomes a copy of its target (the layer is sorted, so
// a link could come before the file it names).
func dataTar(p Package) ([]*entry, error) {
	member, data, err := arMember(p.Deb, "data.tar")
	if err != nil {
		return nil, err
	}
	r, err := decompress(member, data)
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(r)
	var out []*entry
	byName := map[string]*entry{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", member, err)
		}
		orig := strings.TrimPrefix(path.Clean("/"+hdr.Name), "/")
		name := clean(hdr.Name)
		if name == "" {
			continue
		}
		e := &entry{hdr: tar.Header{Name: name, Typeflag: hdr.Typeflag, Mode: hdr.Mode & 0o7777}, from: p.Name}
		switch hdr.Typeflag {
		case tar.TypeReg:
			if e.data, err = io.ReadAll(tr); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", member, hdr.Name, err)
			}
		case tar.TypeDir:
		case tar.TypeSymlink:
			e.hdr.Mode, e.hdr.Linkname = 0o777, hdr.Linkname
			// A relative link inside a moved directory may climb out of it:
			// made absolute (and merged) it names the same file.
			if !path.IsAbs(hdr.Linkname) && clean(orig) != orig {
				e.hdr.Linkname = "/" + clean(path.Join(path.Dir(orig), hdr.Linkname))
			}
		case tar.TypeLink:
			target, ok := byName[clean(hdr.Linkname)]
			if !ok {
				return nil, fmt.Errorf("%s: hard link %s to %s, which comes later or not at all", member, hdr.Name, hdr.Linkname)
			}
			e.hdr.Typeflag, e.hdr.Mode, e.data = tar.TypeReg, target.hdr.Mode, target.data
		default:
			return nil, fmt.Errorf("%s: %s: unsupported entry type %q", member, hdr.Name, hdr.Typeflag)
		}
		byName[name] = e
		if !dropped(name) {
			out = append(out, e)
		}
	}
	return out, nil
}

// arMember returns the member of a .deb (an ar archive) whose name starts with
// prefix, with its full name.
func arMember(deb []byte, prefix string) (string, []byte, error) {
	const magic = "!<arch>\n"
	if !bytes.HasPrefix(deb, []byte(magic)) {
		return "", nil, fmt.Errorf("not a .deb: no ar archive magic")
	}
	rest := deb[len(magic):]
	for len(rest) >= 60 {
		hdr := rest[:60]
		name := strings.TrimSuffix(strings.TrimSpace(string(hdr[0:16])), "/")
		var size int
		if _, err := fmt.Sscanf(strings.TrimSpace(string(hdr[48:58])), "%d", &size); err != nil || size < 0 || size > len(rest)-60 {
			return "", nil, fmt.Errorf("ar member %q: bad size %q", name, strings.TrimSpace(string(hdr[48:58])))
		}
		if strings.HasPrefix(name, prefix) {
			return name, rest[60 : 60+size], nil
		}
		rest = rest[60+size+size%2:]
	}
	return "", nil, fmt.Errorf("no %s* member", prefix)
}

func decompress(name string, data []byte) (io.Reader, error) {
	r := bytes.NewReader(data)
	switch path.Ext(name) {
	case ".xz":
		return xz.NewReader(r)
	case ".zst":
		return zstd.NewReader(r)
	case ".gz":
		return gzip.NewReader(r)
	case ".tar":
		return r, nil
	}
	return nil, fmt.Errorf("%s: unknown compression", name)
}
