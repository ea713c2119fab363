package config

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"
)

// File is the config service's embedded store: a Memory whose every change is
// written to a snapshot file (atomically, fsynced) before it is applied and
// acknowledged, and which starts from that file. A change that cannot be saved
// is refused and changes nothing. Watches resume only from revisions since the
// start: older ones get ErrCompacted, and the watcher lists again.
type File struct {
	*Memory
	path string
	// write serialises changes, so that the snapshot written for revision N is
	// the state at N and files never go backwards.
	write sync.Mutex
}

// OpenFile opens (or creates, on the first change) the store saved at path.
func OpenFile(path string, historyLimit int) (*File, error) {
	m := NewMemory(historyLimit)
	snap, err := ReadSnapshot(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		for _, kv := range snap.Entries {
			m.data[kv.Key] = kv
		}
		m.rev = snap.Revision
	}
	return &File{Memory: m, path: path}, nil
}

// Put implements Store.
func (f *File) Put(ctx context.Context, key string, value []byte) (int64, error) {
	if key == "" {
		return 0, fmt.Errorf("config: empty key")
	}
	f.write.Lock()
	defer f.write.Unlock()
	if err := f.save(KV{Key: key, Value: value}, false); err != nil {
		return 0, err
	}
	return f.Memory.Put(ctx, key, value)
}

// CompareAndPut implements Store. Writers of a File take turns, so the check
// and the write are one step.
func (f *File) CompareAndPut(ctx context.Context, key string, value []byte, expected int64) (int64, error) {
	if key == "" {
		return 0, fmt.Errorf("config: empty key")
	}
	f.write.Lock()
	defer f.write.Unlock()
	var actual int64
	if kv, err := f.Memory.Get(ctx, key); err == nil {
		actual = kv.Revision
	}
	if actual != expected {
		return 0, conflict(key, expected, actual)
	}
	if err := f.save(KV{Key: key, Value: value}, false); err != nil {
		return 0, err
	}
	return f.Memory.Put(ctx, key, value)
}

// Delete implements Store.
func (f *File) Delete(ctx context.Context, key string) (int64, error) {
	f.write.Lock()
	defer f.write.Unlock()
	if _, err := f.Memory.Get(ctx, key); err != nil {
		return 0, err
	}
	if err := f.save(KV{Key: key}, true); err != nil {
		return 0, err
	}
	return f.Memory.Delete(ctx, key)
}

// save writes the state the store will have after one more change.
func (f *File) save(change KV, deleted bool) error {
	f.Memory.mu.Lock()
	snap := Snapshot{Revision: f.Memory.rev + 1, Written: time.Now().UTC(), Entries: make([]KV, 0, len(f.Memory.data)+1)}
	for _, kv := range f.Memory.data {
		if kv.Key != change.Key {
			snap.Entries = append(snap.Entries, kv)
		}
	}
	f.Memory.mu.Unlock()
	if !deleted {
		change.Revision = snap.Revision
		snap.Entries = append(snap.Entries, change)
	}
	sortKVs(snap.Entries)
	if err := WriteSnapshot(f.path, snap); err != nil {
		return fmt.Errorf("config: saving the change to %s (nothing changed): %w", f.path, err)
	}
	return nil
}
