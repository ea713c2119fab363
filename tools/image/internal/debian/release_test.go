package debian

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// testdata/bookworm-security.InRelease is the suite's real InRelease, as Debian
// signed it on 28 Nov 2026 (valid until 5 Dec 2026), and
// security-archive-keys.asc the two public keys of Debian's archive keyring
// that signed it (they expire in 2029 and 2031), so the check runs on real
// signatures without depending on the host's keyring.
const (
	securityInRelease = "testdata/bookworm-security.InRelease"
	securityKeys      = "testdata/security-archive-keys.asc"
)

var signedAt = time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)

func TestVerifyInRelease(t *testing.T) {
	inRelease, err := os.ReadFile(securityInRelease)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := VerifyInRelease(inRelease, securityKeys, "bookworm-security", signedAt)
	if err != nil {
		t.Fatal(err)
	}
	want := FileHash{SHA256: "89426314d157281cf62e252ce1a0634888c84c4a47dd317fb6bf690c0fab6a21", Size: 383216}
	if got := rel.Files["main/binary-amd64/Packages.xz"]; got != want {
		t.Errorf("main/binary-amd64/Packages.xz: %+v, want %+v", got, want)
	}
	if rel.Codename != "bookworm-security" || rel.Suite != "oldstable-security" || !rel.ValidUntil.Equal(time.Date(2026, 12, 5, 2, 53, 0, 0, time.UTC)) {
		t.Errorf("Release %s (%s), valid until %v", rel.Codename, rel.Suite, rel.ValidUntil)
	}
	// By Suite as well as by Codename, as apt accepts either.
	if _, err := VerifyInRelease(inRelease, securityKeys, "oldstable-security", signedAt); err != nil {
		t.Errorf("asked for by its Suite: %v", err)
	}

	empty := t.TempDir() + "/empty.gpg"
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// One index's hash changed: the signature no longer covers the text.
	tampered := bytes.Replace(inRelease, []byte(want.SHA256), []byte(strings.Repeat("0", 64)), 1)
	for _, c := range []struct {
		name, keyring, suite string
		data                 []byte
		now                  time.Time
		want                 string
	}{
		{"tampered", securityKeys, "bookworm-security", tampered, signedAt, "BAD signature"},
		{"keys not in the keyring", empty, "bookworm-security", inRelease, signedAt, "no good signature"},
		{"another suite's", securityKeys, "bookworm-updates", inRelease, signedAt, "fetched for bookworm-updates is bookworm-security's"},
		{"past its Valid-Until", securityKeys, "bookworm-security", inRelease, time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC), "a stale copy"},
	} {
		if _, err := VerifyInRelease(c.data, c.keyring, c.suite, c.now); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want %q", c.name, err, c.want)
		}
	}
}

func TestDearmorMatchesTheBinaryKeyring(t *testing.T) {
	armored, err := os.ReadFile(securityKeys)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := dearmor(armored)
	if err != nil {
		t.Fatal(err)
	}
	// A public-key packet, new or old format (RFC 4880, 4.2): tag 6.
	if len(keys) < 100 || (keys[0] != 0x99 && keys[0] != 0xc6) {
		t.Errorf("dearmored keyring starts % x, want a public-key packet", keys[:min(4, len(keys))])
	}
	if _, err := dearmor(armored[:len(armored)/2]); err == nil {
		t.Error("half an armored block was accepted")
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
		"Valid-Until: soon\n":                                             "Valid-Until \"soon\" is not a date",
	} {
		if _, err := ParseRelease([]byte(text)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v; want %q", text, err, want)
		}
	}
}

// FuzzParseRelease: no Release text makes the parser panic, and what it
// accepts has a well-formed hash and size for every path.
func FuzzParseRelease(f *testing.F) {
	f.Add([]byte("Codename: bookworm\nValid-Until: Sat, 05 Dec 2026 02:53:00 UTC\nSHA256:\n " + strings.Repeat("a", 64) + " 3 main/binary-amd64/Packages.xz\n"))
	f.Add([]byte("Origin: Debian\nMD5Sum:\n x 1 y\nSHA256:\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rel, err := ParseRelease(data)
		if err != nil {
			return
		}
		for path, h := range rel.Files {
			if !sha256Hex.MatchString(h.SHA256) || h.Size < 0 || path == "" {
				t.Fatalf("accepted %q: %+v", path, h)
			}
		}
	})
}
