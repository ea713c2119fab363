package configgrpc

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"

	"github.com/monoreel/monoreel/libs/config"
	configv1 "github.com/monoreel/monoreel/proto/config/v1"
)

// Store is a config.Store on a ConfigService.
type Store struct {
	client configv1.ConfigServiceClient
}

var _ config.Store = (*Store)(nil)

// NewStore returns a Store that calls the ConfigService on conn. The caller owns
// conn: Close does not close it.
func NewStore(conn grpc.ClientConnInterface) *Store {
	return NewStoreWithClient(configv1.NewConfigServiceClient(conn))
}

// NewStoreWithClient returns a Store on a ConfigService client (a mock, in tests).
func NewStoreWithClient(client configv1.ConfigServiceClient) *Store {
	return &Store{client: client}
}

// Get implements config.Store.
func (s *Store) Get(ctx context.Context, key string) (config.KV, error) {
	resp, err := s.client.Get(ctx, &configv1.GetRequest{Key: key})
	if err != nil {
		return config.KV{}, storeErrors.FromStatus(err)
	}
	return fromEntry(resp.GetEntry()), nil
}

// List implements config.Store.
func (s *Store) List(ctx context.Context, prefix string) ([]config.KV, int64, error) {
	resp, err := s.client.List(ctx, &configv1.ListRequest{Prefix: prefix})
	if err != nil {
		return nil, 0, storeErrors.FromStatus(err)
	}
	kvs := make([]config.KV, len(resp.GetEntries()))
	for i, e := range resp.GetEntries() {
		kvs[i] = fromEntry(e)
	}
	return kvs, resp.GetRevision(), nil
}

// Put implements config.Store.
func (s *Store) Put(ctx context.Context, key string, value []byte) (int64, error) {
	resp, err := s.client.Put(ctx, &configv1.PutRequest{Key: key, Value: value})
	if err != nil {
		return 0, storeErrors.FromStatus(err)
	}
	return resp.GetRevision(), nil
}

// CompareAndPut implements config.Store.
func (s *Store) CompareAndPut(ctx context.Context, key string, value []byte, expected int64) (int64, error) {
	resp, err := s.client.Put(ctx, &configv1.PutRequest{Key: key, Value: value, ExpectedRevision: &expected})
	if err != nil {
		return 0, storeErrors.FromStatus(err)
	}
	return resp.GetRevision(), nil
}

// Delete implements config.Store.
func (s *Store) Delete(ctx context.Context, key string) (int64, error) {
	resp, err := s.client.Delete(ctx, &configv1.DeleteRequest{Key: key})
	if err != nil {
		return 0, storeErrors.FromStatus(err)
	}
	return resp.GetRevision(), nil
}

// Watch implements config.Store. It returns once the server has the watch in
// place, so a watch "from now" misses nothing put after it returns.
func (s *Store) Watch(ctx context.Context, prefix string, fromRev int64) (<-chan config.Event, <-chan error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := s.client.Watch(ctx, &configv1.WatchRequest{Prefix: prefix, FromRevision: fromRev})
	if err == nil {
		_, err = stream.Header()
	}
	if err != nil {
		cancel()
		return config.FailedWatch(storeErrors.FromStatus(err))
	}
	events := make(chan config.Event)
	errs := make(chan error, 1)
	go func() {
		defer cancel()
		defer close(errs)
		defer close(events)
		for {
			resp, err := stream.Recv()
			if err != nil {
				if ctx.Err() == nil {
					if errors.Is(err, io.EOF) {
						err = errors.New("config: the server ended the watch")
					}
					errs <- storeErrors.FromStatus(err)
				}
				return
			}
			e := config.Event{Type: config.Put, KV: fromEntry(resp.GetEntry())}
			if resp.GetType() == configv1.EventType_EVENT_TYPE_DELETE {
				e.Type = config.Delete
			}
			select {
			case events <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
	return events, errs
}

// Close implements config.Store; the connection stays open.
func (s *Store) Close() error { return nil }

func fromEntry(e *configv1.Entry) config.KV {
	return config.KV{Key: e.GetKey(), Value: e.GetValue(), Revision: e.GetRevision()}
}
