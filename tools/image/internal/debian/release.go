package debian

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// ArchiveKeyring is Debian's archive keyring as the debian-archive-keyring
// package installs it: the keys apt checks every Debian suite's InRelease with.
const ArchiveKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// Release is what a suite's signed Release file says of its index files: the
// sha256 and size of each, by path under the suite's dists/ directory
// ("main/binary-amd64/Packages.xz").
type Release map[string]FileHash

// FileHash is an index file's sha256 (hex) and size.
type FileHash struct {
	SHA256 string
	Size   int64
}

// VerifyInRelease checks the OpenPGP signature of a suite's InRelease file
// against keyring with gpgv, as apt does, and returns the Release it signs.
// A bad signature, or one by a key not in keyring, is an error with gpgv's
// words.
func VerifyInRelease(inRelease []byte, keyring string) (Release, error) {
	gpgv, err := exec.LookPath("gpgv")
	if err != nil {
		return nil, fmt.Errorf("checking InRelease: no gpgv (the Debian package gpgv): %w", err)
	}
	if _, err := os.Stat(keyring); err != nil {
		return nil, fmt.Errorf("checking InRelease: the keyring: %w (the Debian package debian-archive-keyring)", err)
	}
	file, err := os.CreateTemp("", "InRelease-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(file.Name())
	if _, err := file.Write(inRelease); err != nil {
		file.Close()
		return nil, err
	}
	if err := file.Close(); err != nil {
		return nil, err
	}
	var signed, diagnostics bytes.Buffer
	cmd := exec.Command(gpgv, "--keyring", keyring, "--output", "-", file.Name())
	cmd.Stdout, cmd.Stderr = &signed, &diagnostics
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("InRelease's signature does not check out against %s (%v):\n%s", keyring, err, strings.TrimSpace(diagnostics.String()))
	}
	return ParseRelease(signed.Bytes())
}

// ParseRelease reads the SHA256 field of a Release file: one " HASH SIZE PATH"
// line per index file. A malformed line is an error naming it; a Release with
// no SHA256 field is an error too (apt would refuse it).
func ParseRelease(data []byte) (Release, error) {
	rel := Release{}
	inSHA256 := false
	scanner := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; scanner.Scan(); line++ {
		text := strings.TrimRight(scanner.Text(), "\r")
		if text == "" || (text[0] != ' ' && text[0] != '\t') {
			name, _, _ := strings.Cut(text, ":")
			inSHA256 = name == "SHA256"
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
		rel[fields[2]] = FileHash{SHA256: fields[0], Size: size}
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("Release: %w", err)
	}
	if len(rel) == 0 {
		return nil, fmt.Errorf("Release: no SHA256 field")
	}
	return rel, nil
}

// Check returns an error unless data is the file the Release lists at path.
func (r Release) Check(path string, data []byte) error {
	want, ok := r[path]
	if !ok {
		return fmt.Errorf("%s: not in the suite's Release", path)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); int64(len(data)) != want.Size || got != want.SHA256 {
		return fmt.Errorf("%s: %d bytes with sha256 %s, but the signed Release says %d bytes with sha256 %s", path, len(data), got, want.Size, want.SHA256)
	}
	return nil
}
