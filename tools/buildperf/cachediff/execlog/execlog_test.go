package execlog

import (
	"bytes"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	pb "github.com/monoreel/monoreel/tools/buildperf/cachediff/execlogpb"
)

func digest(h string) *pb.Digest { return &pb.Digest{Hash: h, SizeBytes: int64(len(h))} }

// delimited writes messages the way Bazel writes its logs.
func delimited(t testing.TB, msgs ...proto.Message) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, m := range msgs {
		if _, err := protodelim.MarshalTo(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func compressed(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	enc.Write(data)
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func binarySample(t testing.TB) []byte {
	return delimited(t,
		&pb.SpawnExec{
			CommandArgs:          []string{"/bin/bash", "-c", "date > $1"},
			EnvironmentVariables: []*pb.EnvironmentVariable{{Name: "PATH", Value: "/bin"}},
			Platform:             &pb.Platform{Properties: []*pb.Platform_Property{{Name: "OSFamily", Value: "Linux"}}},
			Inputs: []*pb.File{
				{Path: "pkg/in.txt", Digest: digest("aa")},
				{Path: "bazel-out/bin/tool", Digest: digest("bb")},
			},
			ListedOutputs:   []string{"bazel-out/bin/pkg/now.txt", "bazel-out/bin/pkg/missing"},
			ActualOutputs:   []*pb.File{{Path: "bazel-out/bin/pkg/now.txt", Digest: digest("cc")}},
			Mnemonic:        "Genrule",
			TargetLabel:     "//pkg:now",
			RemoteCacheable: true,
			Remotable:       true,
			Runner:          "remote",
		},
		&pb.SpawnExec{Mnemonic: "GoLink", TargetLabel: "//pkg:bin", CacheHit: true, Runner: "remote cache hit",
			ListedOutputs: []string{"bazel-out/bin/pkg/bin"}},
	)
}

func TestReadBinary(t *testing.T) {
	spawns, err := Read(bytes.NewReader(binarySample(t)))
	if err != nil {
		t.Fatal(err)
	}
	if len(spawns) != 2 {
		t.Fatalf("got %d spawns, want 2", len(spawns))
	}
	s := spawns[0]
	if s.Label != "//pkg:now" || s.Mnemonic != "Genrule" || s.CacheHit || !s.RemoteCacheable || !s.Remotable || s.Runner != "remote" {
		t.Errorf("spawn 0 = %+v", s)
	}
	if s.Env["PATH"] != "/bin" || s.Platform["OSFamily"] != "Linux" || s.Args[2] != "date > $1" {
		t.Errorf("env %v, platform %v, args %q", s.Env, s.Platform, s.Args)
	}
	if s.Inputs["pkg/in.txt"] != "aa" || s.Inputs["bazel-out/bin/tool"] != "bb" {
		t.Errorf("inputs %v", s.Inputs)
	}
	if s.Outputs["bazel-out/bin/pkg/now.txt"] != "cc" || len(s.Outputs) != 2 {
		t.Errorf("outputs %v: want now.txt=cc and the listed, missing output", s.Outputs)
	}
	if s.ID() != "bazel-out/bin/pkg/missing" {
		t.Errorf("ID = %q, want the first output path", s.ID())
	}
	if !spawns[1].CacheHit || spawns[1].Remotable || spawns[1].Runner != "remote cache hit" || spawns[1].ID() != "bazel-out/bin/pkg/bin" {
		t.Errorf("spawn 1 = %+v", spawns[1])
	}
}

func TestReadBinaryTruncatedNamesTheEntryAndKeepsTheRest(t *testing.T) {
	log := binarySample(t)
	spawns, err := Read(bytes.NewReader(log[:len(log)-3]))
	if err == nil || !strings.Contains(err.Error(), "binary execution log, entry 2") {
		t.Fatalf("err = %v, want one naming entry 2", err)
	}
	if len(spawns) != 1 || spawns[0].Label != "//pkg:now" {
		t.Errorf("spawns read before the bad entry: %v", spawns)
	}
}

func entry(id uint32, payload any) *pb.Entry {
	e := &pb.Entry{Id: id}
	switch p := payload.(type) {
	case *pb.Entry_CompactFile:
		e.Payload = &pb.Entry_File{File: p}
	case *pb.Entry_Directory:
		e.Payload = &pb.Entry_Directory_{Directory: p}
	case *pb.Entry_UnresolvedSymlink:
		e.Payload = &pb.Entry_UnresolvedSymlink_{UnresolvedSymlink: p}
	case *pb.Entry_InputSet:
		e.Payload = &pb.Entry_InputSet_{InputSet: p}
	case *pb.Entry_RunfilesTree:
		e.Payload = &pb.Entry_RunfilesTree_{RunfilesTree: p}
	case *pb.Entry_CompactSpawn:
		e.Payload = &pb.Entry_Spawn{Spawn: p}
	case *pb.Entry_Invocation:
		e.Payload = &pb.Entry_Invocation_{Invocation: p}
	}
	return e
}

func compactSample(t testing.TB) []byte {
	return compressed(t, delimited(t,
		entry(0, &pb.Entry_Invocation{HashFunctionName: "SHA-256"}),
		entry(1, &pb.Entry_CompactFile{Path: "pkg/a.go", Digest: digest("a1")}),
		entry(2, &pb.Entry_Directory{Path: "bazel-out/bin/gen", Files: []*pb.Entry_CompactFile{{Path: "x.h", Digest: digest("x1")}}}),
		entry(3, &pb.Entry_UnresolvedSymlink{Path: "pkg/link", TargetPath: "a.go"}),
		// Bazel 7 shape (ids by kind) and the later one (input_ids), nested.
		entry(4, &pb.Entry_InputSet{FileIds: []uint32{1}, DirectoryIds: []uint32{2}}),
		entry(5, &pb.Entry_InputSet{InputIds: []uint32{3}, TransitiveSetIds: []uint32{4}}),
		entry(6, &pb.Entry_CompactFile{Path: "bazel-out/bin/compiler", Digest: digest("c1")}),
		entry(7, &pb.Entry_InputSet{InputIds: []uint32{6}}),
		entry(8, &pb.Entry_RunfilesTree{Path: "bazel-out/bin/compiler.runfiles", InputSetId: 7}),
		entry(9, &pb.Entry_InputSet{InputIds: []uint32{8}, TransitiveSetIds: []uint32{7}}),
		entry(10, &pb.Entry_CompactFile{Path: "bazel-out/bin/pkg/a.a", Digest: digest("o1")}),
		entry(0, &pb.Entry_CompactSpawn{
			Args: []string{"compile"}, EnvVars: []*pb.EnvironmentVariable{{Name: "GOOS", Value: "linux"}},
			InputSetId: 5, ToolSetId: 9, TargetLabel: "//pkg:a", Mnemonic: "GoCompilePkg",
			CacheHit: true, RemoteCacheable: true,
			Outputs: []*pb.Entry_Output{
				{Type: &pb.Entry_Output_OutputId{OutputId: 10}},
				{Type: &pb.Entry_Output_InvalidOutputPath{InvalidOutputPath: "bazel-out/bin/pkg/b.x"}},
			},
		}),
	))
}

func TestReadCompact(t *testing.T) {
	spawns, err := Read(bytes.NewReader(compactSample(t)))
	if err != nil {
		t.Fatal(err)
	}
	if len(spawns) != 1 {
		t.Fatalf("got %d spawns, want 1", len(spawns))
	}
	s := spawns[0]
	want := map[string]string{
		"pkg/a.go":               "a1",
		"bazel-out/bin/gen/x.h":  "x1",
		"pkg/link":               "symlink to a.go",
		"bazel-out/bin/compiler": "c1",
	}
	for path, d := range want {
		if s.Inputs[path] != d {
			t.Errorf("input %s = %q, want %q (inputs %v)", path, s.Inputs[path], d, s.Inputs)
		}
	}
	if s.Inputs["bazel-out/bin/compiler.runfiles"] == "" || len(s.Inputs) != 5 {
		t.Errorf("inputs %v: want the runfiles tree as one input with a digest", s.Inputs)
	}
	if s.Outputs["bazel-out/bin/pkg/a.a"] != "o1" || len(s.Outputs) != 2 || s.Env["GOOS"] != "linux" || !s.CacheHit {
		t.Errorf("spawn %+v", s)
	}
}

func TestReadCompactForwardReference(t *testing.T) {
	log := compressed(t, delimited(t,
		entry(0, &pb.Entry_CompactSpawn{InputSetId: 4, Mnemonic: "Genrule"}),
	))
	_, err := Read(bytes.NewReader(log))
	if err == nil || !strings.Contains(err.Error(), "entry 1: refers to id 4") {
		t.Fatalf("err = %v, want one naming entry 1 and id 4", err)
	}
}

func TestReadEmpty(t *testing.T) {
	spawns, err := Read(bytes.NewReader(nil))
	if err != nil || len(spawns) != 0 {
		t.Fatalf("Read(empty) = %v, %v", spawns, err)
	}
}

// FuzzRead feeds both formats, mutated: Read must return spawns or an error that
// says which format and entry it choked on, never panic.
func FuzzRead(f *testing.F) {
	f.Add(binarySample(f))
	f.Add(compactSample(f))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Read(bytes.NewReader(data))
		if err != nil && !strings.Contains(err.Error(), "execution log") {
			t.Fatalf("error without the log format: %v", err)
		}
	})
}
