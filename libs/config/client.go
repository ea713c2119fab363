package config

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
)

// Options configures a Client.
type Options struct {
	// SnapshotPath is where the last-known-good snapshot lives; none if empty.
	SnapshotPath string
	// StartTimeout bounds the first read of the store (3s by default).
	StartTimeout time.Duration
	// RetryEvery is how often a Client serving a snapshot, or whose watch broke,
	// tries the store again (1s by default).
	RetryEvery time.Duration
	Log        *slog.Logger // slog.Default() when nil
}

// Client is a local, always-readable copy of a Store that follows its changes.
// Reads come from memory; writes go to the store.
type Client struct {
	store Store
	opts  Options

	mu       sync.RWMutex
	data     map[string]KV
	rev      int64
	stale    bool // serving a snapshot: the store has not been read yet
	watchers map[*memWatcher]struct{}

	cancel context.CancelFunc
	done   chan struct{}
}

// Open reads the whole store into a Client and starts following it. If the store
// cannot be read within StartTimeout, the Client serves the snapshot at
// SnapshotPath instead (logging that it does) and keeps trying the store. With no
// usable snapshot either, Open fails; a corrupt snapshot is an error wrapping
// ErrCorruptSnapshot.
func Open(ctx context.Context, store Store, opts Options) (*Client, error) {
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 3 * time.Second
	}
	if opts.RetryEvery <= 0 {
		opts.RetryEvery = time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	c := &Client{store: store, opts: opts, data: map[string]KV{}, watchers: map[*memWatcher]struct{}{}, done: make(chan struct{})}

	readCtx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	kvs, rev, err := store.List(readCtx, "")
	cancel()
	if err == nil {
		c.load(kvs, rev)
		c.saveSnapshot()
	} else {
		if opts.SnapshotPath == "" {
			return nil, fmt.Errorf("config: store unreachable and no snapshot configured: %w", err)
		}
		snap, serr := ReadSnapshot(opts.SnapshotPath)
		switch {
		case errors.Is(serr, fs.ErrNotExist):
			return nil, fmt.Errorf("config: store unreachable (%v) and no snapshot at %s", err, opts.SnapshotPath)
		case serr != nil:
			return nil, fmt.Errorf("config: store unreachable (%v), and the snapshot cannot be used: %w", err, serr)
		}
		c.load(snap.Entries, snap.Revision)
		c.stale = true
		opts.Log.Warn("config store unreachable; serving the last-known-good snapshot",
			"err", err, "snapshot", opts.SnapshotPath, "revision", snap.Revision, "written", snap.Written)
	}

	followCtx, stop := context.WithCancel(context.Background())
	c.cancel = stop
	go c.follow(followCtx)
	return c, nil
}

func (c *Client) load(kvs []KV, rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.data = make(map[string]KV, len(kvs))
	for _, kv := range kvs {
		c.data[kv.Key] = kv
	}
	c.rev = rev
}

// follow keeps the copy current: it (re)reads the store when needed and applies
// its watch events, until ctx ends.
func (c *Client) follow(ctx context.Context) {
	defer close(c.done)
	for ctx.Err() == nil {
		if c.Stale() {
			readCtx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout)
			kvs, rev, err := c.store.List(readCtx, "")
			cancel()
			if err != nil {
				c.sleep(ctx)
				continue
			}
			c.resync(kvs, rev)
			c.opts.Log.Info("config store reachable again; snapshot replaced", "revision", rev)
		}
		events, errs := c.store.Watch(ctx, "", c.Revision()+1)
		for e := range events {
			c.apply(e)
		}
		if err := <-errs; err != nil && ctx.Err() == nil {
			c.opts.Log.Warn("config watch ended; reading the store again", "err", err)
			c.mu.Lock()
			c.stale = true
			c.mu.Unlock()
			c.sleep(ctx)
		}
	}
}

func (c *Client) sleep(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(c.opts.RetryEvery):
	}
}

