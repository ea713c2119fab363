// Package grpccache runs a gRPC (REAPI) remote cache on loopback the way a team
// would run one, for the remote cache check (tools/buildperf/remotecache) and
// the build benchmark (tools/buildperf/bench):
//
//	Bazel --grpcs + bearer token--> nginx --h2c--> reapiadapter --> buildbox-casd
//
// TLS and authentication sit at the edge, in nginx (grpc_pass over HTTP/2): it
// serves a certificate of a CA made here, refuses every call whose
// `authorization` is not `Bearer <token>` with UNAUTHENTICATED, and strips the
// token before passing the call on, so nothing behind it sees a credential. The
// adapter (tools/reapiadapter: Bazel < 9 needs it to accept casd) sits next to
// casd, both plaintext on loopback: they are one cache server to the outside,
// and the adapter needs no TLS or auth of its own.
//
// The front also listens in plaintext HTTP/2 (h2c) on a second loopback port,
// with the same token check: Debian's Bazel 7.7.1 (on OpenJDK 25) cannot open a
// grpcs:// connection at all ("Failed to init TLS infrastructure: JDK provider
// does not support ALPN protocol", then it builds without the cache), so the
// builds of the checks reach the front there (Flags); TLSFlags are what a Bazel
// with working TLS uses, and the package's test checks the TLS listener.
package grpccache

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"github.com/monoreel/monoreel/libs/pki"
	"github.com/monoreel/monoreel/tools/buildperf/internal/buildrun"
	"github.com/monoreel/monoreel/tools/buildperf/internal/casdstack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
)

// maxMessage is as large as Bazel and casd agree on (see tools/reapiadapter).
const maxMessage = 64 << 20

// Cache is buildbox-casd, the adapter and the nginx front, with their files
// under Dir.
type Cache struct {
	// Endpoint is the front's TLS listener: grpcs://127.0.0.1:<port>.
	Endpoint string
	// PlainEndpoint is its plaintext one, same token: grpc://127.0.0.1:<port>.
	PlainEndpoint string
	// CAFile is the CA that signed the front's certificate (--tls_certificate).
	CAFile string
	// Token is the bearer token the front requires.
	Token string
	Dir   string

	stack *casdstack.Stack
	front *buildrun.Nginx
}

// Start runs casd (storage in dir/casd), the adapter and nginx, and returns
// once a call with the token goes through the whole chain.
func Start(dir string) (c *Cache, err error) {
	c = &Cache{Dir: dir}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if c.stack, err = casdstack.Start(dir, casdstack.Options{MaxMessage: maxMessage}); err != nil {
		return nil, err
	}
	if c.Token, err = newToken(); err != nil {
		return nil, err
	}
	cert, key, err := c.makeTLS()
	if err != nil {
		return nil, err
	}
	port, err := buildrun.FreePort()
	if err != nil {
		return nil, err
	}
	plainPort, err := buildrun.FreePort()
	if err != nil {
		return nil, err
	}
	c.Endpoint = fmt.Sprintf("grpcs://127.0.0.1:%d", port)
	c.PlainEndpoint = fmt.Sprintf("grpc://127.0.0.1:%d", plainPort)
	c.front, err = buildrun.StartNginx(filepath.Join(dir, "nginx"), frontConfig(port, plainPort, cert, key, c.Token, c.stack.AdapterAddr),
		func() error {
			conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
			if err == nil {
				conn.Close()
			}
			return err
		})
	if err != nil {
		return nil, err
	}
	return c, c.WaitReady()
}

// frontConfig is nginx's http block for the front: TLS, the token, the adapter.
func frontConfig(port, plainPort int, cert, key, token, adapterAddr string) string {
	return fmt.Sprintf(`  # The one credential this cache accepts; anything else is refused. (A key as
  # long as "Bearer <token>" needs larger buckets than the default 64 bytes.)
  map_hash_bucket_size 128;
  map $http_authorization $remote_cache_authorized {
    default 0;
    "Bearer %[4]s" 1;
  }
  upstream reapi_adapter {
    server %[5]s;
    # Reuse connections to the adapter: a build makes tens of thousands of calls.
    keepalive 32;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:%[1]d ssl http2;
    # Plaintext HTTP/2, loopback only: for a Bazel without working TLS (package doc).
    listen 127.0.0.1:%[6]d http2;
    ssl_certificate %[2]s;
    ssl_certificate_key %[3]s;
    ssl_protocols TLSv1.2 TLSv1.3;
    # ByteStream.Write streams a blob of any size in one request body.
    client_max_body_size 0;
    location / {
      # gRPC clients read HTTP 401 as UNAUTHENTICATED (gRPC's mapping of HTTP
      # statuses), Bazel's and Go's alike.
      if ($remote_cache_authorized = 0) {
        return 401;
      }
      # The token stops here: nothing behind the edge sees a credential.
      grpc_set_header Authorization "";
      grpc_pass grpc://reapi_adapter;
    }
  }
`, port, cert, key, token, adapterAddr, plainPort)
}

