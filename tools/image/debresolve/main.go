// Command debresolve writes the lock of a base image's Debian packages: the
// run-time closure of some packages (ffmpeg), per architecture, from the
// Packages indexes of a Debian release and its update suites (each package at
// its newest version, so security fixes are in), each package pinned by
// version, suite, archive path and sha256 (tools/image/debian/*.lock.json).
//
//	./bazelw run //tools/image/debresolve -- --lock=$PWD/tools/image/debian/ffmpeg.lock.json ffmpeg
//
// Every index is checked as apt checks it: the suite's InRelease must have a
// good signature by Debian's archive keyring (gpgv), be that suite's and not be
// past its Valid-Until, and each index must have the sha256 the signed Release
// gives it. The mirrors are apt's own for each suite,
// or $MONOREEL_DEBIAN_MIRROR and $MONOREEL_DEBIAN_SECURITY_MIRROR.
//
//	./bazelw run //tools/image/debresolve -- --check --lock=$PWD/tools/image/debian/ffmpeg.lock.json ffmpeg
//
// writes nothing: it prints what a regenerated lock would change and exits 3
// if anything would (a scheduled job's way to hear of a security update).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ulikunitz/xz"

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

// errBehind is --check's finding: the lock is not what the suites have now.
var errBehind = errors.New("the lock is behind the archive: regenerate it (without --check) and commit it")

func main() {
	err := run(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "debresolve:", err)
	}
	switch {
	case errors.Is(err, errBehind):
		os.Exit(3) // a finding, not a failure: a scheduled job tells them apart
	case err != nil:
		os.Exit(1)
	}
}

func run(args []string) error {
	flags := flag.NewFlagSet("debresolve", flag.ContinueOnError)
	lockPath := flags.String("lock", "", "the lock file to write (an absolute path under bazel run)")
	suites := flags.String("suites", "bookworm,bookworm-updates,bookworm-security", "the Debian release, then its update suites, comma-separated")
	archs := flags.String("architectures", "amd64,arm64", "Debian architectures, comma-separated")
	keyring := flags.String("keyring", debian.ArchiveKeyring, "the OpenPGP keyring the suites' InRelease files are checked against")
	check := flags.Bool("check", false, "write nothing: print how the lock differs from what the suites have now (a security update, say), and exit 3 if it does")
	if err := flags.Parse(args); err != nil {
		return err
	}
	roots := flags.Args()
	if *lockPath == "" || len(roots) == 0 {
		return fmt.Errorf("usage: debresolve --lock=FILE PACKAGE...")
	}
	suiteNames := strings.Split(*suites, ",")
	lock := debian.Lock{Suite: suiteNames[0], Suites: suiteNames, Component: "main", Roots: roots, Excluded: excluded, Architectures: map[string][]debian.Locked{}}
	indexes := map[string][]debian.SuiteIndex{} // by architecture
	for _, suite := range suiteNames {
		mirror, err := debian.Mirror(suite)
		if err != nil {
			return err
		}
		inRelease, err := get(fmt.Sprintf("%s/dists/%s/InRelease", mirror, suite))
		if err != nil {
			return err
		}
		release, err := debian.VerifyInRelease(inRelease, *keyring, suite, time.Now())
		if err != nil {
			return err
		}
		for _, arch := range strings.Split(*archs, ",") {
			idx, err := fetchIndex(mirror, suite, arch, release)
			if err != nil {
				return err
			}
			indexes[arch] = append(indexes[arch], debian.SuiteIndex{Suite: suite, Index: idx})
		}
	}
	for arch, idxs := range indexes {
		pkgs, err := debian.Resolve(debian.Newest(idxs), roots, excluded)
		if err != nil {
			return fmt.Errorf("%s: %w", arch, err)
		}
		lock.Architectures[arch] = pkgs
		updated := 0
		for _, p := range pkgs {
			if p.Suite != lock.Suite {
				updated++
			}
		}
		fmt.Fprintf(os.Stderr, "%s: %d packages, %d of them from the update suites\n", arch, len(pkgs), updated)
	}
	if *check {
		prev, err := debian.ReadLock(*lockPath)
		if err != nil {
			return err
		}
		changes := debian.Changes(prev, &lock)
		for _, c := range changes {
			fmt.Println(c)
		}
		if len(changes) > 0 {
			return errBehind
		}
		fmt.Fprintln(os.Stderr, "the lock is what the suites have now")
		return nil
	}
	data, err := json.MarshalIndent(lock, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(*lockPath, append(data, '\n'), 0o644)
}

// fetchIndex reads the xz-compressed Packages index of suite's main component
// for arch (every Debian suite has that form; the security suites have no
// other) and checks it against the suite's signed Release.
func fetchIndex(mirror, suite, arch string, release *debian.Release) (*debian.Index, error) {
	path := fmt.Sprintf("main/binary-%s/Packages.xz", arch)
	data, err := get(fmt.Sprintf("%s/dists/%s/%s", mirror, suite, path))
	if err != nil {
		return nil, err
	}
	if err := release.Check(path, data); err != nil {
		return nil, fmt.Errorf("%s: %w", suite, err)
	}
	xr, err := xz.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", suite, path, err)
	}
	idx, err := debian.ParsePackages(xr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", suite, path, err)
	}
	return idx, nil
}

func get(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}
