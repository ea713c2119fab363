package store

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"errors"
	"os"
	"strings"
	"testing"
)

func md5Of(b []byte) []byte { s := md5.Sum(b); return s[:] }

func sha256Of(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// file is a 2.5 KiB "video" in parts of 1 KiB: parts 1 and 2 full, part 3 512 B.
func file() []byte {
	data := make([]byte, 2560)
	for i := range data {
		data[i] = byte(i * 7)
	}
	return data
}

func part(data []byte, n int) []byte {
	end := min(n*1024, len(data))
	return data[(n-1)*1024 : end]
}

func open(t *testing.T) (*Store, string) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func put(t *testing.T, s *Store, id string, n int32, data []byte) (Part, bool, error) {
	t.Helper()
	return s.PutPart(id, n, md5Of(data), bytes.NewReader(data))
}

func wantErr(t *testing.T, err, kind error, text string) {
	t.Helper()
	if !errors.Is(err, kind) || !strings.Contains(err.Error(), text) {
		t.Errorf("error %v, want %v naming %q", err, kind, text)
	}
}

func TestUploadSurvivesARestart(t *testing.T) {
	s, dir := open(t)
	data := file()
	u, err := s.Init("uma", "clip.mp4", int64(len(data)), 1024, "video/mp4")
	if err != nil {
		t.Fatal(err)
	}
	if u.PartCount() != 3 || u.PartSizeOf(3) != 512 {
		t.Fatalf("parts %d, last %d", u.PartCount(), u.PartSizeOf(3))
	}
	if _, stored, err := put(t, s, u.ID, 2, part(data, 2)); err != nil || !stored {
		t.Fatalf("part 2: %v, %v", stored, err)
	}

	// A new Store on the same directory: a restarted service.
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, parts, err := s.ListParts(u.ID)
	if err != nil || len(parts) != 1 || parts[0].Number != 2 {
		t.Fatalf("after restart: %+v, %v", parts, err)
	}
	if _, err := s.Complete(u.ID, sha256Of(data), func() (int64, error) { return 42, nil }); err == nil {
		t.Fatal("completed with parts missing")
	} else {
		wantErr(t, err, ErrConflict, "2 of 3 parts missing: 1, 3")
	}
	put(t, s, u.ID, 3, part(data, 3))
	put(t, s, u.ID, 1, part(data, 1))
	if _, err := s.Complete(u.ID, sha256Of([]byte("other")), func() (int64, error) { return 42, nil }); err == nil {
		t.Fatal("completed with a wrong SHA-256")
	} else {
		wantErr(t, err, ErrConflict, "SHA-256 mismatch")
	}
	done, err := s.Complete(u.ID, sha256Of(data), func() (int64, error) { return 42, nil })
	if err != nil || done.VideoID != 42 {
		t.Fatalf("Complete: %+v, %v", done, err)
	}
	got, err := os.ReadFile(s.VideoPath(42))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("video file: %d bytes, %v", len(got), err)
	}
	again, err := s.Complete(u.ID, sha256Of(data), func() (int64, error) { return 99, nil })
	if err != nil || again.VideoID != 42 {
		t.Errorf("second Complete: %+v, %v; want the same video", again, err)
	}
	_, _, err = put(t, s, u.ID, 1, part(data, 1))
	wantErr(t, err, ErrConflict, "already complete")
}

