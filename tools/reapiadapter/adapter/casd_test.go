package adapter

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"github.com/monoreel/monoreel/libs/testproc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func digestOf(data []byte) *repb.Digest {
	sum := sha256.Sum256(data)
	return &repb.Digest{Hash: hex.EncodeToString(sum[:]), SizeBytes: int64(len(data))}
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func atLeast(a, b int32, minor int32) bool { return a > 2 || (a == 2 && b >= minor) }

// TestCasd runs a real buildbox-casd and the adapter in front of it, and speaks
// to both as Bazel does.
func TestCasd(t *testing.T) {
	_, casdAddr := testproc.StartCasd(t)
	direct := dial(t, casdAddr)
	conn := serve(t, direct, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Capabilities: casd's own are 2.1+, which Bazel >= 9 accepts (it speaks up to
	// 2.11) and Bazel 7 refuses; through the adapter they include 2.0 and are
	// otherwise casd's.
	own, err := repb.NewCapabilitiesClient(direct).GetCapabilities(ctx, &repb.GetCapabilitiesRequest{})
	if err != nil {
		t.Fatalf("GetCapabilities from casd: %v", err)
	}
	low, high := own.GetLowApiVersion(), own.GetHighApiVersion()
	t.Logf("casd advertises REAPI %d.%d to %d.%d", low.GetMajor(), low.GetMinor(), high.GetMajor(), high.GetMinor())
	if !atLeast(low.GetMajor(), low.GetMinor(), 1) {
		t.Errorf("casd's own low_api_version is %v: 2.1 or later expected (the reason for the adapter)", low)
	}
	if low.GetMajor() != 2 || low.GetMinor() > 11 {
		t.Errorf("casd's own low_api_version %v is beyond what Bazel 9 (2.0 to 2.11) accepts", low)
	}
	adapted, err := repb.NewCapabilitiesClient(conn).GetCapabilities(ctx, &repb.GetCapabilitiesRequest{})
	if err != nil {
		t.Fatalf("GetCapabilities through the adapter: %v", err)
	}
	if l := adapted.GetLowApiVersion(); l.GetMajor() != 2 || l.GetMinor() != 0 || l.GetPatch() != 0 {
		t.Errorf("low_api_version through the adapter = %v, want 2.0", l)
	}
	want := proto.Clone(own).(*repb.ServerCapabilities)
	Widen(want)
	if !proto.Equal(adapted, want) {
		t.Errorf("capabilities through the adapter:\n%v\nwant casd's widened:\n%v", adapted, want)
	}
	cc := adapted.GetCacheCapabilities()
	hasSHA256 := false
	for _, f := range cc.GetDigestFunctions() {
		hasSHA256 = hasSHA256 || f == repb.DigestFunction_SHA256
	}
	if !hasSHA256 || !cc.GetActionCacheUpdateCapabilities().GetUpdateEnabled() {
		t.Errorf("casd's cache capabilities through the adapter lack SHA-256 or action cache updates: %v", cc)
	}
	t.Logf("through the adapter: %v", adapted)

	cas := repb.NewContentAddressableStorageClient(conn)

	// A blob larger than one message, written with ByteStream in chunks as Bazel
	// does (uploads/<uuid>/blobs/<hash>/<size>), read back three ways.
	big := make([]byte, 3<<20+17)
	rand.Read(big)
	bigDigest := digestOf(big)
	resource := fmt.Sprintf("uploads/%s/blobs/%s/%d", "2a4b8f5e-7c1d-4e0a-9b3f-000000000001", bigDigest.Hash, bigDigest.SizeBytes)
	const chunk = 16 << 10
	committed, err := byteStreamWrite(ctx, conn, resource, big, chunk)
	if err != nil {
		t.Fatalf("ByteStream.Write: %v", err)
	}
	if committed != int64(len(big)) {
		t.Errorf("ByteStream.Write committed %d bytes, want %d", committed, len(big))
	}

	// A small blob with BatchUpdateBlobs.
	small := []byte("monoreel: a blob through the adapter\n")
	smallDigest := digestOf(small)
	batch, err := cas.BatchUpdateBlobs(ctx, &repb.BatchUpdateBlobsRequest{
		Requests:       []*repb.BatchUpdateBlobsRequest_Request{{Digest: smallDigest, Data: small}},
		DigestFunction: repb.DigestFunction_SHA256,
	})
	if err != nil {
		t.Fatalf("BatchUpdateBlobs: %v", err)
	}
	if c := batch.GetResponses()[0].GetStatus().GetCode(); c != int32(codes.OK) {
		t.Errorf("BatchUpdateBlobs: blob status %v", batch.GetResponses()[0].GetStatus())
	}

	absent := digestOf([]byte("never uploaded"))
	missing, err := cas.FindMissingBlobs(ctx, &repb.FindMissingBlobsRequest{BlobDigests: []*repb.Digest{bigDigest, smallDigest, absent}})
	if err != nil {
		t.Fatalf("FindMissingBlobs: %v", err)
	}
	if m := missing.GetMissingBlobDigests(); len(m) != 1 || m[0].Hash != absent.Hash {
		t.Errorf("FindMissingBlobs = %v, want only the never uploaded %s", m, absent.Hash)
	}

	read, err := cas.BatchReadBlobs(ctx, &repb.BatchReadBlobsRequest{Digests: []*repb.Digest{smallDigest, absent}})
	if err != nil {
		t.Fatalf("BatchReadBlobs: %v", err)
	}
	for _, r := range read.GetResponses() {
		switch r.GetDigest().GetHash() {
		case smallDigest.Hash:
			if !bytes.Equal(r.Data, small) || r.GetStatus().GetCode() != int32(codes.OK) {
				t.Errorf("BatchReadBlobs of the small blob: %v, %q", r.GetStatus(), r.Data)
			}
		case absent.Hash:
			if r.GetStatus().GetCode() != int32(codes.NotFound) {
				t.Errorf("BatchReadBlobs of an absent blob: %v, want NotFound", r.GetStatus())
			}
		}
	}

	got, messages, err := byteStreamRead(ctx, conn, fmt.Sprintf("blobs/%s/%d", bigDigest.Hash, bigDigest.SizeBytes))
	if err != nil {
		t.Fatalf("ByteStream.Read: %v", err)
	}
	if !bytes.Equal(got, big) {
		t.Errorf("ByteStream.Read returned %d bytes, not the %d written", len(got), len(big))
	}
	t.Logf("ByteStream: %d bytes written in %d-byte chunks, read back in %d messages", len(big), chunk, messages)

	// An action result referring to both blobs: put, then get, as Bazel does
	// after running an action and before running one.
	ac := repb.NewActionCacheClient(conn)
	action := digestOf([]byte("an action"))
	if _, err := ac.GetActionResult(ctx, &repb.GetActionResultRequest{ActionDigest: action}); status.Code(err) != codes.NotFound {
		t.Errorf("GetActionResult before any put: %v, want NotFound", err)
	}
	result := &repb.ActionResult{
		OutputFiles: []*repb.OutputFile{
			{Path: "bazel-out/k8-fastbuild/bin/big", Digest: bigDigest, IsExecutable: true},
			{Path: "bazel-out/k8-fastbuild/bin/small", Digest: smallDigest},
		},
		ExitCode:  0,
		StdoutRaw: []byte("done\n"),
	}
	if _, err := ac.UpdateActionResult(ctx, &repb.UpdateActionResultRequest{ActionDigest: action, ActionResult: result}); err != nil {
		t.Fatalf("UpdateActionResult: %v", err)
	}
	back, err := ac.GetActionResult(ctx, &repb.GetActionResultRequest{ActionDigest: action, InlineStdout: true})
	if err != nil {
		t.Fatalf("GetActionResult: %v", err)
	}
	if len(back.OutputFiles) != 2 || !proto.Equal(back.OutputFiles[0].Digest, bigDigest) || !back.OutputFiles[0].IsExecutable ||
		!proto.Equal(back.OutputFiles[1].Digest, smallDigest) || back.ExitCode != 0 {
		t.Errorf("GetActionResult = %v, want what was put: %v", back, result)
	}

	t.Run("output directories", func(t *testing.T) { testOutputDirectory(ctx, t, direct, conn) })
}

// testOutputDirectory stores an action result with an output directory as Bazel
// does (the files and one Tree blob, no Directory blobs): casd alone drops it at
// the first lookup; through the adapter it is served.
func testOutputDirectory(ctx context.Context, t *testing.T, direct, conn *grpc.ClientConn) {
	file := []byte("package a\n")
	fileDigest := digestOf(file)
	directoryDigest := func(d *repb.Directory) *repb.Digest {
		data, err := proto.MarshalOptions{Deterministic: true}.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return digestOf(data)
	}
	b := &repb.Directory{Files: []*repb.FileNode{{Name: "a.a", Digest: fileDigest}}}
	a := &repb.Directory{Directories: []*repb.DirectoryNode{{Name: "b", Digest: directoryDigest(b)}}}
	root := &repb.Directory{Directories: []*repb.DirectoryNode{{Name: "a", Digest: directoryDigest(a)}}}
	treeData, err := proto.Marshal(&repb.Tree{Root: root, Children: []*repb.Directory{a, b}})
	if err != nil {
		t.Fatal(err)
	}
	treeDigest := digestOf(treeData)
	cas := repb.NewContentAddressableStorageClient(direct)
	if _, err := cas.BatchUpdateBlobs(ctx, &repb.BatchUpdateBlobsRequest{Requests: []*repb.BatchUpdateBlobsRequest_Request{
		{Digest: fileDigest, Data: file}, {Digest: treeDigest, Data: treeData},
	}}); err != nil {
		t.Fatal(err)
	}
	result := &repb.ActionResult{OutputDirectories: []*repb.OutputDirectory{{Path: "bazel-out/k8-fastbuild/bin/pkg", TreeDigest: treeDigest}}}

	for _, tc := range []struct {
		name   string
		conn   *grpc.ClientConn
		action *repb.Digest
		want   codes.Code
	}{
		{"casd alone", direct, digestOf([]byte("an action with a directory, straight to casd")), codes.NotFound},
		{"through the adapter", conn, digestOf([]byte("an action with a directory, through the adapter")), codes.OK},
	} {
		ac := repb.NewActionCacheClient(tc.conn)
		if _, err := ac.UpdateActionResult(ctx, &repb.UpdateActionResultRequest{ActionDigest: tc.action, ActionResult: result}); err != nil {
			t.Fatalf("%s: UpdateActionResult: %v", tc.name, err)
		}
		got, err := ac.GetActionResult(ctx, &repb.GetActionResultRequest{ActionDigest: tc.action})
		if status.Code(err) != tc.want {
			t.Errorf("%s: GetActionResult of a result with an output directory: %v, want %v", tc.name, err, tc.want)
		}
		if err == nil && (len(got.OutputDirectories) != 1 || !proto.Equal(got.OutputDirectories[0].TreeDigest, treeDigest)) {
			t.Errorf("%s: GetActionResult = %v, want the output directory put", tc.name, got)
		}
		t.Logf("%s: GetActionResult after UpdateActionResult: %v", tc.name, err)
	}
}
