// Package comment checks the text of a bullet comment before it reaches a room.
package comment

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// MaxRunes is the longest comment, in characters.
const MaxRunes = 200

// Validate returns nil for a text a room may show, or an error that says what is
// wrong and where: empty, too long, not UTF-8, or holding control characters
// (including the bidirectional overrides that make text display reversed).
func Validate(text string) error {
	if text == "" {
		return fmt.Errorf("comment is empty")
	}
	n := 0
	for i, r := range text {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(text[i:]); size <= 1 {
				return fmt.Errorf("comment is not valid UTF-8 at byte %d", i)
			}
		}
		if unicode.IsControl(r) || isBidiControl(r) {
			return fmt.Errorf("comment has control character %U at byte %d", r, i)
		}
		n++
		if n > MaxRunes {
			return fmt.Errorf("comment is longer than %d characters", MaxRunes)
		}
	}
	return nil
}

// isBidiControl reports the explicit directional formatting characters.
func isBidiControl(r rune) bool {
	return (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) || r == 0x200E || r == 0x200F || r == 0x061C
}
