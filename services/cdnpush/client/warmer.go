// Package client connects other services to cdnpush. Warmer is libs/cache's
// warm-up hook: a cache that changes keys has them pushed to the edges.
package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"google.golang.org/grpc"

	"github.com/monoreel/monoreel/libs/cache"
	cdnpushv1 "github.com/monoreel/monoreel/proto/cdnpush/v1"
)

// Warmer implements cache.Warmer on the CDNPushService.
type Warmer struct {
	client cdnpushv1.CDNPushServiceClient
	edges  []string // empty: the service's configured edges
}

var _ cache.Warmer = (*Warmer)(nil)

// NewWarmer returns a Warmer calling the service on conn for edges.
func NewWarmer(conn grpc.ClientConnInterface, edges []string) *Warmer {
	return NewWarmerWithClient(cdnpushv1.NewCDNPushServiceClient(conn), edges)
}

// NewWarmerWithClient returns a Warmer on a client (a mock, in tests).
func NewWarmerWithClient(client cdnpushv1.CDNPushServiceClient, edges []string) *Warmer {
	return &Warmer{client: client, edges: edges}
}

// Warm starts a warm-up job for keys. Its idempotency key is derived from the
// keys, so a retry of the same batch starts nothing new.
func (w *Warmer) Warm(ctx context.Context, keys []string) error {
	sum := sha256.Sum256([]byte(strings.Join(keys, "\x00") + "\x01" + strings.Join(w.edges, "\x00")))
	_, err := w.client.Warm(ctx, &cdnpushv1.WarmRequest{
		Keys: keys, Edges: w.edges, IdempotencyKey: "cache-" + hex.EncodeToString(sum[:16]),
	})
	return err
}
