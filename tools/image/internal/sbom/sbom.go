// Package sbom writes the software bill of materials of a service image as an
// SPDX 2.3 JSON document: per platform, the Go binary with every module of its
// build info (debug/buildinfo: path, version, go.sum hash; purl pkg:golang) and
// the Debian packages of its base (name, version, architecture, the .deb's
// sha256; purl pkg:deb/debian). The document is a function of its inputs only
// (its creation time is the epoch), so the same image gives the same SBOM.
package sbom

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/monoreel/monoreel/tools/image/internal/debian"
)

// MediaType is an SPDX JSON document's (the artifactType of its referrer).
const MediaType = "application/spdx+json"

// Document is the part of SPDX 2.3 JSON written here.
type Document struct {
	SPDXVersion       string         `json:"spdxVersion"`
	DataLicense       string         `json:"dataLicense"`
	SPDXID            string         `json:"SPDXID"`
	Name              string         `json:"name"`
	DocumentNamespace string         `json:"documentNamespace"`
	CreationInfo      CreationInfo   `json:"creationInfo"`
	Packages          []Package      `json:"packages"`
	Relationships     []Relationship `json:"relationships"`
}

type CreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type Package struct {
	SPDXID           string        `json:"SPDXID"`
	Name             string        `json:"name"`
	VersionInfo      string        `json:"versionInfo,omitempty"`
	DownloadLocation string        `json:"downloadLocation"`
	FilesAnalyzed    bool          `json:"filesAnalyzed"`
	Supplier         string        `json:"supplier,omitempty"`
	SourceInfo       string        `json:"sourceInfo,omitempty"`
	Checksums        []Checksum    `json:"checksums,omitempty"`
	ExternalRefs     []ExternalRef `json:"externalRefs,omitempty"`
	PrimaryPurpose   string        `json:"primaryPackagePurpose,omitempty"`
}

type Checksum struct {
	Algorithm string `json:"algorithm"`
	Value     string `json:"checksumValue"`
}

type ExternalRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

type Relationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

// Platform is what one platform's image holds.
type Platform struct {
	Platform string    // linux/amd64
	Binary   *GoBinary // the service binary
	Debian   []debian.Locked
	Distro   string // e.g. debian-12, for Debian purls
}

var idUnsafe = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

func id(parts ...string) string {
	return "SPDXRef-" + idUnsafe.ReplaceAllString(strings.Join(parts, "-"), "-")
}

// Build returns the SBOM of service's image over platforms.
func Build(service string, platforms []Platform) (*Document, error) {
	doc := &Document{
		SPDXVersion:  "SPDX-2.3",
		DataLicense:  "CC0-1.0",
		SPDXID:       "SPDXRef-DOCUMENT",
		Name:         service + " image",
		CreationInfo: CreationInfo{Created: "1970-01-01T00:00:00Z", Creators: []string{"Tool: monoreel-tools-image-sbom"}},
	}
	sort.Slice(platforms, func(i, j int) bool { return platforms[i].Platform < platforms[j].Platform })
	digest := sha256.New()
	for _, p := range platforms {
		image := id("image", service, p.Platform)
		doc.Packages = append(doc.Packages, Package{SPDXID: image, Name: service + " (" + p.Platform + ")", DownloadLocation: "NOASSERTION", PrimaryPurpose: "CONTAINER"})
		doc.Relationships = append(doc.Relationships, Relationship{"SPDXRef-DOCUMENT", "DESCRIBES", image})

		info := p.Binary
		binary := id("binary", service, p.Platform)
		doc.Packages = append(doc.Packages, Package{
			SPDXID: binary, Name: info.Path, VersionInfo: info.Version, DownloadLocation: "NOASSERTION", PrimaryPurpose: "APPLICATION",
			ExternalRefs: []ExternalRef{purl(golangPurl(info.Path, info.Version))},
		})
		doc.Relationships = append(doc.Relationships, Relationship{image, "CONTAINS", binary})
		stdlib := id("golang", p.Platform, "stdlib")
		doc.Packages = append(doc.Packages, Package{SPDXID: stdlib, Name: "stdlib", VersionInfo: info.GoVersion, DownloadLocation: "NOASSERTION",
			ExternalRefs: []ExternalRef{purl(golangPurl("stdlib", info.GoVersion))}})
		doc.Relationships = append(doc.Relationships, Relationship{binary, "DEPENDS_ON", stdlib})
		fmt.Fprintf(digest, "%s %s %s\n", p.Platform, info.Path, info.GoVersion)
		for _, m := range info.Deps {
			if m.Replace != nil {
				m = m.Replace
			}
			pkg := Package{SPDXID: id("golang", p.Platform, m.Path), Name: m.Path, VersionInfo: m.Version, DownloadLocation: "NOASSERTION",
				ExternalRefs: []ExternalRef{purl(golangPurl(m.Path, m.Version))}}
			if sum, ok := strings.CutPrefix(m.Sum, "h1:"); ok {
				// go.sum's h1: hash is a SHA-256 (of the module's file list).
				if raw, err := base64.StdEncoding.DecodeString(sum); err == nil {
					pkg.Checksums = []Checksum{{"SHA256", hex.EncodeToString(raw)}}
				}
			}
			doc.Packages = append(doc.Packages, pkg)
			doc.Relationships = append(doc.Relationships, Relationship{binary, "DEPENDS_ON", pkg.SPDXID})
			fmt.Fprintf(digest, "%s %s %s\n", p.Platform, m.Path, m.Version)
		}
		for _, d := range p.Debian {
			pkg := Package{
				SPDXID: id("deb", p.Platform, d.Name), Name: d.Name, VersionInfo: d.Version, DownloadLocation: "NOASSERTION",
				Supplier: "Organization: Debian", SourceInfo: "built from Debian source package " + d.Source,
				Checksums:    []Checksum{{"SHA256", d.SHA256}},
				ExternalRefs: []ExternalRef{purl(debianPurl(d, p.Distro))},
			}
			doc.Packages = append(doc.Packages, pkg)
			doc.Relationships = append(doc.Relationships, Relationship{image, "CONTAINS", pkg.SPDXID})
			fmt.Fprintf(digest, "%s %s %s\n", p.Platform, d.Name, d.SHA256)
		}
	}
	// A namespace unique to this content, with no host in it.
	doc.DocumentNamespace = fmt.Sprintf("urn:monoreel:sbom:%s:%x", service, digest.Sum(nil))
	return doc, nil
}

func purl(locator string) ExternalRef {
	return ExternalRef{Category: "PACKAGE-MANAGER", Type: "purl", Locator: locator}
}

// golangPurl follows the purl spec: pkg:golang/<namespace>/<name>@<version>.
func golangPurl(path, version string) string {
	p := "pkg:golang/" + path
	if version != "" && version != "(devel)" {
		p += "@" + version
	}
	return p
}

// debianPurl: pkg:deb/debian/<name>@<version>?arch=<arch>&distro=<distro>; the
// epoch's colon is percent-encoded.
func debianPurl(d debian.Locked, distro string) string {
	p := fmt.Sprintf("pkg:deb/debian/%s@%s?arch=%s", d.Name, strings.ReplaceAll(d.Version, ":", "%3A"), d.Architecture)
	if distro != "" {
		p += "&distro=" + distro
	}
	return p
}

// Marshal writes doc as indented JSON.
func Marshal(doc *Document) ([]byte, error) {
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}
