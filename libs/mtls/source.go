package mtls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/monoreel/monoreel/libs/pki"
)

// recheck is how often, at most, the files are looked at again: a handshake
// costs a few stat calls at most once a second, whatever the connection rate.
const recheck = time.Second

// source holds the current certificate and CA pool, and reloads them when their
// files change.
type source struct {
	certFile, keyFile, caFile string // empty for a development certificate made in memory
	log                       *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	pool    *x509.CertPool
	stamp   string // the files' sizes and modification times at the last load
	checked time.Time
}

func devSource(dir pki.Dir, service string) (*source, error) {
	if err := pki.Ensure(dir, 365*24*time.Hour); err != nil {
		return nil, err
	}
	ca, err := dir.LoadCA()
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.Issue(service, time.Now(), devValidity)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return &source{cert: &cert, pool: pool}, nil
}

// current returns the certificate and pool, reloading the files first if they
// changed. A reload that fails (a rotation caught half-way, a bad file) keeps the
// previous pair, logs why, and is tried again at a later handshake.
func (s *source) current() (*tls.Certificate, *x509.CertPool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.certFile != "" && time.Since(s.checked) >= recheck {
		s.checked = time.Now()
		if stamp := s.stampFiles(); stamp != s.stamp {
			if err := s.reloadLocked(); err != nil {
				s.log.Error("TLS files changed but do not load: keeping the previous certificate", "error", err)
			} else {
				s.log.Info("TLS certificate reloaded", "cert", s.certFile, "not_after", s.cert.Leaf.NotAfter)
			}
		}
	}
	return s.cert, s.pool
}

func (s *source) reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checked = time.Now()
	return s.reloadLocked()
}

func (s *source) reloadLocked() error {
	stamp := s.stampFiles()
	cert, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
	if err != nil {
		return fmt.Errorf("-tls_cert %s / -tls_key %s: %w", s.certFile, s.keyFile, err)
	}
	caPEM, err := os.ReadFile(s.caFile)
	if err != nil {
		return fmt.Errorf("-tls_ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("-tls_ca %s: no PEM certificate in it", s.caFile)
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return errors.Join(fmt.Errorf("-tls_cert %s is not signed by -tls_ca %s", s.certFile, s.caFile), err)
	}
	s.cert, s.pool, s.stamp = &cert, pool, stamp
	return nil
}

func (s *source) stampFiles() string {
	var stamp string
	for _, f := range []string{s.certFile, s.keyFile, s.caFile} {
		if fi, err := os.Stat(f); err == nil {
			stamp += fmt.Sprintf("%d@%d;", fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return stamp
}
