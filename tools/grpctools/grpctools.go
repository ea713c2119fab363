// Package grpctools runs the standard gRPC command-line tools against Monoreel
// services, which need no .proto file for them (every service serves server
// reflection): grpcurl to list, describe and call, ghz to load. Both are built
// by Bazel from their Go modules (@grpcurl, @ghz in MODULE.bazel).
//
// How the tools connect is said in one place, Conn: its GrpcurlFlags and
// GhzFlags, side by side, say the same (mutual TLS, a user's token) to each.
package grpctools

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// Conn is how the tools reach a service: over TLS trusting CA, with a client
// certificate (a service's identity: libs/pki) and, if set, a user's token; or
// in plaintext, to a service started with -plaintext.
type Conn struct {
	CA, Cert, Key string
	Token         string // "authorization: Bearer <Token>" on every call
	Plaintext     bool
}

// GrpcurlFlags are the flags grpcurl connects with.
func (c Conn) GrpcurlFlags() []string {
	if c.Plaintext {
		return []string{"-plaintext"}
	}
	flags := []string{"-cacert", c.CA, "-cert", c.Cert, "-key", c.Key}
	if c.Token != "" {
		flags = append(flags, "-H", "authorization: Bearer "+c.Token)
	}
	return flags
}

// GhzFlags are the same for ghz.
func (c Conn) GhzFlags() []string {
	if c.Plaintext {
		return []string{"--insecure"}
	}
	flags := []string{"--cacert", c.CA, "--cert", c.Cert, "--key", c.Key}
	if c.Token != "" {
		flags = append(flags, "--metadata", fmt.Sprintf(`{"authorization":"Bearer %s"}`, c.Token))
	}
	return flags
}

// Grpcurl runs the grpcurl binary Bin, connecting as Conn says.
type Grpcurl struct {
	Bin  string
	Conn Conn
}

// Run runs `grpcurl CONN FLAGS... ADDR ARGS...` (FLAGS e.g. -d for a call's
// request; ARGS list, describe SYMBOL, or a method) and returns its standard
// output. A failure's error has grpcurl's standard error, where grpcurl puts a
// call's status ("Code: NotFound").
func (g Grpcurl) Run(ctx context.Context, flags []string, addr string, args ...string) (string, error) {
	argv := append(append(append(g.Conn.GrpcurlFlags(), flags...), addr), args...)
	cmd := exec.CommandContext(ctx, g.Bin, argv...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("grpcurl %s: %w: %s", strings.Join(argv, " "), err, stderr.String())
	}
	return stdout.String(), nil
}
