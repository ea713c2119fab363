package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/monoreel/monoreel/libs/auth"
	"github.com/monoreel/monoreel/libs/config/configgrpc"
	"github.com/monoreel/monoreel/libs/config/configtest"
	"github.com/monoreel/monoreel/libs/grpcerr"
	"github.com/monoreel/monoreel/libs/testproc"
	configv1 "github.com/monoreel/monoreel/proto/config/v1"
)

func binary(t testing.TB) string { return testproc.Runfile(t, "CONFIG_BINARY") }

// TestEmbeddedBinary runs the real binary on its embedded store: the store
// contract over gRPC, a graceful SIGTERM, and a restart that keeps every key.
func TestEmbeddedBinary(t *testing.T) {
	data := filepath.Join(t.TempDir(), "config.snapshot")
	svc := testproc.StartService(t, binary(t), "-data_file="+data)
	store := configgrpc.NewStore(svc.AdminConn(t))
	configtest.Contract(t, store)
	last := configtest.MustPut(t, store, "flags/new_player", "on")

	if err := svc.Terminate(t, 30*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, svc.Log())
	}
	if !strings.Contains(svc.Log(), "shutting down") {
		t.Errorf("no graceful shutdown in the log:\n%s", svc.Log())
	}

	again := testproc.StartService(t, binary(t), "-data_file="+data)
	store = configgrpc.NewStore(again.AdminConn(t))
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
	configtest.Contract(t, configgrpc.NewStore(svc.AdminConn(t)))
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

// TestWhoMayCall: the real binary, over mutual TLS. Services read, operators
// write; everybody else is refused with a reason, and a client that cannot
// prove who it is does not even connect.
func TestWhoMayCall(t *testing.T) {
	svc := testproc.StartService(t, binary(t), "-data_file="+filepath.Join(t.TempDir(), "s"))
	p := testproc.TestPKI(t)
	put := func(conn grpc.ClientConnInterface) error {
		_, err := configv1.NewConfigServiceClient(conn).Put(configtest.Ctx(t), &configv1.PutRequest{Key: "danmaku/ratelimit/vip", Value: []byte(`{"rate":1}`)})
		return err
	}
	get := func(conn grpc.ClientConnInterface) error {
		_, err := configv1.NewConfigServiceClient(conn).List(configtest.Ctx(t), &configv1.ListRequest{})
		return err
	}
	if err := put(svc.AdminConn(t)); err != nil {
		t.Fatalf("an operator's write: %v", err)
	}
	if err := get(svc.Conn); err != nil {
		t.Fatalf("a service's read: %v", err)
	}
	own := &configv1.PutRequest{Key: "state/" + testproc.Harness + "/progress", Value: []byte("1")}
	if _, err := configv1.NewConfigServiceClient(svc.Conn).Put(configtest.Ctx(t), own); err != nil {
		t.Fatalf("a service's write of its own state: %v", err)
	}

	shadow := metadata.AppendToOutgoingContext(configtest.Ctx(t), "x-shadow", "true")
	_, err := configv1.NewConfigServiceClient(svc.AdminConn(t)).Put(shadow, &configv1.PutRequest{Key: "danmaku/ratelimit/vip", Value: []byte(`{"rate":9}`)})
	if status.Code(err) != codes.FailedPrecondition || grpcerr.Reason(err) != "SHADOW_WRITE_REFUSED" {
		t.Errorf("an operator's shadow write: %v, want FailedPrecondition SHADOW_WRITE_REFUSED", err)
	}
	if _, err := configv1.NewConfigServiceClient(svc.Conn).List(metadata.AppendToOutgoingContext(configtest.Ctx(t), "x-shadow", "true"), &configv1.ListRequest{}); err != nil {
		t.Errorf("a shadow read: %v", err)
	}
	got, err := configv1.NewConfigServiceClient(svc.Conn).Get(configtest.Ctx(t), &configv1.GetRequest{Key: "danmaku/ratelimit/vip"})
	if err != nil || string(got.GetEntry().GetValue()) != `{"rate":1}` {
		t.Errorf("after a refused shadow write the key holds %q, %v; want the operator's", got.GetEntry().GetValue(), err)
	}

	other, err := testproc.NewPKI(filepath.Join(t.TempDir(), "other-pki"))
	if err != nil {
		t.Fatal(err)
	}
	userCreds, err := p.UserCredentials()
	if err != nil {
		t.Fatal(err)
	}
	otherCA, err := other.ServiceCredentials("orchestrator")
	if err != nil {
		t.Fatal(err)
	}
	expired, err := p.Issuer.Sign("ops", auth.TierNormal, []string{auth.RoleAdmin}, time.Now().Add(-2*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := other.Token("ops", auth.TierNormal, auth.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	dial := func(creds credentials.TransportCredentials, opts ...grpc.DialOption) *grpc.ClientConn {
		conn, err := grpc.NewClient(svc.Addr, append(opts, grpc.WithTransportCredentials(creds))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	for _, tc := range []struct {
		name   string
		conn   grpc.ClientConnInterface
		call   func(grpc.ClientConnInterface) error
		code   codes.Code
		reason string // of the ErrorInfo; empty: the handshake fails, there is no status from the server
	}{
		{"a user's write", svc.UserConn(t, "uma", auth.TierVIP), put, codes.PermissionDenied, "NOT_ALLOWED"},
		{"a service's write of configuration", svc.Conn, put, codes.PermissionDenied, "KEY_FOR_OPERATORS"},
		{"a user's read", svc.UserConn(t, "uma", auth.TierNormal), get, codes.PermissionDenied, "NOT_ALLOWED"},
		{"no certificate, no token", dial(userCreds), get, codes.Unauthenticated, "NO_CREDENTIALS"},
		{"an expired token", dial(userCreds, grpc.WithPerRPCCredentials(auth.Token(expired))), put, codes.Unauthenticated, "TOKEN_EXPIRED"},
		{"a token signed by another key", dial(userCreds, grpc.WithPerRPCCredentials(forged)), put, codes.Unauthenticated, "TOKEN_INVALID"},
		{"plaintext", dial(insecure.NewCredentials()), get, codes.Unavailable, ""},
		{"a certificate from another CA", dial(otherCA), get, codes.Unavailable, ""},
	} {
		err := tc.call(tc.conn)
		if status.Code(err) != tc.code || grpcerr.Reason(err) != tc.reason {
			t.Errorf("%s: %v, want %v with reason %q", tc.name, err, tc.code, tc.reason)
		}
		if tc.reason != "" && tc.reason != "KEY_FOR_OPERATORS" && grpcerr.Info(err).GetDomain() != "monoreel.auth" {
			t.Errorf("%s: the ErrorInfo's domain is %q, want monoreel.auth", tc.name, grpcerr.Info(err).GetDomain())
		}
	}
	if !strings.Contains(svc.Log(), `caller="user:uma (vip)"`) {
		t.Errorf("the refusal of uma's write is not logged with her identity:\n%s", svc.Log())
	}
	resp, err := http.Get("http://" + svc.AdminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if metrics := string(body); !strings.Contains(metrics, `auth_refusals_total{method="/monoreel.config.v1.ConfigService/Put",reason="NOT_ALLOWED"} 1`) {
		t.Errorf("the refusals are not counted:\n%s", metrics)
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
		args := append([]string{"-listen=127.0.0.1:0", "-admin_listen=", "-plaintext"}, tc.args...)
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
			configtest.PutToWatch(b, configgrpc.NewStore(svc.AdminConn(b)))
		})
	}
}
