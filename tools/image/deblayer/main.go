// Command deblayer writes the Debian base layer of an image for one
// architecture: the packages a lock pins (tools/image/debian/*.lock.json),
// checked against their sha256, merged into one gzipped, reproducible layer tar
// (tools/image/internal/deblayer). Bazel runs it for debian_base
// (tools/rules/image.bzl).
//
//	deblayer --lock=ffmpeg.lock.json --arch=amd64 --out=layer.tar.gz DEB...
//
// Each DEB is named <package>.deb, as the debian_packages repository rule writes them.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/monoreel/monoreel/tools/image/internal/debian"
	"github.com/monoreel/monoreel/tools/image/internal/deblayer"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "deblayer:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	flags := flag.NewFlagSet("deblayer", flag.ContinueOnError)
	lockPath := flags.String("lock", "", "the lock (JSON) pinning the packages")
	arch := flags.String("arch", "", "the Debian architecture: amd64 or arm64")
	out := flags.String("out", "", "the layer to write (a gzipped tar)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *lockPath == "" || *arch == "" || *out == "" {
		return fmt.Errorf("usage: deblayer --lock=FILE --arch=ARCH --out=FILE DEB...")
	}
	lock, err := debian.ReadLock(*lockPath)
	if err != nil {
		return err
	}
	locked, ok := lock.Architectures[*arch]
	if !ok {
		return fmt.Errorf("%s pins nothing for %s", *lockPath, *arch)
	}
	debs := map[string]string{}
	for _, d := range flags.Args() {
		debs[strings.TrimSuffix(filepath.Base(d), ".deb")] = d
	}
	if len(debs) != len(locked) {
		return fmt.Errorf("%d .deb files for the %d packages %s pins for %s", len(debs), len(locked), *lockPath, *arch)
	}
	pkgs := make([]deblayer.Package, 0, len(locked))
	for _, l := range locked {
		file, ok := debs[l.Name]
		if !ok {
			return fmt.Errorf("no .deb for %s %s (%s)", l.Name, l.Version, *arch)
		}
		deb, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		if sum := sha256.Sum256(deb); hex.EncodeToString(sum[:]) != l.SHA256 {
			return fmt.Errorf("%s: sha256 %x, but the lock pins %s", file, sum, l.SHA256)
		}
		pkgs = append(pkgs, deblayer.Package{Name: l.Name, Version: l.Version, Architecture: l.Architecture, Source: l.Source, Deb: deb})
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	buf := bufio.NewWriterSize(f, 1<<20)
	// No name and no time in the gzip header: the bytes depend on the packages only.
	zw, err := gzip.NewWriterLevel(buf, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	if err := deblayer.Build(zw, *arch, pkgs); err != nil {
		f.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := buf.Flush(); err != nil {
		return err
	}
	return f.Close()
}
