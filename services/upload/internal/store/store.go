// Package store keeps resumable uploads on local disk. Every write is a
// temporary file, fsynced and renamed into place, so an upload's state survives
// a crash or restart at any point, and a part, once stored, is never overwritten
// or lost because of a bad request.
//
// Layout under the root directory:
//
//	uploads/<id>/upload.json     the Init parameters (and, once done, the video id)
//	uploads/<id>/<n>.part        part n's bytes
//	uploads/<id>/<n>.json        part n's size and MD5
//	videos/<video id>            completed files
package store

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/monoreel/monoreel/libs/atomicfile"
)

// Kinds of errors, for the gRPC layer to map to codes. Every error wraps one and
// names what is wrong (the part, the sizes, the digests).
var (
	ErrNotFound = errors.New("not found")           // no such upload
	ErrInvalid  = errors.New("invalid argument")    // the request itself is wrong
	ErrConflict = errors.New("failed precondition") // the request does not fit the upload's state
)

// Limits on an upload's shape.
const (
	MinPartSize = 1 << 10
	MaxPartSize = 1 << 30
	MaxParts    = 10000
)

// Upload is an upload's parameters and outcome.
type Upload struct {
	ID          string    `json:"id"`
	Owner       string    `json:"owner,omitempty"` // the user who made it; empty on a -plaintext service
	Name        string    `json:"name"`
	TotalSize   int64     `json:"total_size"`
	PartSize    int64     `json:"part_size"`
	ContentType string    `json:"content_type"`
	Created     time.Time `json:"created"`
	// Set by a successful Complete.
	VideoID int64  `json:"video_id,omitempty"`
	SHA256  []byte `json:"sha256,omitempty"`
}

// PartCount is how many parts the upload has.
func (u Upload) PartCount() int32 { return int32((u.TotalSize + u.PartSize - 1) / u.PartSize) }

// PartSizeOf is the size part n must have: PartSize, or the remainder for the last.
func (u Upload) PartSizeOf(n int32) int64 {
	if n == u.PartCount() {
		return u.TotalSize - int64(n-1)*u.PartSize
	}
	return u.PartSize
}

// Part is a stored part.
type Part struct {
	Number int32  `json:"number"`
	Size   int64  `json:"size"`
	MD5    []byte `json:"md5"`
}

// Store is the uploads under one directory.
type Store struct {
	root  string
	locks sync.Map // upload id -> *sync.Mutex, for Complete and Abort against parts
}

// Open returns the store rooted at dir, creating it.
func Open(dir string) (*Store, error) {
	for _, d := range []string{"uploads", "videos"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	return &Store{root: dir}, nil
}

func (s *Store) dir(id string) string { return filepath.Join(s.root, "uploads", id) }

// VideoPath is where a completed video's file is.
func (s *Store) VideoPath(videoID int64) string {
	return filepath.Join(s.root, "videos", strconv.FormatInt(videoID, 10))
}

// OwnerPath is the file naming the user who uploaded a video, next to the video
// (<video path>.owner): the orchestrator reads it to let only them publish it.
func OwnerPath(videoPath string) string { return videoPath + ".owner" }

func (s *Store) lock(id string) *sync.Mutex {
	m, _ := s.locks.LoadOrStore(id, &sync.Mutex{})
	return m.(*sync.Mutex)
}

// Init starts an upload.
func (s *Store) Init(owner, name string, totalSize, partSize int64, contentType string) (Upload, error) {
	switch {
	case name == "":
		return Upload{}, fmt.Errorf("%w: name is empty", ErrInvalid)
	case contentType == "":
		return Upload{}, fmt.Errorf("%w: content_type is empty", ErrInvalid)
	case totalSize <= 0:
		return Upload{}, fmt.Errorf("%w: total_size %d: must be positive", ErrInvalid, totalSize)
	case partSize < MinPartSize || partSize > MaxPartSize:
		return Upload{}, fmt.Errorf("%w: part_size %d: must be %d to %d bytes", ErrInvalid, partSize, MinPartSize, MaxPartSize)
	}
	u := Upload{Owner: owner, Name: name, TotalSize: totalSize, PartSize: partSize, ContentType: contentType, Created: time.Now().UTC()}
	if n := (totalSize + partSize - 1) / partSize; n > MaxParts {
		return Upload{}, fmt.Errorf("%w: %d parts of %d bytes: at most %d parts, use bigger parts", ErrInvalid, n, partSize, MaxParts)
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return Upload{}, err
	}
	u.ID = hex.EncodeToString(id[:])
	if err := os.Mkdir(s.dir(u.ID), 0o755); err != nil {
		return Upload{}, err
	}
	return u, s.save(u)
}

func (s *Store) save(u Upload) error {
	data, err := json.Marshal(u)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(s.dir(u.ID), "upload.json"), data, 0o644)
}

