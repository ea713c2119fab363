// Package idpool hands out IDs from batches prefetched from the IDGen service, so a
// caller that needs many IDs (a comment burst, a bulk import) makes one RPC per
// batch instead of one per ID.
package idpool

import (
	"context"
	"errors"
	"fmt"
	"sync"

	idgenv1 "github.com/monoreel/monoreel/proto/idgen/v1"
)

// DefaultBatch is how many IDs a Pool fetches at a time unless told otherwise.
const DefaultBatch = 256

// ErrEmptyBatch is returned when the service answers a batch request with no IDs.
var ErrEmptyBatch = errors.New("idpool: IDGen service returned no IDs")

// Pool is a buffer of IDs refilled from an IDGenServiceClient. It is safe for
// concurrent use; IDs come out in the order the service issued them.
type Pool struct {
	client idgenv1.IDGenServiceClient
	batch  int32

	mu  sync.Mutex
	ids []int64 // fetched, not yet handed out
}

// New returns a Pool fetching batch IDs at a time (DefaultBatch if batch <= 0).
func New(client idgenv1.IDGenServiceClient, batch int32) *Pool {
	if batch <= 0 {
		batch = DefaultBatch
	}
	return &Pool{client: client, batch: batch}
}

// Next returns the next ID, fetching a new batch when the pool is empty.
func (p *Pool) Next(ctx context.Context) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ids) == 0 {
		resp, err := p.client.NextIDs(ctx, &idgenv1.NextIDsRequest{Count: p.batch})
		if err != nil {
			return 0, fmt.Errorf("idpool: fetching %d IDs: %w", p.batch, err)
		}
		if len(resp.GetIds()) == 0 {
			return 0, ErrEmptyBatch
		}
		p.ids = resp.GetIds()
	}
	id := p.ids[0]
	p.ids = p.ids[1:]
	return id, nil
}

// Buffered returns how many fetched IDs are waiting to be handed out.
func (p *Pool) Buffered() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ids)
}
