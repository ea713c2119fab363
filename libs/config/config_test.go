package config_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/monoreel/monoreel/libs/config"
	"github.com/monoreel/monoreel/libs/config/configtest"
)

// TestStores runs the store contract on every store.
func TestStores(t *testing.T) {
	file, err := config.OpenFile(filepath.Join(t.TempDir(), "store.snapshot"), 0)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]config.Store{"memory": config.NewMemory(0), "file": file, "etcd": configtest.Etcd(t)} {
		t.Run(name, func(t *testing.T) { configtest.Contract(t, s) })
	}
}

func TestMemoryCompactedWatch(t *testing.T) {
	m := config.NewMemory(2)
	for i := range 5 {
		configtest.MustPut(t, m, fmt.Sprint("k", i), "v")
	}
	_, errs := m.Watch(configtest.Ctx(t), "", 1)
	if err := <-errs; !errors.Is(err, config.ErrCompacted) {
		t.Fatalf("watch from a forgotten revision: %v, want config.ErrCompacted", err)
	}
}

// flakyStore is a config.Store that can be made unreachable.
type flakyStore struct {
	config.Store
	down atomic.Bool
}

var errDown = errors.New("connection refused")

func (f *flakyStore) List(ctx context.Context, prefix string) ([]config.KV, int64, error) {
	if f.down.Load() {
		return nil, 0, errDown
	}
	return f.Store.List(ctx, prefix)
}

func (f *flakyStore) Watch(ctx context.Context, prefix string, from int64) (<-chan config.Event, <-chan error) {
	if f.down.Load() {
		return config.FailedWatch(errDown)
	}
	return f.Store.Watch(ctx, prefix, from)
}

func quietLog(buf io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(buf, nil)) }

