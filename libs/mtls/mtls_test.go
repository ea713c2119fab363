package mtls

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"

	"github.com/monoreel/monoreel/libs/pki"
)

var quiet = slog.New(slog.DiscardHandler)

func newPKI(t *testing.T, services ...string) pki.Dir {
	t.Helper()
	d := pki.Dir(filepath.Join(t.TempDir(), "pki"))
	if err := pki.Create(d, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := d.IssueFiles(time.Hour, services...); err != nil {
		t.Fatal(err)
	}
	return d
}

func load(t *testing.T, d pki.Dir, name string) *Transport {
	t.Helper()
	f := &Flags{Cert: d.CertFile(name), Key: d.KeyFile(name), CA: d.CAFile()}
	tr, err := f.Load(name, "127.0.0.1:0", quiet)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// serve runs a health server with creds and returns its address; each call
// reports the serial number of the client's certificate on seen.
func serve(t *testing.T, creds credentials.TransportCredentials, seen chan<- string) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(creds), grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		p, _ := peer.FromContext(ctx)
		state := p.AuthInfo.(credentials.TLSInfo).State
		if seen != nil && len(state.VerifiedChains) > 0 {
			seen <- state.VerifiedChains[0][0].SerialNumber.String()
		}
		return h(ctx, req)
	}))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// check makes one health call on a new connection and returns the serial
// number of the server's certificate.
func check(t *testing.T, addr string, creds credentials.TransportCredentials) (string, error) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var p peer.Peer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p)); err != nil {
		return "", err
	}
	return p.AuthInfo.(credentials.TLSInfo).State.PeerCertificates[0].SerialNumber.String(), nil
}

func serial(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := x509.ParseCertificates(pemBody(t, data))
	if err != nil {
		t.Fatal(err)
	}
	return certs[0].SerialNumber.String()
}

// TestMutualTLS: both ends present and verify certificates of one CA.
func TestMutualTLS(t *testing.T) {
	d := newPKI(t, "idgen", "upload")
	seen := make(chan string, 1)
	addr := serve(t, load(t, d, "idgen").ServerCredentials(), seen)
	got, err := check(t, addr, load(t, d, "upload").ClientCredentials())
	if err != nil {
		t.Fatal(err)
	}
	if want := serial(t, d.CertFile("idgen")); got != want {
		t.Errorf("the server's certificate %s, want idgen's %s", got, want)
	}
	if client := <-seen; client != serial(t, d.CertFile("upload")) {
		t.Errorf("the server saw client certificate %s, want upload's", client)
	}
}

// TestRotationWithoutRestart: new certificates written over the files serve
// the next connections; the server never restarts.
func TestRotationWithoutRestart(t *testing.T) {
	d := newPKI(t, "idgen", "upload")
	server := load(t, d, "idgen")
	addr := serve(t, server.ServerCredentials(), nil)
	client := load(t, d, "upload").ClientCredentials()
	before, err := check(t, addr, client)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.IssueFiles(time.Hour, "idgen"); err != nil {
		t.Fatal(err)
	}
	server.source.checked = time.Time{} // skip the once-a-second wait
	after, err := check(t, addr, client)
	if err != nil {
		t.Fatal(err)
	}
	if after == before || after != serial(t, d.CertFile("idgen")) {
		t.Errorf("after rotation the server presents %s (before: %s), want the new %s", after, before, serial(t, d.CertFile("idgen")))
	}
}

