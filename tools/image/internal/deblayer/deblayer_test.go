package deblayer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"
)

type member struct {
	name, link string
	typ        byte
	data       string
	mode       int64
}

// deb builds a .deb (an ar archive) whose data.tar is compressed as ext says.
func deb(t *testing.T, ext string, members ...member) []byte {
	t.Helper()
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	for _, m := range members {
		hdr := &tar.Header{Name: m.name, Typeflag: m.typ, Linkname: m.link, Mode: m.mode, Size: int64(len(m.data)), Uid: 1000, Uname: "builder"}
		if m.typ != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if m.typ == tar.TypeReg {
			io.WriteString(tw, m.data)
		}
	}
	tw.Close()
	var data bytes.Buffer
	switch ext {
	case "xz":
		w, _ := xz.NewWriter(&data)
		w.Write(tarBuf.Bytes())
		w.Close()
	case "gz":
		w := gzip.NewWriter(&data)
		w.Write(tarBuf.Bytes())
		w.Close()
	}
	var ar bytes.Buffer
	ar.WriteString("!<arch>\n")
	for _, f := range []struct {
		name string
		data []byte
	}{{"debian-binary", []byte("2.0\n")}, {"control.tar.gz", []byte("x")}, {"data.tar." + ext, data.Bytes()}} {
		fmt.Fprintf(&ar, "%-16s%-12s%-6s%-6s%-8s%-10d`\n", f.name+"/", "0", "0", "0", "100644", len(f.data))
		ar.Write(f.data)
		if len(f.data)%2 == 1 {
			ar.WriteByte('\n')
		}
	}
	return ar.Bytes()
}

func packages(t *testing.T) []Package {
	return []Package{
		{Name: "libc6", Version: "2.36-9", Architecture: "amd64", Source: "glibc", Deb: deb(t, "xz",
			member{name: "./", typ: tar.TypeDir, mode: 0o755},
			member{name: "./lib/x86_64-linux-gnu/", typ: tar.TypeDir, mode: 0o755},
			member{name: "./lib/x86_64-linux-gnu/libc.so.6", typ: tar.TypeReg, data: "ELF libc", mode: 0o755},
			member{name: "./lib64/ld-linux-x86-64.so.2", typ: tar.TypeSymlink, link: "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"},
			member{name: "./usr/share/doc/libc6/changelog.gz", typ: tar.TypeReg, data: "news", mode: 0o644},
			member{name: "./usr/share/doc/libc6/copyright", typ: tar.TypeReg, data: "LGPL", mode: 0o644},
			member{name: "./usr/share/man/man1/ldd.1.gz", typ: tar.TypeReg, data: "man", mode: 0o644},
		)},
		{Name: "libblas3", Version: "3.11.0-2", Architecture: "amd64", Source: "lapack", Deb: deb(t, "gz",
			member{name: "./usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0", typ: tar.TypeReg, data: "ELF blas", mode: 0o644},
			member{name: "./usr/lib/x86_64-linux-gnu/blas/libblas.so.3", typ: tar.TypeLink, link: "./usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0"},
		)},
	}
}

func build(t *testing.T, pkgs []Package) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := Build(&out, "amd64", pkgs); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestLayer(t *testing.T) {
	layer := build(t, packages(t))
	var got []string
	tr := tar.NewReader(bytes.NewReader(layer))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Uid != 0 || hdr.Uname != "" || hdr.ModTime.Unix() != 0 {
			t.Errorf("%s: owner %d %q, time %v; want root and the epoch", hdr.Name, hdr.Uid, hdr.Uname, hdr.ModTime)
		}
		data, _ := io.ReadAll(tr)
		entry := fmt.Sprintf("%s %c %o", hdr.Name, hdr.Typeflag, hdr.Mode)
		if hdr.Linkname != "" {
			entry += " -> " + hdr.Linkname
		}
		if len(data) > 0 {
			entry += " " + string(data)
		}
		got = append(got, entry)
	}
	// Merged /usr (with the top-level links), relative links made absolute where
	// their directory moved, the hard link a copy, documentation dropped but the
	// copyright, the alternative's link, and a status.d entry per package.
	want := []string{
		"lib 2 777 -> usr/lib",
		"lib64 2 777 -> usr/lib64",
		"usr/ 5 755",
		"usr/lib/ 5 755",
		"usr/lib/x86_64-linux-gnu/ 5 755",
		"usr/lib/x86_64-linux-gnu/blas/ 5 755",
		"usr/lib/x86_64-linux-gnu/blas/libblas.so.3 0 644 ELF blas",
		"usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0 0 644 ELF blas",
		"usr/lib/x86_64-linux-gnu/libblas.so.3 2 777 -> blas/libblas.so.3",
		"usr/lib/x86_64-linux-gnu/libc.so.6 0 755 ELF libc",
		"usr/lib64/ 5 755",
		"usr/lib64/ld-linux-x86-64.so.2 2 777 -> /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
		"usr/share/ 5 755",
		"usr/share/doc/ 5 755",
		"usr/share/doc/libc6/ 5 755",
		"usr/share/doc/libc6/copyright 0 644 LGPL",
		"var/ 5 755",
		"var/lib/ 5 755",
		"var/lib/dpkg/ 5 755",
		"var/lib/dpkg/status.d/ 5 755",
		"var/lib/dpkg/status.d/libblas3 0 644 Package: libblas3\nStatus: install ok installed\nVersion: 3.11.0-2\nArchitecture: amd64\nSource: lapack\n",
		"var/lib/dpkg/status.d/libc6 0 644 Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\nArchitecture: amd64\nSource: glibc\n",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("layer:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestLayerIsReproducible: the same packages, given in any order, give the same bytes.
func TestLayerIsReproducible(t *testing.T) {
	pkgs := packages(t)
	first := build(t, pkgs)
	second := build(t, []Package{pkgs[1], pkgs[0]})
	if !bytes.Equal(first, second) {
		t.Error("two builds of the same packages differ")
	}
}

func TestConflictsAndBadDebs(t *testing.T) {
	pkgs := packages(t)
	other := Package{Name: "evil", Deb: deb(t, "gz", member{name: "./usr/lib/x86_64-linux-gnu/libc.so.6", typ: tar.TypeReg, data: "not libc", mode: 0o755})}
	var out bytes.Buffer
	if err := Build(&out, "amd64", append(pkgs, other)); err == nil || !strings.Contains(err.Error(), "shipped differently by libc6 and evil") {
		t.Errorf("conflicting files: %v", err)
	}
	if err := Build(&out, "amd64", []Package{{Name: "junk", Deb: []byte("PK\x03\x04")}}); err == nil || !strings.Contains(err.Error(), "junk: not a .deb") {
		t.Errorf("not a .deb: %v", err)
	}
	if err := Build(&out, "riscv64", pkgs); err == nil || !strings.Contains(err.Error(), "riscv64") {
		t.Errorf("unknown architecture: %v", err)
	}
}