func TestClientFollowsAndSnapshots(t *testing.T) {
	store := config.NewMemory(0)
	configtest.MustPut(t, store, "flags/new_player", "on")
	snap := filepath.Join(t.TempDir(), "config.snapshot")
	c, err := config.Open(configtest.Ctx(t), store, config.Options{SnapshotPath: snap, Log: quietLog(io.Discard)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if kv, ok := c.Get("flags/new_player"); !ok || string(kv.Value) != "on" || c.Stale() {
		t.Fatalf("Get = %+v, %v (stale %v)", kv, ok, c.Stale())
	}
	events := c.Watch(configtest.Ctx(t), "flags/")
	rev := configtest.MustPut(t, store, "flags/dark_mode", "off")
	if e := configtest.Next(t, events); e.KV.Key != "flags/dark_mode" || e.KV.Revision != rev {
		t.Fatalf("client watch got %+v", e)
	}
	if kv, ok := c.Get("flags/dark_mode"); !ok || string(kv.Value) != "off" {
		t.Errorf("the copy did not follow: %+v", kv)
	}
	// The snapshot is written right after the change is applied.
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := config.ReadSnapshot(snap)
		if err == nil && s.Revision == rev && len(s.Entries) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("snapshot = %+v, %v; want revision %d with 2 entries", s, err, rev)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestClientServesSnapshotWhileStoreIsDown(t *testing.T) {
	snap := filepath.Join(t.TempDir(), "config.snapshot")
	if err := config.WriteSnapshot(snap, config.Snapshot{Revision: 7, Written: time.Now(), Entries: []config.KV{{Key: "ratelimit/vip/qps", Value: []byte("20"), Revision: 7}}}); err != nil {
		t.Fatal(err)
	}
	store := &flakyStore{Store: config.NewMemory(0)}
	store.down.Store(true)
	var logs bytes.Buffer
	c, err := config.Open(configtest.Ctx(t), store, config.Options{SnapshotPath: snap, StartTimeout: 100 * time.Millisecond, RetryEvery: 20 * time.Millisecond, Log: quietLog(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if kv, ok := c.Get("ratelimit/vip/qps"); !ok || string(kv.Value) != "20" || !c.Stale() {
		t.Fatalf("from the snapshot: %+v, %v, stale %v", kv, ok, c.Stale())
	}
	if !strings.Contains(logs.String(), "serving the last-known-good snapshot") {
		t.Errorf("log does not say it serves the snapshot:\n%s", logs.String())
	}

	// The store comes back with newer data: the copy and its watchers catch up.
	events := c.Watch(configtest.Ctx(t), "ratelimit/")
	configtest.MustPut(t, store.Store, "ratelimit/vip/qps", "30")
	store.down.Store(false)
	if e := configtest.Next(t, events); e.KV.Key != "ratelimit/vip/qps" || string(e.KV.Value) != "30" {
		t.Fatalf("after recovery: %+v", e)
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.Stale() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if c.Stale() {
		t.Error("still stale after the store came back")
	}
}

func TestClientRefusesCorruptOrMissingSnapshot(t *testing.T) {
	dir := t.TempDir()
	store := &flakyStore{Store: config.NewMemory(0)}
	store.down.Store(true)
	opts := config.Options{StartTimeout: 50 * time.Millisecond, Log: quietLog(io.Discard)}

	opts.SnapshotPath = filepath.Join(dir, "missing")
	if _, err := config.Open(configtest.Ctx(t), store, opts); err == nil || !strings.Contains(err.Error(), "no snapshot at") {
		t.Errorf("missing snapshot: %v", err)
	}

	good, _ := config.EncodeSnapshot(config.Snapshot{Revision: 3, Entries: []config.KV{{Key: "a", Value: []byte("1"), Revision: 3}}})
	opts.SnapshotPath = filepath.Join(dir, "corrupt")
	corrupt := bytes.Replace(good, []byte(`"revision":3`), []byte(`"revision":4`), 1)
	if err := os.WriteFile(opts.SnapshotPath, corrupt, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Open(configtest.Ctx(t), store, opts); !errors.Is(err, config.ErrCorruptSnapshot) {
		t.Errorf("corrupt snapshot: %v, want config.ErrCorruptSnapshot", err)
	}
}

func TestSnapshotRoundTripAndDamage(t *testing.T) {
	s := config.Snapshot{Revision: 9, Written: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC),
		Entries: []config.KV{{Key: "a", Value: []byte{0, 1, 2}, Revision: 2}, {Key: "b", Value: []byte("x"), Revision: 9}}}
	data, err := config.EncodeSnapshot(s)
	if err != nil {
		t.Fatal(err)
	}
	back, err := config.DecodeSnapshot(data)
	if err != nil || back.Revision != 9 || len(back.Entries) != 2 || !bytes.Equal(back.Entries[0].Value, []byte{0, 1, 2}) {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
	for name, bad := range map[string][]byte{
		"truncated":      data[:len(data)/2],
		"no header":      data[bytes.IndexByte(data, '\n')+1:],
		"trailing bytes": append(append([]byte(nil), data...), 'x'),
		"flipped byte":   bytes.Replace(data, []byte(`"b"`), []byte(`"c"`), 1),
	} {
		if _, err := config.DecodeSnapshot(bad); !errors.Is(err, config.ErrCorruptSnapshot) {
			t.Errorf("%s: %v, want config.ErrCorruptSnapshot", name, err)
		}
	}
}

// FuzzDecodeSnapshot: any file is either a valid snapshot that re-encodes to the
// same content, or corrupt; never a panic or a partial result.
func FuzzDecodeSnapshot(f *testing.F) {
	good, _ := config.EncodeSnapshot(config.Snapshot{Revision: 2, Entries: []config.KV{{Key: "k", Value: []byte("v"), Revision: 1}}})
	f.Add(good)
	f.Add([]byte("monoreel-config-snapshot v1\n{}\nsha256 00\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := config.DecodeSnapshot(data)
		if err != nil {
			if !errors.Is(err, config.ErrCorruptSnapshot) || s.Revision != 0 || s.Entries != nil {
				t.Fatalf("error %v with partial result %+v", err, s)
			}
			return
		}
		again, err := config.EncodeSnapshot(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := config.DecodeSnapshot(again); err != nil {
			t.Fatalf("re-encoded snapshot does not decode: %v", err)
		}
	})
}

// BenchmarkPutToWatch measures the time from a Put to a watcher receiving it, on
// each store (the file store fsyncs every change).
func BenchmarkPutToWatch(b *testing.B) {
	file, err := config.OpenFile(filepath.Join(b.TempDir(), "store.snapshot"), 0)
	if err != nil {
		b.Fatal(err)
	}
	for name, s := range map[string]config.Store{"memory": config.NewMemory(0), "file": file, "etcd": configtest.Etcd(b)} {
		b.Run(name, func(b *testing.B) { configtest.PutToWatch(b, s) })
	}
}

// TestFileStore: the file store starts where it stopped, refuses (and forgets) a
// change it cannot save, and never starts from a damaged file.
func TestFileStore(t *testing.T) {
	ctx := configtest.Ctx(t)
	path := filepath.Join(t.TempDir(), "store.snapshot")
	f, err := config.OpenFile(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	configtest.MustPut(t, f, "a", "1")
	configtest.MustPut(t, f, "b", "2")
	r3, err := f.Delete(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()

	g, err := config.OpenFile(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if kv, err := g.Get(ctx, "b"); err != nil || string(kv.Value) != "2" || kv.Revision != 2 {
		t.Errorf("after reopening, b = %+v, %v", kv, err)
	}
	if _, err := g.Get(ctx, "a"); !errors.Is(err, config.ErrNotFound) {
		t.Errorf("after reopening, deleted a = %v", err)
	}
	if r := configtest.MustPut(t, g, "c", "3"); r != r3+1 {
		t.Errorf("first revision after reopening = %d, want %d", r, r3+1)
	}

	unsaved, err := config.OpenFile(filepath.Join(t.TempDir(), "missing-dir", "store.snapshot"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unsaved.Put(ctx, "k", []byte("v")); err == nil || !strings.Contains(err.Error(), "nothing changed") {
		t.Errorf("Put that cannot be saved = %v, want an error saying nothing changed", err)
	}
	if _, err := unsaved.Get(ctx, "k"); !errors.Is(err, config.ErrNotFound) {
		t.Errorf("the unsaved Put is visible: %v", err)
	}

	if err := os.WriteFile(path, []byte("monoreel-config-snapshot v1\n{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.OpenFile(path, 0); !errors.Is(err, config.ErrCorruptSnapshot) {
		t.Errorf("OpenFile(damaged) = %v, want ErrCorruptSnapshot", err)
	}
}
