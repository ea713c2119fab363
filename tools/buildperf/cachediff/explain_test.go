package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/monoreel/monoreel/tools/buildperf/cachediff/execlog"
	pb "github.com/monoreel/monoreel/tools/buildperf/cachediff/execlogpb"
)

// action is a compact way to write a spawn for a test.
type action struct {
	label, mnemonic string
	args            []string
	env             map[string]string
	inputs, outputs map[string]string
	hit, uncachable bool
}

func (a action) spawn() *execlog.Spawn {
	s := &execlog.Spawn{
		Label: a.label, Mnemonic: a.mnemonic, Args: a.args, Env: a.env, Platform: map[string]string{},
		Inputs: a.inputs, Outputs: a.outputs, CacheHit: a.hit, RemoteCacheable: !a.uncachable,
	}
	if s.Env == nil {
		s.Env = map[string]string{}
	}
	if s.Inputs == nil {
		s.Inputs = map[string]string{}
	}
	return s
}

func spawns(actions ...action) []*execlog.Spawn {
	var out []*execlog.Spawn
	for _, a := range actions {
		out = append(out, a.spawn())
	}
	return out
}

const (
	now    = "bazel-out/bin/planted/now.txt"
	stamp  = "bazel-out/bin/planted/stamp.go"
	lib    = "bazel-out/bin/planted/lib.a"
	binary = "bazel-out/bin/planted/bin"
	other  = "bazel-out/bin/other/other.a"
)

// plantedBuilds are two builds of the same graph: a genrule that writes the date
// (and is never cached), a compile that reads it, a link that reads the compile's
// output, and an unrelated compile whose environment differs.
func plantedBuilds() (a, b []*execlog.Spawn) {
	build := func(date, goflags string, hits bool) []*execlog.Spawn {
		return spawns(
			action{label: "//planted:now", mnemonic: "Genrule", args: []string{"bash", "-c", "date > " + now},
				outputs: map[string]string{now: date}, uncachable: true},
			action{label: "//planted:lib", mnemonic: "GoCompilePkg", args: []string{"compile", now},
				inputs: map[string]string{now: date, "planted/lib.go": "l1"}, outputs: map[string]string{lib: "lib-" + date}, hit: hits},
			action{label: "//planted:bin", mnemonic: "GoLink", args: []string{"link", lib},
				inputs: map[string]string{lib: "lib-" + date}, outputs: map[string]string{binary: "bin-" + date}, hit: hits},
			action{label: "//other:other", mnemonic: "GoCompilePkg", env: map[string]string{"GOFLAGS": goflags},
				inputs: map[string]string{"other/o.go": "o1"}, outputs: map[string]string{other: "o-" + goflags}, hit: hits},
			action{label: "//other:same", mnemonic: "GoCompilePkg", inputs: map[string]string{"other/s.go": "s1"},
				outputs: map[string]string{"bazel-out/bin/other/same.a": "s"}, hit: true},
		)
	}
	return build("monday", "-a", false), build("tuesday", "-b", false)
}

