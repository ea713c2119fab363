package buildrun

import (
	"reflect"
	"strings"
	"testing"

	"github.com/monoreel/monoreel/tools/buildperf/cachediff/execlog"
)

func TestRunners(t *testing.T) {
	spawns := []*execlog.Spawn{
		{Mnemonic: "GoCompilePkg", Label: "//a", Runner: "remote", Remotable: true},
		{Mnemonic: "GoLink", Label: "//a:bin", Runner: "remote", Remotable: true},
		{Mnemonic: "GoStdlib", Label: "@rules_go//stdlib", Runner: "remote cache hit", Remotable: true, CacheHit: true},
		{Mnemonic: "Genrule", Label: "//b:stamp", Runner: "linux-sandbox", Outputs: map[string]string{"bazel-out/b/stamp": ""}},
		{Mnemonic: "GoCompilePkg", Label: "//c", Runner: "linux-sandbox", Remotable: true},
	}
	counts := Runners(spawns)
	if want := map[string]int{"remote": 2, "remote cache hit": 1, "linux-sandbox": 2}; !reflect.DeepEqual(counts, want) {
		t.Errorf("Runners = %v, want %v", counts, want)
	}
	if got, want := RunnersSummary(counts), "2 linux-sandbox, 2 remote, 1 remote cache hit"; got != want {
		t.Errorf("RunnersSummary = %q, want %q", got, want)
	}
	if got := RunnersSummary(nil); got != "no spawns" {
		t.Errorf("RunnersSummary(nil) = %q", got)
	}
	notRemote := NotRemote(spawns)
	if len(notRemote) != 2 || notRemote[0] != spawns[3] || notRemote[1] != spawns[4] {
		t.Fatalf("NotRemote = %v, want the two linux-sandbox spawns, Genrule first", notRemote)
	}
	if why := WhyNotRemote(spawns[3]); !strings.HasPrefix(why, "Genrule //b:stamp (bazel-out/b/stamp): run by \"linux-sandbox\", not remotable") {
		t.Errorf("WhyNotRemote(genrule) = %q: want it named not remotable", why)
	}
	if why := WhyNotRemote(spawns[4]); !strings.Contains(why, "remotable, yet run elsewhere") {
		t.Errorf("WhyNotRemote(//c) = %q: want remotable yet run locally", why)
	}
}
