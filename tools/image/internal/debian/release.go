package debian

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ArchiveKeyring is Debian's archive keyring as the debian-archive-keyring
// package installs it: the keys apt checks every Debian suite's InRelease with.
const ArchiveKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// Release is a suite's signed Release file: which suite it describes, until
// when it may be trusted, and the sha256 and size of each index file by path
// under the suite's dists/ directory ("main/binary-amd64/Packages.xz").
type Release struct {
	Suite, Codename string    // e.g. oldstable-security, bookworm-security
	ValidUntil      time.Time // zero when the suite sets none
	Files           map[string]FileHash
}

// FileHash is an index file's sha256 (hex) and size.
type FileHash struct {
	SHA256 string
	Size   int64
}

// VerifyInRelease checks a suite's InRelease file as apt does before it trusts
// an index: at least one good signature by a key of keyring (gpgv's own check;
// an expired or revoked key's signature does not count), a Release for the
// suite asked for (by Codename or Suite: no other suite's file replayed in its
// place), and not past its Valid-Until at now (no stale file replayed to hide
// newer fixes). keyring is an OpenPGP keyring, binary or ASCII-armored.
func VerifyInRelease(inRelease []byte, keyring, suite string, now time.Time) (*Release, error) {
	gpgv, err := exec.LookPath("gpgv")
	if err != nil {
		return nil, fmt.Errorf("checking InRelease: no gpgv (the Debian package gpgv): %w", err)
	}
	keys, err := os.ReadFile(keyring)
	if err != nil {
		return nil, fmt.Errorf("checking InRelease: the keyring: %w (Debian's is in the package debian-archive-keyring)", err)
	}
	dir, err := os.MkdirTemp("", "inrelease-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if bytes.HasPrefix(bytes.TrimSpace(keys), []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
		// gpgv reads binary keyrings only.
		if keys, err = dearmor(keys); err != nil {
			return nil, fmt.Errorf("keyring %s: %w", keyring, err)
		}
	}
	keyFile, in, out := filepath.Join(dir, "keyring.gpg"), filepath.Join(dir, "InRelease"), filepath.Join(dir, "Release")
	if err := os.WriteFile(keyFile, keys, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(in, inRelease, 0o600); err != nil {
		return nil, err
	}
	var status, diagnostics bytes.Buffer
	cmd := exec.Command(gpgv, "--status-fd", "1", "--keyring", keyFile, "--output", out, in)
	cmd.Stdout, cmd.Stderr = &status, &diagnostics
	runErr := cmd.Run()
	good := 0
	for _, line := range strings.Split(status.String(), "\n") {
		if strings.HasPrefix(line, "[GNUPG:] GOODSIG ") {
			good++
		}
	}
	if runErr != nil || good == 0 {
		return nil, fmt.Errorf("%s's InRelease has no good signature by a key of %s (gpgv: %v):\n%s", suite, keyring, runErr, strings.TrimSpace(diagnostics.String()))
	}
	signed, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	rel, err := ParseRelease(signed)
	if err != nil {
		return nil, err
	}
	if rel.Codename != suite && rel.Suite != suite {
		return nil, fmt.Errorf("the InRelease fetched for %s is %s's (%s)", suite, rel.Codename, rel.Suite)
	}
	if !rel.ValidUntil.IsZero() && now.After(rel.ValidUntil) {
		return nil, fmt.Errorf("%s's InRelease was valid until %s: a stale copy (a mirror behind, or one replayed)", suite, rel.ValidUntil.Format(time.RFC1123))
	}
	return rel, nil
}

// dearmor decodes an ASCII-armored OpenPGP block (RFC 4880, section 6): the
// base64 between the header's blank line and the "=" checksum line.
func dearmor(armored []byte) ([]byte, error) {
	var body strings.Builder
	inBody := false
	for _, line := range strings.Split(string(armored), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "-----END"):
			return base64.StdEncoding.DecodeString(body.String())
		case !inBody:
			inBody = line == ""
		case strings.HasPrefix(line, "="):
			// the CRC-24 checksum: the base64 decoding already rejects damage
		default:
			body.WriteString(line)
		}
	}
	return nil, errors.New("ASCII armor without an END line")
}

// ParseRelease reads a Release file: its Suite, Codename and Valid-Until, and
// its SHA256 field, one " HASH SIZE PATH" line per index file. A malformed line
// is an error naming it; a Release with no SHA256 field is an error too (apt
// would refuse it).
func ParseRelease(data []byte) (*Release, error) {
	rel := &Release{Files: map[string]FileHash{}}
	inSHA256 := false
	scanner := bufio.NewScanner(bytes.NewReader(data))
	scanner.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for line := 1; scanner.Scan(); line++ {
		text := strings.TrimRight(scanner.Text(), "\r")
		if text == "" || (text[0] != ' ' && text[0] != '\t') {
			name, value, _ := strings.Cut(text, ":")
			value = strings.TrimSpace(value)
			inSHA256 = name == "SHA256"
			switch name {
			case "Suite":
				rel.Suite = value
			case "Codename":
				rel.Codename = value
			case "Valid-Until":
				t, err := time.Parse(time.RFC1123, value)
				if err != nil {
					return nil, fmt.Errorf("Release, line %d: Valid-Until %q is not a date", line, truncate(value))
				}
				rel.ValidUntil = t
			}
			continue
		}
		if !inSHA256 {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 3 || !sha256Hex.MatchString(fields[0]) {
			return nil, fmt.Errorf("Release, line %d: want \" SHA256 SIZE PATH\", got %q", line, truncate(text))
		}
		size, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil || size < 0 {
			return nil, fmt.Errorf("Release, line %d: size %q is not a number", line, truncate(fields[1]))
		}
		rel.Files[fields[2]] = FileHash{SHA256: fields[0], Size: size}
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("Release: %w", err)
	}
	if len(rel.Files) == 0 {
		return nil, fmt.Errorf("Release: no SHA256 field")
	}
	return rel, nil
}

// Check returns an error unless data is the file the Release lists at path.
func (r *Release) Check(path string, data []byte) error {
	want, ok := r.Files[path]
	if !ok {
		return fmt.Errorf("%s: not in the suite's Release", path)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); int64(len(data)) != want.Size || got != want.SHA256 {
		return fmt.Errorf("%s: %d bytes with sha256 %s, but the signed Release says %d bytes with sha256 %s", path, len(data), got, want.Size, want.SHA256)
	}
	return nil
}
