// Command buildid gives a binary a build ID of its own: the GNU build-id note
// of an ELF file, or the LC_UUID of a Mach-O file, set to a hash of the file's
// contents (with the ID itself zeroed), as `ld --build-id=sha1` does.
//
//	buildid IN OUT    writes IN, with its build ID set, to OUT (executable)
//
// Why: rules_go links with a redacted Go build ID for reproducibility, and the
// Go linker derives the GNU build-id (and the Mach-O UUID) from it, so every
// binary of the repository carries the same one; debuggers, perf, debuginfod
// and continuous profilers then cannot tell them apart. A content hash differs
// between different binaries and is the same for two builds of the same source.
package main

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"debug/macho"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

// The release and image rules run it on every binary (tools/rules/multi_platform.bzl,
// tools/rules/image.bzl).
func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: buildid IN OUT")
		os.Exit(2)
	}
	if err := rewrite(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "buildid:", err)
		os.Exit(1)
	}
}

func rewrite(in, out string) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	if data, err = Set(data); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	return os.WriteFile(out, data, 0o755)
}

// ErrNoID means the binary has no build ID to set: the linker left none.
var ErrNoID = errors.New("no GNU build-id note or LC_UUID load command")

// Set rewrites the build ID in data (an ELF or Mach-O binary) in place and
// returns it.
func Set(data []byte) ([]byte, error) {
	if isMachO(data) {
		return data, setMachO(data)
	}
	off, size, err := locateELF(data)
	if err != nil {
		return nil, err
	}
	clear(data[off : off+size])
	sum := sha256.Sum256(data)
	copy(data[off:off+size], sum[:size])
	return data, nil
}

// Get returns the build ID of data, for tests and tools.
func Get(data []byte) ([]byte, error) {
	off, size, err := locate(data)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(data[off : off+size]), nil
}

func isMachO(data []byte) bool {
	return len(data) >= 4 && (binary.LittleEndian.Uint32(data) == macho.Magic64 || binary.LittleEndian.Uint32(data) == macho.Magic32)
}

// locate finds the build ID's bytes: their offset in the file and length.
func locate(data []byte) (off, size int, err error) {
	if isMachO(data) {
		return locateMachO(data)
	}
	return locateELF(data)
}

// noteGNUBuildID is NT_GNU_BUILD_ID, the type of the note in the "GNU" namespace.
const noteGNUBuildID = 3

func locateELF(data []byte) (int, int, error) {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return 0, 0, fmt.Errorf("neither ELF nor Mach-O: %w", err)
	}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOTE {
			continue
		}
		// Notes: namesz, descsz, type (4 bytes each, file byte order), the
		// name and the descriptor, each padded to 4 bytes.
		size := uint64(len(data))
		if s.Offset > size || s.Size > size-s.Offset {
			return 0, 0, fmt.Errorf("section %s runs past the end of the file", s.Name)
		}
		for pos := uint64(0); pos+12 <= s.Size; {
			at := s.Offset + pos
			namesz := uint64(f.ByteOrder.Uint32(data[at:]))
			descsz := uint64(f.ByteOrder.Uint32(data[at+4:]))
			typ := f.ByteOrder.Uint32(data[at+8:])
			name := pos + 12
			desc := name + align4(namesz)
			if namesz > s.Size || descsz > s.Size || desc+descsz > s.Size {
				return 0, 0, fmt.Errorf("a note of section %s runs past its end", s.Name)
			}
			nameBytes := data[int(s.Offset+name):int(s.Offset+name+namesz)]
			if typ == noteGNUBuildID && string(nameBytes) == "GNU\x00" {
				if descsz == 0 || descsz > sha256.Size {
					return 0, 0, fmt.Errorf("GNU build-id of %d bytes: want 1 to %d", descsz, sha256.Size)
				}
				return int(s.Offset + desc), int(descsz), nil
			}
			pos = desc + align4(descsz)
		}
	}
	return 0, 0, ErrNoID
}

func align4(n uint64) uint64 { return (n + 3) &^ 3 }
