package debian

import (
	"os/exec"
	"testing"
)

// versionPairs are pairs of versions with a < b, as dpkg orders them: epochs,
// "~" (before anything, even the end), letters before other characters,
// numbers as numbers, revisions, and the Debian security updates' suffixes.
var versionPairs = [][2]string{
	{"1.0", "1.1"},
	{"1.9", "1.10"},
	{"1.0~rc1", "1.0"},
	{"1.0~~", "1.0~"},
	{"1.0", "1.0a"},
	{"1.0a", "1.0+"},
	{"1.0-1", "1.0-2"},
	{"1.0", "1.0-1"},
	{"2:1.0", "10:0.1"},
	{"9.9", "1:0.1"},
	{"0001.2", "1.10"},
	{"5.1.9-0+deb12u1", "7:5.1.9-0+deb12u1"},
	{"3.6.0-1+deb12u2", "3.6.0-1+deb12u3"},
	{"1:0.17.1-1", "1:0.17.1-1+deb12u1"},
	{"1.0.9-2+b6", "1.0.9-2+deb12u1"},
	{"2.54.7+dfsg-1~deb12u1", "2.54.7+dfsg-1~deb12u2"},
	{"3.0.20-1~deb12u2", "3.0.22-1~deb12u2"},
	{"1.5.4+dfsg2-5", "1.5.4+dfsg2-5+deb12u1"},
	{"2.37-6", "2.37-6.1"},
	{"1.2.3-a-1", "1.2.3-a-2"},
}

func TestCompareVersions(t *testing.T) {
	for _, p := range versionPairs {
		a, b := p[0], p[1]
		if got := CompareVersions(a, b); got != -1 {
			t.Errorf("CompareVersions(%q, %q) = %d, want -1", a, b, got)
		}
		if got := CompareVersions(b, a); got != 1 {
			t.Errorf("CompareVersions(%q, %q) = %d, want 1", b, a, got)
		}
		if got := CompareVersions(a, a); got != 0 {
			t.Errorf("CompareVersions(%q, %q) = %d, want 0", a, a, got)
		}
	}
	for _, same := range [][2]string{{"1.0", "1.00"}, {"0:1.0", "1.0"}, {"1.0-0", "1.0"}, {"01.0", "1.0"}} {
		if got := CompareVersions(same[0], same[1]); got != 0 {
			t.Errorf("CompareVersions(%q, %q) = %d, want 0 (the same version)", same[0], same[1], got)
		}
	}
}

// TestCompareVersionsAgreesWithDpkg asks dpkg itself about every pair, so the
// table above cannot be wrong in the same way as the code.
func TestCompareVersionsAgreesWithDpkg(t *testing.T) {
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		t.Fatalf("dpkg not found (it is essential on Debian, which the tests run on): %v", err)
	}
	for _, p := range versionPairs {
		for _, pair := range [][2]string{p, {p[1], p[0]}} {
			ours := CompareVersions(pair[0], pair[1]) < 0
			theirs := exec.Command(dpkg, "--compare-versions", pair[0], "lt", pair[1]).Run() == nil
			if ours != theirs {
				t.Errorf("%q < %q: dpkg says %v, CompareVersions %v", pair[0], pair[1], theirs, ours)
			}
		}
	}
}

// FuzzCompareVersions: the order is total and consistent whatever the strings:
// a version equals itself, and swapping the arguments flips the answer.
func FuzzCompareVersions(f *testing.F) {
	for _, p := range versionPairs {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if c := CompareVersions(a, a); c != 0 {
			t.Fatalf("CompareVersions(%q, itself) = %d", a, c)
		}
		if ab, ba := CompareVersions(a, b), CompareVersions(b, a); ab != -ba || ab < -1 || ab > 1 {
			t.Fatalf("CompareVersions(%q, %q) = %d but the other way %d", a, b, ab, ba)
		}
	})
}
