package pki

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/monoreel/monoreel/libs/atomicfile"
)

// Dir is a PKI on disk, as tools/devcerts, devstack and the tests lay it out:
//
//	ca.pem, ca.key              the CA
//	token.key, token.pub        the key pair that signs user tokens
//	<service>.pem, <service>.key  a service's certificate and key
type Dir string

// CAFile, TokenPublicFile... name the files of the PKI.
func (d Dir) CAFile() string              { return filepath.Join(string(d), "ca.pem") }
func (d Dir) CAKeyFile() string           { return filepath.Join(string(d), "ca.key") }
func (d Dir) TokenKeyFile() string        { return filepath.Join(string(d), "token.key") }
func (d Dir) TokenPublicFile() string     { return filepath.Join(string(d), "token.pub") }
func (d Dir) CertFile(name string) string { return filepath.Join(string(d), name+".pem") }
func (d Dir) KeyFile(name string) string  { return filepath.Join(string(d), name+".key") }

// Create makes a new CA and token key pair in d, valid for validity. It fails if
// d already holds a PKI. Several processes may call it at once: one wins, and the
// others get an error matching fs.ErrExist.
func Create(d Dir, validity time.Duration) error {
	parent := filepath.Dir(string(d))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	// Made aside, then renamed into place: nobody sees half a PKI.
	tmp, err := os.MkdirTemp(parent, ".pki-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	ca, err := NewCA("Monoreel CA ("+filepath.Base(string(d))+")", time.Now(), validity)
	if err != nil {
		return err
	}
	caKey, err := EncodeKey(ca.Key)
	if err != nil {
		return err
	}
	tokenKey, tokenPub, err := NewTokenKey()
	if err != nil {
		return err
	}
	staged := Dir(tmp)
	for path, data := range map[string][]byte{
		staged.CAFile(): ca.CertPEM(), staged.CAKeyFile(): caKey,
		staged.TokenKeyFile(): tokenKey, staged.TokenPublicFile(): tokenPub,
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, string(d)); err != nil {
		if _, statErr := os.Stat(d.CAFile()); statErr == nil {
			return fmt.Errorf("pki: %s already holds a PKI: %w", d, fs.ErrExist)
		}
		return err
	}
	return nil
}

// Ensure makes a PKI in d unless it has one already.
func Ensure(d Dir, validity time.Duration) error {
	if _, err := os.Stat(d.CAFile()); err == nil {
		return nil
	}
	if err := Create(d, validity); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// LoadCA reads the CA of d.
func (d Dir) LoadCA() (*CA, error) {
	certPEM, err := os.ReadFile(d.CAFile())
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(d.CAKeyFile())
	if err != nil {
		return nil, err
	}
	return ParseCA(certPEM, keyPEM)
}

// IssueFiles writes a certificate and key for each service in names, signed by
// d's CA and valid for validity, replacing any there (a rotation: services
// reload them without a restart).
func (d Dir) IssueFiles(validity time.Duration, names ...string) error {
	ca, err := d.LoadCA()
	if err != nil {
		return err
	}
	for _, name := range names {
		certPEM, keyPEM, err := ca.Issue(name, time.Now(), validity)
		if err != nil {
			return err
		}
		// Each file is replaced whole; a reader that catches the new key with
		// the old certificate finds they do not match, and tries again later.
		if err := atomicfile.Write(d.KeyFile(name), keyPEM, 0o600); err != nil {
			return err
		}
		if err := atomicfile.Write(d.CertFile(name), certPEM, 0o644); err != nil {
			return err
		}
	}
	return nil
}
