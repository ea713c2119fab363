package debian

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// MirrorEnv overrides the Debian mirror: a URI such as http(s)://HOST/debian.
// SecurityMirrorEnv does for the security suites (SUITE-security), which
// Debian serves from an archive of their own.
const (
	MirrorEnv         = "MONOREEL_DEBIAN_MIRROR"
	SecurityMirrorEnv = "MONOREEL_DEBIAN_SECURITY_MIRROR"
)

// Mirror returns the root URI of the Debian archive to read suite from: $MirrorEnv
// (or $SecurityMirrorEnv for a security suite) when set, else the URI of apt's
// own source for that suite's main component (as `apt-get indextargets`
// reports it), so no host name is written anywhere.
// tools/image/debian/debs.bzl does the same at fetch time.
func Mirror(suite string) (string, error) {
	env := MirrorEnv
	if strings.HasSuffix(suite, "-security") {
		env = SecurityMirrorEnv
	}
	if uri := os.Getenv(env); uri != "" {
		return checkURI(uri)
	}
	apt, err := exec.LookPath("apt-get")
	if err != nil {
		return "", fmt.Errorf("no apt-get on this host to find a Debian mirror: set %s", env)
	}
	out, err := exec.Command(apt, "indextargets", "--format", "$(REPO_URI)",
		"Identifier: Packages", "Release: "+suite, "Component: main").Output()
	if err != nil {
		return "", fmt.Errorf("apt-get indextargets: %v (or set %s)", err, env)
	}
	uri, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if uri == "" {
		return "", fmt.Errorf("apt has no source for Debian %s main: add one, or set %s", suite, env)
	}
	return checkURI(uri)
}

func checkURI(uri string) (string, error) {
	if !strings.HasPrefix(uri, "http://") && !strings.HasPrefix(uri, "https://") {
		return "", fmt.Errorf("Debian mirror %q is not an http(s) URI", uri)
	}
	return strings.TrimSuffix(uri, "/"), nil
}
