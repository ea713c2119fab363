// Command debresolve writes the lock of a base image's Debian packages: the
// run-time closure of some packages (ffmpeg), per architecture, from the
// Packages index of a Debian suite, each package pinned by version, archive path
// and sha256 (tools/image/debian/*.lock.json).
//
//	./bazelw run //tools/image/debresolve -- --lock=$PWD/tools/image/debian/ffmpeg.lock.json ffmpeg
//
// The mirror is apt's own for the suite, or $MONOREEL_DEBIAN_MIRROR.
package main

import (
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/monoreel/monoreel/tools/image/internal/debian"
)

// excluded lists what the dependency fields pull in but a container running
// ffmpeg never uses. The lock records them with these reasons. (On bookworm,
// without them ffmpeg's amd64 closure has 234 packages, 15 more: these and what
// only they need, LLVM among them.)
var excluded = map[string]string{
	"debconf":  "the configuration questions of maintainer scripts (fontconfig-config's): no package script runs in the image, there is no dpkg",
	"lsb-base": "helpers of init scripts (x11-common's init script needs it): nothing starts services in the image",
	"libgl1-mesa-dri": "Mesa's GPU drivers, with LLVM (about 40 MB): libGL and libgbm dlopen them only to " +
		"render on a GPU, which ffmpeg never does here; the libraries ffmpeg links stay",
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "debresolve:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	flags := flag.NewFlagSet("debresolve", flag.ContinueOnError)
	lockPath := flags.String("lock", "", "the lock file to write (an absolute path under bazel run)")
	suite := flags.String("suite", "bookworm", "the Debian suite")
	archs := flags.String("architectures", "amd64,arm64", "Debian architectures, comma-separated")
	if err := flags.Parse(args); err != nil {
		return err
	}
	roots := flags.Args()
	if *lockPath == "" || len(roots) == 0 {
		return fmt.Errorf("usage: debresolve --lock=FILE PACKAGE...")
	}
	mirror, err := debian.Mirror(*suite)
	if err != nil {
		return err
	}
	lock := debian.Lock{Suite: *suite, Component: "main", Roots: roots, Excluded: excluded, Architectures: map[string][]debian.Locked{}}
	for _, arch := range strings.Split(*archs, ",") {
		url := fmt.Sprintf("%s/dists/%s/main/binary-%s/Packages.gz", mirror, *suite, arch)
		idx, err := fetchIndex(url)
		if err != nil {
			return err
		}
		pkgs, err := debian.Resolve(idx, roots, excluded)
		if err != nil {
			return fmt.Errorf("%s: %w", arch, err)
		}
		lock.Architectures[arch] = pkgs
		fmt.Fprintf(os.Stderr, "%s: %d packages\n", arch, len(pkgs))
	}
	data, err := json.MarshalIndent(lock, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(*lockPath, append(data, '\n'), 0o644)
}

// fetchIndex reads a gzipped Packages index. Its integrity is not checked here
// against the signed Release file: the lock it yields is reviewed in git, and
// every .deb is then fetched by the sha256 the lock pins.
func fetchIndex(url string) (*debian.Index, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	idx, err := debian.ParsePackages(zr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return idx, nil
}
