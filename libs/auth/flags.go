package auth

import (
	"flag"
	"fmt"
	"os"

	"github.com/monoreel/monoreel/libs/pki"
)

// Flags say how a service verifies user tokens.
type Flags struct {
	KeyFile  string
	Issuer   string
	Audience string
}

// AddFlags registers -token_key, -token_issuer and -token_audience on fs.
func AddFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.StringVar(&f.KeyFile, "token_key", "", "the token issuer's public key (PEM: Ed25519 or ECDSA P-256); empty: the development PKI's, when the service uses it, else no user tokens are accepted")
	fs.StringVar(&f.Issuer, "token_issuer", "monoreel", "the issuer (iss) user tokens must name")
	fs.StringVar(&f.Audience, "token_audience", "monoreel", "the audience (aud) user tokens must name")
	return f
}

// Verifier reads the key file (or defaultKeyFile when -token_key is empty) and
// returns a Verifier for it; nil, and no error, when neither names a file.
func (f *Flags) Verifier(defaultKeyFile string) (*Verifier, error) {
	path := f.KeyFile
	if path == "" {
		path = defaultKeyFile
	}
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-token_key: %w", err)
	}
	key, err := pki.DecodePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("-token_key %s: %w", path, err)
	}
	return NewVerifier(key, f.Issuer, f.Audience)
}
