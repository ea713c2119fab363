package adapter

import (
	"context"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"github.com/monoreel/monoreel/libs/testproc"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// TestCasdExecute runs a real buildbox-casd with its Execution service and
// buildbox-run-bubblewrap, and executes actions through the adapter: a REAPI
// 2.0-only Command, and one as Bazel 7 sends it (2.0's output fields and 2.1's
// output_paths, an empty platform on the Command). The action must see its input
// root as / and of the host only the read-only /usr binds, and its outputs must
// come back in the ActionResult.
func TestCasdExecute(t *testing.T) {
	runner := testproc.Binary(t, "buildbox-run-bubblewrap", "buildbox")
	_, casdAddr := testproc.StartCasd(t, testproc.CasdExecutorArgs(runner, 1)...)
	conn := serve(t, dial(t, casdAddr), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	caps, err := repb.NewCapabilitiesClient(conn).GetCapabilities(ctx, &repb.GetCapabilitiesRequest{})
	if err != nil {
		t.Fatalf("GetCapabilities: %v", err)
	}
	if !caps.GetExecutionCapabilities().GetExecEnabled() {
		t.Fatalf("execution capabilities through the adapter: %v, want exec_enabled (casd has a runner)", caps.GetExecutionCapabilities())
	}

	cas := repb.NewContentAddressableStorageClient(conn)
	input := []byte("an input of the action\n")
	script := `cat in.txt > out/copy.txt && mkdir -p out/tree && echo leaf > out/tree/leaf.txt && ls -a / > out/root.txt && ` +
		`{ touch /usr/written 2>/dev/null && echo writable || echo read-only; } > out/usr.txt`
	command := &repb.Command{
		Arguments:            []string{"/bin/sh", "-c", script},
		EnvironmentVariables: []*repb.Command_EnvironmentVariable{{Name: "PATH", Value: "/bin:/usr/bin"}},
		OutputFiles:          []string{"out/copy.txt", "out/root.txt", "out/usr.txt"},
		OutputDirectories:    []string{"out/tree"},
		Platform:             &repb.Platform{},
	}
	inputs := &repb.Directory{Files: []*repb.FileNode{{Name: "in.txt", Digest: digestOf(input)}}}

	// A REAPI 2.0 client names its outputs in output_files and
	// output_directories only. casd 1.4.16 reads output_paths (2.1) alone: it
	// runs the action (out/ given in the input root, as casd does not make it)
	// and captures no output.
	empty := marshal(t, &repb.Directory{})
	withOut := &repb.Directory{Files: inputs.Files, Directories: []*repb.DirectoryNode{{Name: "out", Digest: digestOf(empty)}}}
	resp, result := execute(ctx, t, conn, withOut, empty, command, input)
	if resp.GetStatus().GetCode() != 0 || result.GetExitCode() != 0 || len(result.GetOutputFiles())+len(result.GetOutputDirectories()) != 0 {
		t.Errorf("a 2.0-only Command: status %v, exit code %d, %d output files, %d output directories; want casd 1.4.16 to run it and capture nothing",
			resp.GetStatus(), result.GetExitCode(), len(result.GetOutputFiles()), len(result.GetOutputDirectories()))
	}

	// Bazel 7.7.1 fills output_files, output_directories and output_paths (seen
	// in the Command blobs of a build), whatever the server's version: casd
	// creates the outputs' parents and captures them.
	command.OutputPaths = []string{"out/copy.txt", "out/root.txt", "out/tree", "out/usr.txt"}
	resp, result = execute(ctx, t, conn, inputs, nil, command, input)
	if resp.GetStatus().GetCode() != 0 || result.GetExitCode() != 0 {
		stderr := readBlob(ctx, t, cas, result.GetStderrDigest())
		t.Fatalf("the action failed: status %v, exit code %d, stderr %q", resp.GetStatus(), result.GetExitCode(), stderr)
	}
	files := map[string]string{}
	for _, f := range result.GetOutputFiles() {
		files[f.GetPath()] = string(readBlob(ctx, t, cas, f.GetDigest()))
	}
	if files["out/copy.txt"] != string(input) {
		t.Errorf("out/copy.txt = %q, want the input %q", files["out/copy.txt"], input)
	}
	// The input root is /: the action sees its inputs, the directories bwrap
	// makes (/proc, /dev, /tmp) and the /usr binds, and nothing else of the host
	// (no /etc, /root, /home, /var).
	var entries []string
	for _, e := range strings.Fields(files["out/root.txt"]) {
		if e != "." && e != ".." {
			entries = append(entries, e)
		}
	}
	sort.Strings(entries)
	if got, want := strings.Join(entries, " "), "bin dev etc in.txt lib lib64 out proc tmp usr"; got != want {
		t.Errorf("the action's / holds %q, want %q", got, want)
	}
	if got := strings.TrimSpace(files["out/usr.txt"]); got != "read-only" {
		t.Errorf("/usr in the action is %q, want read-only", got)
	}
	if dirs := result.GetOutputDirectories(); len(dirs) != 1 || dirs[0].GetPath() != "out/tree" {
		t.Fatalf("output directories = %v, want out/tree", dirs)
	}
	tree := &repb.Tree{}
	if err := proto.Unmarshal(readBlob(ctx, t, cas, result.GetOutputDirectories()[0].GetTreeDigest()), tree); err != nil {
		t.Fatal(err)
	}
	if f := tree.GetRoot().GetFiles(); len(f) != 1 || f[0].GetName() != "leaf.txt" || string(readBlob(ctx, t, cas, f[0].GetDigest())) != "leaf\n" {
		t.Errorf("out/tree = %v, want leaf.txt holding \"leaf\\n\"", tree.GetRoot())
	}
}

// TestCasdExecuteInActionDir executes an action through an adapter that moves
// actions down (Options.ActionDir), against a real buildbox-casd and
// buildbox-run-bubblewrap: the action runs in /_main with its inputs there, its
// outputs come back under the paths it named, and the result is cached under
// the client's action digest too, where Bazel looks before it executes.
func TestCasdExecuteInActionDir(t *testing.T) {
	runner := testproc.Binary(t, "buildbox-run-bubblewrap", "buildbox")
	_, casdAddr := testproc.StartCasd(t, testproc.CasdExecutorArgs(runner, 1)...)
	conn := serve(t, dial(t, casdAddr), Options{ActionDir: "_main"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	input := []byte("an input of the action\n")
	command := &repb.Command{
		Arguments:            []string{"/bin/sh", "-c", `cat in.txt > out/copy.txt && pwd > out/pwd.txt && ls / > out/root.txt`},
		EnvironmentVariables: []*repb.Command_EnvironmentVariable{{Name: "PATH", Value: "/bin:/usr/bin"}},
		OutputFiles:          []string{"out/copy.txt", "out/pwd.txt", "out/root.txt"},
		OutputPaths:          []string{"out/copy.txt", "out/pwd.txt", "out/root.txt"},
		Platform:             &repb.Platform{},
	}
	inputs := &repb.Directory{Files: []*repb.FileNode{{Name: "in.txt", Digest: digestOf(input)}}}
	e := executeAction(ctx, t, conn, inputs, nil, command, true, input)
	cas := repb.NewContentAddressableStorageClient(conn)
	result := e.response.GetResult()
	if e.response.GetStatus().GetCode() != 0 || result.GetExitCode() != 0 {
		t.Fatalf("the action failed: status %v, exit code %d, stderr %q", e.response.GetStatus(), result.GetExitCode(), readBlob(ctx, t, cas, result.GetStderrDigest()))
	}
	files := map[string]string{}
	for _, f := range result.GetOutputFiles() {
		files[f.GetPath()] = string(readBlob(ctx, t, cas, f.GetDigest()))
	}
	if files["out/copy.txt"] != string(input) {
		t.Errorf("out/copy.txt = %q, want the input %q (outputs: %v)", files["out/copy.txt"], input, result.GetOutputFiles())
	}
	if got := strings.TrimSpace(files["out/pwd.txt"]); got != "/_main" {
		t.Errorf("the action ran in %q, want /_main", got)
	}
	if got := strings.Join(strings.Fields(files["out/root.txt"]), " "); got != "_main bin dev etc lib lib64 proc tmp usr" {
		t.Errorf("the action's / holds %q, want its input root as _main beside the runner's directories", got)
	}
	// casd 1.4.16 sends no ExecuteOperationMetadata; a backend that does must
	// not show the moved action.
	if got := e.metadata.GetActionDigest(); got != nil && !proto.Equal(got, e.action) {
		t.Errorf("the operation's metadata names action %v, want the client's %v", got, e.action)
	}
	cached, err := repb.NewActionCacheClient(conn).GetActionResult(ctx, &repb.GetActionResultRequest{ActionDigest: e.action})
	if err != nil {
		t.Fatalf("GetActionResult of the client's action: %v, want the result the adapter stored", err)
	}
	if len(cached.GetOutputFiles()) != len(result.GetOutputFiles()) {
		t.Fatalf("cached output files %v, want the executed ones %v", cached.GetOutputFiles(), result.GetOutputFiles())
	}
	for i, f := range cached.GetOutputFiles() {
		if !proto.Equal(f, result.GetOutputFiles()[i]) {
			t.Errorf("cached output file %v, want the executed %v", f, result.GetOutputFiles()[i])
		}
	}
}

// TestMoveDown checks the moved command and root: the old root as one
// directory, the working directory inside it, the rest of the command as it was.
func TestMoveDown(t *testing.T) {
	root := &repb.Digest{Hash: strings.Repeat("a", 64), SizeBytes: 10}
	command := &repb.Command{Arguments: []string{"true"}, OutputPaths: []string{"out"}, WorkingDirectory: "sub"}
	moved, dir := MoveDown("_main", command, root)
	if moved.GetWorkingDirectory() != "_main/sub" {
		t.Errorf("working directory %q, want _main/sub", moved.GetWorkingDirectory())
	}
	if command.GetWorkingDirectory() != "sub" {
		t.Errorf("MoveDown changed the command it was given: working directory %q", command.GetWorkingDirectory())
	}
	moved.WorkingDirectory = command.WorkingDirectory
	if !proto.Equal(moved, command) {
		t.Errorf("moved command %v, want %v but for the working directory", moved, command)
	}
	want := &repb.Directory{Directories: []*repb.DirectoryNode{{Name: "_main", Digest: root}}}
	if !proto.Equal(dir, want) {
		t.Errorf("moved root %v, want %v", dir, want)
	}
	if moved, _ := MoveDown("_main", &repb.Command{}, root); moved.GetWorkingDirectory() != "_main" {
		t.Errorf("a command without a working directory moves to %q, want _main", moved.GetWorkingDirectory())
	}
}

// execute uploads the action (its input root, blobs, command) and executes it
// through conn, skipping the cache, and returns the response and its result.
func execute(ctx context.Context, t *testing.T, conn grpc.ClientConnInterface, root *repb.Directory, subdir []byte, command *repb.Command, blobs ...[]byte) (*repb.ExecuteResponse, *repb.ActionResult) {
	t.Helper()
	e := executeAction(ctx, t, conn, root, subdir, command, false, blobs...)
	return e.response, e.response.GetResult()
}

// executed is what executeAction reports of an action it executed.
type executed struct {
	action   *repb.Digest                   // the action's digest
	metadata *repb.ExecuteOperationMetadata // the last the operations carried
	response *repb.ExecuteResponse
}

// executeAction uploads the action (its input root, blobs, command) and
// executes it through conn, skipping the cache lookup, and returns what the
// last operation said. The backend may cache its result only if cache is set.
func executeAction(ctx context.Context, t *testing.T, conn grpc.ClientConnInterface, root *repb.Directory, subdir []byte, command *repb.Command, cache bool, blobs ...[]byte) executed {
	t.Helper()
	rootBlob, commandBlob := marshal(t, root), marshal(t, command)
	action := marshal(t, &repb.Action{CommandDigest: digestOf(commandBlob), InputRootDigest: digestOf(rootBlob), DoNotCache: !cache})
	blobs = append(blobs, rootBlob, commandBlob, action)
	if subdir != nil {
		blobs = append(blobs, subdir)
	}
	var uploads []*repb.BatchUpdateBlobsRequest_Request
	for _, blob := range blobs {
		uploads = append(uploads, &repb.BatchUpdateBlobsRequest_Request{Digest: digestOf(blob), Data: blob})
	}
	if _, err := repb.NewContentAddressableStorageClient(conn).BatchUpdateBlobs(ctx, &repb.BatchUpdateBlobsRequest{Requests: uploads}); err != nil {
		t.Fatalf("BatchUpdateBlobs: %v", err)
	}
	stream, err := repb.NewExecutionClient(conn).Execute(ctx, &repb.ExecuteRequest{ActionDigest: digestOf(action), SkipCacheLookup: true})
	metadata := &repb.ExecuteOperationMetadata{} // the last an operation carried
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	for {
		op, err := stream.Recv()
		if err == io.EOF {
			t.Fatal("Execute's stream ended before the operation was done")
		}
		if err != nil {
			t.Fatalf("Execute: %v", err)
		}
		if op.GetMetadata() != nil {
			if err := op.GetMetadata().UnmarshalTo(metadata); err != nil {
				t.Fatalf("Execute's metadata: %v", err)
			}
		}
		if !op.GetDone() {
			continue
		}
		if op.GetError() != nil {
			t.Fatalf("Execute's operation failed: %v", op.GetError())
		}
		e := executed{action: digestOf(action), metadata: metadata, response: &repb.ExecuteResponse{}}
		if err := op.GetResponse().UnmarshalTo(e.response); err != nil {
			t.Fatalf("Execute's response: %v", err)
		}
		return e
	}
}

// marshal encodes m as casd computes digests: deterministic, fields in order.
func marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func readBlob(ctx context.Context, t *testing.T, cas repb.ContentAddressableStorageClient, d *repb.Digest) []byte {
	t.Helper()
	if d == nil || d.GetSizeBytes() == 0 {
		return nil
	}
	resp, err := cas.BatchReadBlobs(ctx, &repb.BatchReadBlobsRequest{Digests: []*repb.Digest{d}})
	if err != nil {
		t.Fatalf("BatchReadBlobs %s: %v", d.GetHash(), err)
	}
	r := resp.GetResponses()[0]
	if r.GetStatus().GetCode() != 0 {
		t.Fatalf("BatchReadBlobs %s: %v", d.GetHash(), r.GetStatus())
	}
	return r.GetData()
}
