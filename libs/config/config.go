// Package config is the platform's configuration client: versioned keys, prefix
// listing, and watches that deliver ordered changes, over a pluggable Store.
//
// Stores: Memory (in-process, the embedded default) and Etcd. A Client keeps a
// local copy of every key, so reads never wait on the network, follows the store's
// changes, and saves a last-known-good snapshot to disk: a service that starts
// while the store is unreachable serves that snapshot (and says so in its log)
// until the store is back. A corrupt snapshot is reported, never half-loaded.
package config

import (
	"context"
	"errors"
	"fmt"
	"sort"
)

// KV is one key's value and the revision at which it last changed.
type KV struct {
	Key      string
	Value    []byte
	Revision int64
}

// EventType says what happened to a key.
type EventType int

// Event types.
const (
	Put EventType = iota
	Delete
)

func (t EventType) String() string {
	if t == Delete {
		return "DELETE"
	}
	return "PUT"
}

// Event is one change. Events of a watch come in revision order.
type Event struct {
	Type EventType
	KV   KV // for Delete, the key and the deleting revision; no value
}

// Store is a revisioned key-value store: every change gets the next revision of
// the whole store.
type Store interface {
	// Get returns a key, or an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) (KV, error)
	// List returns the keys under prefix in key order, and the store's revision.
	List(ctx context.Context, prefix string) ([]KV, int64, error)
	// Put sets a key and returns the new revision.
	Put(ctx context.Context, key string, value []byte) (int64, error)
	// CompareAndPut sets a key only if it is still at revision expected (0: only
	// if it does not exist), in one atomic step, and returns the new revision;
	// otherwise it changes nothing and returns an error wrapping ErrConflict.
	// Two writers racing for one key: exactly one wins.
	CompareAndPut(ctx context.Context, key string, value []byte, expected int64) (int64, error)
	// Delete removes a key (an error wrapping ErrNotFound if there is none) and
	// returns the new revision.
	Delete(ctx context.Context, key string) (int64, error)
	// Watch delivers the changes under prefix from revision fromRev on (0: from
	// now), in order, until ctx ends; the channel is then closed. A watch that can
	// no longer continue (history compacted, store gone) sends an error on errs
	// and closes both channels.
	Watch(ctx context.Context, prefix string, fromRev int64) (events <-chan Event, errs <-chan error)
	Close() error
}

// Errors of stores.
var (
	ErrNotFound  = errors.New("config: key not found")
	ErrCompacted = errors.New("config: revision compacted")
	ErrConflict  = errors.New("config: revision conflict")
)

// conflict is the error of a CompareAndPut that lost: what was expected, what is.
func conflict(key string, expected, actual int64) error {
	if actual == 0 {
		return fmt.Errorf("%w: %q does not exist, expected revision %d", ErrConflict, key, expected)
	}
	return fmt.Errorf("%w: %q is at revision %d, expected %d", ErrConflict, key, actual, expected)
}

func notFound(key string) error { return fmt.Errorf("%w: %q", ErrNotFound, key) }

func sortKVs(kvs []KV) { sort.Slice(kvs, func(i, j int) bool { return kvs[i].Key < kvs[j].Key }) }