// TestBadPartsLoseNothing: every kind of bad part is refused with an error naming
// it, and the part already stored is still there, unchanged.
func TestBadPartsLoseNothing(t *testing.T) {
	s, _ := open(t)
	data := file()
	u, _ := s.Init("uma", "clip.mp4", int64(len(data)), 1024, "video/mp4")
	good := part(data, 1)
	if _, stored, err := put(t, s, u.ID, 1, good); err != nil || !stored {
		t.Fatal(err)
	}
	_, stored, err := put(t, s, u.ID, 1, good)
	if err != nil || stored {
		t.Errorf("identical part again: stored=%v err=%v, want accepted, not stored again", stored, err)
	}
	other := bytes.Repeat([]byte{1}, 1024)
	_, _, err = put(t, s, u.ID, 1, other)
	wantErr(t, err, ErrConflict, "part 1 is already stored with MD5")
	_, _, err = put(t, s, u.ID, 4, other)
	wantErr(t, err, ErrInvalid, "part 4 is out of range: this upload has parts 1 to 3")
	_, _, err = put(t, s, u.ID, 0, other)
	wantErr(t, err, ErrInvalid, "part 0 is out of range")
	_, _, err = put(t, s, u.ID, 2, other[:1000])
	wantErr(t, err, ErrInvalid, "part 2 has 1000 bytes, want 1024")
	_, _, err = put(t, s, u.ID, 3, other)
	wantErr(t, err, ErrInvalid, "part 3 is longer than its 512 bytes")
	_, _, err = s.PutPart(u.ID, 2, md5Of(good), bytes.NewReader(other))
	wantErr(t, err, ErrInvalid, "part 2: MD5 mismatch")
	_, _, err = s.PutPart(u.ID, 2, []byte{1, 2}, bytes.NewReader(other))
	wantErr(t, err, ErrInvalid, "md5 is 2 bytes")
	_, _, err = put(t, s, "0123456789abcdef0123456789abcdef", 1, good)
	wantErr(t, err, ErrNotFound, "upload 0123456789abcdef0123456789abcdef")
	_, _, err = put(t, s, "../../etc", 1, good)
	wantErr(t, err, ErrInvalid, "malformed")

	_, parts, _ := s.ListParts(u.ID)
	if len(parts) != 1 || !bytes.Equal(parts[0].MD5, md5Of(good)) {
		t.Fatalf("parts after the bad ones: %+v", parts)
	}
	stored1, _ := os.ReadFile(s.partPath(u.ID, 1))
	if !bytes.Equal(stored1, good) {
		t.Error("part 1's bytes changed")
	}
	if entries, _ := os.ReadDir(s.dir(u.ID)); len(entries) != 3 {
		t.Errorf("upload dir holds %d files, want upload.json and part 1 (no temp files left)", len(entries))
	}
}

func TestInitValidation(t *testing.T) {
	s, _ := open(t)
	for _, tc := range []struct {
		name, ctype     string
		total, partSize int64
		want            string
	}{
		{"", "video/mp4", 10, 1024, "name is empty"},
		{"a", "", 10, 1024, "content_type is empty"},
		{"a", "video/mp4", 0, 1024, "total_size 0"},
		{"a", "video/mp4", 10, 10, "part_size 10: must be 1024 to"},
		{"a", "video/mp4", 1 << 40, 1 << 20, "1048576 parts of 1048576 bytes: at most 10000"},
	} {
		_, err := s.Init("uma", tc.name, tc.total, tc.partSize, tc.ctype)
		wantErr(t, err, ErrInvalid, tc.want)
	}
}

func TestAbort(t *testing.T) {
	s, _ := open(t)
	u, _ := s.Init("uma", "a", 2048, 1024, "video/mp4")
	put(t, s, u.ID, 1, make([]byte, 1024))
	if err := s.Abort(u.ID); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.ListParts(u.ID)
	wantErr(t, err, ErrNotFound, u.ID)
}

// FuzzPutPart sends arbitrary parts to an upload that already holds part 1:
// each is either stored exactly as sent, or refused; part 1 never changes.
func FuzzPutPart(f *testing.F) {
	f.Add(int32(2), []byte("x"), true)
	f.Add(int32(1), make([]byte, 1024), false)
	f.Add(int32(3), make([]byte, 512), true)
	f.Fuzz(func(t *testing.T, n int32, data []byte, honestMD5 bool) {
		s, _ := open(t)
		u, err := s.Init("uma", "f", 2560, 1024, "video/mp4")
		if err != nil {
			t.Fatal(err)
		}
		first := bytes.Repeat([]byte{9}, 1024)
		if _, _, err := put(t, s, u.ID, 1, first); err != nil {
			t.Fatal(err)
		}
		sum := md5Of(data)
		if !honestMD5 {
			sum = md5Of(append([]byte{1}, data...))
		}
		p, _, err := s.PutPart(u.ID, n, sum, bytes.NewReader(data))
		if err == nil {
			stored, _ := os.ReadFile(s.partPath(u.ID, n))
			if !bytes.Equal(stored, data) || p.Size != int64(len(data)) || p.Size != u.PartSizeOf(n) {
				t.Fatalf("part %d stored as %d bytes, sent %d", n, len(stored), len(data))
			}
		} else if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrConflict) {
			t.Fatalf("unexpected kind of error: %v", err)
		}
		if got, _ := os.ReadFile(s.partPath(u.ID, 1)); !bytes.Equal(got, first) && !(err == nil && n == 1) {
			t.Fatal("part 1 changed")
		}
	})
}
