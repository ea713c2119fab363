package pki

import (
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestIssuedCertificatesNameTheirService(t *testing.T) {
	ca, err := NewCA("test", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err := ca.Issue("orchestrator", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "127.0.0.1", KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("usage %v: %v", usage, err)
		}
	}
	if name, ok := ServiceName(cert); !ok || name != "orchestrator" {
		t.Errorf("ServiceName = %q, %v", name, ok)
	}
	if _, _, err := ca.Issue("a/b", time.Now(), time.Hour); err == nil {
		t.Error("a service name with a slash was issued")
	}
}

func TestServiceNameAcceptsOnlyOurs(t *testing.T) {
	for uri, want := range map[string]string{
		"spiffe://monoreel/service/idgen":  "idgen",
		"spiffe://monoreel/service/":       "",
		"spiffe://monoreel/service/a/b":    "",
		"spiffe://elsewhere/service/idgen": "",
		"https://monoreel/service/idgen":   "",
		"spiffe://monoreel/user/admin":     "",
	} {
		u, err := url.Parse(uri)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := ServiceName(&x509.Certificate{URIs: []*url.URL{u}})
		if got != want || ok != (want != "") {
			t.Errorf("%s: %q, %v; want %q", uri, got, ok, want)
		}
	}
}

// TestEnsureOnceUnderARace: services starting together make one PKI.
func TestEnsureOnceUnderARace(t *testing.T) {
	d := Dir(filepath.Join(t.TempDir(), "devpki"))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- Ensure(d, time.Hour) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	first, err := d.LoadCA()
	if err != nil {
		t.Fatal(err)
	}
	if err := Ensure(d, time.Hour); err != nil {
		t.Fatal(err)
	}
	again, err := d.LoadCA()
	if err != nil || !again.Cert.Equal(first.Cert) {
		t.Fatalf("Ensure replaced the CA: %v", err)
	}
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(string(d)), ".pki-*"))
	if len(matches) > 0 {
		t.Errorf("staging directories left behind: %v", matches)
	}
}

func TestDecodeErrorsSayWhat(t *testing.T) {
	if _, err := DecodeKey([]byte("junk")); err == nil {
		t.Error("junk decoded as a key")
	}
	if _, err := DecodePublicKey([]byte("junk")); err == nil {
		t.Error("junk decoded as a public key")
	}
	if _, err := ParseCA([]byte("junk"), nil); err == nil {
		t.Error("junk parsed as a CA")
	}
}
