// Package push uploads an OCI image index to a registry: only the blobs the
// registry lacks, retrying transient failures, and the index last, so that a tag
// never points at an index whose images are not all there. An SBOM goes with it
// as an OCI 1.1 referrer of the index (AttachSBOM).
package push

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Options says where to push.
type Options struct {
	Repository string   // HOST/PATH
	Tags       []string // the first is written with the index, the rest point at it
	// Insecure allows plain HTTP: for registries on loopback only.
	Insecure  bool
	Transport http.RoundTripper // http.DefaultTransport when nil
	Keychain  authn.Keychain    // the docker config and credential helpers when nil
	// SBOM, when set, is attached to the index as a referrer (AttachSBOM).
	SBOM []byte
}

// Result says what a push did.
type Result struct {
	Reference string // REPOSITORY:TAG@DIGEST of the first tag
	Digest    v1.Hash
	Uploaded  int // blobs sent to the registry
	// Present counts blobs and manifests the registry already had (an unchanged
	// index is found at once and nothing below it is even checked).
	Present int
	// SBOM is the digest of the SBOM's referrer manifest, when one was attached.
	SBOM v1.Hash
}

// Push uploads idx under every tag of opts.
func Push(ctx context.Context, idx v1.ImageIndex, opts Options) (Result, error) {
	if opts.Repository == "" {
		return Result{}, fmt.Errorf("no repository: want --repository=HOST/PATH")
	}
	tags := opts.Tags
	if len(tags) == 0 {
		tags = []string{"latest"}
	}
	repo, err := Repository(opts)
	if err != nil {
		return Result{}, err
	}
	remoteOpts, counter := remoteOptions(ctx, opts)
	digest, err := idx.Digest()
	if err != nil {
		return Result{}, err
	}
	first := repo.Tag(tags[0])
	// WriteIndex uploads every blob and image manifest before the index itself.
	if err := remote.WriteIndex(first, idx, remoteOpts...); err != nil {
		return Result{}, fmt.Errorf("pushing %s: %w (the tag was not changed; run the push again)", first, err)
	}
	for _, tag := range tags[1:] {
		if err := remote.Tag(repo.Tag(tag), idx, remoteOpts...); err != nil {
			return Result{}, fmt.Errorf("tagging %s: %w", repo.Tag(tag), err)
		}
	}
	result := Result{
		Reference: fmt.Sprintf("%s@%s", first, digest),
		Digest:    digest,
	}
	if opts.SBOM != nil {
		if result.SBOM, err = attachSBOM(repo, idx, opts.SBOM, remoteOpts); err != nil {
			return Result{}, err
		}
	}
	result.Uploaded, result.Present = int(counter.uploads.Load()), int(counter.present.Load())
	return result, nil
}

// Repository parses opts.Repository.
func Repository(opts Options) (name.Repository, error) {
	var nameOpts []name.Option
	if opts.Insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	repo, err := name.NewRepository(opts.Repository, nameOpts...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("repository %q: %w", opts.Repository, err)
	}
	return repo, nil
}

// remoteOptions are the go-containerregistry options of a push with opts.
func remoteOptions(ctx context.Context, opts Options) ([]remote.Option, *countingTransport) {
	transport := opts.Transport
	if transport == nil {
		transport = http.DefaultTransport
	}
	counter := &countingTransport{next: transport}
	keychain := opts.Keychain
	if keychain == nil {
		keychain = authn.DefaultKeychain
	}
	remoteOpts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(keychain),
		remote.WithTransport(counter),
		// Transient failures (timeouts, resets, 5xx) are retried with backoff.
		remote.WithRetryBackoff(remote.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 4}),
		remote.WithRetryStatusCodes(http.StatusRequestTimeout, http.StatusTooManyRequests,
			http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout),
	}
	return remoteOpts, counter
}

// countingTransport counts blob uploads (started with POST .../blobs/uploads/)
// and blobs or manifests found present (a HEAD answered 200).
type countingTransport struct {
	next             http.RoundTripper
	uploads, present atomic.Int64
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	switch {
	case req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/blobs/uploads/") && resp.StatusCode == http.StatusAccepted:
		t.uploads.Add(1)
	case req.Method == http.MethodHead && resp.StatusCode == http.StatusOK:
		t.present.Add(1)
	}
	return resp, nil
}
