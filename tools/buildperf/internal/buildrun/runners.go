package buildrun

import (
	"fmt"
	"sort"
	"strings"

	"github.com/monoreel/monoreel/tools/buildperf/cachediff/execlog"
)

// Runners counts spawns by what ran them (the execution log's runner: "remote",
// "linux-sandbox", "remote cache hit"...). Bazel's internal actions (symlinks,
// written files) are not spawns and are not in the log.
func Runners(spawns []*execlog.Spawn) map[string]int {
	counts := map[string]int{}
	for _, s := range spawns {
		runner := s.Runner
		if runner == "" {
			runner = "unknown runner"
		}
		counts[runner]++
	}
	return counts
}

// RunnersSummary is counts as one line, largest first: "261 remote, 2 linux-sandbox".
func RunnersSummary(counts map[string]int) string {
	names := make([]string, 0, len(counts))
	for name := range counts {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		if counts[names[i]] != counts[names[j]] {
			return counts[names[i]] > counts[names[j]]
		}
		return names[i] < names[j]
	})
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = fmt.Sprintf("%d %s", counts[name], name)
	}
	if len(parts) == 0 {
		return "no spawns"
	}
	return strings.Join(parts, ", ")
}

// NotRemote lists the spawns that were neither executed remotely nor served
// by the remote cache, sorted by mnemonic and label.
func NotRemote(spawns []*execlog.Spawn) []*execlog.Spawn {
	var out []*execlog.Spawn
	for _, s := range spawns {
		if s.Runner != "remote" && s.Runner != "remote cache hit" {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Mnemonic != out[j].Mnemonic {
			return out[i].Mnemonic < out[j].Mnemonic
		}
		return out[i].Label < out[j].Label
	})
	return out
}

// WhyNotRemote describes a spawn NotRemote listed, with why it ran where it
// did: its rule or a tag forbade remote execution (not remotable), or Bazel ran
// it elsewhere although it could have gone remote (a local fallback, a
// strategy flag).
func WhyNotRemote(s *execlog.Spawn) string {
	why := "remotable, yet run elsewhere (local fallback or a strategy flag)"
	if !s.Remotable {
		why = "not remotable (a no-remote-exec, no-remote or local tag, or the rule's execution requirements)"
	}
	return fmt.Sprintf("%s %s (%s): run by %q, %s", s.Mnemonic, s.Label, s.ID(), s.Runner, why)
}
