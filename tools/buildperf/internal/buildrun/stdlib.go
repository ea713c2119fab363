package buildrun

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/monoreel/monoreel/tools/buildperf/cachediff/execlog"
)

// StdlibBuild is one build of the Go standard library (a GoStdlib action) in an
// execution log: for which GOOS_GOARCH, in which configuration (its bazel-out
// directory), and whether that configuration is an exec one (tools).
type StdlibBuild struct {
	Platform, Config string
	Exec             bool
}

// Key is what must be unique in a build: a platform, for targets or for tools.
func (b StdlibBuild) Key() string {
	if b.Exec {
		return b.Platform + " (exec)"
	}
	return b.Platform
}

// platformDirRe matches the GOOS_GOARCH directory rules_go's stdlib writes its
// packages to (next to include/ and tool/).
var platformDirRe = regexp.MustCompile(`^[a-z0-9]+_[a-z0-9]+$`)

// ReadSpawns reads the execution log a build wrote (Result.ExecLog).
func ReadSpawns(execLog string) ([]*execlog.Spawn, error) {
	f, err := os.Open(execLog)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	spawns, err := execlog.Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", execLog, err)
	}
	return spawns, nil
}

// StdlibBuilds lists the GoStdlib actions among a build's spawns, cache hits
// included, sorted by key then configuration.
func StdlibBuilds(spawns []*execlog.Spawn) ([]StdlibBuild, error) {
	var builds []StdlibBuild
	for _, s := range spawns {
		if s.Mnemonic != "GoStdlib" {
			continue
		}
		b, ok := stdlibBuildOf(s.Outputs)
		if !ok {
			return nil, fmt.Errorf("a GoStdlib action of %s has no bazel-out/<config>/.../stdlib_/pkg/<goos_goarch> output", s.Label)
		}
		builds = append(builds, b)
	}
	sort.Slice(builds, func(i, j int) bool {
		if builds[i].Key() != builds[j].Key() {
			return builds[i].Key() < builds[j].Key()
		}
		return builds[i].Config < builds[j].Config
	})
	return builds, nil
}

// stdlibBuildOf reads the configuration and platform from a GoStdlib action's
// outputs: bazel-out/<config>/bin/external/<rules_go>/stdlib_/pkg/<goos_goarch>/...
func stdlibBuildOf(outputs map[string]string) (StdlibBuild, bool) {
	for path := range outputs {
		parts := strings.Split(path, "/")
		if len(parts) < 3 || parts[0] != "bazel-out" {
			continue
		}
		for i := 2; i+2 < len(parts); i++ {
			if parts[i] == "stdlib_" && parts[i+1] == "pkg" && platformDirRe.MatchString(parts[i+2]) {
				config := parts[1]
				return StdlibBuild{Platform: parts[i+2], Config: config, Exec: strings.Contains(config, "-exec")}, true
			}
		}
	}
	return StdlibBuild{}, false
}

// CheckStdlibOnce fails when a platform's standard library was built more than
// once for targets, or more than once for tools: each such build is the same
// work in another configuration (see the README's "One build per platform").
func CheckStdlibOnce(builds []StdlibBuild) error {
	configs := map[string][]string{}
	for _, b := range builds {
		configs[b.Key()] = append(configs[b.Key()], b.Config)
	}
	var twice []string
	for key, cs := range configs {
		if len(cs) > 1 {
			twice = append(twice, fmt.Sprintf("%s %d times (%s)", key, len(cs), strings.Join(cs, ", ")))
		}
	}
	if len(twice) > 0 {
		sort.Strings(twice)
		return fmt.Errorf("the Go standard library was built more than once for one platform: %s", strings.Join(twice, "; "))
	}
	return nil
}

// StdlibSummary is one line: how many GoStdlib actions, and for what.
func StdlibSummary(builds []StdlibBuild) string {
	keys := make([]string, len(builds))
	for i, b := range builds {
		keys[i] = b.Key()
	}
	return fmt.Sprintf("%d GoStdlib actions: %s", len(builds), strings.Join(keys, ", "))
}

// CheckStdlib reads a build's execution log, and returns the summary of its
// GoStdlib actions and CheckStdlibOnce's verdict.
func CheckStdlib(r Result) (string, error) {
	spawns, err := ReadSpawns(r.ExecLog)
	if err != nil {
		return "", err
	}
	builds, err := StdlibBuilds(spawns)
	if err != nil {
		return "", err
	}
	return StdlibSummary(builds), CheckStdlibOnce(builds)
}
