// Package server is the UploadService over the disk store: it maps the store's
// errors to gRPC codes and turns a PutPart stream into the part's bytes.
package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/monoreel/monoreel/libs/auth"
	"github.com/monoreel/monoreel/libs/coloring"
	"github.com/monoreel/monoreel/libs/grpcerr"
	"github.com/monoreel/monoreel/libs/idpool"
	commonv1 "github.com/monoreel/monoreel/proto/common/v1"
	uploadv1 "github.com/monoreel/monoreel/proto/upload/v1"
	"github.com/monoreel/monoreel/services/upload/internal/store"
)

// Server implements uploadv1.UploadServiceServer.
type Server struct {
	uploadv1.UnimplementedUploadServiceServer
	production, shadow *store.Store
	ids                idpool.Source
}

// New returns a Server storing production uploads in production and shadow
// traffic's (libs/coloring) in shadow, apart: neither sees the other's
// uploads or videos. It names videos with ids.
func New(production, shadow *store.Store, ids idpool.Source) *Server {
	return &Server{production: production, shadow: shadow, ids: ids}
}

// store is the store of the call's traffic: shadow or production.
func (s *Server) store(ctx context.Context) *store.Store {
	return coloring.ForTraffic(ctx, s.production, s.shadow)
}

func (s *Server) Init(ctx context.Context, req *uploadv1.InitRequest) (*uploadv1.InitResponse, error) {
	u, err := s.store(ctx).Init(auth.FromContext(ctx).Name, req.GetName(), req.GetTotalSize(), req.GetPartSize(), req.GetContentType())
	if err != nil {
		return nil, storeErrors.ToStatus(err)
	}
	return &uploadv1.InitResponse{UploadId: u.ID, PartCount: u.PartCount()}, nil
}

func (s *Server) PutPart(stream uploadv1.UploadService_PutPartServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	h := first.GetHeader()
	if h == nil {
		return status.Error(codes.InvalidArgument, "the first message must be the part's header")
	}
	p, already, err := s.putPart(stream.Context(), h.GetUploadId(), h.GetPartNumber(), h.GetMd5(), &chunks{stream: stream})
	if err != nil {
		return err
	}
	return stream.SendAndClose(&uploadv1.PutPartResponse{Part: p, AlreadyStored: already})
}

// MaxUnaryPartSize is the most content UploadPart takes (the API says 4 MiB).
// The server takes messages that large (main's MaxRecvMsgSize): larger parts
// go through PutPart, in chunks.
const MaxUnaryPartSize = 4 << 20

// UploadPart is PutPart in one message, for clients that cannot stream
// (browsers): the same checks, idempotence and errors.
func (s *Server) UploadPart(ctx context.Context, req *uploadv1.UploadPartRequest) (*uploadv1.UploadPartResponse, error) {
	if n := len(req.GetContent()); n > MaxUnaryPartSize {
		return nil, storeErrors.ToStatus(fmt.Errorf("%w: part %d has %d bytes: UploadPart takes at most %d (send larger parts with PutPart)", store.ErrInvalid, req.GetPartNumber(), n, MaxUnaryPartSize))
	}
	p, already, err := s.putPart(ctx, req.GetUploadId(), req.GetPartNumber(), req.GetMd5(), bytes.NewReader(req.GetContent()))
	if err != nil {
		return nil, err
	}
	return &uploadv1.UploadPartResponse{Part: p, AlreadyStored: already}, nil
}

// putPart stores part n of the caller's upload from content: the part, and
// whether the same part was stored already. Errors are statuses.
func (s *Server) putPart(ctx context.Context, uploadID string, n int32, md5 []byte, content io.Reader) (*uploadv1.Part, bool, error) {
	if err := s.mayUse(ctx, uploadID); err != nil {
		return nil, false, err
	}
	p, stored, err := s.store(ctx).PutPart(uploadID, n, md5, content)
	if err != nil {
		return nil, false, storeErrors.ToStatus(err)
	}
	return toPart(p), !stored, nil
}

