package testproc

import (
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// StartCasd runs a real buildbox-casd (Debian's buildbox, from testing) on a free
// loopback port, storing its CAS and action cache under a new directory, until
// the test ends, and returns its address (host:port, plaintext gRPC). extra are
// more casd flags (CasdExecutorArgs: a local Execution service).
func StartCasd(t testing.TB, extra ...string) (*Process, string) {
	t.Helper()
	addr := FreeAddr(t)
	dir := t.TempDir()
	p, err := LaunchCasd(Binary(t, "buildbox-casd", "buildbox"), addr, filepath.Join(dir, "cache"), filepath.Join(dir, "buildbox-casd.log"), extra...)
	if p != nil {
		t.Cleanup(p.Stop)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p, addr
}

// LaunchCasd is StartCasd without a test: buildbox-casd serves a local CAS,
// ByteStream, ActionCache and Capabilities (REAPI v2) at addr, stored in
// cacheDir, until the caller stops it; extra are more casd flags.
func LaunchCasd(binary, addr, cacheDir, logPath string, extra ...string) (*Process, error) {
	args := append([]string{"--bind=" + addr, "--log-level=warning"}, extra...)
	return Launch(binary, append(args, cacheDir), logPath, func() error {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		return conn.Close()
	})
}

// hostSystemDirs are the host directories (from, to) a remotely executed
// action sees, read-only: this Debian system, as an executor with a Debian
// container image would give it. /usr, and /bin, /lib and /lib64, which are
// symlinks into /usr on Debian (merged /usr) and are bound from their targets:
// Bazel's actions need them for what rules take from the host (/bin/bash and
// /usr/bin/env, the interpreters of rules_go's and our shell wrappers; Debian's
// /usr/bin/protoc, third_party/offline_modules/protobuf/protoc.sh), and tests
// for the servers they start (etcd, Redis, nginx...: libs/testproc). /etc:
// without it, the integration tests' servers fail under this runner.
var hostSystemDirs = [][2]string{{"/usr", "/usr"}, {"/usr/bin", "/bin"}, {"/usr/lib", "/lib"}, {"/usr/lib64", "/lib64"}, {"/etc", "/etc"}}

// CasdExecutorArgs are the casd flags that turn on its local Execution service
// with buildbox-run-bubblewrap (runner: its path) running up to jobs actions at
// once. The runner makes each action's input root the root of a new mount
// namespace (bwrap --bind <staged input root> /, working directory /), with a
// fresh /proc, /dev and an empty tmpfs /tmp, no network (--unshare-net),
// separate pid/ipc/uts/user namespaces and every capability dropped: an action
// sees its declared inputs and nothing of the host but /usr, /bin, /lib,
// /lib64 and /etc (read-only binds, --ro-bind-mount: hostSystemDirs). Failed
// actions are not cached (casd caches them by default): a build that failed on
// a runner problem runs the action again after the fix instead of being served
// the failure.
func CasdExecutorArgs(runner string, jobs int) []string {
	args := []string{"--buildbox-run=" + runner, "--jobs=" + strconv.Itoa(jobs), "--cache-failures=false"}
	for _, d := range hostSystemDirs {
		args = append(args, "--runner-arg=--ro-bind-mount="+d[0]+":"+d[1])
	}
	return args
}