// TestBrokenRotationKeepsServing: a certificate file replaced by garbage is
// refused, logged, and the previous certificate goes on serving.
func TestBrokenRotationKeepsServing(t *testing.T) {
	d := newPKI(t, "idgen", "upload")
	server := load(t, d, "idgen")
	var logs strings.Builder
	server.source.log = slog.New(slog.NewTextHandler(&logs, nil))
	addr := serve(t, server.ServerCredentials(), nil)
	want := serial(t, d.CertFile("idgen"))
	if err := os.WriteFile(d.CertFile("idgen"), []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	server.source.checked = time.Time{}
	got, err := check(t, addr, load(t, d, "upload").ClientCredentials())
	if err != nil || got != want {
		t.Fatalf("after a broken rotation: %s, %v; want the previous certificate %s", got, err, want)
	}
	if !strings.Contains(logs.String(), "keeping the previous certificate") {
		t.Errorf("the broken rotation is not logged:\n%s", logs.String())
	}
}

// TestRefusals: a client of another CA, or in plaintext, does not connect.
func TestRefusals(t *testing.T) {
	d := newPKI(t, "idgen")
	other := newPKI(t, "upload")
	addr := serve(t, load(t, d, "idgen").ServerCredentials(), nil)
	if _, err := check(t, addr, load(t, other, "upload").ClientCredentials()); err == nil {
		t.Error("a client with a certificate of another CA connected")
	}
	plain := &Flags{Plaintext: true}
	tr, err := plain.Load("upload", "127.0.0.1:1", quiet)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := check(t, addr, tr.ClientCredentials()); err == nil {
		t.Error("a plaintext client connected")
	}
}

func TestFlagErrors(t *testing.T) {
	d := newPKI(t, "idgen")
	other := newPKI(t)
	for _, tc := range []struct {
		flags  Flags
		listen string
		want   string
	}{
		{Flags{Plaintext: true}, ":9090", "only on a loopback address"},
		{Flags{Plaintext: true}, "0.0.0.0:9090", "only on a loopback address"},
		{Flags{Plaintext: true, Cert: "x"}, "127.0.0.1:9090", "choose one"},
		{Flags{Cert: d.CertFile("idgen")}, ":9090", "give all three"},
		{Flags{Cert: d.CertFile("idgen"), Key: d.KeyFile("idgen"), CA: other.CAFile()}, ":9090", "is not signed by -tls_ca"},
		{Flags{Cert: d.CertFile("idgen"), Key: d.KeyFile("idgen"), CA: d.KeyFile("idgen")}, ":9090", "no PEM certificate"},
	} {
		if _, err := tc.flags.Load("idgen", tc.listen, quiet); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v on %s: %v, want an error saying %q", tc.flags, tc.listen, err, tc.want)
		}
	}
	for _, listen := range []string{"127.0.0.1:9090", "[::1]:9090", "localhost:9090"} {
		if _, err := (&Flags{Plaintext: true}).Load("idgen", listen, quiet); err != nil {
			t.Errorf("-plaintext on %s: %v", listen, err)
		}
	}
}

// TestDevelopmentPKI: with no flags, services share a PKI made at first use,
// and trust each other through it.
func TestDevelopmentPKI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "devpki")
	server, err := (&Flags{DevPKI: dir}).Load("idgen", ":0", quiet)
	if err != nil {
		t.Fatal(err)
	}
	client, err := (&Flags{DevPKI: dir}).Load("upload", ":0", quiet)
	if err != nil {
		t.Fatal(err)
	}
	if server.DevPKI != pki.Dir(dir) {
		t.Errorf("DevPKI = %q", server.DevPKI)
	}
	addr := serve(t, server.ServerCredentials(), nil)
	if _, err := check(t, addr, client.ClientCredentials()); err != nil {
		t.Fatalf("two services on the development PKI: %v", err)
	}
}

func pemBody(t *testing.T, data []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("no PEM block")
	}
	return block.Bytes
}

// TestServerMustBeWhoWasDialled: a server whose certificate, from the right CA,
// names neither the dialled host nor the dialled service is refused; one named
// by its service identity (as etcd:///<service> targets are) is accepted.
func TestServerMustBeWhoWasDialled(t *testing.T) {
	d := newPKI(t, "upload")
	ca, err := d.LoadCA()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue("idgen", time.Now(), time.Hour, "idgen.internal")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.CertFile("idgen"), certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.KeyFile("idgen"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, load(t, d, "idgen").ServerCredentials(), nil)
	client := load(t, d, "upload").ClientCredentials()
	if _, err := check(t, addr, client); err == nil || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("a server certified for idgen.internal, dialled at %s: %v, want refused naming the address", addr, err)
	}
	_, port, _ := net.SplitHostPort(addr)
	conn, err := grpc.NewClient("passthrough:///idgen:"+port, grpc.WithTransportCredentials(client),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("the service dialled by its name: %v", err)
	}
}
