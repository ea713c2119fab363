// Package grpctools runs the standard gRPC command-line tools against Monoreel
// services, which need no .proto file for them (every service serves server
// reflection): grpcurl to list, describe and call, ghz to load. Both are built
// by Bazel from their Go modules (@grpcurl, @ghz in MODULE.bazel).
//
// How the tools connect is said in one place each, GrpcurlConnFlags and
// GhzConnFlags, side by side: change both when the services' transport does.
package grpctools

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// GrpcurlConnFlags are the flags grpcurl needs to reach a service: plaintext
// (services serve plaintext on a private network).
func GrpcurlConnFlags() []string { return []string{"-plaintext"} }

// GhzConnFlags are the same for ghz.
func GhzConnFlags() []string { return []string{"--insecure"} }

// Grpcurl runs the grpcurl binary Bin.
type Grpcurl struct{ Bin string }

// Run runs `grpcurl CONN FLAGS... ADDR ARGS...` (FLAGS e.g. -d for a call's
// request; ARGS list, describe SYMBOL, or a method) and returns its standard
// output. A failure's error has grpcurl's standard error, where grpcurl puts a
// call's status ("Code: NotFound").
func (g Grpcurl) Run(ctx context.Context, flags []string, addr string, args ...string) (string, error) {
	argv := append(append(append(GrpcurlConnFlags(), flags...), addr), args...)
	cmd := exec.CommandContext(ctx, g.Bin, argv...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("grpcurl %s: %w: %s", strings.Join(argv, " "), err, stderr.String())
	}
	return stdout.String(), nil
}
