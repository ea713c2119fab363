package debian

import (
	"slices"
	"strings"
	"testing"
)

const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// index is a small Packages index in the archive's own format.
var index = strings.ReplaceAll(`Package: ffmpeg
Source: ffmpeg (7:5.1.9-0+deb12u1)
Version: 7:5.1.9-0+deb12u1
Architecture: amd64
Pre-Depends: libc6 (>= 2.34)
Depends: libavcodec59 (>= 7:5.1), libgl1 | libgl1-alt, debconf (>= 0.5) | debconf-2.0
Description: tools for transcoding
 a long description
 .
 over several lines
Filename: pool/main/f/ffmpeg/ffmpeg_5.1.9-0+deb12u1_amd64.deb
SHA256: @SHA@

Package: libavcodec59
Version: 7:5.1.9-0+deb12u1
Architecture: amd64
Depends: libc6:any, libva-driver
Filename: pool/main/f/ffmpeg/libavcodec59_5.1.9-0+deb12u1_amd64.deb
SHA256: @SHA@

Package: libgl1-alt
Version: 1
Architecture: amd64
Filename: pool/main/l/libgl1-alt/libgl1-alt_1_amd64.deb
SHA256: @SHA@

Package: vdpau-driver
Version: 2
Architecture: amd64
Provides: libva-driver (= 2)
Filename: pool/main/v/vdpau/vdpau-driver_2_amd64.deb
SHA256: @SHA@

Package: libc6
Version: 2.36-9
Architecture: amd64
Depends: libgcc-s1
Filename: pool/main/g/glibc/libc6_2.36-9_amd64.deb
SHA256: @SHA@

Package: libgcc-s1
Source: gcc-12
Version: 12.2.0-14
Architecture: amd64
Filename: pool/main/g/gcc-12/libgcc-s1_12.2.0-14_amd64.deb
SHA256: @SHA@

Package: debconf
Version: 1.5.82
Architecture: all
Essential: yes
Depends: perl-base
Filename: pool/main/d/debconf/debconf_1.5.82_all.deb
SHA256: @SHA@
`, "@SHA@", sha)

