// Package ociimage assembles Monoreel's service images without a Docker engine
// and without a base image (or on a Debian layer built from pinned packages,
// tools/image/deblayer, for services that run ffmpeg): a base layer (an /etc/passwd with a non-root user, CA
// roots from golang.org/x/crypto/x509roots, the Go SDK's time-zone database) and an
// app layer with the static binary, one image per platform under an OCI image index.
//
// Every byte is a function of the inputs: layer tars list files in a fixed order
// with fixed owners, modes and times, gzip carries no timestamp, and the config's
// creation time is the Unix epoch. The same inputs give the same digests anywhere.
package ociimage

import (
	"archive/tar"
	"bytes"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// The user the images run as: not root, and not a user of the host.
const (
	UID      = 65532
	UserName = "app"
)

// In-image paths.
const (
	CACertsPath  = "/etc/ssl/certs/ca-certificates.crt"
	ZoneInfoPath = "/usr/share/zoneinfo.zip"
	AppDir       = "/app"
)

// Spec describes one service's image.
type Spec struct {
	Name string // the service; the binary goes to /app/<Name>
	// Binaries maps a platform ("linux/amd64") to the binary built for it.
	Binaries map[string]string
	ZoneInfo string   // the Go SDK's lib/time/zoneinfo.zip
	Ports    []string // exposed ports, "9090" or "9090/udp"
	Labels   map[string]string
	// BaseLayers maps a platform to a gzipped layer tar laid under the others
	// (a Debian base); then /usr/bin is on PATH after /app.
	BaseLayers map[string]string
}

// Build returns the image index of spec, its images in platform order.
func Build(spec Spec) (v1.ImageIndex, error) {
	if spec.Name == "" || strings.ContainsAny(spec.Name, "/ ") {
		return nil, fmt.Errorf("image name %q: want one path element", spec.Name)
	}
	if len(spec.Binaries) == 0 {
		return nil, fmt.Errorf("image %s: no binaries", spec.Name)
	}
	base, err := baseLayer(spec.ZoneInfo)
	if err != nil {
		return nil, err
	}
	platforms := make([]string, 0, len(spec.Binaries))
	for p := range spec.Binaries {
		platforms = append(platforms, p)
	}
	sort.Strings(platforms)

	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range platforms {
		platform, err := v1.ParsePlatform(p)
		if err != nil {
			return nil, fmt.Errorf("image %s: platform %q: %w", spec.Name, p, err)
		}
		layers := []v1.Layer{base}
		if len(spec.BaseLayers) > 0 {
			file, ok := spec.BaseLayers[p]
			if !ok {
				return nil, fmt.Errorf("image %s: no base layer for %s", spec.Name, p)
			}
			debian, err := tarball.LayerFromFile(file, tarball.WithMediaType(types.OCILayer))
			if err != nil {
				return nil, fmt.Errorf("image %s: base layer %s: %w", spec.Name, file, err)
			}
			layers = []v1.Layer{debian, base}
		}
		img, err := platformImage(spec, *platform, layers, spec.Binaries[p])
		if err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: platform},
		})
	}
	return idx, nil
}

func platformImage(spec Spec, platform v1.Platform, base []v1.Layer, binary string) (v1.Image, error) {
	data, err := os.ReadFile(binary)
	if err != nil {
		return nil, fmt.Errorf("image %s (%s): %w", spec.Name, platform, err)
	}
	app, err := layer([]file{{path: path.Join(AppDir, spec.Name), mode: 0o755, data: data}})
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.AppendLayers(img, append(base, app)...); err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = platform.OS, platform.Architecture, platform.Variant
	cfg.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cfg.Author = ""
	cfg.History = nil
	cfg.Config.Entrypoint = []string{path.Join(AppDir, spec.Name)}
	cfg.Config.User = fmt.Sprintf("%d:%d", UID, UID)
	cfg.Config.WorkingDir = "/"
	searchPath := AppDir
	if len(spec.BaseLayers) > 0 {
		searchPath += ":/usr/bin"
	}
	cfg.Config.Env = []string{
		"PATH=" + searchPath,
		"SSL_CERT_FILE=" + CACertsPath,
		"ZONEINFO=" + ZoneInfoPath,
	}
	cfg.Config.Labels = map[string]string{"org.opencontainers.image.title": spec.Name}
	for k, v := range spec.Labels {
		cfg.Config.Labels[k] = v
	}
	if len(spec.Ports) > 0 {
		cfg.Config.ExposedPorts = map[string]struct{}{}
		for _, port := range spec.Ports {
			if !strings.Contains(port, "/") {
				port += "/tcp"
			}
			cfg.Config.ExposedPorts[port] = struct{}{}
		}
	}
	return mutate.ConfigFile(img, cfg)
}

// file is one regular file or directory of a layer.
type file struct {
	path string
	mode int64
	data []byte
	dir  bool
}

