package ociimage

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixtureSpec has two fake "binaries" and a fake zoneinfo: the image code does not
// look inside them.
func fixtureSpec(t *testing.T) Spec {
	t.Helper()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return Spec{
		Name:     "idgen",
		Binaries: map[string]string{"linux/arm64": write("arm64", "arm binary"), "linux/amd64": write("amd64", "amd binary")},
		ZoneInfo: write("zoneinfo.zip", "zones"),
		Ports:    []string{"9090"},
	}
}

// TestReproducible: the same inputs, built twice into different directories, give
// the same index digest and the same layout tarball, byte for byte.
func TestReproducible(t *testing.T) {
	spec := fixtureSpec(t)
	var digests []string
	var tarballs [][]byte
	for range 2 {
		idx, err := Build(spec)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "layout")
		digest, err := WriteLayout(dir, idx)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := WriteLayoutTarball(&buf, dir); err != nil {
			t.Fatal(err)
		}
		digests = append(digests, digest.String())
		tarballs = append(tarballs, buf.Bytes())
	}
	if digests[0] != digests[1] {
		t.Errorf("digests differ: %v", digests)
	}
	if !bytes.Equal(tarballs[0], tarballs[1]) {
		t.Error("layout tarballs differ")
	}
}

func TestImageContents(t *testing.T) {
	idx, err := Build(fixtureSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 2 || m.Manifests[0].Platform.Architecture != "amd64" || m.Manifests[1].Platform.Architecture != "arm64" {
		t.Fatalf("index = %+v", m.Manifests)
	}
	img, err := idx.Image(m.Manifests[1].Digest)
	if err != nil {
		t.Fatal(err)
	}
	files, err := ReadFiles(img)
	if err != nil {
		t.Fatal(err)
	}
	contents := map[string][]byte{}
	for name, f := range files {
		contents[name] = f.Data
		if f.Header.ModTime.Unix() != 0 {
			t.Errorf("%s has mtime %v", name, f.Header.ModTime)
		}
	}
	if string(contents["app/idgen"]) != "arm binary" || files["app/idgen"].Header.Mode != 0o755 {
		t.Errorf("arm64 image binary = %q mode %o", contents["app/idgen"], files["app/idgen"].Header.Mode)
	}
	if !strings.Contains(string(contents["etc/passwd"]), "app:x:65532:65532:") {
		t.Errorf("/etc/passwd = %q", contents["etc/passwd"])
	}
	if h := files["home/app/"].Header; h == nil || h.Uid != UID {
		t.Errorf("home dir = %+v", h)
	}
	if files["tmp/"].Header.Mode != 0o1777 {
		t.Errorf("/tmp mode %o", files["tmp/"].Header.Mode)
	}
	// The CA bundle parses and holds a realistic number of roots.
	pool, rest, n := x509.NewCertPool(), contents["etc/ssl/certs/ca-certificates.crt"], 0
	for {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		pool.AddCert(cert)
		n++
	}
	if n < 100 {
		t.Errorf("CA bundle has %d roots", n)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Architecture != "arm64" || cfg.Config.User != "65532:65532" || cfg.Created.Unix() != 0 {
		t.Errorf("config = %+v", cfg)
	}
}

func TestBadSpecs(t *testing.T) {
	spec := fixtureSpec(t)
	spec.Binaries["linux/amd64"] = "/nonexistent/idgen"
	if _, err := Build(spec); err == nil || !strings.Contains(err.Error(), "image idgen (linux/amd64)") {
		t.Errorf("missing binary: %v", err)
	}
	spec = fixtureSpec(t)
	spec.Name = "a/b"
	if _, err := Build(spec); err == nil {
		t.Error("a name with a slash was accepted")
	}
}
