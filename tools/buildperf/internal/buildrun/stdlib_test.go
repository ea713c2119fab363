package buildrun

import (
	"strings"
	"testing"

	"github.com/monoreel/monoreel/tools/buildperf/cachediff/execlog"
)

func stdlibSpawn(config, platform string) *execlog.Spawn {
	dir := "bazel-out/" + config + "/bin/external/rules_go~/stdlib_/pkg/"
	return &execlog.Spawn{
		Label:    "@@rules_go~//:stdlib",
		Mnemonic: "GoStdlib",
		Outputs: map[string]string{
			dir + "include/asm_ppc64x.h":    "a",
			dir + platform + "/fmt.a":       "b",
			dir + "tool/" + platform + "/x": "c",
		},
	}
}

func TestStdlibBuildsFindsPlatformAndConfig(t *testing.T) {
	spawns := []*execlog.Spawn{
		stdlibSpawn("k8-fastbuild", "linux_amd64"),
		{Mnemonic: "GoCompilePkg", Outputs: map[string]string{"bazel-out/k8-fastbuild/bin/libs/x.a": "d"}},
		stdlibSpawn("k8-opt-exec-ST-9adfefac9ad6", "linux_amd64"),
		stdlibSpawn("k8-fastbuild-ST-6b4600ed0b13", "linux_arm64"),
	}
	builds, err := StdlibBuilds(spawns)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := StdlibSummary(builds), "3 GoStdlib actions: linux_amd64, linux_amd64 (exec), linux_arm64"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
	if !builds[1].Exec || builds[1].Config != "k8-opt-exec-ST-9adfefac9ad6" {
		t.Errorf("the exec build = %+v", builds[1])
	}
	if err := CheckStdlibOnce(builds); err != nil {
		t.Errorf("one build per platform and role: %v", err)
	}
}

func TestCheckStdlibOnceNamesTheDuplicateConfigurations(t *testing.T) {
	builds, err := StdlibBuilds([]*execlog.Spawn{
		stdlibSpawn("k8-fastbuild", "linux_amd64"),
		stdlibSpawn("k8-fastbuild-ST-22111ee97fbd", "linux_amd64"),
		stdlibSpawn("k8-opt-exec-ST-9adfefac9ad6", "linux_amd64"),
		stdlibSpawn("k8-opt-exec-ST-d57f47055a04", "linux_amd64"),
		stdlibSpawn("k8-fastbuild-ST-4b302cb5aa32", "darwin_arm64"),
	})
	if err != nil {
		t.Fatal(err)
	}
	err = CheckStdlibOnce(builds)
	if err == nil {
		t.Fatal("two builds of linux_amd64 passed")
	}
	for _, want := range []string{
		"linux_amd64 2 times (k8-fastbuild, k8-fastbuild-ST-22111ee97fbd)",
		"linux_amd64 (exec) 2 times (k8-opt-exec-ST-9adfefac9ad6, k8-opt-exec-ST-d57f47055a04)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "darwin") {
		t.Errorf("error %q names darwin_arm64, built once", err)
	}
}

func TestStdlibBuildsRefusesAnUnknownLayout(t *testing.T) {
	_, err := StdlibBuilds([]*execlog.Spawn{{Label: "@@rules_go~//:stdlib", Mnemonic: "GoStdlib", Outputs: map[string]string{"somewhere/else.a": "x"}}})
	if err == nil || !strings.Contains(err.Error(), "@@rules_go~//:stdlib") {
		t.Errorf("err = %v, want one naming the action's target", err)
	}
}
