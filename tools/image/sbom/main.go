// Command sbom writes the SPDX 2.3 JSON SBOM of a service image
// (tools/image/internal/sbom). Bazel runs it for go_image (tools/rules/image.bzl)
// with the same binaries the image holds and its base's lock, if any:
//
//	sbom --name=transcode --binary=linux/amd64=PATH --binary=linux/arm64=PATH \
//	    --go_mod=go.mod --go_sum=go.sum [--lock=ffmpeg.lock.json] --out=image.spdx.json
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/monoreel/monoreel/tools/image/internal/debian"
	"github.com/monoreel/monoreel/tools/image/internal/sbom"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sbom:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	flags := flag.NewFlagSet("sbom", flag.ContinueOnError)
	var binaries []string
	name := flags.String("name", "", "the service")
	flags.Func("binary", "PLATFORM=PATH of the service binary (repeat)", func(v string) error { binaries = append(binaries, v); return nil })
	goModPath := flags.String("go_mod", "", "go.mod: the modules' versions, for binaries without module build info (rules_go's)")
	goSumPath := flags.String("go_sum", "", "go.sum: the modules' hashes")
	lockPath := flags.String("lock", "", "the lock of the image's Debian base, if it has one")
	out := flags.String("out", "", "the SBOM to write")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *name == "" || *out == "" || len(binaries) == 0 {
		return fmt.Errorf("usage: sbom --name=SERVICE --binary=PLATFORM=PATH... [--lock=FILE] --out=FILE")
	}
	goMod, err := os.ReadFile(*goModPath)
	if err != nil {
		return err
	}
	goSum, err := os.ReadFile(*goSumPath)
	if err != nil {
		return err
	}
	var lock *debian.Lock
	if *lockPath != "" {
		if lock, err = debian.ReadLock(*lockPath); err != nil {
			return err
		}
	}
	var platforms []sbom.Platform
	for _, b := range binaries {
		platform, path, ok := strings.Cut(b, "=")
		if !ok {
			return fmt.Errorf("--binary=%q: want PLATFORM=PATH", b)
		}
		binary, err := sbom.ReadGoBinary(path, goMod, goSum)
		if err != nil {
			return err
		}
		p := sbom.Platform{Platform: platform, Binary: binary}
		if lock != nil {
			_, arch, _ := strings.Cut(platform, "/")
			pkgs, ok := lock.Architectures[arch]
			if !ok {
				return fmt.Errorf("%s pins no packages for %s", *lockPath, arch)
			}
			p.Debian, p.Distro = pkgs, lock.Suite
		}
		platforms = append(platforms, p)
	}
	doc, err := sbom.Build(*name, platforms)
	if err != nil {
		return err
	}
	data, err := sbom.Marshal(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(*out, data, 0o644)
}