func TestResolve(t *testing.T) {
	idx, err := ParsePackages(strings.NewReader(index))
	if err != nil {
		t.Fatal(err)
	}
	ff := idx.Packages["ffmpeg"]
	if ff.Source != "ffmpeg" || len(ff.Depends) != 4 || ff.Depends[1][0] != (Relation{Name: "libavcodec59", Constraint: ">= 7:5.1"}) {
		t.Fatalf("ffmpeg = %+v", ff)
	}
	if !idx.Packages["debconf"].Essential || idx.Packages["libgcc-s1"].Source != "gcc-12" {
		t.Errorf("debconf or libgcc-s1 read wrong: %+v %+v", idx.Packages["debconf"], idx.Packages["libgcc-s1"])
	}
	got, err := Resolve(idx, []string{"ffmpeg"}, map[string]string{"debconf": "maintainer scripts"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		names = append(names, p.Name)
	}
	// libgl1 does not exist: its alternative is taken; libva-driver is virtual:
	// its provider is taken; debconf is excluded, and perl-base (only it needs
	// perl-base, which the index lacks) with it.
	want := "ffmpeg libavcodec59 libc6 libgcc-s1 libgl1-alt vdpau-driver"
	if strings.Join(names, " ") != want {
		t.Errorf("closure = %v, want %s", names, want)
	}
	if got[0].Filename != "pool/main/f/ffmpeg/ffmpeg_5.1.9-0+deb12u1_amd64.deb" || got[0].SHA256 != sha || got[0].Version != "7:5.1.9-0+deb12u1" {
		t.Errorf("ffmpeg locked as %+v", got[0])
	}
}

func TestResolveErrors(t *testing.T) {
	idx, err := ParsePackages(strings.NewReader(index))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve(idx, []string{"nosuch"}, nil); err == nil || !strings.Contains(err.Error(), "root package nosuch") {
		t.Errorf("unknown root: %v", err)
	}
	// Without the exclusion, debconf's perl-base is missing: named with its needer.
	if _, err := Resolve(idx, []string{"ffmpeg"}, nil); err == nil || !strings.Contains(err.Error(), "debconf 1.5.82 depends on perl-base") {
		t.Errorf("missing dependency: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Package: a\nno colon here\n", "line 2: want \"Field: value\""},
		{" continuation first\n", "line 1: continuation line without a field"},
		{"Version: 1\nArchitecture: all\nFilename: p/a.deb\nSHA256: " + sha + "\n", "no Package field"},
		{"Package: a\nVersion: 1\nArchitecture: all\nSHA256: " + sha + "\n", "package a: no Filename field"},
		{"Package: a\nVersion: 1\nArchitecture: all\nFilename: p/a.deb\nSHA256: abc\n", "SHA256 \"abc\" is not 64"},
		{"Package: a\nVersion: 1\nArchitecture: all\nFilename: ../a.deb\nSHA256: " + sha + "\n", "not a relative archive path"},
		{"Package: a\nVersion: 1\nArchitecture: all\nFilename: p/a.deb\nSHA256: " + sha + "\nDepends: bb (>= 1\n", "bad version constraint"},
		{"Package: a\nVersion: 1\nArchitecture: all\nFilename: p/a.deb\nSHA256: " + sha + "\nDepends: B\n", "bad package name"},
	} {
		if _, err := ParsePackages(strings.NewReader(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParsePackages(%q) = %v, want an error with %q", tc.in, err, tc.want)
		}
	}
}

// FuzzParsePackages: any input gives an index or an error, never a panic, and
// every package of an index is complete.
func FuzzParsePackages(f *testing.F) {
	f.Add(index)
	f.Add("Package: a\nVersion: 1\nArchitecture: all\nFilename: p/a.deb\nSHA256: " + sha + "\nDepends: b | c (<< 2), d:any\nProvides: e (= 1)\n\n\n")
	f.Add("Package: a\n continuation\n\n \n")
	f.Fuzz(func(t *testing.T, in string) {
		idx, err := ParsePackages(strings.NewReader(in))
		if err != nil {
			return
		}
		for name, p := range idx.Packages {
			if name != p.Name || p.Version == "" || p.Filename == "" || len(p.SHA256) != 64 {
				t.Fatalf("incomplete package %q: %+v", name, p)
			}
			if _, err := Resolve(idx, []string{name}, nil); err != nil && !strings.Contains(err.Error(), "nothing in the index satisfies") {
				t.Fatalf("Resolve(%s): %v", name, err)
			}
		}
	})
}

// TestNewest: of a release and its security suite, each package comes at its
// newest version, from the suite that has it; a virtual package is provided
// only by packages whose chosen version still provides it.
func TestNewest(t *testing.T) {
	parse := func(text string) *Index {
		idx, err := ParsePackages(strings.NewReader(strings.ReplaceAll(text, "@SHA@", sha)))
		if err != nil {
			t.Fatal(err)
		}
		return idx
	}
	release := parse(`Package: libssl3
Version: 3.0.20-1~deb12u2
Architecture: amd64
Provides: libssl
Filename: pool/main/o/openssl/libssl3_3.0.20-1~deb12u2_amd64.deb
SHA256: @SHA@

Package: libold
Version: 1.0
Architecture: amd64
Provides: libssl
Filename: pool/main/l/libold/libold_1.0_amd64.deb
SHA256: @SHA@

Package: zlib1g
Version: 1:1.2.13.dfsg-1
Architecture: amd64
Filename: pool/main/z/zlib/zlib1g_1.2.13.dfsg-1_amd64.deb
SHA256: @SHA@
`)
	security := parse(`Package: libssl3
Version: 3.0.22-1~deb12u2
Architecture: amd64
Provides: libssl
Filename: pool/updates/main/o/openssl/libssl3_3.0.22-1~deb12u2_amd64.deb
SHA256: @SHA@

Package: libold
Version: 1.1
Architecture: amd64
Filename: pool/updates/main/l/libold/libold_1.1_amd64.deb
SHA256: @SHA@

Package: zlib1g
Version: 1.2.14-1
Architecture: amd64
Filename: pool/updates/main/z/zlib/zlib1g_1.2.14-1_amd64.deb
SHA256: @SHA@
`)
	idx := Newest([]SuiteIndex{{"bookworm", release}, {"bookworm-security", security}})
	for name, want := range map[string]string{
		"libssl3": "3.0.22-1~deb12u2 bookworm-security",
		"libold":  "1.1 bookworm-security",
		"zlib1g":  "1:1.2.13.dfsg-1 bookworm", // an epoch outweighs a higher upstream version
	} {
		p := idx.Packages[name]
		if got := p.Version + " " + p.Suite; got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
	if p := idx.Lookup("libssl"); p == nil || p.Name != "libssl3" {
		t.Errorf("libssl is provided by %v, want libssl3 (libold 1.1 no longer provides it)", p)
	}
	locked, err := Resolve(idx, []string{"libssl3"}, nil)
	if err != nil || len(locked) != 1 || locked[0].Suite != "bookworm-security" || !strings.HasPrefix(locked[0].Filename, "pool/updates/") {
		t.Errorf("Resolve: %+v, %v; want libssl3 from bookworm-security", locked, err)
	}
}

func TestChanges(t *testing.T) {
	pkg := func(name, version, suite string) Locked {
		return Locked{Name: name, Version: version, Suite: suite, SHA256: sha}
	}
	prev := &Lock{Architectures: map[string][]Locked{
		"amd64": {pkg("ffmpeg", "7:5.1.9-0+deb12u1", "bookworm"), pkg("libold", "1", "bookworm"), pkg("libssl3", "3.0.20-1~deb12u2", "bookworm")},
		"arm64": {pkg("ffmpeg", "7:5.1.9-0+deb12u1", "bookworm")},
	}}
	next := &Lock{Architectures: map[string][]Locked{
		"amd64": {pkg("ffmpeg", "7:5.1.9-0+deb12u1", "bookworm"), pkg("libnew", "2", "bookworm-security"), pkg("libssl3", "3.0.22-1~deb12u2", "bookworm-security")},
	}}
	want := []string{
		"amd64 libnew 2 (bookworm-security) added",
		"amd64 libold 1 removed",
		"amd64 libssl3 3.0.20-1~deb12u2 -> 3.0.22-1~deb12u2 (bookworm-security)",
		"arm64: all 1 packages removed",
	}
	if got := Changes(prev, next); !slices.Equal(got, want) {
		t.Errorf("Changes:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := Changes(prev, prev); len(got) != 0 {
		t.Errorf("a lock against itself: %v", got)
	}
}
