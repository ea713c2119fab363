package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/monoreel/monoreel/libs/config/configgrpc"
	"github.com/monoreel/monoreel/libs/config/configtest"
	"github.com/monoreel/monoreel/libs/testproc"
	configv1 "github.com/monoreel/monoreel/proto/config/v1"
)

func binary(t testing.TB) string { return testproc.Runfile(t, "CONFIG_BINARY") }

// TestEmbeddedBinary runs the real binary on its embedded store: the store
// contract over gRPC, a graceful SIGTERM, and a restart that keeps every key.
func TestEmbeddedBinary(t *testing.T) {
	data := filepath.Join(t.TempDir(), "config.snapshot")
	svc := testproc.StartService(t, binary(t), "-data_file="+data)
	store := configgrpc.NewStore(svc.Conn)
	configtest.Contract(t, store)
	last := configtest.MustPut(t, store, "flags/new_player", "on")

	if err := svc.Terminate(t, 30*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, svc.Log())
	}
	if !strings.Contains(svc.Log(), "shutting down") {
		t.Errorf("no graceful shutdown in the log:\n%s", svc.Log())
	}

	again := testproc.StartService(t, binary(t), "-data_file="+data)
	store = configgrpc.NewStore(again.Conn)
	kv, err := store.Get(configtest.Ctx(t), "flags/new_player")
	if err != nil || string(kv.Value) != "on" || kv.Revision != last {
		t.Fatalf("after a restart: %+v, %v; want on at revision %d", kv, err, last)
	}
	if rev := configtest.MustPut(t, store, "flags/new_player", "off"); rev != last+1 {
		t.Errorf("revision after restart = %d, want %d", rev, last+1)
	}
}

// TestEtcdBinary runs the real binary on a real etcd.
func TestEtcdBinary(t *testing.T) {
	svc := testproc.StartService(t, binary(t), "-backend=etcd", "-etcd_endpoints="+configtest.StartEtcd(t))
	configtest.Contract(t, configgrpc.NewStore(svc.Conn))
}

// TestColouringIsChecked: the server's colouring interceptor refuses a bad
// region header, naming it.
func TestColouringIsChecked(t *testing.T) {
	svc := testproc.StartService(t, binary(t), "-data_file="+filepath.Join(t.TempDir(), "s"))
	ctx := metadata.AppendToOutgoingContext(configtest.Ctx(t), "x-region", "not a region!")
	_, err := configv1.NewConfigServiceClient(svc.Conn).List(ctx, &configv1.ListRequest{})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "x-region") {
		t.Errorf("List with a bad x-region = %v, want InvalidArgument naming x-region", err)
	}
}

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-backend=zookeeper"}, `-backend="zookeeper": want embedded or etcd`},
		{[]string{"-backend=etcd"}, "-backend=etcd needs -etcd_endpoints"},
		{[]string{"-data_file=" + filepath.Join(t.TempDir(), "bad")}, "corrupt snapshot"},
	} {
		if strings.Contains(tc.want, "corrupt") {
			writeFile(t, strings.TrimPrefix(tc.args[0], "-data_file="), "not a snapshot")
		}
		args := append([]string{"-listen=127.0.0.1:0", "-admin_listen="}, tc.args...)
		err := run(context.Background(), args, &strings.Builder{}, func(net.Addr) { t.Errorf("%v: served", tc.args) })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%v) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkPutToWatch: the time from a Put to a watcher receiving it, through
// the real binary, on each backend (p50-µs and p99-µs).
func BenchmarkPutToWatch(b *testing.B) {
	backends := map[string][]string{
		"embedded": {"-data_file=" + filepath.Join(b.TempDir(), "s")},
		"etcd":     {"-backend=etcd", "-etcd_endpoints=" + configtest.StartEtcd(b)},
	}
	for name, args := range backends {
		b.Run(name, func(b *testing.B) {
			svc := testproc.StartService(b, binary(b), args...)
			configtest.PutToWatch(b, configgrpc.NewStore(svc.Conn))
		})
	}
}
