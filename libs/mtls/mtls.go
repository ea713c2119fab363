// Package mtls is the transport security of every Monoreel gRPC hop: each
// service serves with its certificate, calls other services with the same one
// (so both ends know each other: mutual TLS), and trusts one CA for both.
// Certificates rotated on disk are picked up at the next handshake, without a
// restart.
//
// Where the certificates come from, in order:
//   - -tls_cert, -tls_key, -tls_ca: files, as production mounts them;
//   - otherwise the development PKI in -dev_pki (made there on first use, the way
//     tools/devcerts makes one), from whose CA the service issues itself a
//     certificate at start: `bazel run` of a service works with no set-up, on the
//     secure path;
//   - -plaintext, only when asked for, and only on a loopback address: no TLS and
//     no authentication, for local experiments.
package mtls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/monoreel/monoreel/libs/pki"
)

// Flags say where a service's certificates come from.
type Flags struct {
	Cert, Key, CA string
	DevPKI        string
	Plaintext     bool
}

// AddFlags registers -tls_cert, -tls_key, -tls_ca, -dev_pki and -plaintext on fs.
func AddFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.StringVar(&f.Cert, "tls_cert", "", "this service's certificate (PEM), for serving and for calling other services")
	fs.StringVar(&f.Key, "tls_key", "", "the key of -tls_cert (PEM)")
	fs.StringVar(&f.CA, "tls_ca", "", "the CA (PEM) that signs the certificates of servers and clients this service trusts")
	fs.StringVar(&f.DevPKI, "dev_pki", "", "without -tls_*: the development PKI directory (made on first use); empty: monoreel/devpki in the user cache dir")
	fs.BoolVar(&f.Plaintext, "plaintext", false, "no TLS and no authentication: every caller is trusted (only on a loopback -listen address)")
	return f
}

// Transport is a service's TLS material, for its server and its clients.
type Transport struct {
	// Plaintext is true under -plaintext: no TLS, no authentication.
	Plaintext bool
	// DevPKI is the development PKI the certificate came from; empty when it came
	// from -tls_* files.
	DevPKI pki.Dir
	source *source
}

// Load finds service's certificates as its flags say. listen is the gRPC listen
// address: -plaintext is refused unless it is a loopback address.
func (f *Flags) Load(service, listen string, log *slog.Logger) (*Transport, error) {
	given := f.Cert != "" || f.Key != "" || f.CA != ""
	switch {
	case f.Plaintext && given:
		return nil, errors.New("-plaintext and -tls_* together: choose one")
	case f.Plaintext:
		if !IsLoopback(listen) {
			return nil, fmt.Errorf("-plaintext serves in the clear, so only on a loopback address (e.g. -listen=127.0.0.1:%s), not %q", portOf(listen), listen)
		}
		log.Warn("serving in plaintext, with no authentication: every caller is trusted", "listen", listen)
		return &Transport{Plaintext: true}, nil
	case given:
		if f.Cert == "" || f.Key == "" || f.CA == "" {
			return nil, errors.New("-tls_cert, -tls_key and -tls_ca go together: give all three")
		}
		s := &source{certFile: f.Cert, keyFile: f.Key, caFile: f.CA, log: log}
		if err := s.reload(); err != nil {
			return nil, err
		}
		return &Transport{source: s}, nil
	}
	dir := f.DevPKI
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("no -tls_* flags, no -dev_pki and no user cache dir: %w", err)
		}
		dir = filepath.Join(cache, "monoreel", "devpki")
	}
	s, err := devSource(pki.Dir(dir), service)
	if err != nil {
		return nil, fmt.Errorf("the development PKI in %s: %w", dir, err)
	}
	log.Info("using the development PKI (production gives -tls_cert, -tls_key, -tls_ca)", "dir", dir)
	return &Transport{DevPKI: pki.Dir(dir), source: s}, nil
}

// ServerCredentials are the credentials of the service's gRPC server: its
// certificate, and a client certificate verified against the CA when the
// client gives one (a user's client may instead carry a token: libs/auth).
func (t *Transport) ServerCredentials() credentials.TransportCredentials {
	if t.Plaintext {
		return insecure.NewCredentials()
	}
	return credentials.NewTLS(&tls.Config{
		MinVersion: tls.VersionTLS13,
		// Built per handshake, so a rotated certificate or CA applies to the
		// next connection.
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cert, pool := t.source.current()
			return &tls.Config{
				MinVersion:   tls.VersionTLS13,
				Certificates: []tls.Certificate{*cert},
				ClientCAs:    pool,
				ClientAuth:   tls.VerifyClientCertIfGiven,
				NextProtos:   []string{"h2"},
			}, nil
		},
	})
}

// ClientCredentials are the credentials the service calls others with: its own
// certificate, and the server's verified against the CA.
func (t *Transport) ClientCredentials() credentials.TransportCredentials {
	if t.Plaintext {
		return insecure.NewCredentials()
	}
	return ClientTLS(t.source.current)
}

// ClientTLS makes client credentials from a function giving the current
// certificate (nil: none) and CA pool.
func ClientTLS(current func() (*tls.Certificate, *x509.CertPool)) credentials.TransportCredentials {
	return &clientTLS{TransportCredentials: credentials.NewTLS(clientConfig(current, "")), current: current}
}

// clientTLS checks each server against the address it was dialled at, which
// only the handshake knows (a TLS ServerName is empty for an IP address).
type clientTLS struct {
	credentials.TransportCredentials
	current func() (*tls.Certificate, *x509.CertPool)
}

func (c *clientTLS) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	host, _, err := net.SplitHostPort(authority)
	if err != nil {
		host = authority
	}
	return credentials.NewTLS(clientConfig(c.current, host)).ClientHandshake(ctx, authority, raw)
}

func (c *clientTLS) Clone() credentials.TransportCredentials {
	return &clientTLS{TransportCredentials: c.TransportCredentials.Clone(), current: c.current}
}

// clientConfig verifies the server as the standard library would, but against
// the CA pool of this moment (a rotated CA applies at once, which
// tls.Config.RootCAs cannot do), and requires it to be who was dialled: the
// host name or IP address of its address, or, for a service found by name
// (etcd:///idgen, libs/discovery), the service its certificate's identity names.
func clientConfig(current func() (*tls.Certificate, *x509.CertPool), host string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert, _ := current()
			if cert == nil {
				return &tls.Certificate{}, nil
			}
			return cert, nil
		},
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, pool := current()
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server gave no certificate")
			}
			leaf := cs.PeerCertificates[0]
			opts := x509.VerifyOptions{Roots: pool, Intermediates: x509.NewCertPool()}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			if _, err := leaf.Verify(opts); err != nil {
				return err
			}
			if name, ok := pki.ServiceName(leaf); ok && name == host {
				return nil
			}
			return leaf.VerifyHostname(host)
		},
	}
}

// IsLoopback reports whether a listen address binds only loopback: where
// plaintext may be served (-plaintext, the console's plain HTTP).
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func portOf(listen string) string {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "PORT"
	}
	return port
}

// devValidity is how long a service's certificate from the development PKI
// lasts: it is issued at every start.
const devValidity = 30 * 24 * time.Hour
