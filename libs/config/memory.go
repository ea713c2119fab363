package config

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// Memory is an in-process Store, the embedded default. It keeps at least the last
// historyLimit events so that watches can resume from a recent revision.
type Memory struct {
	mu       sync.Mutex
	rev      int64
	data     map[string]KV
	history  []Event // revisions history[0].KV.Revision .. rev
	limit    int
	watchers map[*memWatcher]struct{}
	closed   bool
}

// NewMemory returns an empty Memory store that remembers historyLimit events
// (10,000 if historyLimit <= 0) for watches that resume.
func NewMemory(historyLimit int) *Memory {
	if historyLimit <= 0 {
		historyLimit = 10000
	}
	return &Memory{data: map[string]KV{}, limit: historyLimit, watchers: map[*memWatcher]struct{}{}}
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, key string) (KV, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	kv, ok := m.data[key]
	if !ok {
		return KV{}, notFound(key)
	}
	return kv, nil
}

// List implements Store.
func (m *Memory) List(_ context.Context, prefix string) ([]KV, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []KV
	for k, kv := range m.data {
		if strings.HasPrefix(k, prefix) {
			out = append(out, kv)
		}
	}
	sortKVs(out)
	return out, m.rev, nil
}

// Put implements Store.
func (m *Memory) Put(_ context.Context, key string, value []byte) (int64, error) {
	if key == "" {
		return 0, fmt.Errorf("config: empty key")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.putLocked(key, value), nil
}

// CompareAndPut implements Store.
func (m *Memory) CompareAndPut(_ context.Context, key string, value []byte, expected int64) (int64, error) {
	if key == "" {
		return 0, fmt.Errorf("config: empty key")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if actual := m.data[key].Revision; actual != expected {
		return 0, conflict(key, expected, actual)
	}
	return m.putLocked(key, value), nil
}

// putLocked sets a key at the next revision; m.mu is held.
func (m *Memory) putLocked(key string, value []byte) int64 {
	m.rev++
	kv := KV{Key: key, Value: append([]byte(nil), value...), Revision: m.rev}
	m.data[key] = kv
	m.publish(Event{Type: Put, KV: kv})
	return m.rev
}

// Delete implements Store.
func (m *Memory) Delete(_ context.Context, key string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.data[key]; !ok {
		return 0, notFound(key)
	}
	m.rev++
	delete(m.data, key)
	m.publish(Event{Type: Delete, KV: KV{Key: key, Revision: m.rev}})
	return m.rev, nil
}

// publish records e and hands it to the watchers; m.mu is held.
func (m *Memory) publish(e Event) {
	m.history = append(m.history, e)
	// Trim only when twice over the limit: a copy per limit events, not per event.
	if len(m.history) > 2*m.limit {
		m.history = append(m.history[:0:0], m.history[len(m.history)-m.limit:]...)
	}
	for w := range m.watchers {
		w.offer(e)
	}
}

// Watch implements Store.
func (m *Memory) Watch(ctx context.Context, prefix string, fromRev int64) (<-chan Event, <-chan error) {
	w := newMemWatcher(prefix)
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return FailedWatch(fmt.Errorf("config: store closed"))
	}
	if fromRev > 0 && fromRev <= m.rev {
		oldest := m.rev + 1
		if len(m.history) > 0 {
			oldest = m.history[0].KV.Revision
		}
		if fromRev < oldest {
			m.mu.Unlock()
			return FailedWatch(fmt.Errorf("%w: revision %d is older than the oldest kept, %d", ErrCompacted, fromRev, oldest))
		}
		for _, e := range m.history[fromRev-oldest:] {
			w.offer(e)
		}
	}
	m.watchers[w] = struct{}{}
	m.mu.Unlock()

	events := make(chan Event)
	errs := make(chan error, 1)

	go func() {
		defer close(events)
		defer close(errs)
		w.forward(ctx, events)
		m.mu.Lock()
		delete(m.watchers, w)
		m.mu.Unlock()
	}()
	return events, errs
}

// FailedWatch is a watch that ended before it began: err, then both channels
// closed. For Store implementations.
func FailedWatch(err error) (<-chan Event, <-chan error) {
	events := make(chan Event)
	errs := make(chan error, 1)
	errs <- err
	close(events)
	close(errs)
	return events, errs
}

// Close implements Store.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

// memWatcher queues a watch's events without bounds, so a writer never blocks on
// a slow watcher. Memory and Client both fan events out through it.
type memWatcher struct {
	prefix  string
	mu      sync.Mutex
	pending []Event
	wake    chan struct{}
}

func newMemWatcher(prefix string) *memWatcher {
	return &memWatcher{prefix: prefix, wake: make(chan struct{}, 1)}
}

// forward sends the queued events to out, in order, until ctx ends.
func (w *memWatcher) forward(ctx context.Context, out chan<- Event) {
	for {
		for _, e := range w.take() {
			select {
			case out <- e:
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-w.wake:
		case <-ctx.Done():
			return
		}
	}
}

func (w *memWatcher) offer(e Event) {
	if !strings.HasPrefix(e.KV.Key, w.prefix) {
		return
	}
	w.mu.Lock()
	w.pending = append(w.pending, e)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *memWatcher) take() []Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.pending
	w.pending = nil
	return out
}