// Get returns an upload.
func (s *Store) Get(id string) (Upload, error) {
	if !validID(id) {
		return Upload{}, fmt.Errorf("%w: upload id %q is malformed", ErrInvalid, id)
	}
	data, err := os.ReadFile(filepath.Join(s.dir(id), "upload.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return Upload{}, fmt.Errorf("%w: upload %s", ErrNotFound, id)
	}
	if err != nil {
		return Upload{}, err
	}
	var u Upload
	if err := json.Unmarshal(data, &u); err != nil {
		return Upload{}, fmt.Errorf("upload %s: damaged state: %w", id, err)
	}
	return u, nil
}

// validID keeps ids to what Init makes: they become directory names.
func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

// PutPart stores part n of an upload from r, which must hold exactly the part's
// size with the given MD5. The same part sent again is accepted (stored reports
// false); a different one for a stored number is refused. A refused part leaves
// the upload as it was.
func (s *Store) PutPart(id string, n int32, wantMD5 []byte, r io.Reader) (p Part, stored bool, err error) {
	u, err := s.Get(id)
	if err != nil {
		return Part{}, false, err
	}
	switch {
	case u.VideoID != 0:
		return Part{}, false, fmt.Errorf("%w: upload %s is already complete", ErrConflict, id)
	case n < 1 || n > u.PartCount():
		return Part{}, false, fmt.Errorf("%w: part %d is out of range: this upload has parts 1 to %d", ErrInvalid, n, u.PartCount())
	case len(wantMD5) != md5.Size:
		return Part{}, false, fmt.Errorf("%w: part %d: md5 is %d bytes, want %d", ErrInvalid, n, len(wantMD5), md5.Size)
	}
	size := u.PartSizeOf(n)
	f, err := atomicfile.Create(s.partPath(id, n), 0o644)
	if err != nil {
		return Part{}, false, fmt.Errorf("%w: upload %s: %v", ErrNotFound, id, err)
	}
	h := md5.New()
	// One byte more than the part may have, to tell "too long" from "exactly right".
	got, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, size+1))
	if err != nil {
		f.Abort()
		return Part{}, false, fmt.Errorf("part %d: receiving: %w", n, err)
	}
	if got != size {
		f.Abort()
		if got > size {
			return Part{}, false, fmt.Errorf("%w: part %d is longer than its %d bytes", ErrInvalid, n, size)
		}
		return Part{}, false, fmt.Errorf("%w: part %d has %d bytes, want %d", ErrInvalid, n, got, size)
	}
	if sum := h.Sum(nil); !bytes.Equal(sum, wantMD5) {
		f.Abort()
		return Part{}, false, fmt.Errorf("%w: part %d: MD5 mismatch: received %x, declared %x", ErrInvalid, n, sum, wantMD5)
	}
	p = Part{Number: n, Size: size, MD5: wantMD5}

	// Parts of one upload are stored one at a time, so that the check for an
	// existing part and the rename that stores this one cannot interleave.
	mu := s.lock(id)
	mu.Lock()
	defer mu.Unlock()
	if _, err := s.Get(id); err != nil { // aborted meanwhile
		f.Abort()
		return Part{}, false, err
	}
	if old, ok, err := s.part(id, n); err != nil {
		f.Abort()
		return Part{}, false, err
	} else if ok {
		f.Abort()
		if !bytes.Equal(old.MD5, p.MD5) {
			return Part{}, false, fmt.Errorf("%w: part %d is already stored with MD5 %x; this one has %x (abort the upload to start over)", ErrConflict, n, old.MD5, p.MD5)
		}
		return old, false, nil
	}
	// The data first, then its record: a part counts as stored once its record is.
	if err := f.Commit(); err != nil {
		return Part{}, false, err
	}
	data, _ := json.Marshal(p)
	if err := atomicfile.Write(s.partRecord(id, n), data, 0o644); err != nil {
		return Part{}, false, err
	}
	return p, true, nil
}

func (s *Store) partPath(id string, n int32) string {
	return filepath.Join(s.dir(id), fmt.Sprintf("%d.part", n))
}

func (s *Store) partRecord(id string, n int32) string {
	return filepath.Join(s.dir(id), fmt.Sprintf("%d.json", n))
}

func (s *Store) part(id string, n int32) (Part, bool, error) {
	data, err := os.ReadFile(s.partRecord(id, n))
	if errors.Is(err, fs.ErrNotExist) {
		return Part{}, false, nil
	}
	if err != nil {
		return Part{}, false, err
	}
	var p Part
	if err := json.Unmarshal(data, &p); err != nil {
		return Part{}, false, fmt.Errorf("part %d: damaged record: %w", n, err)
	}
	return p, true, nil
}

