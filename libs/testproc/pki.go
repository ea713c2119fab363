package testproc

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/monoreel/monoreel/libs/auth"
	"github.com/monoreel/monoreel/libs/mtls"
	"github.com/monoreel/monoreel/libs/pki"
)

// PKI is the certificate authority and token issuer of a test run (or of
// devstack): services get their certificates from it and verify users' tokens
// against its key, as in production, so tests run on the secure path.
type PKI struct {
	Dir    pki.Dir
	Issuer auth.Issuer

	mu     sync.Mutex
	issued map[string]bool
}

// validity of a test PKI's CA and certificates: longer than any test run.
const validity = 7 * 24 * time.Hour

// NewPKI makes a new PKI in dir (which must not exist yet).
func NewPKI(dir string) (*PKI, error) {
	if err := pki.Create(pki.Dir(dir), validity); err != nil {
		return nil, err
	}
	return OpenPKI(dir)
}

// OpenPKI opens the PKI in dir (the development PKI, devstack's): certificates
// it issues replace any of the same name.
func OpenPKI(dir string) (*PKI, error) {
	d := pki.Dir(dir)
	keyPEM, err := os.ReadFile(d.TokenKeyFile())
	if err != nil {
		return nil, err
	}
	key, err := pki.DecodeKey(keyPEM)
	if err != nil {
		return nil, err
	}
	return &PKI{Dir: d, Issuer: auth.Issuer{Key: key, Issuer: "monoreel", Audience: "monoreel"}, issued: map[string]bool{}}, nil
}

var (
	testPKIOnce sync.Once
	testPKI     *PKI
	testPKIErr  error
)

// TestPKI returns the PKI shared by the tests of this process, made at first use.
func TestPKI(t testing.TB) *PKI {
	t.Helper()
	testPKIOnce.Do(func() {
		var dir string
		if dir, testPKIErr = os.MkdirTemp(os.Getenv("TEST_TMPDIR"), "pki-"); testPKIErr == nil {
			testPKI, testPKIErr = NewPKI(filepath.Join(dir, "pki"))
		}
	})
	if testPKIErr != nil {
		t.Fatalf("the test PKI: %v", testPKIErr)
	}
	return testPKI
}

// ServiceArgs returns the flags that give service name its certificate and the
// token key, issuing its certificate files at the first call.
func (p *PKI) ServiceArgs(name string) ([]string, error) {
	if err := p.issue(name); err != nil {
		return nil, err
	}
	return []string{
		"-tls_cert=" + p.Dir.CertFile(name), "-tls_key=" + p.Dir.KeyFile(name),
		"-tls_ca=" + p.Dir.CAFile(), "-token_key=" + p.Dir.TokenPublicFile(),
	}, nil
}

func (p *PKI) issue(name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.issued[name] {
		return nil
	}
	if err := p.Dir.IssueFiles(validity, name); err != nil {
		return err
	}
	p.issued[name] = true
	return nil
}

// ServiceCredentials are client credentials with the certificate of service
// name: calls made with them come from that service.
func (p *PKI) ServiceCredentials(name string) (credentials.TransportCredentials, error) {
	if err := p.issue(name); err != nil {
		return nil, err
	}
	f := &mtls.Flags{Cert: p.Dir.CertFile(name), Key: p.Dir.KeyFile(name), CA: p.Dir.CAFile()}
	tr, err := f.Load(name, "", discard)
	if err != nil {
		return nil, err
	}
	return tr.ClientCredentials(), nil
}

// UserCredentials are client credentials trusting the CA with no certificate of
// their own: a user's client, which identifies its user with a token.
func (p *PKI) UserCredentials() (credentials.TransportCredentials, error) {
	caPEM, err := os.ReadFile(p.Dir.CAFile())
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("no certificate in %s", p.Dir.CAFile())
	}
	return mtls.ClientTLS(func() (*tls.Certificate, *x509.CertPool) { return nil, pool }), nil
}

// Token signs a token for user, valid for an hour.
func (p *PKI) Token(user, tier string, roles ...string) (auth.Token, error) {
	token, err := p.Issuer.Sign(user, tier, roles, time.Now(), time.Hour)
	return auth.Token(token), err
}

var discard = slog.New(slog.DiscardHandler)

// DialUser connects to target (an address, or e.g. etcd:///<service> with
// its resolver in opts) as user, with tier and roles, by a token of p: the
// client a person would use. The caller closes the connection.
func (p *PKI) DialUser(target, user, tier string, roles []string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	token, err := p.Token(user, tier, roles...)
	if err != nil {
		return nil, err
	}
	creds, err := p.UserCredentials()
	if err != nil {
		return nil, err
	}
	return grpc.NewClient(target, append([]grpc.DialOption{grpc.WithTransportCredentials(creds), grpc.WithPerRPCCredentials(token)}, opts...)...)
}