// chunks reads the chunk messages of a PutPart stream as one byte stream.
type chunks struct {
	stream uploadv1.UploadService_PutPartServer
	buf    []byte
}

func (c *chunks) Read(p []byte) (int, error) {
	for len(c.buf) == 0 {
		msg, err := c.stream.Recv()
		if err != nil {
			return 0, err // io.EOF once the client has sent everything
		}
		if msg.GetHeader() != nil {
			return 0, status.Error(codes.InvalidArgument, "a second header in one PutPart stream")
		}
		c.buf = msg.GetChunk()
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

func (s *Server) ListParts(ctx context.Context, req *uploadv1.ListPartsRequest) (*uploadv1.ListPartsResponse, error) {
	if err := s.mayUse(ctx, req.GetUploadId()); err != nil {
		return nil, err
	}
	u, parts, err := s.store(ctx).ListParts(req.GetUploadId())
	if err != nil {
		return nil, storeErrors.ToStatus(err)
	}
	resp := &uploadv1.ListPartsResponse{PartCount: u.PartCount(), PartSize: u.PartSize, TotalSize: u.TotalSize}
	for _, p := range parts {
		resp.Parts = append(resp.Parts, toPart(p))
	}
	return resp, nil
}

func (s *Server) Complete(ctx context.Context, req *uploadv1.CompleteRequest) (*uploadv1.CompleteResponse, error) {
	if err := s.mayUse(ctx, req.GetUploadId()); err != nil {
		return nil, err
	}
	u, err := s.store(ctx).Complete(req.GetUploadId(), req.GetSha256(), func() (int64, error) { return s.ids.Next(ctx) })
	if err != nil {
		return nil, storeErrors.ToStatus(err)
	}
	return &uploadv1.CompleteResponse{VideoId: &commonv1.VideoId{Value: u.VideoID}, Size: u.TotalSize, Sha256: u.SHA256}, nil
}

func (s *Server) Abort(ctx context.Context, req *uploadv1.AbortRequest) (*uploadv1.AbortResponse, error) {
	if err := s.mayUse(ctx, req.GetUploadId()); err != nil {
		return nil, err
	}
	if err := s.store(ctx).Abort(req.GetUploadId()); err != nil {
		return nil, storeErrors.ToStatus(err)
	}
	return &uploadv1.AbortResponse{}, nil
}

// mayUse refuses a user an upload another user made: each sees only their own.
// Operators may act on any (and on a -plaintext service, which knows no users,
// everybody is anonymous).
func (s *Server) mayUse(ctx context.Context, uploadID string) error {
	caller := auth.FromContext(ctx)
	if caller.Admin {
		return nil
	}
	u, err := s.store(ctx).Get(uploadID)
	if err != nil {
		return storeErrors.ToStatus(err)
	}
	if u.Owner != caller.Name {
		return storeErrors.ToStatus(fmt.Errorf("%w: upload %s is not %s's", errNotYours, uploadID, caller))
	}
	return nil
}

// errNotYours is a user reaching for another's upload.
var errNotYours = errors.New("not your upload")

func toPart(p store.Part) *uploadv1.Part {
	return &uploadv1.Part{Number: p.Number, Size: p.Size, Md5: p.MD5}
}

// storeErrors maps the disk store's errors. A part stream that ends early is
// Aborted: the client sends the part again.
var storeErrors = grpcerr.Mapper{Domain: "monoreel.upload", Rules: []grpcerr.Rule{
	{Err: store.ErrInvalid, Code: codes.InvalidArgument, Reason: "INVALID_REQUEST"},
	{Err: store.ErrConflict, Code: codes.FailedPrecondition, Reason: "UPLOAD_STATE_CONFLICT"},
	{Err: store.ErrNotFound, Code: codes.NotFound, Reason: "UPLOAD_NOT_FOUND"},
	{Err: io.ErrUnexpectedEOF, Code: codes.Aborted, Reason: "PART_CUT_SHORT"},
	{Err: errNotYours, Code: codes.PermissionDenied, Reason: "NOT_YOUR_UPLOAD"},
}}
