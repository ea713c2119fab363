// Package web is the console's web bundle, embedded in the binary and served
// at the console's root.
//
// Today the bundle is bundle/index.html, a hand-written placeholder page. The
// TypeScript bundle replaces it without a change here: a Bazel rule builds
// the pages into a directory named bundle/ of this package (its index.html at
// the top), and this package's go_library embeds that output instead of the
// source files: `embedsrcs = [":bundle"]` (rules_go embeds generated files by
// their path in the package), with `# keep` so that gazelle leaves it, and
// bundle/index.html deleted. The go:embed pattern stays "bundle".
package web

import (
	"embed"
	"io/fs"
)

//go:embed bundle
var files embed.FS

// Bundle is the files to serve: index.html and whatever it loads.
func Bundle() fs.FS {
	sub, err := fs.Sub(files, "bundle")
	if err != nil {
		panic(err) // "bundle" is a valid path: fs.Sub cannot fail on it
	}
	return sub
}
