package config

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Etcd is a Store on an etcd cluster (v3 API). Revisions are etcd's.
type Etcd struct {
	client *clientv3.Client
}

// NewEtcd connects to the etcd endpoints ("127.0.0.1:2379"). Connecting is lazy:
// an unreachable cluster shows up as errors of the calls, bounded by their ctx.
func NewEtcd(endpoints []string, dialTimeout time.Duration) (*Etcd, error) {
	// The client's own logger is off: every failure reaches our callers as an error.
	client, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: dialTimeout, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("config: etcd %v: %w", endpoints, err)
	}
	return &Etcd{client: client}, nil
}

func fromEtcd(kv interface {
	GetKey() []byte
	GetValue() []byte
	GetModRevision() int64
}) KV {
	return KV{Key: string(kv.GetKey()), Value: kv.GetValue(), Revision: kv.GetModRevision()}
}

// Get implements Store.
func (e *Etcd) Get(ctx context.Context, key string) (KV, error) {
	resp, err := e.client.Get(ctx, key)
	if err != nil {
		return KV{}, fmt.Errorf("config: etcd get %q: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return KV{}, notFound(key)
	}
	return fromEtcd(resp.Kvs[0]), nil
}

// List implements Store.
func (e *Etcd) List(ctx context.Context, prefix string) ([]KV, int64, error) {
	resp, err := e.client.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, 0, fmt.Errorf("config: etcd list %q: %w", prefix, err)
	}
	out := make([]KV, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out = append(out, fromEtcd(kv))
	}
	return out, resp.Header.Revision, nil
}

// Put implements Store.
func (e *Etcd) Put(ctx context.Context, key string, value []byte) (int64, error) {
	if key == "" {
		return 0, fmt.Errorf("config: empty key")
	}
	resp, err := e.client.Put(ctx, key, string(value))
	if err != nil {
		return 0, fmt.Errorf("config: etcd put %q: %w", key, err)
	}
	return resp.Header.Revision, nil
}

// CompareAndPut implements Store, as an etcd transaction on the key's
// modification revision (its creation revision, 0, for a key that must not exist).
func (e *Etcd) CompareAndPut(ctx context.Context, key string, value []byte, expected int64) (int64, error) {
	if key == "" {
		return 0, fmt.Errorf("config: empty key")
	}
	cmp := clientv3.Compare(clientv3.ModRevision(key), "=", expected)
	if expected == 0 {
		cmp = clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
	}
	resp, err := e.client.Txn(ctx).If(cmp).Then(clientv3.OpPut(key, string(value))).Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return 0, fmt.Errorf("config: etcd compare-and-put %q: %w", key, err)
	}
	if !resp.Succeeded {
		var actual int64
		if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
			actual = kvs[0].GetModRevision()
		}
		return 0, conflict(key, expected, actual)
	}
	return resp.Header.Revision, nil
}

// Delete implements Store.
func (e *Etcd) Delete(ctx context.Context, key string) (int64, error) {
	resp, err := e.client.Delete(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("config: etcd delete %q: %w", key, err)
	}
	if resp.Deleted == 0 {
		return 0, notFound(key)
	}
	return resp.Header.Revision, nil
}

// Watch implements Store.
func (e *Etcd) Watch(ctx context.Context, prefix string, fromRev int64) (<-chan Event, <-chan error) {
	events := make(chan Event)
	errs := make(chan error, 1)
	opts := []clientv3.OpOption{clientv3.WithPrefix()}
	if fromRev > 0 {
		opts = append(opts, clientv3.WithRev(fromRev))
	}
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	watch := e.client.Watch(ctx, prefix, opts...)
	go func() {
		defer cancel()
		defer close(events)
		defer close(errs)
		for resp := range watch {
			if err := resp.Err(); err != nil {
				if errors.Is(err, rpctypes.ErrCompacted) {
					err = fmt.Errorf("%w: etcd compacted up to %d", ErrCompacted, resp.CompactRevision)
				}
				errs <- fmt.Errorf("config: etcd watch %q: %w", prefix, err)
				return
			}
			for _, ev := range resp.Events {
				e := Event{Type: Put, KV: fromEtcd(ev.Kv)}
				if ev.Type == clientv3.EventTypeDelete {
					e = Event{Type: Delete, KV: KV{Key: string(ev.Kv.Key), Revision: ev.Kv.ModRevision}}
				}
				select {
				case events <- e:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return events, errs
}

// Close implements Store.
func (e *Etcd) Close() error { return e.client.Close() }
