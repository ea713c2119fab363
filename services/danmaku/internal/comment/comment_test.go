package comment

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestValidate(t *testing.T) {
	for _, ok := range []string{"hello", "好耶！", "🎉🎉", strings.Repeat("字", MaxRunes)} {
		if err := Validate(ok); err != nil {
			t.Errorf("Validate(%q) = %v", ok, err)
		}
	}
	for text, want := range map[string]string{
		"":                                 "empty",
		strings.Repeat("a", MaxRunes+1):    "longer than 200 characters",
		"bad \xff byte":                    "not valid UTF-8 at byte 4",
		"bell\a":                           "control character U+0007 at byte 4",
		"new\nline":                        "control character U+000A",
		"evil \u202Egnp.exe":               "control character U+202E",
		"\uFFFD is a real character, fine": "",
	} {
		err := Validate(text)
		if want == "" {
			if err != nil {
				t.Errorf("Validate(%q) = %v, want nil", text, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate(%q) = %v, want an error containing %q", text, err, want)
		}
	}
}

// FuzzValidate: whatever Validate accepts is short, valid UTF-8 and free of
// control characters.
func FuzzValidate(f *testing.F) {
	f.Add("hello")
	f.Add("a\u202Eb")
	f.Add("\xff")
	f.Fuzz(func(t *testing.T, text string) {
		if Validate(text) != nil {
			return
		}
		if !utf8.ValidString(text) || utf8.RuneCountInString(text) > MaxRunes || text == "" {
			t.Fatalf("accepted %q", text)
		}
		for _, r := range text {
			if unicode.IsControl(r) || isBidiControl(r) {
				t.Fatalf("accepted %q with %U", text, r)
			}
		}
	})
}
