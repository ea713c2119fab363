// Command cipush is CI's image push: it starts a registry on loopback (Debian's
// docker-registry), pushes every service image with its SBOM there as a real
// CI pushes to a real registry, reads each SBOM back through the index's
// referrers, prints each image's digest and compressed size per platform, and
// stops the registry. `.ci/run` runs it after the tests:
//
//	./bazelw run //:ci_push
//
// The push target sets --layout and --sbom; nothing is left behind.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/monoreel/monoreel/libs/testproc"
	"github.com/monoreel/monoreel/tools/image/internal/push"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "cipush:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	flags := flag.NewFlagSet("cipush", flag.ContinueOnError)
	var layouts, sboms []string
	flags.Func("layout", "NAME=DIR: an image's OCI layout (set by the push target; repeat)", func(v string) error { layouts = append(layouts, v); return nil })
	flags.Func("sbom", "NAME=FILE: an image's SBOM (set by the push target; repeat)", func(v string) error { sboms = append(sboms, v); return nil })
	if err := flags.Parse(args); err != nil {
		return err
	}
	start := time.Now()
	images, err := push.LoadImages(layouts, sboms)
	if err != nil {
		return err
	}
	binary, err := exec.LookPath("docker-registry")
	if err != nil {
		return fmt.Errorf("docker-registry is not installed (Debian package docker-registry; tools/bootstrap installs it)")
	}
	dir, err := os.MkdirTemp("", "cipush-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	registry, addr, err := testproc.LaunchRegistry(binary, dir, filepath.Join(dir, "registry.log"))
	if err != nil {
		return err
	}
	defer registry.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	fmt.Printf("cipush: registry on %s\n", addr)
	for _, img := range images {
		if img.SBOM == nil {
			return fmt.Errorf("%s: no SBOM", img.Name)
		}
		opts := push.Options{Repository: addr + "/monoreel/" + img.Name, Tags: []string{"ci"}, Insecure: true, Keychain: authn.NewMultiKeychain(), SBOM: img.SBOM}
		result, err := push.Push(ctx, img.Index, opts)
		if err != nil {
			return err
		}
		repo, err := push.Repository(opts)
		if err != nil {
			return err
		}
		found, err := push.SBOMs(ctx, repo, result.Digest, opts)
		if err != nil {
			return err
		}
		if len(found) != 1 || !bytes.Equal(found[0], img.SBOM) {
			return fmt.Errorf("%s: %d SBOMs found through the referrers of %s, want the pushed one", img.Name, len(found), result.Digest)
		}
		sizes, err := compressedSizes(img)
		if err != nil {
			return err
		}
		fmt.Printf("%-13s %s  %s  SBOM %s\n", img.Name, result.Digest, sizes, result.SBOM.String()[:19])
	}
	fmt.Printf("cipush: %d images pushed with their SBOMs in %.1fs\n", len(images), time.Since(start).Seconds())
	return nil
}

// compressedSizes says how many layer bytes each platform's image has.
func compressedSizes(img push.Image) (string, error) {
	m, err := img.Index.IndexManifest()
	if err != nil {
		return "", err
	}
	out := ""
	for _, d := range m.Manifests {
		image, err := img.Index.Image(d.Digest)
		if err != nil {
			return "", err
		}
		manifest, err := image.Manifest()
		if err != nil {
			return "", err
		}
		var total int64
		for _, l := range manifest.Layers {
			total += l.Size
		}
		out += fmt.Sprintf(" %s/%s %6.1f MB", d.Platform.OS, d.Platform.Architecture, float64(total)/1e6)
	}
	return out, nil
}
