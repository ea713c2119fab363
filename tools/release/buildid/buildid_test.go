package main

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixtures returns the fixture binaries a and b of a platform as the linker
// left them (raw) and as the release rule writes them (set).
func fixtures(t *testing.T, platform string) (rawA, rawB, setA, setB []byte) {
	t.Helper()
	read := func(env, name string) []byte {
		dir := os.Getenv(env)
		if dir == "" {
			t.Skip("needs the fixtures Bazel builds: ./bazelw test //tools/release/buildid:buildid_test")
		}
		data, err := os.ReadFile(filepath.Join(os.Getenv("TEST_SRCDIR"), dir, name+"_"+platform))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	return read("RAW_DIR", "a"), read("RAW_DIR", "b"), read("SET_DIR", "a"), read("SET_DIR", "b")
}

func TestSetGivesEachBinaryItsOwnStableID(t *testing.T) {
	var all [][]byte
	platforms := strings.Fields(os.Getenv("PLATFORMS"))
	if len(platforms) == 0 {
		if os.Getenv("RAW_DIR") == "" {
			t.Skip("needs the fixtures Bazel builds: ./bazelw test //tools/release/buildid:buildid_test")
		}
		// Under Bazel, a target whose env lists no platform would test nothing.
		t.Fatal("PLATFORMS names no platform: the go_test's env must list its fixtures' platforms")
	}
	for _, platform := range platforms {
		t.Run(platform, func(t *testing.T) {
			a, b, releasedA, releasedB := fixtures(t, platform)
			idA, err := Get(a)
			if err != nil {
				t.Fatal(err)
			}
			idB, _ := Get(b)
			if !bytes.Equal(idA, idB) {
				t.Fatalf("the linker's IDs differ already (%x, %x): the premise of this tool is gone", idA, idB)
			}
			setA, err := Set(bytes.Clone(a))
			if err != nil {
				t.Fatal(err)
			}
			setB, _ := Set(bytes.Clone(b))
			newA, _ := Get(setA)
			newB, _ := Get(setB)
			if bytes.Equal(newA, newB) || bytes.Equal(newA, idA) {
				t.Errorf("IDs after Set: a %x, b %x (linker's %x): want two new, different IDs", newA, newB, idA)
			}
			if !bytes.Equal(setA, releasedA) || !bytes.Equal(setB, releasedB) {
				t.Error("the release rule's binaries are not Set's output")
			}
			if len(setA) != len(a) {
				t.Fatal("Set changed the size of the binary")
			}
			if isMachO(a) {
				// The UUID and the hash of its page changed; the ad-hoc code
				// signature must still match every page.
				checkCodeSignature(t, "linker's", a)
				checkCodeSignature(t, "Set's", setA)
			} else if bytes.Count(xor(setA, a), []byte{0}) < len(a)-len(idA) {
				t.Error("Set changed more than the build ID")
			}
			// The ID is zeroed before hashing, so Set is stable on its own output.
			if twice, _ := Set(bytes.Clone(setA)); !bytes.Equal(twice, setA) {
				t.Error("Set is not idempotent")
			}
			all = append(all, newA, newB)
		})
	}
	for i := range all {
		for j := range i {
			if bytes.Equal(all[i], all[j]) {
				t.Errorf("two binaries share the build ID %x", all[i])
			}
		}
	}
}

// checkCodeSignature fails unless every page hash of data's code signature
// matches the page, as macOS checks before it runs a binary.
func checkCodeSignature(t *testing.T, which string, data []byte) {
	t.Helper()
	l, err := parseMachO(data)
	if err != nil || l.sigSize == 0 {
		t.Fatalf("%s binary: no code signature (%v)", which, err)
	}
	cd, err := parseCodeDirectory(data, l)
	if err != nil {
		t.Fatalf("%s binary: %v", which, err)
	}
	for page := range len(cd.slots) / sha256.Size {
		sum := sha256.Sum256(cd.page(data, page))
		if !bytes.Equal(sum[:], cd.slots[page*sha256.Size:(page+1)*sha256.Size]) {
			t.Errorf("%s binary: page %d does not match its hash in the code signature", which, page)
		}
	}
}

func xor(a, b []byte) []byte {
	out := make([]byte, len(a))
	for i := range a {
		out[i] = a[i] ^ b[i]
	}
	return out
}

func TestNotABinary(t *testing.T) {
	if _, err := Set([]byte("#!/bin/sh\necho hi\n")); err == nil {
		t.Error("Set on a shell script succeeded")
	}
}

// FuzzSet: arbitrary input never panics, and what Set accepts keeps its size.
func FuzzSet(f *testing.F) {
	f.Add([]byte("\x7fELF\x02\x01\x01\x00"))
	f.Add([]byte{0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		n := len(data)
		out, err := Set(bytes.Clone(data))
		if err == nil && len(out) != n {
			t.Errorf("size %d -> %d", n, len(out))
		}
	})
}
