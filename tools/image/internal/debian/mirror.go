package debian

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// MirrorEnv overrides the Debian mirror: a URI such as http(s)://HOST/debian.
const MirrorEnv = "MONOREEL_DEBIAN_MIRROR"

// Mirror returns the root URI of the Debian archive to read suite from: $MirrorEnv
// when set, else the URI of apt's own source for that suite's main component (as
// `apt-get indextargets` reports it), so no host name is written anywhere.
// tools/image/debian/debs.bzl does the same at fetch time.
func Mirror(suite string) (string, error) {
	if uri := os.Getenv(MirrorEnv); uri != "" {
		return checkURI(uri)
	}
	apt, err := exec.LookPath("apt-get")
	if err != nil {
		return "", fmt.Errorf("no apt-get on this host to find a Debian mirror: set %s", MirrorEnv)
	}
	out, err := exec.Command(apt, "indextargets", "--format", "$(REPO_URI)",
		"Identifier: Packages", "Release: "+suite, "Component: main").Output()
	if err != nil {
		return "", fmt.Errorf("apt-get indextargets: %v (or set %s)", err, MirrorEnv)
	}
	uri, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if uri == "" {
		return "", fmt.Errorf("apt has no source for Debian %s main: add one, or set %s", suite, MirrorEnv)
	}
	return checkURI(uri)
}

func checkURI(uri string) (string, error) {
	if !strings.HasPrefix(uri, "http://") && !strings.HasPrefix(uri, "https://") {
		return "", fmt.Errorf("Debian mirror %q is not an http(s) URI", uri)
	}
	return strings.TrimSuffix(uri, "/"), nil
}
