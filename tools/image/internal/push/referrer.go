package push

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// SBOMArtifactType is the artifactType of an SBOM referrer: an SPDX JSON document.
const SBOMArtifactType = "application/spdx+json"

// The empty config of an artifact manifest (OCI image spec 1.1).
const emptyMediaType = "application/vnd.oci.empty.v1+json"

var emptyConfig = []byte("{}")

// manifest is an OCI 1.1 image manifest used as an artifact: artifactType, the
// empty config, one layer, and the subject it refers to.
type manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     types.MediaType   `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        v1.Descriptor     `json:"config"`
	Layers        []v1.Descriptor   `json:"layers"`
	Subject       *v1.Descriptor    `json:"subject"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

type rawManifest struct {
	raw       []byte
	mediaType types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mediaType, nil }

// attachSBOM pushes sbom as an artifact whose subject is idx (already pushed).
// A registry with the referrers API (OCI distribution 1.1) lists it there; for
// one without (Debian's docker-registry, distribution 2.8), the referrers tag
// sha256-<hex> is kept too: an index of the subject's referrers, as the
// distribution spec's fallback says. go-containerregistry writes that index but
// labels each entry with the config's media type; the spec wants the manifest's
// artifactType, so the entry is corrected.
func attachSBOM(repo name.Repository, idx v1.ImageIndex, sbom []byte, opts []remote.Option) (v1.Hash, error) {
	subject, err := descriptorOf(idx)
	if err != nil {
		return v1.Hash{}, err
	}
	layer := static.NewLayer(sbom, SBOMArtifactType)
	config := static.NewLayer(emptyConfig, emptyMediaType)
	for _, blob := range []v1.Layer{config, layer} {
		if err := remote.WriteLayer(repo, blob, opts...); err != nil {
			return v1.Hash{}, fmt.Errorf("uploading the SBOM: %w", err)
		}
	}
	configDesc, err := partial(config, emptyMediaType)
	if err != nil {
		return v1.Hash{}, err
	}
	layerDesc, err := partial(layer, SBOMArtifactType)
	if err != nil {
		return v1.Hash{}, err
	}
	layerDesc.Annotations = map[string]string{"org.opencontainers.image.title": "sbom.spdx.json"}
	raw, err := json.Marshal(manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  SBOMArtifactType,
		Config:        configDesc,
		Layers:        []v1.Descriptor{layerDesc},
		Subject:       &subject,
	})
	if err != nil {
		return v1.Hash{}, err
	}
	digest, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return v1.Hash{}, err
	}
	if err := remote.Put(repo.Digest(digest.String()), rawManifest{raw, types.OCIManifestSchema1}, opts...); err != nil {
		return v1.Hash{}, fmt.Errorf("pushing the SBOM's manifest: %w", err)
	}
	if err := fixReferrersTag(repo, subject.Digest, digest, opts); err != nil {
		return v1.Hash{}, err
	}
	return digest, nil
}

// fixReferrersTag sets the artifactType of the SBOM's entry in the referrers
// tag, if the registry has that tag (it has none when it serves the API).
func fixReferrersTag(repo name.Repository, subject, sbom v1.Hash, opts []remote.Option) error {
	tag := repo.Tag(subject.Algorithm + "-" + subject.Hex)
	fallback, err := remote.Index(tag, opts...)
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the referrers tag %s: %w", tag, err)
	}
	m, err := fallback.IndexManifest()
	if err != nil {
		return err
	}
	changed := false
	for i := range m.Manifests {
		if m.Manifests[i].Digest == sbom && m.Manifests[i].ArtifactType != SBOMArtifactType {
			m.Manifests[i].ArtifactType, changed = SBOMArtifactType, true
		}
	}
	if !changed {
		return nil
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return remote.Put(tag, rawManifest{raw, types.OCIImageIndex}, opts...)
}

func descriptorOf(idx v1.ImageIndex) (v1.Descriptor, error) {
	digest, err := idx.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	size, err := idx.Size()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: types.OCIImageIndex, Digest: digest, Size: size}, nil
}

func partial(l v1.Layer, mediaType types.MediaType) (v1.Descriptor, error) {
	digest, err := l.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	size, err := l.Size()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mediaType, Digest: digest, Size: size}, nil
}

// SBOMs returns the SBOMs attached to the index digest in repo, as a client
// finds them: through the referrers API, or the referrers tag where the
// registry has no API.
func SBOMs(ctx context.Context, repo name.Repository, digest v1.Hash, opts Options) ([][]byte, error) {
	remoteOpts, _ := remoteOptions(ctx, opts)
	referrers, err := remote.Referrers(repo.Digest(digest.String()), append(remoteOpts, remote.WithFilter("artifactType", SBOMArtifactType))...)
	if err != nil {
		return nil, fmt.Errorf("the referrers of %s: %w", digest, err)
	}
	m, err := referrers.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, d := range m.Manifests {
		if d.ArtifactType != SBOMArtifactType {
			continue
		}
		desc, err := remote.Get(repo.Digest(d.Digest.String()), remoteOpts...)
		if err != nil {
			return nil, err
		}
		var artifact manifest
		if err := json.Unmarshal(desc.Manifest, &artifact); err != nil {
			return nil, fmt.Errorf("SBOM manifest %s: %w", d.Digest, err)
		}
		if len(artifact.Layers) != 1 || artifact.Layers[0].MediaType != SBOMArtifactType {
			return nil, fmt.Errorf("SBOM manifest %s: want one %s layer, got %v", d.Digest, SBOMArtifactType, artifact.Layers)
		}
		layer, err := remote.Layer(repo.Digest(artifact.Layers[0].Digest.String()), remoteOpts...)
		if err != nil {
			return nil, err
		}
		rc, err := layer.Compressed()
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, data)
	}
	return out, nil
}
