package rules

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRules(t *testing.T) {
	rs, err := Parse("rules.txt", strings.NewReader(`
# comment
tag libs/*  layer:lib  domain:core   # trailing comment
tag services/upload domain:media
allow layer:lib -> layer:lib layer:proto
allow-test layer:lib -> *
except libs/a -> services/b until 2027-01-31: moving to the client: MR-7
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := rs.TagsOf("libs/cache"); strings.Join(got, ",") != "domain:core,layer:lib" {
		t.Errorf("TagsOf(libs/cache) = %v", got)
	}
	if got := rs.TagsOf("services/upload"); strings.Join(got, ",") != "domain:media" {
		t.Errorf("TagsOf(services/upload) = %v", got)
	}
	if len(rs.Allow) != 1 || rs.Allow[0].String() != "allow layer:lib -> layer:lib layer:proto" || rs.Allow[0].Line != 5 {
		t.Errorf("Allow = %+v", rs.Allow)
	}
	if g := rs.Governing([]string{"layer:lib"}, true); len(g) != 1 || !g[0].Test {
		t.Errorf("Governing(test) = %+v, want the allow-test rule", g)
	}
	e := rs.Exceptions[0]
	if e.From != "libs/a" || e.To != "services/b" || e.Until.Format("2006-01-02") != "2027-01-31" || e.Reason != "moving to the client: MR-7" {
		t.Errorf("exception = %+v", e)
	}
}

func TestParseErrorsNameTheLine(t *testing.T) {
	for in, want := range map[string]string{
		"tag libs/*\n":                                    "r:1: want: tag PATTERN TAG...",
		"\nallow layer:lib layer:proto\n":                 "r:2: want: allow TAG -> TAG...",
		"forbid a -> b\n":                                 `r:1: unknown statement "forbid" (want tag, allow, allow-test or except)`,
		"except libs/a -> libs/b until 2027-01-31\n":      "r:1: want: except MODULE -> MODULE until YYYY-MM-DD: REASON",
		"except libs/a -> libs/b until 2027-01-31:   \n":  "r:1: an exception needs a reason after the colon",
		"except libs/a -> libs/b until 31.01.2027: why\n": `r:1: bad date "31.01.2027": want YYYY-MM-DD`,
		"except libs/* -> libs/b until 2027-01-31: why\n": `r:1: exception endpoint "libs/*" must be one module name`,
		"tag li*bs layer:lib\n":                           `r:1: bad module pattern "li*bs": want a module name or a prefix ending in /*`,
	} {
		_, err := Parse("r", strings.NewReader(in))
		var re *Error
		if !errors.As(err, &re) || err.Error() != want {
			t.Errorf("Parse(%q) = %v, want %q", in, err, want)
		}
	}
}

func TestMatches(t *testing.T) {
	for _, c := range []struct {
		pattern, module string
		want            bool
	}{
		{"libs/*", "libs/x", true},
		{"libs/*", "libsx/y", false},
		{"libs/*", "libs", false},
		{"services/idgen", "services/idgen", true},
		{"services/idgen", "services/idgenx", false},
	} {
		if got := Matches(c.pattern, c.module); got != c.want {
			t.Errorf("Matches(%q, %q) = %v", c.pattern, c.module, got)
		}
	}
}

func TestParseBaseline(t *testing.T) {
	keys, err := ParseBaseline("b", strings.NewReader("# frozen 2026-11\nlibs/a -> services/b\ntest libs/c -> services/d\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || !keys["libs/a -> services/b"] || !keys["test libs/c -> services/d"] {
		t.Errorf("keys = %v", keys)
	}
	if _, err := ParseBaseline("b", strings.NewReader("libs/a services/b\n")); err == nil || err.Error() != "b:1: want: [test] MODULE -> MODULE" {
		t.Errorf("bad baseline line: %v", err)
	}
}

// FuzzParse: any rules file parses or fails with an *Error naming a line; it never
// panics, and every parsed allow rule prints back as an allow statement.
func FuzzParse(f *testing.F) {
	f.Add("tag libs/* layer:lib\nallow layer:lib -> layer:lib\n")
	f.Add("except a -> b until 2027-01-01: why\n")
	f.Add("allow-test x -> *\n# c\n")
	f.Fuzz(func(t *testing.T, in string) {
		rs, err := Parse("f", strings.NewReader(in))
		if err != nil {
			var re *Error
			if !errors.As(err, &re) || re.Line < 1 {
				t.Fatalf("error %v does not name a line", err)
			}
			return
		}
		for _, r := range append(rs.Allow, rs.AllowTest...) {
			again, err := Parse("f", strings.NewReader(r.String()))
			if err != nil || len(again.Allow)+len(again.AllowTest) != 1 {
				t.Fatalf("rule %q does not parse back: %v", r.String(), err)
			}
		}
	})
}

func FuzzParseBaseline(f *testing.F) {
	f.Add("libs/a -> services/b\ntest libs/c -> services/d\n")
	f.Fuzz(func(t *testing.T, in string) {
		keys, err := ParseBaseline("f", strings.NewReader(in))
		if err != nil {
			return
		}
		for key := range keys {
			back, err := ParseBaseline("f", strings.NewReader(key))
			if err != nil || !back[key] {
				t.Fatalf("key %q does not parse back: %v", key, err)
			}
		}
	})
}
