package main

import (
	"bytes"
	"crypto/sha256"
	"debug/macho"
	"encoding/binary"
	"errors"
	"fmt"
)

// Load commands and code-signature blobs this file reads (<mach-o/loader.h>,
// Apple's cs_blobs.h). Signature blobs are big-endian whatever the file's order.
const (
	loadCmdUUID          = 0x1b // LC_UUID: cmd, cmdsize, 16 bytes of UUID
	loadCmdCodeSignature = 0x1d // LC_CODE_SIGNATURE: cmd, cmdsize, dataoff, datasize
	magicSuperBlob       = 0xfade0cc0
	magicCodeDirectory   = 0xfade0c02
	slotCodeDirectory    = 0
	hashTypeSHA256       = 2
)

// machOLayout is where a Mach-O file keeps its UUID and its code signature.
type machOLayout struct {
	uuid         int // offset of the UUID's 16 bytes
	sig, sigSize int // offset and size of the code signature; size 0: unsigned
}

func parseMachO(data []byte) (machOLayout, error) {
	f, err := macho.NewFile(bytes.NewReader(data))
	if err != nil {
		return machOLayout{}, fmt.Errorf("Mach-O: %w", err)
	}
	l := machOLayout{uuid: -1}
	off := 32 // mach_header_64
	if f.Magic == macho.Magic32 {
		off = 28
	}
	for _, load := range f.Loads {
		raw := load.Raw()
		switch {
		case len(raw) >= 24 && f.ByteOrder.Uint32(raw) == loadCmdUUID:
			l.uuid = off + 8
		case len(raw) >= 16 && f.ByteOrder.Uint32(raw) == loadCmdCodeSignature:
			l.sig, l.sigSize = int(f.ByteOrder.Uint32(raw[8:])), int(f.ByteOrder.Uint32(raw[12:]))
		}
		off += len(raw)
	}
	switch {
	case l.uuid < 0:
		return l, ErrNoID
	case l.uuid+16 > len(data):
		return l, errors.New("LC_UUID runs past the end of the file")
	case l.sig < 0 || l.sigSize < 0 || l.sig > len(data)-l.sigSize:
		return l, errors.New("the code signature runs past the end of the file")
	}
	return l, nil
}

func locateMachO(data []byte) (int, int, error) {
	l, err := parseMachO(data)
	return l.uuid, 16, err
}

// setMachO sets the UUID to a hash of what the code signature covers (the file
// up to the signature), with the UUID zeroed, then hashes again the pages the
// UUID is on. The Go linker signs darwin/arm64 binaries ad hoc, page by page,
// and macOS on Apple silicon kills a binary whose pages do not match.
func setMachO(data []byte) error {
	l, err := parseMachO(data)
	if err != nil {
		return err
	}
	covered := data
	var cd codeDirectory
	if l.sigSize > 0 {
		if cd, err = parseCodeDirectory(data, l); err != nil {
			return err
		}
		covered = data[:cd.codeLimit]
	}
	uuid := data[l.uuid : l.uuid+16]
	clear(uuid)
	sum := sha256.Sum256(covered)
	copy(uuid, sum[:])
	// An RFC 4122 name-based UUID, as Apple's linker writes.
	uuid[6] = uuid[6]&0x0f | 0x30
	uuid[8] = uuid[8]&0x3f | 0x80
	if l.sigSize > 0 {
		cd.rehash(data, l.uuid, 16)
	}
	return nil
}

// codeDirectory is the part of a code signature that holds a SHA-256 hash of
// every page of the file up to codeLimit.
type codeDirectory struct {
	slots     []byte // the pages' hashes, 32 bytes each: a window on the file
	pageSize  int
	codeLimit int
}

func parseCodeDirectory(data []byte, l machOLayout) (codeDirectory, error) {
	be := binary.BigEndian
	sig := data[l.sig : l.sig+l.sigSize]
	if len(sig) < 12 || be.Uint32(sig) != magicSuperBlob {
		return codeDirectory{}, errors.New("code signature: not a SuperBlob")
	}
	count := int(be.Uint32(sig[8:]))
	for i := range count {
		entry := 12 + 8*i
		if entry+8 > len(sig) {
			break
		}
		if be.Uint32(sig[entry:]) != slotCodeDirectory {
			continue
		}
		off := int(be.Uint32(sig[entry+4:]))
		if off < 0 || off+40 > len(sig) || be.Uint32(sig[off:]) != magicCodeDirectory {
			return codeDirectory{}, errors.New("code signature: bad CodeDirectory")
		}
		blob := sig[off:]
		hashOffset, nCodeSlots := int(be.Uint32(blob[16:])), int(be.Uint32(blob[28:]))
		cd := codeDirectory{codeLimit: int(be.Uint32(blob[32:])), pageSize: 1 << blob[39]}
		if blob[36] != sha256.Size || blob[37] != hashTypeSHA256 {
			return codeDirectory{}, fmt.Errorf("code signature: hash type %d of %d bytes, only SHA-256 is supported", blob[37], blob[36])
		}
		if cd.codeLimit > l.sig || blob[39] == 0 || blob[39] > 16 || nCodeSlots != (cd.codeLimit+cd.pageSize-1)/cd.pageSize ||
			hashOffset < 0 || hashOffset+nCodeSlots*sha256.Size > len(blob) {
			return codeDirectory{}, errors.New("code signature: CodeDirectory does not describe this file")
		}
		cd.slots = blob[hashOffset : hashOffset+nCodeSlots*sha256.Size]
		return cd, nil
	}
	return codeDirectory{}, errors.New("code signature: no CodeDirectory")
}

// rehash computes again the hashes of the pages that bytes [from, from+n) are on.
func (cd codeDirectory) rehash(data []byte, from, n int) {
	for page := from / cd.pageSize; page*cd.pageSize < from+n; page++ {
		sum := sha256.Sum256(cd.page(data, page))
		copy(cd.slots[page*sha256.Size:], sum[:])
	}
}

// page returns the bytes a page's hash covers.
func (cd codeDirectory) page(data []byte, page int) []byte {
	return data[page*cd.pageSize : min((page+1)*cd.pageSize, cd.codeLimit)]
}