// makeTLS makes a CA (c.CAFile) and the front's certificate for loopback.
func (c *Cache) makeTLS() (cert, key string, err error) {
	ca, err := pki.NewCA("Monoreel remote cache check CA", time.Now(), 24*time.Hour)
	if err != nil {
		return "", "", err
	}
	certPEM, keyPEM, err := ca.Issue("remote-cache", time.Now(), 24*time.Hour, "127.0.0.1", "localhost")
	if err != nil {
		return "", "", err
	}
	dir := filepath.Join(c.Dir, "tls")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	c.CAFile, cert, key = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cache.pem"), filepath.Join(dir, "cache.key")
	for path, data := range map[string][]byte{c.CAFile: ca.CertPEM(), cert: certPEM, key: keyPEM} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return "", "", err
		}
	}
	return cert, key, nil
}

func newToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// TLSFlags are Bazel's flags for this cache as a team's user.bazelrc has them
// (with --config=remote-cache-grpc): the TLS endpoint, the CA, the token.
func (c *Cache) TLSFlags() []string {
	return []string{"--remote_cache=" + c.Endpoint, "--tls_certificate=" + c.CAFile,
		"--remote_header=Authorization=Bearer " + c.Token}
}

// Flags are the flags the checks build with: the plaintext listener and the
// token (Debian's Bazel cannot do TLS; package doc).
func (c *Cache) Flags() []string {
	return []string{"--remote_cache=" + c.PlainEndpoint, "--remote_header=Authorization=Bearer " + c.Token}
}

// CasdEndpoint is casd's own address, plaintext, no adapter, no front: for
// showing what Bazel makes of casd alone.
func (c *Cache) CasdEndpoint() string { return "grpc://" + c.stack.CasdAddr }

// CASDir is where casd keeps its blobs, one file each: <cache>/cas/objects/<2 hex>/<62 hex>.
func (c *Cache) CASDir() string { return filepath.Join(c.stack.Storage, "cas", "objects") }

// StartCasd (re)starts casd on its address, with the storage it had.
func (c *Cache) StartCasd() error { return c.stack.StartCasd() }

// StopCasd kills casd: the cache's storage dies behind the front.
func (c *Cache) StopCasd() { c.stack.StopCasd() }

// WaitReady waits up to 30 s for a call with the token to go through the
// front, the adapter and casd (the adapter reconnects to a restarted casd).
func (c *Cache) WaitReady() error {
	conn, err := c.Dial(c.Token)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		_, err := repb.NewCapabilitiesClient(conn).GetCapabilities(ctx, &repb.GetCapabilitiesRequest{}, grpc.WaitForReady(true))
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("the gRPC cache is not ready: %w (logs in %s)", err, c.Dir)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Dial connects to the front over TLS (trusting CAFile), sending token as a
// bearer token on every call unless it is empty.
func (c *Cache) Dial(token string) (*grpc.ClientConn, error) {
	caPEM, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no certificate in " + c.CAFile)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}))}
	if token != "" {
		opts = append(opts, grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token), method, req, reply, cc, opts...)
		}))
	}
	return grpc.NewClient(strings.TrimPrefix(c.Endpoint, "grpcs://"), opts...)
}

// writeRe matches the calls that write to the cache in nginx's access log.
var writeRe = regexp.MustCompile(`"POST /(google\.bytestream\.ByteStream/Write|build\.bazel\.remote\.execution\.v2\.(ContentAddressableStorage/BatchUpdateBlobs|ActionCache/UpdateActionResult)) `)

// Writes counts the calls that tried to write to the cache so far, refused or not.
func (c *Cache) Writes() int {
	if c.front == nil {
		return 0
	}
	return len(writeRe.FindAllStringIndex(c.front.AccessLog(), -1))
}

// Stop ends nginx, the adapter and casd.
func (c *Cache) Stop() {
	if c == nil {
		return
	}
	c.front.Stop()
	if c.stack != nil {
		c.stack.Stop()
	}
}
