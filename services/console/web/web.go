// Package web is the console's web bundle, embedded in the binary and served
// at the console's root: the pages of web/console (TypeScript, bundled by
// esbuild) with their index.html and stylesheet, laid out under bundle/ by
// this package's genrule (BUILD.bazel).
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
