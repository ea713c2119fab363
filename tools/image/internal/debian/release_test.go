package debian

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// testdata/bookworm-updates.InRelease is the suite's real InRelease, signed by
// Debian's archive keys, so the check runs against the keyring apt uses.
func TestVerifyInRelease(t *testing.T) {
	inRelease, err := os.ReadFile("testdata/bookworm-updates.InRelease")
	if err != nil {
		t.Fatal(err)
	}
	rel, err := VerifyInRelease(inRelease, ArchiveKeyring)
	if err != nil {
		t.Fatal(err)
	}
	want := FileHash{SHA256: "87e7e94047fb7fb6f4ceecc7022d4bee55b66031cc2a7666d3196f3e0aabb846", Size: 6924}
	if got := rel["main/binary-amd64/Packages.xz"]; got != want {
		t.Errorf("main/binary-amd64/Packages.xz: %+v, want %+v", got, want)
	}
	// One index's hash changed: the signature no longer covers the text.
	tampered := bytes.Replace(inRelease, []byte(want.SHA256), []byte(strings.Repeat("0", 64)), 1)
	if _, err := VerifyInRelease(tampered, ArchiveKeyring); err == nil || !strings.Contains(err.Error(), "BAD signature") {
		t.Errorf("a tampered InRelease: %v; want gpgv's BAD signature", err)
	}
	// The right text, but a keyring without Debian's keys.
	empty := t.TempDir() + "/empty.gpg"
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyInRelease(inRelease, empty); err == nil {
		t.Error("an InRelease checked against a keyring without its keys was accepted")
	}
}

func TestReleaseCheck(t *testing.T) {
	rel, err := ParseRelease([]byte("Origin: Debian\nSHA256:\n 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae        3 main/binary-amd64/Packages.xz\nChanged-By: x\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := rel.Check("main/binary-amd64/Packages.xz", []byte("foo")); err != nil {
		t.Errorf("the listed bytes: %v", err)
	}
	for _, c := range []struct{ path, data, want string }{
		{"main/binary-amd64/Packages.xz", "fox", "the signed Release says 3 bytes"},
		{"main/binary-amd64/Packages.xz", "fooo", "4 bytes"},
		{"main/binary-arm64/Packages.xz", "foo", "not in the suite's Release"},
	} {
		if err := rel.Check(c.path, []byte(c.data)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Check(%s, %q) = %v; want %q", c.path, c.data, err, c.want)
		}
	}
}

func TestParseReleaseErrors(t *testing.T) {
	for text, want := range map[string]string{
		"Origin: Debian\n":                                                "no SHA256 field",
		"SHA256:\n nothex 3 main/Packages.xz\n":                           "line 2",
		"SHA256:\n " + strings.Repeat("a", 64) + " -3 main/Packages.xz\n": "size \"-3\"",
		"SHA256:\n " + strings.Repeat("a", 64) + " 3\n":                   "line 2",
	} {
		if _, err := ParseRelease([]byte(text)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v; want %q", text, err, want)
		}
	}
}

// FuzzParseRelease: no Release text makes the parser panic, and what it
// accepts has a well-formed hash and size for every path.
func FuzzParseRelease(f *testing.F) {
	f.Add([]byte("SHA256:\n " + strings.Repeat("a", 64) + " 3 main/binary-amd64/Packages.xz\n"))
	f.Add([]byte("Origin: Debian\nMD5Sum:\n x 1 y\nSHA256:\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rel, err := ParseRelease(data)
		if err != nil {
			return
		}
		for path, h := range rel {
			if !sha256Hex.MatchString(h.SHA256) || h.Size < 0 || path == "" {
				t.Fatalf("accepted %q: %+v", path, h)
			}
		}
	})
}
