//go:build tools

// Package godeps pins in go.mod the Go programs the build runs (mockgen, msgp,
// buildifier, nogo's staticcheck analyzers) and the runtime of generated code
// (msgp), which no checked-in Go file imports, so that `go mod tidy` keeps them. Bazel never builds this file: gazelle
// is told to skip the directory (see //:BUILD.bazel).
package godeps

import (
	_ "github.com/bazelbuild/buildtools/buildifier"
	_ "github.com/tinylib/msgp"
	_ "github.com/tinylib/msgp/msgp"
	_ "go.uber.org/mock/mockgen"
	_ "honnef.co/go/tools/simple"
	_ "honnef.co/go/tools/staticcheck"
)
