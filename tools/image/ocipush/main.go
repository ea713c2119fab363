// Command ocipush pushes a service image (an OCI layout written by ocibuild) to a
// registry. `bazel run //services/<name>:push` runs it with --layout set:
//
//	./bazelw run //services/idgen:push -- --repository=HOST/PATH [--tag=T ...] [--insecure]
//
// Each image's SBOM (--sbom, set by the push target too) is attached to its
// index as an OCI 1.1 referrer. Credentials come from the docker config ($DOCKER_CONFIG or ~/.docker/config.json)
// and its credential helpers. --insecure (plain HTTP) is for loopback registries.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/monoreel/monoreel/tools/image/internal/push"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ocipush:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	flags := flag.NewFlagSet("ocipush", flag.ContinueOnError)
	var layouts, sboms, tags []string
	flags.Func("layout", "NAME=DIR: an image's OCI layout (set by the push target; repeat)", func(v string) error { layouts = append(layouts, v); return nil })
	flags.Func("sbom", "NAME=FILE: an image's SBOM, attached to its index as a referrer (set by the push target; repeat)", func(v string) error { sboms = append(sboms, v); return nil })
	repository := flags.String("repository", "", "HOST/PATH to push one image to")
	registry := flags.String("registry", "", "HOST/PREFIX to push every image to, as PREFIX/NAME")
	flags.Func("tag", "tag to push (repeat; default latest)", func(v string) error { tags = append(tags, v); return nil })
	insecure := flags.Bool("insecure", false, "plain HTTP, for a registry on loopback")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if (*repository == "") == (*registry == "") {
		return fmt.Errorf("want exactly one of --repository=HOST/PATH or --registry=HOST/PREFIX")
	}
	if *repository != "" && len(layouts) != 1 {
		return fmt.Errorf("--repository pushes one image, but %d layouts were given: use --registry", len(layouts))
	}
	images, err := push.LoadImages(layouts, sboms)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	for _, img := range images {
		repo := *repository
		if repo == "" {
			repo = strings.TrimSuffix(*registry, "/") + "/" + img.Name
		}
		result, err := push.Push(ctx, img.Index, push.Options{Repository: repo, Tags: tags, Insecure: *insecure, SBOM: img.SBOM})
		if err != nil {
			return err
		}
		fmt.Printf("pushed %s (%d blobs uploaded, %d blobs or manifests already present)\n", result.Reference, result.Uploaded, result.Present)
		if img.SBOM != nil {
			fmt.Printf("  its SBOM: %s@%s (a referrer of the index)\n", repo, result.SBOM)
		}
	}
	return nil
}
