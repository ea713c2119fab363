package push

import (
	"fmt"
	"os"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/monoreel/monoreel/tools/image/internal/ociimage"
)

// Image is a service image to push: its index and its SBOM.
type Image struct {
	Name  string // the repository name under a registry prefix
	Index v1.ImageIndex
	SBOM  []byte // nil: none
}

// LoadImages reads the images that push targets name on the command line:
// layouts as NAME=DIR (OCI layouts written by ocibuild), SBOMs as NAME=FILE.
func LoadImages(layouts, sboms []string) ([]Image, error) {
	sbomOf := map[string][]byte{}
	for _, s := range sboms {
		name, file, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("--sbom=%q: want NAME=FILE", s)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		sbomOf[name] = data
	}
	var images []Image
	for _, l := range layouts {
		name, dir, ok := strings.Cut(l, "=")
		if !ok {
			return nil, fmt.Errorf("--layout=%q: want NAME=DIR", l)
		}
		idx, err := ociimage.ReadLayout(dir)
		if err != nil {
			return nil, err
		}
		images = append(images, Image{Name: name, Index: idx, SBOM: sbomOf[name]})
	}
	return images, nil
}
