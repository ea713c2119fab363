// Package workerlease hands each running idgen instance a worker id of its own,
// leased from etcd: two live instances never share one, and an instance that
// loses its lease (it cannot reach etcd, or was paused) stops issuing before
// the lease can expire in etcd and another instance take its id.
//
// The key <prefix>workers/<id> exists while an instance holds id, attached to
// its lease; <prefix>watermarks/<id> keeps the newest timestamp issued under
// id, so its next holder never issues below it, even with a slower clock.
package workerlease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// MaxWorkers is how many worker ids there are (snowflake's 10 bits).
const MaxWorkers = 1024

// ErrLost is issuing refused: the lease may have expired in etcd, so another
// instance may hold this worker id.
var ErrLost = errors.New("worker lease lost")

// Lease is a worker id held by this instance.
type Lease struct {
	WorkerID int64
	// NotBefore is the newest timestamp an earlier holder of the id issued:
	// the generator must not issue below it.
	NotBefore time.Time

	client *clientv3.Client
	prefix string
	id     clientv3.LeaseID
	ttl    time.Duration
	// validUntil (unix nanoseconds) is when the lease may expire in etcd at
	// the earliest, counted from before the last renewal was sent.
	validUntil atomic.Int64
	stop       context.CancelFunc
	done       chan struct{}
}

// Acquire takes the lowest free worker id under prefix on a lease of ttl, and
// keeps the lease alive until Release (or until etcd cannot be reached).
// instance names this holder in the worker key, for people looking.
func Acquire(ctx context.Context, client *clientv3.Client, prefix, instance string, ttl time.Duration, log *slog.Logger) (*Lease, error) {
	if ttl < 2*time.Second {
		return nil, fmt.Errorf("worker lease ttl %v: want at least 2s (etcd grants whole seconds)", ttl)
	}
	granted := time.Now()
	grant, err := client.Grant(ctx, int64(ttl/time.Second))
	if err != nil {
		return nil, fmt.Errorf("worker lease: %w", err)
	}
	l := &Lease{client: client, prefix: prefix, id: grant.ID, ttl: time.Duration(grant.TTL) * time.Second, done: make(chan struct{})}
	l.validUntil.Store(granted.Add(l.ttl).UnixNano())
	for id := range int64(MaxWorkers) {
		key := l.workerKey(id)
		resp, err := client.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, instance, clientv3.WithLease(grant.ID)), clientv3.OpGet(l.watermarkKey(id))).
			Commit()
		if err != nil {
			client.Revoke(context.Background(), grant.ID)
			return nil, fmt.Errorf("worker lease: claiming %s: %w", key, err)
		}
		if !resp.Succeeded {
			continue
		}
		l.WorkerID = id
		if kvs := resp.Responses[1].GetResponseRange().GetKvs(); len(kvs) > 0 {
			ms, err := strconv.ParseInt(string(kvs[0].Value), 10, 64)
			if err != nil {
				client.Revoke(context.Background(), grant.ID)
				return nil, fmt.Errorf("worker lease: the watermark of worker %d is %q: %w", id, kvs[0].Value, err)
			}
			l.NotBefore = time.UnixMilli(ms)
		}
		keep, stop := context.WithCancel(context.Background())
		l.stop = stop
		go l.keepAlive(keep, log)
		return l, nil
	}
	client.Revoke(context.Background(), grant.ID)
	return nil, fmt.Errorf("worker lease: all %d worker ids are held", MaxWorkers)
}

func (l *Lease) workerKey(id int64) string { return l.prefix + "workers/" + strconv.FormatInt(id, 10) }
func (l *Lease) watermarkKey(id int64) string {
	return l.prefix + "watermarks/" + strconv.FormatInt(id, 10)
}

// keepAlive renews the lease every ttl/3. Each renewal moves validUntil to ttl
// after the moment it was sent: etcd counts the ttl from when it receives it,
// which is later. A renewal that fails leaves validUntil where it was, so
// issuing stops in time even if etcd is never heard from again.
func (l *Lease) keepAlive(ctx context.Context, log *slog.Logger) {
	defer close(l.done)
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sent := time.Now()
		renewCtx, cancel := context.WithTimeout(ctx, l.ttl/3)
		resp, err := l.client.KeepAliveOnce(renewCtx, l.id)
		cancel()
		switch {
		case err != nil:
			log.Warn("renewing the worker lease failed; issuing stops when it may have expired",
				"worker_id", l.WorkerID, "until", time.Unix(0, l.validUntil.Load()), "error", err)
		case resp.TTL <= 0:
			log.Error("the worker lease expired in etcd: issuing stopped", "worker_id", l.WorkerID)
			l.validUntil.Store(0)
			return
		default:
			l.validUntil.Store(sent.Add(time.Duration(resp.TTL) * time.Second).UnixNano())
		}
	}
}

// Check returns nil while this instance surely still holds its worker id, and
// an error wrapping ErrLost once the lease may have expired.
func (l *Lease) Check() error {
	if until := time.Unix(0, l.validUntil.Load()); !time.Now().Before(until) {
		return fmt.Errorf("%w: worker %d's lease was last renewed for until %s", ErrLost, l.WorkerID, until.Format(time.RFC3339Nano))
	}
	return nil
}

// SaveWatermark records t as the newest timestamp issued under this worker id.
func (l *Lease) SaveWatermark(ctx context.Context, t time.Time) error {
	_, err := l.client.Put(ctx, l.watermarkKey(l.WorkerID), strconv.FormatInt(t.UnixMilli(), 10))
	return err
}

// Release stops renewing and gives the worker id back at once.
func (l *Lease) Release(ctx context.Context) error {
	l.stop()
	<-l.done
	l.validUntil.Store(0)
	_, err := l.client.Revoke(ctx, l.id)
	return err
}