func TestExplainNamesThePlantedCulpritFirst(t *testing.T) {
	a, b := plantedBuilds()
	r := explain(a, b)
	if r.cacheable != 4 || r.hits != 1 || len(r.misses) != 3 {
		t.Fatalf("cacheable %d, hits %d, misses %d; want 4, 1, 3", r.cacheable, r.hits, len(r.misses))
	}
	if len(r.culprits) != 2 {
		t.Fatalf("culprits %v, want 2", whats(r.culprits))
	}
	first := r.culprits[0]
	if !strings.Contains(first.what, "Genrule //planted:now wrote "+now+" differently from identical inputs") ||
		!strings.Contains(first.what, "never cached remotely") || len(first.explains) != 2 {
		t.Errorf("first culprit = %q explaining %d, want the date genrule explaining the compile and the link", first.what, len(first.explains))
	}
	if second := r.culprits[1]; !strings.Contains(second.what, `environment variable GOFLAGS: "-a" → "-b"`) || len(second.explains) != 1 {
		t.Errorf("second culprit = %q explaining %d, want GOFLAGS explaining one", second.what, len(second.explains))
	}
	var out bytes.Buffer
	r.print(&out, 50)
	for _, want := range []string{
		"B: 5 spawns, 4 remotely cacheable, 1 remote cache hits, 3 misses",
		"  1. Genrule //planted:now",
		`input ` + now + `: "monday" → "tuesday" (written by Genrule //planted:now)`,
		`input ` + lib + `: "lib-monday" → "lib-tuesday" (written by GoCompilePkg //planted:lib)`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestExplainEachKindOfDifference(t *testing.T) {
	out := map[string]string{"bazel-out/x": "x"}
	for _, tc := range []struct {
		name string
		a, b action
		want string
	}{
		{"argument", action{mnemonic: "GoLink", args: []string{"link", "-s"}, outputs: out},
			action{mnemonic: "GoLink", args: []string{"link", "-w"}, outputs: out}, `GoLink arguments: "-s" → "-w"`},
		{"added argument", action{mnemonic: "GoLink", args: []string{"link"}, outputs: out},
			action{mnemonic: "GoLink", args: []string{"link", "-v"}, outputs: out}, `B adds "-v" at 1`},
		{"source file", action{inputs: map[string]string{"pkg/a.go": "1"}, outputs: out},
			action{inputs: map[string]string{"pkg/a.go": "2"}, outputs: out}, "source file pkg/a.go differs"},
		{"input only in B", action{outputs: out},
			action{inputs: map[string]string{"pkg/new.go": "1"}, outputs: out}, "source file pkg/new.go differs"},
		{"file Bazel writes", action{inputs: map[string]string{"bazel-out/x.params": "1"}, outputs: out},
			action{inputs: map[string]string{"bazel-out/x.params": "2"}, outputs: out}, "bazel-out/x.params, written by Bazel itself"},
		{"environment", action{env: map[string]string{"TZ": "UTC"}, outputs: out},
			action{outputs: out}, `environment variable TZ: only in A ("UTC")`},
		{"nothing differs", action{mnemonic: "Genrule", label: "//p:g", outputs: out, uncachable: true},
			action{mnemonic: "Genrule", label: "//p:g", outputs: out}, "A did not leave it in the cache (and never cached remotely"},
		{"new action", action{outputs: map[string]string{"bazel-out/y": "y"}},
			action{mnemonic: "Genrule", label: "//p:new", outputs: out}, "Genrule //p:new: an action A did not run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := explain(spawns(tc.a), spawns(tc.b))
			if len(r.culprits) != 1 || !strings.Contains(r.culprits[0].what, tc.want) {
				t.Errorf("culprits %q, want one containing %q", whats(r.culprits), tc.want)
			}
		})
	}
}

func TestExplainPlatformProperty(t *testing.T) {
	a, b := action{outputs: map[string]string{"o": ""}}.spawn(), action{outputs: map[string]string{"o": ""}}.spawn()
	a.Platform["container-image"] = "debian:12"
	b.Platform["container-image"] = "debian:13"
	r := explain([]*execlog.Spawn{a}, []*execlog.Spawn{b})
	if len(r.culprits) != 1 || !strings.Contains(r.culprits[0].what, `platform property container-image: "debian:12" → "debian:13"`) {
		t.Errorf("culprits %q", whats(r.culprits))
	}
}

func whats(cs []*culprit) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.what)
	}
	return out
}

// writeLog writes spawns as a binary execution log, as Bazel does.
func writeLog(t *testing.T, name string, spawns []*execlog.Spawn) string {
	t.Helper()
	var buf bytes.Buffer
	for _, s := range spawns {
		exec := &pb.SpawnExec{CommandArgs: s.Args, TargetLabel: s.Label, Mnemonic: s.Mnemonic, CacheHit: s.CacheHit, RemoteCacheable: s.RemoteCacheable}
		for k, v := range s.Env {
			exec.EnvironmentVariables = append(exec.EnvironmentVariables, &pb.EnvironmentVariable{Name: k, Value: v})
		}
		for p, d := range s.Inputs {
			exec.Inputs = append(exec.Inputs, &pb.File{Path: p, Digest: &pb.Digest{Hash: d}})
		}
		for p, d := range s.Outputs {
			exec.ListedOutputs = append(exec.ListedOutputs, p)
			exec.ActualOutputs = append(exec.ActualOutputs, &pb.File{Path: p, Digest: &pb.Digest{Hash: d}})
		}
		if _, err := protodelim.MarshalTo(&buf, exec); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRun(t *testing.T) {
	a, b := plantedBuilds()
	logA, logB := writeLog(t, "a.log", a), writeLog(t, "b.log", b)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--max=1", logA, logB}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d with misses, want 1; stderr %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "1. Genrule //planted:now") || !strings.Contains(stdout.String(), "and 2 more (--max)") {
		t.Errorf("output:\n%s", stdout.String())
	}

	stdout.Reset()
	allHits := writeLog(t, "hits.log", spawns(action{label: "//p:x", outputs: map[string]string{"bazel-out/x": "1"}, hit: true}))
	if code := run([]string{logA, allHits}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "1 remote cache hits, 0 misses") {
		t.Errorf("a build without misses: exit %d, output %s", code, stdout.String())
	}

	bad := filepath.Join(t.TempDir(), "bad.log")
	os.WriteFile(bad, []byte{0x0a, 0xff}, 0o644)
	stderr.Reset()
	if code := run([]string{logA, bad}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "bad.log: binary execution log, entry 1") {
		t.Errorf("corrupt log: exit %d, stderr %q", code, stderr.String())
	}
	if code := run([]string{logA}, &stdout, &stderr); code != 2 {
		t.Errorf("one log: exit %d, want 2", code)
	}
}
