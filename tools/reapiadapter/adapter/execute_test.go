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
	conn := serve(t, dial(t, casdAddr))
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
	if got, want := strings.Join(entries, " "), "bin dev in.txt lib lib64 out proc tmp usr"; got != want {
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

// execute uploads the action (its input root, blobs, command) and executes it
// through conn, skipping the cache, and returns the response and its result.
func execute(ctx context.Context, t *testing.T, conn grpc.ClientConnInterface, root *repb.Directory, subdir []byte, command *repb.Command, blobs ...[]byte) (*repb.ExecuteResponse, *repb.ActionResult) {
	t.Helper()
	rootBlob, commandBlob := marshal(t, root), marshal(t, command)
	action := marshal(t, &repb.Action{CommandDigest: digestOf(commandBlob), InputRootDigest: digestOf(rootBlob), DoNotCache: true})
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
		if !op.GetDone() {
			continue
		}
		if op.GetError() != nil {
			t.Fatalf("Execute's operation failed: %v", op.GetError())
		}
		resp := &repb.ExecuteResponse{}
		if err := op.GetResponse().UnmarshalTo(resp); err != nil {
			t.Fatalf("Execute's response: %v", err)
		}
		return resp, resp.GetResult()
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
