// Command ocibuild writes a service's multi-platform image as an OCI image layout
// (and optionally a tarball of it). Bazel runs it for go_image (tools/rules/image.bzl).
//
//	ocibuild --name=idgen --binary=linux/amd64=PATH --binary=linux/arm64=PATH \
//	    --zoneinfo=zoneinfo.zip --port=9090 --layout=OUT_DIR [--tarball=OUT.tar] \
//	    [--status_file=stable-status.txt] [--digest_file=OUT.digest] \
//	    [--base_layer=linux/amd64=debian.tar.gz ...]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/monoreel/monoreel/tools/image/internal/ociimage"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ocibuild:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	flags := flag.NewFlagSet("ocibuild", flag.ContinueOnError)
	var binaries, ports, labels, baseLayers []string
	name := flags.String("name", "", "service name")
	flags.Func("binary", "PLATFORM=PATH, e.g. linux/arm64=bazel-out/.../idgen (repeat)", func(v string) error { binaries = append(binaries, v); return nil })
	flags.Func("base_layer", "PLATFORM=PATH: a gzipped layer tar under the others, e.g. a Debian base (repeat)", func(v string) error { baseLayers = append(baseLayers, v); return nil })
	flags.Func("port", "exposed port, e.g. 9090 or 9090/udp (repeat)", func(v string) error { ports = append(ports, v); return nil })
	flags.Func("label", "KEY=VALUE image label (repeat)", func(v string) error { labels = append(labels, v); return nil })
	zoneInfo := flags.String("zoneinfo", "", "the Go SDK's lib/time/zoneinfo.zip")
	statusFile := flags.String("status_file", "", "Bazel's stable-status.txt when stamping: adds the revision label")
	layoutDir := flags.String("layout", "", "output OCI layout directory")
	tarballPath := flags.String("tarball", "", "also write the layout as a tar here")
	digestFile := flags.String("digest_file", "", "write the index digest here")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *layoutDir == "" {
		return fmt.Errorf("--layout is required")
	}
	spec := ociimage.Spec{Name: *name, ZoneInfo: *zoneInfo, Ports: ports, Binaries: map[string]string{}, Labels: map[string]string{}, BaseLayers: map[string]string{}}
	for flag, values := range map[string][]string{"binary": binaries, "base_layer": baseLayers} {
		into := map[string]map[string]string{"binary": spec.Binaries, "base_layer": spec.BaseLayers}[flag]
		for _, b := range values {
			platform, path, ok := strings.Cut(b, "=")
			if !ok {
				return fmt.Errorf("--%s=%q: want PLATFORM=PATH", flag, b)
			}
			into[platform] = path
		}
	}
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return fmt.Errorf("--label=%q: want KEY=VALUE", l)
		}
		spec.Labels[k] = v
	}
	if *statusFile != "" {
		status, err := readStatus(*statusFile)
		if err != nil {
			return err
		}
		if rev := status["STABLE_MONOREEL_COMMIT"]; rev != "" {
			spec.Labels["org.opencontainers.image.revision"] = rev
		}
		if version := status["STABLE_MONOREEL_VERSION"]; version != "" {
			spec.Labels["org.opencontainers.image.version"] = version
		}
	}
	idx, err := ociimage.Build(spec)
	if err != nil {
		return err
	}
	digest, err := ociimage.WriteLayout(*layoutDir, idx)
	if err != nil {
		return err
	}
	if *digestFile != "" {
		if err := os.WriteFile(*digestFile, []byte(digest.String()+"\n"), 0o644); err != nil {
			return err
		}
	}
	if *tarballPath != "" {
		f, err := os.Create(*tarballPath)
		if err != nil {
			return err
		}
		if err := ociimage.WriteLayoutTarball(f, *layoutDir); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	return nil
}

// readStatus reads Bazel's workspace status file: "KEY value" lines.
func readStatus(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	status := map[string]string{}
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		k, v, _ := strings.Cut(scanner.Text(), " ")
		status[k] = v
	}
	return status, scanner.Err()
}