// resync replaces the copy with a fresh read, telling watchers what changed.
func (c *Client) resync(kvs []KV, rev int64) {
	c.mu.Lock()
	fresh := make(map[string]KV, len(kvs))
	var changes []Event
	for _, kv := range kvs {
		fresh[kv.Key] = kv
		if old, ok := c.data[kv.Key]; !ok || old.Revision != kv.Revision {
			changes = append(changes, Event{Type: Put, KV: kv})
		}
	}
	for key := range c.data {
		if _, ok := fresh[key]; !ok {
			changes = append(changes, Event{Type: Delete, KV: KV{Key: key, Revision: rev}})
		}
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].KV.Revision < changes[j].KV.Revision })
	c.data, c.rev, c.stale = fresh, rev, false
	for _, e := range changes {
		c.notifyLocked(e)
	}
	c.mu.Unlock()
	c.saveSnapshot()
}

func (c *Client) apply(e Event) {
	c.mu.Lock()
	if e.Type == Delete {
		delete(c.data, e.KV.Key)
	} else {
		c.data[e.KV.Key] = e.KV
	}
	c.rev = max(c.rev, e.KV.Revision)
	c.notifyLocked(e)
	c.mu.Unlock()
	c.saveSnapshot()
}

func (c *Client) saveSnapshot() {
	if c.opts.SnapshotPath == "" {
		return
	}
	c.mu.RLock()
	snap := Snapshot{Revision: c.rev, Written: time.Now().UTC(), Entries: make([]KV, 0, len(c.data))}
	for _, kv := range c.data {
		snap.Entries = append(snap.Entries, kv)
	}
	c.mu.RUnlock()
	sortKVs(snap.Entries)
	if err := WriteSnapshot(c.opts.SnapshotPath, snap); err != nil {
		c.opts.Log.Error("writing config snapshot", "path", c.opts.SnapshotPath, "err", err)
	}
}

// Get returns a key from the local copy.
func (c *Client) Get(key string) (KV, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	kv, ok := c.data[key]
	return kv, ok
}

// List returns the keys under prefix from the local copy, in key order.
func (c *Client) List(prefix string) []KV {
	c.mu.RLock()
	var out []KV
	for k, kv := range c.data {
		if strings.HasPrefix(k, prefix) {
			out = append(out, kv)
		}
	}
	c.mu.RUnlock()
	sortKVs(out)
	return out
}

// Revision returns the revision the local copy is at.
func (c *Client) Revision() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.rev
}

// Stale reports whether the copy comes from the snapshot, not yet from the store.
func (c *Client) Stale() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.stale
}

// Put writes a key to the store; the local copy follows through the watch.
func (c *Client) Put(ctx context.Context, key string, value []byte) (int64, error) {
	return c.store.Put(ctx, key, value)
}

// CompareAndPut writes a key to the store if it is still at revision expected
// (0: absent): Store.CompareAndPut.
func (c *Client) CompareAndPut(ctx context.Context, key string, value []byte, expected int64) (int64, error) {
	return c.store.CompareAndPut(ctx, key, value, expected)
}

// Delete removes a key from the store.
func (c *Client) Delete(ctx context.Context, key string) (int64, error) {
	return c.store.Delete(ctx, key)
}

// Watch delivers, in order, the changes under prefix that the local copy applies
// from now on, until ctx ends. It works while serving a snapshot too: changes
// arrive once the store is back.
func (c *Client) Watch(ctx context.Context, prefix string) <-chan Event {
	out := make(chan Event)
	w := newMemWatcher(prefix)
	c.mu.Lock()
	c.watchers[w] = struct{}{}
	c.mu.Unlock()
	go func() {
		defer close(out)
		w.forward(ctx, out)
		c.mu.Lock()
		delete(c.watchers, w)
		c.mu.Unlock()
	}()
	return out
}

// Follow calls apply with every key under prefix (as a Put), then with every
// change under prefix, in order, until ctx ends. No change between the two is
// missed: the watch starts before the keys are listed.
func (c *Client) Follow(ctx context.Context, prefix string, apply func(Event)) {
	changes := c.Watch(ctx, prefix)
	for _, kv := range c.List(prefix) {
		apply(Event{Type: Put, KV: kv})
	}
	for e := range changes {
		apply(e)
	}
}

func (c *Client) notifyLocked(e Event) {
	for w := range c.watchers {
		w.offer(e)
	}
}

// Close stops following the store (it does not close the store).
func (c *Client) Close() error {
	c.cancel()
	<-c.done
	return nil
}
