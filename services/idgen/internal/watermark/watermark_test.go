package watermark

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "watermark")
	if _, ok, err := Load(path); ok || err != nil {
		t.Fatalf("Load of a missing file = %v, %v; want not found, no error", ok, err)
	}
	want := Watermark{WorkerID: 42, LastUnixMilli: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC).UnixMilli()}
	if err := Save(path, want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := Load(path)
	if err != nil || !ok || got != want {
		t.Fatalf("Load = %+v, %v, %v; want %+v", got, ok, err, want)
	}
	if !got.Last().Equal(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("Last = %v", got.Last())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("Save left %d files behind", len(entries))
	}
}

func TestLoadCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "watermark")
	if err := os.WriteFile(path, []byte("not msgpack"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(path); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("Load of garbage = %v, want an error saying it is corrupt", err)
	}
}

// FuzzLoad: any file content either decodes to a watermark that re-encodes to the
// same value, or is reported as corrupt; it never panics.
func FuzzLoad(f *testing.F) {
	good, _ := Watermark{WorkerID: 1, LastUnixMilli: 1700000000000}.MarshalMsg(nil)
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{0x81, 0xa9})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "w")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		w, ok, err := Load(path)
		if err != nil {
			return
		}
		if !ok {
			t.Fatal("existing file reported missing")
		}
		again, err := w.MarshalMsg(nil)
		if err != nil {
			t.Fatal(err)
		}
		var back Watermark
		if _, err := back.UnmarshalMsg(again); err != nil || back != w {
			t.Fatalf("round trip of %+v gave %+v, %v", w, back, err)
		}
	})
}
