package grpccache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// TestFront runs the real chain (nginx with TLS and the token, the adapter, a
// real buildbox-casd) on loopback: a call without the token, or with another,
// is refused with UNAUTHENTICATED and writes nothing; with the token, a blob
// goes in and comes back, and the capabilities are the adapter's (2.0 low).
func TestFront(t *testing.T) {
	c, err := Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	blob := []byte("a blob for the front's test")
	sum := sha256.Sum256(blob)
	digest := &repb.Digest{Hash: hex.EncodeToString(sum[:]), SizeBytes: int64(len(blob))}
	write := &repb.BatchUpdateBlobsRequest{Requests: []*repb.BatchUpdateBlobsRequest_Request{{Digest: digest, Data: blob}}}

	for name, token := range map[string]string{"no token": "", "a wrong token": "not-" + c.Token} {
		conn, err := c.Dial(token)
		if err != nil {
			t.Fatal(err)
		}
		_, err = repb.NewContentAddressableStorageClient(conn).BatchUpdateBlobs(ctx, write)
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("BatchUpdateBlobs with %s: %v, want Unauthenticated", name, err)
		}
		t.Logf("with %s: %v", name, err)
		_, err = repb.NewCapabilitiesClient(conn).GetCapabilities(ctx, &repb.GetCapabilitiesRequest{})
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("GetCapabilities with %s: %v, want Unauthenticated", name, err)
		}
		conn.Close()
	}
	// The plaintext listener checks the same token.
	plain, err := grpc.NewClient(strings.TrimPrefix(c.PlainEndpoint, "grpc://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	_, err = repb.NewContentAddressableStorageClient(plain).BatchUpdateBlobs(ctx, write)
	plain.Close()
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("BatchUpdateBlobs without a token on the plaintext listener: %v, want Unauthenticated", err)
	}
	if n := waitWrites(c, 3); n != 3 {
		t.Errorf("Writes() = %d after three refused writes, want 3 (attempts count)", n)
	}

	conn, err := c.Dial(c.Token)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cas := repb.NewContentAddressableStorageClient(conn)
	missing, err := cas.FindMissingBlobs(ctx, &repb.FindMissingBlobsRequest{BlobDigests: []*repb.Digest{digest}})
	if err != nil || len(missing.GetMissingBlobDigests()) != 1 {
		t.Fatalf("FindMissingBlobs before the write: %v, %v; want the blob missing (the refused writes wrote nothing)", missing, err)
	}
	resp, err := cas.BatchUpdateBlobs(ctx, write)
	if err != nil || codes.Code(resp.GetResponses()[0].GetStatus().GetCode()) != codes.OK {
		t.Fatalf("BatchUpdateBlobs with the token: %v, %v", resp, err)
	}
	read, err := cas.BatchReadBlobs(ctx, &repb.BatchReadBlobsRequest{Digests: []*repb.Digest{digest}})
	if err != nil || !bytes.Equal(read.GetResponses()[0].GetData(), blob) {
		t.Fatalf("BatchReadBlobs with the token: %v, %v; want the blob back", read, err)
	}
	caps, err := repb.NewCapabilitiesClient(conn).GetCapabilities(ctx, &repb.GetCapabilitiesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if low := caps.GetLowApiVersion(); low.GetMajor() != 2 || low.GetMinor() != 0 {
		t.Errorf("low_api_version through the front = %v, want the adapter's 2.0", low)
	}
	if n := waitWrites(c, 4); n != 4 {
		t.Errorf("Writes() = %d, want 4", n)
	}

	// casd dies behind the front: calls fail; restarted, they go through again.
	c.StopCasd()
	short, cancelShort := context.WithTimeout(ctx, 5*time.Second)
	_, err = cas.FindMissingBlobs(short, &repb.FindMissingBlobsRequest{BlobDigests: []*repb.Digest{digest}})
	cancelShort()
	if err == nil {
		t.Error("FindMissingBlobs succeeded with casd dead")
	}
	if err := c.StartCasd(); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReady(); err != nil {
		t.Fatal(err)
	}
}

// waitWrites waits up to 10 s for Writes to reach want: nginx writes the access
// log line after the response.
func waitWrites(c *Cache, want int) int {
	n := c.Writes()
	for deadline := time.Now().Add(10 * time.Second); n != want && time.Now().Before(deadline); n = c.Writes() {
		time.Sleep(20 * time.Millisecond)
	}
	return n
}
