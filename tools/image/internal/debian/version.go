package debian

import (
	"cmp"
	"strconv"
	"strings"
)

// CompareVersions compares two Debian package versions as dpkg does
// (deb-version(7)): -1 when a is older than b, 0 when they are the same
// version, 1 when a is newer. A version is [epoch:]upstream[-revision]; the
// epoch compares as a number (0 when absent or not a number), the upstream
// version and the revision by dpkg's rules: runs of non-digits compare
// character by character with letters before other characters and "~" before
// everything, even the end, and runs of digits compare as numbers.
func CompareVersions(a, b string) int {
	ea, ua, ra := splitVersion(a)
	eb, ub, rb := splitVersion(b)
	if c := cmp.Compare(ea, eb); c != 0 {
		return c
	}
	if c := compareFragment(ua, ub); c != 0 {
		return c
	}
	return compareFragment(ra, rb)
}

// splitVersion splits a version into its epoch, upstream version and revision
// (after the last "-"; empty when there is none, which compares as "0").
func splitVersion(v string) (epoch uint64, upstream, revision string) {
	if before, after, ok := strings.Cut(v, ":"); ok {
		epoch, _ = strconv.ParseUint(before, 10, 32)
		v = after
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		return epoch, v[:i], v[i+1:]
	}
	return epoch, v, ""
}

// compareFragment is dpkg's verrevcmp: alternate runs of non-digits and of
// digits, compared in turn.
func compareFragment(a, b string) int {
	for a != "" || b != "" {
		for (a != "" && !isDigit(a[0])) || (b != "" && !isDigit(b[0])) {
			if c := cmp.Compare(order(a), order(b)); c != 0 {
				return c
			}
			a, b = rest(a), rest(b)
		}
		na, nb := strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		da, db := digits(na), digits(nb)
		// More significant digits is a larger number; as many compare as text.
		if c := cmp.Compare(len(da), len(db)); c != 0 {
			return c
		}
		if c := strings.Compare(da, db); c != 0 {
			return c
		}
		a, b = na[len(da):], nb[len(db):]
	}
	return 0
}

// order is the weight of s's first character among non-digits: "~" sorts
// before the end of the string, which sorts before letters, which sort before
// every other character.
func order(s string) int {
	switch {
	case s == "" || isDigit(s[0]):
		return 0
	case s[0] == '~':
		return -1
	case isLetter(s[0]):
		return int(s[0])
	}
	return int(s[0]) + 256
}

func rest(s string) string {
	if s == "" || isDigit(s[0]) {
		return s
	}
	return s[1:]
}

func digits(s string) string {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i]
}

func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