// baseLayer holds what every service image needs besides its binary.
func baseLayer(zoneInfo string) (v1.Layer, error) {
	var certs bytes.Buffer
	for root := range bundle.Roots() {
		if err := pem.Encode(&certs, &pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate}); err != nil {
			return nil, err
		}
	}
	zones, err := os.ReadFile(zoneInfo)
	if err != nil {
		return nil, fmt.Errorf("time-zone data: %w", err)
	}
	return layer([]file{
		{path: "/etc/passwd", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:%s:/home/%s:/sbin/nologin\n", UserName, UID, UID, UserName, UserName)},
		{path: "/etc/group", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:\n%s:x:%d:\n", UserName, UID)},
		{path: "/home/" + UserName, mode: 0o700, dir: true},
		{path: "/tmp", mode: 0o1777, dir: true},
		{path: CACertsPath, mode: 0o644, data: certs.Bytes()},
		{path: ZoneInfoPath, mode: 0o644, data: zones},
	})
}

// layer writes files, and the directories above them, into a deterministic tar:
// sorted paths, owner root (the user's home is owned by the user), epoch times.
func layer(files []file) (v1.Layer, error) {
	entries := map[string]file{}
	for _, f := range files {
		entries[strings.TrimPrefix(f.path, "/")] = f
		for dir := path.Dir(strings.TrimPrefix(f.path, "/")); dir != "."; dir = path.Dir(dir) {
			if _, ok := entries[dir]; !ok {
				entries[dir] = file{path: "/" + dir, mode: 0o755, dir: true}
			}
		}
	}
	names := make([]string, 0, len(entries))
	for name := range entries {
		names = append(names, name)
	}
	sort.Strings(names)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0).UTC()
	for _, name := range names {
		f := entries[name]
		hdr := &tar.Header{Name: name, Mode: f.mode, ModTime: epoch, Format: tar.FormatPAX}
		if strings.HasPrefix(f.path, "/home/"+UserName) {
			hdr.Uid, hdr.Gid = UID, UID
		}
		if f.dir {
			hdr.Typeflag, hdr.Name = tar.TypeDir, name+"/"
		} else {
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// WriteLayout writes idx as an OCI image layout in dir (which must not exist yet
// or be empty) and returns the index digest.
func WriteLayout(dir string, idx v1.ImageIndex) (v1.Hash, error) {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := p.AppendIndex(idx); err != nil {
		return v1.Hash{}, err
	}
	return idx.Digest()
}

// WriteLayoutTarball writes the layout in dir as a tar, deterministically, for
// tools that load an OCI layout from an archive.
func WriteLayoutTarball(w io.Writer, dir string) error {
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		names = append(names, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		return err
	}
	sort.Strings(names)
	tw := tar.NewWriter(w)
	for _, name := range names {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: name, Mode: 0o644, ModTime: time.Unix(0, 0).UTC(), Typeflag: tar.TypeReg, Size: info.Size()}
		if info.IsDir() {
			hdr.Name, hdr.Mode, hdr.Typeflag, hdr.Size = name+"/", 0o755, tar.TypeDir, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.IsDir() {
			f, err := os.Open(filepath.Join(dir, name))
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// ReadLayout returns the image index a layout written by WriteLayout holds.
func ReadLayout(dir string) (v1.ImageIndex, error) {
	outer, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	m, err := outer.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) != 1 || !m.Manifests[0].MediaType.IsIndex() {
		return nil, fmt.Errorf("OCI layout %s: want exactly one image index, found %d manifests", dir, len(m.Manifests))
	}
	return outer.ImageIndex(m.Manifests[0].Digest)
}

// File is one entry of an image's file system.
type File struct {
	Header *tar.Header
	Data   []byte
}

// ReadFiles returns every entry of img's layers by path (without a leading
// slash; later layers win), to check what an image really holds.
func ReadFiles(img v1.Image) (map[string]File, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	files := map[string]File{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, err
		}
		tr := tar.NewReader(rc)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				rc.Close()
				return nil, err
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				rc.Close()
				return nil, err
			}
			files[hdr.Name] = File{Header: hdr, Data: data}
		}
		rc.Close()
	}
	return files, nil
}

// Unpack writes the file system of img (its layers applied in order) under dir,
// as a container runtime would, to run what the image holds: directories,
// regular files with their modes, symlinks. Whiteouts (deleted paths) are
// applied. Owners are not: the caller is not necessarily root.
func Unpack(img v1.Image, dir string) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return err
		}
		err = unpackLayer(tar.NewReader(rc), dir)
		rc.Close()
		if err != nil {
			return fmt.Errorf("layer %d: %w", i, err)
		}
	}
	return nil
}

func unpackLayer(tr *tar.Reader, dir string) error {
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean("/" + hdr.Name)
		target := filepath.Join(dir, filepath.FromSlash(name))
		if base := path.Base(name); strings.HasPrefix(base, ".wh.") {
			if err := os.RemoveAll(filepath.Join(filepath.Dir(target), strings.TrimPrefix(base, ".wh."))); err != nil {
				return err
			}
			continue
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			if err := os.Chmod(target, os.FileMode(hdr.Mode&0o777)|0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			os.Remove(target) // a later layer replaces the file
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(hdr.Mode&0o777))
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			os.Remove(target)
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: unsupported entry type %q", hdr.Name, hdr.Typeflag)
		}
	}
}
