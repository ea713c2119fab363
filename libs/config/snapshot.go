package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/monoreel/monoreel/libs/atomicfile"
)

// A snapshot file is a header line, a JSON body and a checksum line:
//
//	monoreel-config-snapshot v1
//	{"revision":42,"written":"...","entries":[{"key":"...","value":"base64","revision":7}]}
//	sha256 <hex of the body line>
//
// The checksum covers the body, so a torn or edited file is detected before use.
const snapshotHeader = "monoreel-config-snapshot v1"

// Snapshot is the content of a snapshot file.
type Snapshot struct {
	Revision int64     `json:"revision"`
	Written  time.Time `json:"written"`
	Entries  []KV      `json:"entries"`
}

// ErrCorruptSnapshot is wrapped by every error about a damaged snapshot file.
var ErrCorruptSnapshot = errors.New("config: corrupt snapshot")

// EncodeSnapshot returns the file content for s.
func EncodeSnapshot(s Snapshot) ([]byte, error) {
	body, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	var out bytes.Buffer
	out.WriteString(snapshotHeader + "\n")
	out.Write(body)
	out.WriteString("\nsha256 " + hex.EncodeToString(sum[:]) + "\n")
	return out.Bytes(), nil
}

// DecodeSnapshot parses and verifies a snapshot file's content. Any damage gives
// an error wrapping ErrCorruptSnapshot, and no partial result.
func DecodeSnapshot(data []byte) (Snapshot, error) {
	fail := func(format string, args ...any) (Snapshot, error) {
		return Snapshot{}, fmt.Errorf("%w: %s", ErrCorruptSnapshot, fmt.Sprintf(format, args...))
	}
	header, rest, ok := bytes.Cut(data, []byte("\n"))
	if !ok || string(header) != snapshotHeader {
		return fail("missing header %q", snapshotHeader)
	}
	body, rest, ok := bytes.Cut(rest, []byte("\n"))
	if !ok {
		return fail("truncated before the checksum")
	}
	sumLine, rest, ok := bytes.Cut(rest, []byte("\n"))
	if !ok || len(rest) != 0 {
		return fail("checksum line missing or trailing data")
	}
	want, ok := bytes.CutPrefix(sumLine, []byte("sha256 "))
	if !ok {
		return fail("bad checksum line")
	}
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != string(want) {
		return fail("checksum mismatch")
	}
	var s Snapshot
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return fail("body: %v", err)
	}
	for _, kv := range s.Entries {
		if kv.Key == "" || kv.Revision < 1 || kv.Revision > s.Revision {
			return fail("entry %q has revision %d outside 1..%d", kv.Key, kv.Revision, s.Revision)
		}
	}
	return s, nil
}

// WriteSnapshot writes s to path atomically.
func WriteSnapshot(path string, s Snapshot) error {
	data, err := EncodeSnapshot(s)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, data, 0o600)
}

// ReadSnapshot reads and verifies the snapshot at path.
func ReadSnapshot(path string) (Snapshot, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Snapshot{}, err
	}
	s, err := DecodeSnapshot(data)
	if err != nil {
		return Snapshot{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}
