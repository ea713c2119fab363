package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/monoreel/monoreel/libs/testproc"
)

// startEtcd runs a real single-node etcd (Debian's etcd-server) on loopback and
// returns a Store on it.
func startEtcd(t testing.TB) *Etcd {
	t.Helper()
	bin := testproc.Binary(t, "etcd", "etcd-server")
	client, peer := testproc.FreeAddr(t), testproc.FreeAddr(t)
	testproc.Start(t, bin, []string{
		"--name=test", "--data-dir=" + filepath.Join(t.TempDir(), "etcd"),
		"--listen-client-urls=http://" + client, "--advertise-client-urls=http://" + client,
		"--listen-peer-urls=http://" + peer, "--initial-advertise-peer-urls=http://" + peer,
		"--initial-cluster=test=http://" + peer, "--log-level=error",
	}, func() error {
		store, err := NewEtcd([]string{client}, time.Second)
		if err != nil {
			return err
		}
		defer store.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, _, err = store.List(ctx, "readiness-probe")
		return err
	})
	store, err := NewEtcd([]string{client}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

func stores(t *testing.T) map[string]Store {
	return map[string]Store{"memory": NewMemory(0), "etcd": startEtcd(t)}
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustPut(t testing.TB, s Store, key, value string) int64 {
	t.Helper()
	rev, err := s.Put(ctxFor(t), key, []byte(value))
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

func next(t testing.TB, events <-chan Event) Event {
	t.Helper()
	select {
	case e, ok := <-events:
		if !ok {
			t.Fatal("watch closed")
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	panic("unreachable")
}

// TestStores runs the same contract against the in-memory store and real etcd.
func TestStores(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := ctxFor(t)
			r1 := mustPut(t, s, "ratelimit/normal/qps", "5")
			r2 := mustPut(t, s, "ratelimit/vip/qps", "20")
			mustPut(t, s, "breaker/aitag/max_rt", "800ms")
			if r2 <= r1 {
				t.Errorf("revisions %d then %d", r1, r2)
			}
			kv, err := s.Get(ctx, "ratelimit/vip/qps")
			if err != nil || string(kv.Value) != "20" || kv.Revision != r2 {
				t.Errorf("Get = %+v, %v", kv, err)
			}
			if _, err := s.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get(missing) = %v, want ErrNotFound", err)
			}
			list, rev, err := s.List(ctx, "ratelimit/")
			if err != nil || len(list) != 2 || list[0].Key != "ratelimit/normal/qps" || rev < r2 {
				t.Errorf("List = %+v, %d, %v", list, rev, err)
			}

			events, _ := s.Watch(ctx, "ratelimit/", 0)
			time.Sleep(100 * time.Millisecond) // let the watch start: it delivers from "now"
			r4 := mustPut(t, s, "ratelimit/robot/qps", "2")
			mustPut(t, s, "unrelated", "x")
			r6, err := s.Delete(ctx, "ratelimit/normal/qps")
			if err != nil {
				t.Fatal(err)
			}
			if e := next(t, events); e.Type != Put || e.KV.Key != "ratelimit/robot/qps" || e.KV.Revision != r4 {
				t.Errorf("first event %+v", e)
			}
			if e := next(t, events); e.Type != Delete || e.KV.Key != "ratelimit/normal/qps" || e.KV.Revision != r6 {
				t.Errorf("second event %+v", e)
			}
			if _, err := s.Delete(ctx, "ratelimit/normal/qps"); !errors.Is(err, ErrNotFound) {
				t.Errorf("second Delete = %v, want ErrNotFound", err)
			}

			// A watch resumes from a past revision: it replays what came after.
			replay, _ := s.Watch(ctx, "ratelimit/", r4)
			if e := next(t, replay); e.KV.Revision != r4 {
				t.Errorf("replay starts at %+v, want revision %d", e, r4)
			}
			if e := next(t, replay); e.KV.Revision != r6 {
				t.Errorf("replay continues with %+v, want revision %d", e, r6)
			}
		})
	}
}

func TestMemoryCompactedWatch(t *testing.T) {
	m := NewMemory(2)
	for i := range 5 {
		mustPut(t, m, fmt.Sprint("k", i), "v")
	}
	_, errs := m.Watch(ctxFor(t), "", 1)
	if err := <-errs; !errors.Is(err, ErrCompacted) {
		t.Fatalf("watch from a forgotten revision: %v, want ErrCompacted", err)
	}
}

// flakyStore is a Store that can be made unreachable.
type flakyStore struct {
	Store
	down atomic.Bool
}

var errDown = errors.New("connection refused")

func (f *flakyStore) List(ctx context.Context, prefix string) ([]KV, int64, error) {
	if f.down.Load() {
		return nil, 0, errDown
	}
	return f.Store.List(ctx, prefix)
}

func (f *flakyStore) Watch(ctx context.Context, prefix string, from int64) (<-chan Event, <-chan error) {
	if f.down.Load() {
		return failedWatch(errDown)
	}
	return f.Store.Watch(ctx, prefix, from)
}

func quietLog(buf io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(buf, nil)) }

func TestClientFollowsAndSnapshots(t *testing.T) {
	store := NewMemory(0)
	mustPut(t, store, "flags/new_player", "on")
	snap := filepath.Join(t.TempDir(), "config.snapshot")
	c, err := Open(ctxFor(t), store, Options{SnapshotPath: snap, Log: quietLog(io.Discard)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if kv, ok := c.Get("flags/new_player"); !ok || string(kv.Value) != "on" || c.Stale() {
		t.Fatalf("Get = %+v, %v (stale %v)", kv, ok, c.Stale())
	}
	events := c.Watch(ctxFor(t), "flags/")
	rev := mustPut(t, store, "flags/dark_mode", "off")
	if e := next(t, events); e.KV.Key != "flags/dark_mode" || e.KV.Revision != rev {
		t.Fatalf("client watch got %+v", e)
	}
	if kv, ok := c.Get("flags/dark_mode"); !ok || string(kv.Value) != "off" {
		t.Errorf("the copy did not follow: %+v", kv)
	}
	// The snapshot is written right after the change is applied.
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := ReadSnapshot(snap)
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
	if err := WriteSnapshot(snap, Snapshot{Revision: 7, Written: time.Now(), Entries: []KV{{Key: "ratelimit/vip/qps", Value: []byte("20"), Revision: 7}}}); err != nil {
		t.Fatal(err)
	}
	store := &flakyStore{Store: NewMemory(0)}
	store.down.Store(true)
	var logs bytes.Buffer
	c, err := Open(ctxFor(t), store, Options{SnapshotPath: snap, StartTimeout: 100 * time.Millisecond, RetryEvery: 20 * time.Millisecond, Log: quietLog(&logs)})
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
	events := c.Watch(ctxFor(t), "ratelimit/")
	mustPut(t, store.Store, "ratelimit/vip/qps", "30")
	store.down.Store(false)
	if e := next(t, events); e.KV.Key != "ratelimit/vip/qps" || string(e.KV.Value) != "30" {
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
	store := &flakyStore{Store: NewMemory(0)}
	store.down.Store(true)
	opts := Options{StartTimeout: 50 * time.Millisecond, Log: quietLog(io.Discard)}

	opts.SnapshotPath = filepath.Join(dir, "missing")
	if _, err := Open(ctxFor(t), store, opts); err == nil || !strings.Contains(err.Error(), "no snapshot at") {
		t.Errorf("missing snapshot: %v", err)
	}

	good, _ := EncodeSnapshot(Snapshot{Revision: 3, Entries: []KV{{Key: "a", Value: []byte("1"), Revision: 3}}})
	opts.SnapshotPath = filepath.Join(dir, "corrupt")
	corrupt := bytes.Replace(good, []byte(`"revision":3`), []byte(`"revision":4`), 1)
	if err := os.WriteFile(opts.SnapshotPath, corrupt, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctxFor(t), store, opts); !errors.Is(err, ErrCorruptSnapshot) {
		t.Errorf("corrupt snapshot: %v, want ErrCorruptSnapshot", err)
	}
}

func TestSnapshotRoundTripAndDamage(t *testing.T) {
	s := Snapshot{Revision: 9, Written: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC),
		Entries: []KV{{Key: "a", Value: []byte{0, 1, 2}, Revision: 2}, {Key: "b", Value: []byte("x"), Revision: 9}}}
	data, err := EncodeSnapshot(s)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeSnapshot(data)
	if err != nil || back.Revision != 9 || len(back.Entries) != 2 || !bytes.Equal(back.Entries[0].Value, []byte{0, 1, 2}) {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
	for name, bad := range map[string][]byte{
		"truncated":      data[:len(data)/2],
		"no header":      data[len(snapshotHeader)+1:],
		"trailing bytes": append(append([]byte(nil), data...), 'x'),
		"flipped byte":   bytes.Replace(data, []byte(`"b"`), []byte(`"c"`), 1),
	} {
		if _, err := DecodeSnapshot(bad); !errors.Is(err, ErrCorruptSnapshot) {
			t.Errorf("%s: %v, want ErrCorruptSnapshot", name, err)
		}
	}
}

// FuzzDecodeSnapshot: any file is either a valid snapshot that re-encodes to the
// same content, or corrupt; never a panic or a partial result.
func FuzzDecodeSnapshot(f *testing.F) {
	good, _ := EncodeSnapshot(Snapshot{Revision: 2, Entries: []KV{{Key: "k", Value: []byte("v"), Revision: 1}}})
	f.Add(good)
	f.Add([]byte(snapshotHeader + "\n{}\nsha256 00\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeSnapshot(data)
		if err != nil {
			if !errors.Is(err, ErrCorruptSnapshot) || s.Revision != 0 || s.Entries != nil {
				t.Fatalf("error %v with partial result %+v", err, s)
			}
			return
		}
		again, err := EncodeSnapshot(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeSnapshot(again); err != nil {
			t.Fatalf("re-encoded snapshot does not decode: %v", err)
		}
	})
}

// BenchmarkPutToWatch measures the time from a Put to a watcher receiving it, on
// each store, and reports its p50 and p99.
func BenchmarkPutToWatch(b *testing.B) {
	for name, s := range map[string]Store{"memory": NewMemory(0), "etcd": startEtcd(b)} {
		b.Run(name, func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			events, _ := s.Watch(ctx, "bench/", 0)
			time.Sleep(100 * time.Millisecond)
			var latencies []time.Duration
			for b.Loop() {
				start := time.Now()
				if _, err := s.Put(ctx, "bench/key", []byte("v")); err != nil {
					b.Fatal(err)
				}
				<-events
				latencies = append(latencies, time.Since(start))
			}
			sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
			b.ReportMetric(float64(latencies[len(latencies)/2])/1e3, "p50-µs")
			b.ReportMetric(float64(latencies[len(latencies)*99/100])/1e3, "p99-µs")
		})
	}
}
