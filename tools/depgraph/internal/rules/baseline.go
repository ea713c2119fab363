package rules

import (
	"bufio"
	"io"
	"strings"
)

// ParseBaseline reads a baseline file: violations frozen when the rules were
// adopted, one per line as `check` prints their keys ("libs/a -> services/b", or
// "test libs/a -> services/b" for a test-only edge). '#' starts a comment.
// Frozen violations are reported but do not fail; new ones do.
func ParseBaseline(name string, r io.Reader) (map[string]bool, error) {
	keys := map[string]bool{}
	scanner := bufio.NewScanner(r)
	line := 0
	for scanner.Scan() {
		line++
		text, _, _ := strings.Cut(scanner.Text(), "#")
		f := strings.Fields(text)
		if len(f) == 0 {
			continue
		}
		test := f[0] == "test"
		if test {
			f = f[1:]
		}
		if len(f) != 3 || f[1] != "->" {
			return nil, &Error{File: name, Line: line, Reason: "want: [test] MODULE -> MODULE"}
		}
		for _, m := range []string{f[0], f[2]} {
			if err := checkPattern(m); err != nil || strings.HasSuffix(m, "/*") {
				return nil, &Error{File: name, Line: line, Reason: "baseline endpoint " + m + " must be one module name"}
			}
		}
		key := f[0] + " -> " + f[2]
		if test {
			key = "test " + key
		}
		keys[key] = true
	}
	if err := scanner.Err(); err != nil {
		return nil, &Error{File: name, Line: line + 1, Reason: err.Error()}
	}
	return keys, nil
}
