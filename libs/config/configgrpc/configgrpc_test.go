package configgrpc

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/mock/gomock"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/monoreel/monoreel/libs/config"
	"github.com/monoreel/monoreel/libs/config/configtest"
	"github.com/monoreel/monoreel/libs/testproc"
	configv1 "github.com/monoreel/monoreel/proto/config/v1"
	"github.com/monoreel/monoreel/proto/config/v1/mock"
)

// serve serves store over a real gRPC connection on loopback and returns a
// client connection to it.
func serve(t testing.TB, store config.Store) *grpc.ClientConn {
	return testproc.ServeGRPC(t, func(srv *grpc.Server) { configv1.RegisterConfigServiceServer(srv, NewServer(store)) })
}

func TestContractOverGRPC(t *testing.T) {
	configtest.Contract(t, NewStore(serve(t, config.NewMemory(0))))
}

func TestErrorsCrossTheWire(t *testing.T) {
	mem := config.NewMemory(2)
	store := NewStore(serve(t, mem))
	ctx := configtest.Ctx(t)
	for i := range 5 {
		configtest.MustPut(t, mem, fmt.Sprint("k", i), "v")
	}
	_, errs := store.Watch(ctx, "", 1)
	if err := <-errs; !errors.Is(err, config.ErrCompacted) {
		t.Errorf("watch from a forgotten revision: %v, want ErrCompacted", err)
	}
	client := configv1.NewConfigServiceClient(serve(t, mem))
	for name, tc := range map[string]struct {
		call func() error
		want string
	}{
		"empty key": {func() error { _, err := client.Put(ctx, &configv1.PutRequest{}); return err }, "key is empty"},
		"long key": {func() error {
			_, err := client.Get(ctx, &configv1.GetRequest{Key: strings.Repeat("k", MaxKeyBytes+1)})
			return err
		}, "over the limit of 512"},
		"big value": {func() error {
			_, err := client.Put(ctx, &configv1.PutRequest{Key: "big", Value: make([]byte, MaxValueBytes+1)})
			return err
		}, `value of "big" is 1048577 bytes`},
		"negative revision": {func() error {
			stream, err := client.Watch(ctx, &configv1.WatchRequest{FromRevision: -1})
			if err != nil {
				return err
			}
			_, err = stream.Recv()
			return err
		}, "from_revision -1 is negative"},
	} {
		err := tc.call()
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want InvalidArgument naming %q", name, err, tc.want)
		}
	}
	if _, err := mem.Get(ctx, "big"); !errors.Is(err, config.ErrNotFound) {
		t.Errorf("the refused value was stored: %v", err)
	}
}

// TestStoreMapsServiceErrors: with the ConfigService as a gomock mock, the
// service's reasons come back as the store errors callers test for.
func TestStoreMapsServiceErrors(t *testing.T) {
	client := mock.NewMockConfigServiceClient(gomock.NewController(t))
	store := NewStoreWithClient(client)
	ctx := configtest.Ctx(t)
	client.EXPECT().Get(gomock.Any(), gomock.Any()).Return(nil, storeErrors.ToStatus(fmt.Errorf("%w: %q", config.ErrNotFound, "x")))
	if _, err := store.Get(ctx, "x"); !errors.Is(err, config.ErrNotFound) || err.Error() != `config: key not found: "x"` {
		t.Errorf("Get: %v, want ErrNotFound", err)
	}
	// NotFound without the reason is not the key's: a proxy's, or an unknown method's.
	client.EXPECT().Get(gomock.Any(), gomock.Any()).Return(nil, status.Error(codes.NotFound, "no route"))
	if _, err := store.Get(ctx, "x"); errors.Is(err, config.ErrNotFound) {
		t.Errorf("Get: %v, want no ErrNotFound", err)
	}
	client.EXPECT().Delete(gomock.Any(), gomock.Any()).Return(nil, status.Error(codes.Unavailable, "config store: etcd down"))
	if _, err := store.Delete(ctx, "x"); status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "etcd down") {
		t.Errorf("Delete: %v, want the service's Unavailable", err)
	}
	client.EXPECT().Watch(gomock.Any(), gomock.Any()).Return(nil, storeErrors.ToStatus(fmt.Errorf("%w: revision 3", config.ErrCompacted)))
	events, errs := store.Watch(ctx, "", 3)
	if err := <-errs; !errors.Is(err, config.ErrCompacted) {
		t.Errorf("Watch: %v, want ErrCompacted", err)
	}
	if _, open := <-events; open {
		t.Error("a failed watch left its events open")
	}
}

// TestClientFollowsTheConfigCenter: a config.Client on the gRPC store sees
// changes made at the center without a restart.
func TestClientFollowsTheConfigCenter(t *testing.T) {
	center := config.NewMemory(0)
	configtest.MustPut(t, center, "ratelimit/policy", "v1")
	client, err := config.Open(configtest.Ctx(t), NewStore(serve(t, center)), config.Options{
		SnapshotPath: filepath.Join(t.TempDir(), "lkg.snapshot"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	changes := client.Watch(configtest.Ctx(t), "ratelimit/")
	configtest.MustPut(t, center, "ratelimit/policy", "v2")
	if e := configtest.Next(t, changes); string(e.KV.Value) != "v2" {
		t.Fatalf("change = %+v", e)
	}
	if kv, ok := client.Get("ratelimit/policy"); !ok || string(kv.Value) != "v2" {
		t.Errorf("local copy = %+v, %v", kv, ok)
	}
}

// BenchmarkPutToWatch: from a Put through the config service to a watcher of the
// service receiving it, on the embedded stores.
func BenchmarkPutToWatch(b *testing.B) {
	file, err := config.OpenFile(filepath.Join(b.TempDir(), "store.snapshot"), 0)
	if err != nil {
		b.Fatal(err)
	}
	for name, store := range map[string]config.Store{"memory": config.NewMemory(0), "file": file} {
		b.Run(name, func(b *testing.B) { configtest.PutToWatch(b, NewStore(serve(b, store))) })
	}
}
