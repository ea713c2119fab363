// Package client uploads files to the upload service: in parts, several at a
// time, and resumably: an upload that stops half-way (a network failure, a
// killed process) is resumed by its id, sending only the parts the service does
// not have yet.
package client

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	uploadv1 "github.com/monoreel/monoreel/proto/upload/v1"
)

// Options shape an upload.
type Options struct {
	// PartSize is the size of every part but the last (8 MiB by default).
	PartSize int64
	// Parallel is how many parts are sent at once (4 by default).
	Parallel int
	// ContentType is the file's MIME type ("video/mp4" by default).
	ContentType string
	// ChunkSize is the size of the messages a part is streamed in (256 KiB).
	ChunkSize int
	// ResumeID continues the upload with this id instead of starting one.
	ResumeID string
	// OnPart, if set, is called after each part the service accepts.
	OnPart func(number int32, alreadyStored bool)
}

// Client uploads through an UploadServiceClient.
type Client struct {
	svc uploadv1.UploadServiceClient
}

// New returns a Client on conn.
func New(conn grpc.ClientConnInterface) *Client {
	return &Client{svc: uploadv1.NewUploadServiceClient(conn)}
}

// Result is a completed upload.
type Result struct {
	UploadID string
	VideoID  int64
	Sent     int // parts sent by this call (the others were already stored)
}

// InterruptedError is an upload that stopped; resume it with Options.ResumeID.
type InterruptedError struct {
	UploadID string
	Err      error
}

func (e *InterruptedError) Error() string {
	return fmt.Sprintf("upload %s interrupted (resume it with its id): %v", e.UploadID, e.Err)
}

func (e *InterruptedError) Unwrap() error { return e.Err }

// Upload sends the file at path and completes it. A failure after the upload
// has an id is an *InterruptedError carrying it.
func (c *Client) Upload(ctx context.Context, path string, opts Options) (Result, error) {
	opts = withDefaults(opts)
	f, err := os.Open(path)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return Result{}, err
	}

	id, stored, err := c.start(ctx, filepath.Base(path), info.Size(), opts)
	if err != nil {
		return Result{}, err
	}
	fail := func(err error) (Result, error) { return Result{}, &InterruptedError{UploadID: id, Err: err} }
	count := int32((info.Size() + opts.PartSize - 1) / opts.PartSize)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Parallel)
	var mu sync.Mutex
	sent := 0
	for n := int32(1); n <= count; n++ {
		if stored[n] != nil {
			continue
		}
		g.Go(func() error {
			already, err := c.putPart(gctx, f, id, n, opts)
			if err != nil {
				return fmt.Errorf("part %d: %w", n, err)
			}
			mu.Lock()
			sent++
			mu.Unlock()
			if opts.OnPart != nil {
				opts.OnPart(n, already)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return fail(err)
	}
	sum, err := fileSHA256(f)
	if err != nil {
		return fail(err)
	}
	resp, err := c.svc.Complete(ctx, &uploadv1.CompleteRequest{UploadId: id, Sha256: sum})
	if err != nil {
		return fail(err)
	}
	return Result{UploadID: id, VideoID: resp.GetVideoId().GetValue(), Sent: sent}, nil
}

// start begins the upload, or finds out what a resumed one already holds.
func (c *Client) start(ctx context.Context, name string, size int64, opts Options) (string, map[int32]*uploadv1.Part, error) {
	stored := map[int32]*uploadv1.Part{}
	if opts.ResumeID == "" {
		resp, err := c.svc.Init(ctx, &uploadv1.InitRequest{Name: name, TotalSize: size, PartSize: opts.PartSize, ContentType: opts.ContentType})
		if err != nil {
			return "", nil, err
		}
		return resp.GetUploadId(), stored, nil
	}
	resp, err := c.svc.ListParts(ctx, &uploadv1.ListPartsRequest{UploadId: opts.ResumeID})
	if err != nil {
		return "", nil, err
	}
	if resp.GetTotalSize() != size || resp.GetPartSize() != opts.PartSize {
		return "", nil, fmt.Errorf("upload %s is of %d bytes in parts of %d, not this file (%d bytes, parts of %d)",
			opts.ResumeID, resp.GetTotalSize(), resp.GetPartSize(), size, opts.PartSize)
	}
	for _, p := range resp.GetParts() {
		stored[p.GetNumber()] = p
	}
	return opts.ResumeID, stored, nil
}

// putPart streams part n of f.
func (c *Client) putPart(ctx context.Context, f *os.File, id string, n int32, opts Options) (bool, error) {
	info, err := f.Stat()
	if err != nil {
		return false, err
	}
	offset := int64(n-1) * opts.PartSize
	size := min(opts.PartSize, info.Size()-offset)
	h := md5.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, offset, size)); err != nil {
		return false, err
	}
	stream, err := c.svc.PutPart(ctx)
	if err != nil {
		return false, err
	}
	if err := stream.Send(&uploadv1.PutPartRequest{Content: &uploadv1.PutPartRequest_Header{Header: &uploadv1.PartHeader{
		UploadId: id, PartNumber: n, Md5: h.Sum(nil),
	}}}); err != nil {
		return false, streamErr(stream, err)
	}
	section := io.NewSectionReader(f, offset, size)
	buf := make([]byte, opts.ChunkSize)
	for {
		k, err := section.Read(buf)
		if k > 0 {
			if err := stream.Send(&uploadv1.PutPartRequest{Content: &uploadv1.PutPartRequest_Chunk{Chunk: buf[:k]}}); err != nil {
				return false, streamErr(stream, err)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return false, err
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return false, err
	}
	return resp.GetAlreadyStored(), nil
}

// streamErr returns the server's reason when a Send fails because it ended the
// stream (Send itself only says io.EOF).
func streamErr(stream uploadv1.UploadService_PutPartClient, err error) error {
	if errors.Is(err, io.EOF) {
		if _, recvErr := stream.CloseAndRecv(); recvErr != nil {
			return recvErr
		}
	}
	return err
}

func fileSHA256(f *os.File) ([]byte, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, 1<<62)); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

func withDefaults(o Options) Options {
	if o.PartSize <= 0 {
		o.PartSize = 8 << 20
	}
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.ContentType == "" {
		o.ContentType = "video/mp4"
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = 256 << 10
	}
	return o
}