// ListParts returns the stored parts in number order.
func (s *Store) ListParts(id string) (Upload, []Part, error) {
	u, err := s.Get(id)
	if err != nil {
		return Upload{}, nil, err
	}
	records, err := filepath.Glob(filepath.Join(s.dir(id), "*.json"))
	if err != nil {
		return Upload{}, nil, err
	}
	var parts []Part
	for _, r := range records {
		n, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(r), ".json"), 10, 32)
		if err != nil {
			continue // upload.json
		}
		p, ok, err := s.part(id, int32(n))
		if err != nil {
			return Upload{}, nil, err
		}
		if ok {
			parts = append(parts, p)
		}
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Number < parts[j].Number })
	return u, parts, nil
}

// Complete assembles the parts in order into the video file, checking the total
// size and the whole file's SHA-256, and records videoID. It refuses, naming what
// is wrong, when parts are missing or the digest differs; the parts stay, so the
// client can fix what it sent. Completing again returns the same upload.
func (s *Store) Complete(id string, wantSHA256 []byte, videoID func() (int64, error)) (Upload, error) {
	mu := s.lock(id)
	mu.Lock()
	defer mu.Unlock()
	u, parts, err := s.ListParts(id)
	if err != nil {
		return Upload{}, err
	}
	if u.VideoID != 0 {
		if !bytes.Equal(u.SHA256, wantSHA256) {
			return Upload{}, fmt.Errorf("%w: upload %s was completed with SHA-256 %x, not %x", ErrConflict, id, u.SHA256, wantSHA256)
		}
		return u, nil
	}
	if len(wantSHA256) != sha256.Size {
		return Upload{}, fmt.Errorf("%w: sha256 is %d bytes, want %d", ErrInvalid, len(wantSHA256), sha256.Size)
	}
	if missing := missingParts(u.PartCount(), parts); len(missing) > 0 {
		return Upload{}, fmt.Errorf("%w: %d of %d parts missing: %s", ErrConflict, len(missing), u.PartCount(), summarize(missing))
	}
	vid, err := videoID()
	if err != nil {
		return Upload{}, fmt.Errorf("no video id: %w", err)
	}
	// The owner first: a video is never in place without it.
	if err := atomicfile.Write(OwnerPath(s.VideoPath(vid)), []byte(u.Owner), 0o644); err != nil {
		return Upload{}, err
	}
	out, err := atomicfile.Create(s.VideoPath(vid), 0o644)
	if err != nil {
		return Upload{}, err
	}
	h := sha256.New()
	var total int64
	for _, p := range parts {
		f, err := os.Open(s.partPath(id, p.Number))
		if err != nil {
			out.Abort()
			return Upload{}, err
		}
		n, err := io.Copy(io.MultiWriter(out, h), f)
		f.Close()
		if err != nil {
			out.Abort()
			return Upload{}, err
		}
		total += n
	}
	if total != u.TotalSize {
		out.Abort()
		return Upload{}, fmt.Errorf("%w: the parts hold %d bytes, the upload declared %d", ErrConflict, total, u.TotalSize)
	}
	if sum := h.Sum(nil); !bytes.Equal(sum, wantSHA256) {
		out.Abort()
		return Upload{}, fmt.Errorf("%w: SHA-256 mismatch: the assembled file has %x, declared %x; the parts are kept", ErrConflict, sum, wantSHA256)
	}
	if err := out.Commit(); err != nil {
		return Upload{}, err
	}
	u.VideoID, u.SHA256 = vid, wantSHA256
	if err := s.save(u); err != nil {
		return Upload{}, err
	}
	// The video is in place and recorded: the parts are no longer needed.
	for _, p := range parts {
		os.Remove(s.partPath(id, p.Number))
	}
	return u, nil
}

func missingParts(count int32, parts []Part) []int32 {
	have := make(map[int32]bool, len(parts))
	for _, p := range parts {
		have[p.Number] = true
	}
	var missing []int32
	for n := int32(1); n <= count; n++ {
		if !have[n] {
			missing = append(missing, n)
		}
	}
	return missing
}

// summarize names up to ten part numbers.
func summarize(parts []int32) string {
	var b strings.Builder
	for i, n := range parts {
		if i == 10 {
			fmt.Fprintf(&b, " and %d more", len(parts)-10)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprint(&b, n)
	}
	return b.String()
}

// Abort drops an upload and its parts.
func (s *Store) Abort(id string) error {
	if _, err := s.Get(id); err != nil {
		return err
	}
	mu := s.lock(id)
	mu.Lock()
	defer mu.Unlock()
	defer s.locks.Delete(id)
	return os.RemoveAll(s.dir(id))
}
