package relay

import (
	"strings"
	"testing"
)

func TestParseEventID(t *testing.T) {
	for _, s := range []string{"0-0", "1700000000000-0", "1700000000000-17", "18446744073709551615-18446744073709551615"} {
		id, err := ParseEventID(s)
		if err != nil || id.String() != s {
			t.Errorf("ParseEventID(%q) = %v, %v", s, id, err)
		}
	}
	for s, problem := range map[string]string{
		"":                       "want <milliseconds>-<sequence>",
		"1700000000000":          "want <milliseconds>-<sequence>",
		"-1":                     "milliseconds: empty",
		"1-":                     "sequence: empty",
		"+1-0":                   "not a decimal number",
		"1-0-0":                  `"0-0" is not a decimal number`,
		"01-0":                   "leading zero",
		"18446744073709551616-0": "over 64 bits",
		"１-0":                    "not a decimal number",
	} {
		if _, err := ParseEventID(s); err == nil || !strings.Contains(err.Error(), problem) {
			t.Errorf("ParseEventID(%q) = %v, want an error saying %q", s, err, problem)
		}
	}
	a, b := EventID{1, 5}, EventID{2, 0}
	if !b.After(a) || a.After(b) || a.After(a) || !(EventID{1, 6}).After(a) {
		t.Error("After does not follow the stream's order")
	}
}

// FuzzParseEventID: any input parses or is refused without panicking; what
// parses is written back exactly, so an id a client sends back is the one it got.
func FuzzParseEventID(f *testing.F) {
	for _, s := range []string{"0-0", "1700000000000-3", "01-1", "1-", "-", "18446744073709551616-0", "1-0-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseEventID(s)
		if err != nil {
			return
		}
		if id.String() != s {
			t.Fatalf("ParseEventID(%q) = %v, written back as %q", s, id, id.String())
		}
		again, err := ParseEventID(id.String())
		if err != nil || again != id {
			t.Fatalf("%v does not parse back: %v, %v", id, again, err)
		}
	})
}
