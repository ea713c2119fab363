// Package rules parses the depgraph rules file: which modules carry which tags,
// which tags may depend on which, and the exceptions to that.
//
// One statement per line; '#' starts a comment:
//
//	tag libs/* layer:lib                     modules matching a pattern get tags
//	allow layer:lib -> layer:lib layer:proto  a module tagged layer:lib may depend only
//	                                          on modules with one of these tags ("*": any)
//	allow-test layer:lib -> layer:lib         the same, for edges from testonly targets
//	except libs/a -> libs/b until 2027-01-31: why this edge is tolerated
//
// A pattern is a module name ("services/idgen") or a prefix ending in "/*"
// ("services/*"). An edge A -> B between two modules is allowed when every allow
// rule whose source tag A has lets B in; for test-only edges the allow-test rules
// decide when A has any, the allow rules otherwise. A module no rule speaks for may
// depend on anything.
package rules

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Rules is a parsed rules file.
type Rules struct {
	File       string
	Tags       []TagRule
	Allow      []AllowRule // for all edges
	AllowTest  []AllowRule // for test-only edges
	Exceptions []Exception
}

// TagRule gives the modules matching Pattern some tags.
type TagRule struct {
	Pattern string
	Tags    []string
	Line    int
}

// AllowRule says a module tagged From may depend only on modules with one of To.
type AllowRule struct {
	From string
	To   []string // "*" allows anything
	Test bool
	Line int
}

// String renders the rule as it is written in the file.
func (r AllowRule) String() string {
	verb := "allow"
	if r.Test {
		verb = "allow-test"
	}
	return fmt.Sprintf("%s %s -> %s", verb, r.From, strings.Join(r.To, " "))
}

// Allows reports whether a module with tags may be depended on under r.
func (r AllowRule) Allows(tags []string) bool {
	for _, want := range r.To {
		if want == "*" {
			return true
		}
		for _, t := range tags {
			if t == want {
				return true
			}
		}
	}
	return false
}

// Exception tolerates one module edge until a date.
type Exception struct {
	From, To string
	Until    time.Time // the last day it applies (UTC)
	Reason   string
	Line     int
}

// Error is a bad line in a rules file.
type Error struct {
	File   string
	Line   int
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason) }

// Parse reads a rules file; name is used in messages.
func Parse(name string, r io.Reader) (*Rules, error) {
	rules := &Rules{File: name}
	scanner := bufio.NewScanner(r)
	line := 0
	for scanner.Scan() {
		line++
		text, _, _ := strings.Cut(scanner.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		fail := func(format string, args ...any) error {
			return &Error{File: name, Line: line, Reason: fmt.Sprintf(format, args...)}
		}
		switch fields[0] {
		case "tag":
			if len(fields) < 3 {
				return nil, fail("want: tag PATTERN TAG...")
			}
			if err := checkPattern(fields[1]); err != nil {
				return nil, fail("%v", err)
			}
			for _, t := range fields[2:] {
				if err := checkTag(t); err != nil {
					return nil, fail("%v", err)
				}
			}
			rules.Tags = append(rules.Tags, TagRule{Pattern: fields[1], Tags: fields[2:], Line: line})
		case "allow", "allow-test":
			if len(fields) < 4 || fields[2] != "->" {
				return nil, fail("want: %s TAG -> TAG...", fields[0])
			}
			if err := checkTag(fields[1]); err != nil {
				return nil, fail("%v", err)
			}
			for _, t := range fields[3:] {
				if t == "*" {
					continue
				}
				if err := checkTag(t); err != nil {
					return nil, fail("%v", err)
				}
			}
			rule := AllowRule{From: fields[1], To: fields[3:], Test: fields[0] == "allow-test", Line: line}
			if rule.Test {
				rules.AllowTest = append(rules.AllowTest, rule)
			} else {
				rules.Allow = append(rules.Allow, rule)
			}
		case "except":
			e, err := parseException(text)
			if err != nil {
				return nil, fail("%v", err)
			}
			e.Line = line
			rules.Exceptions = append(rules.Exceptions, e)
		default:
			return nil, fail("unknown statement %q (want tag, allow, allow-test or except)", fields[0])
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, &Error{File: name, Line: line + 1, Reason: err.Error()}
	}
	return rules, nil
}

// parseException parses "except A -> B until YYYY-MM-DD: reason".
func parseException(text string) (Exception, error) {
	const usage = "want: except MODULE -> MODULE until YYYY-MM-DD: REASON"
	head, reason, ok := strings.Cut(text, ":")
	reason = strings.TrimSpace(reason)
	if !ok {
		return Exception{}, fmt.Errorf("%s", usage)
	}
	if reason == "" {
		return Exception{}, fmt.Errorf("an exception needs a reason after the colon")
	}
	f := strings.Fields(head)
	if len(f) != 6 || f[2] != "->" || f[4] != "until" {
		return Exception{}, fmt.Errorf("%s", usage)
	}
	for _, m := range []string{f[1], f[3]} {
		if err := checkPattern(m); err != nil || strings.HasSuffix(m, "/*") {
			return Exception{}, fmt.Errorf("exception endpoint %q must be one module name", m)
		}
	}
	until, err := time.Parse("2006-01-02", f[5])
	if err != nil {
		return Exception{}, fmt.Errorf("bad date %q: want YYYY-MM-DD", f[5])
	}
	return Exception{From: f[1], To: f[3], Until: until, Reason: reason}, nil
}

func checkPattern(p string) error {
	if p == "" || strings.ContainsAny(p, " \t:") || strings.Contains(strings.TrimSuffix(p, "/*"), "*") {
		return fmt.Errorf("bad module pattern %q: want a module name or a prefix ending in /*", p)
	}
	return nil
}

func checkTag(t string) error {
	if t == "" || t == "->" || strings.ContainsAny(t, "*#") {
		return fmt.Errorf("bad tag %q", t)
	}
	return nil
}

// Matches reports whether module matches pattern.
func Matches(pattern, module string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "/*"); ok {
		return strings.HasPrefix(module, prefix+"/")
	}
	return pattern == module
}

// TagsOf returns the sorted, de-duplicated tags of a module.
func (r *Rules) TagsOf(module string) []string {
	set := map[string]bool{}
	for _, t := range r.Tags {
		if Matches(t.Pattern, module) {
			for _, tag := range t.Tags {
				set[tag] = true
			}
		}
	}
	tags := make([]string, 0, len(set))
	for t := range set {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	return tags
}

// Governing returns the allow rules an edge from a module with fromTags must pass:
// for a test-only edge the allow-test rules of those tags if there are any.
func (r *Rules) Governing(fromTags []string, test bool) []AllowRule {
	pick := func(rules []AllowRule) []AllowRule {
		var out []AllowRule
		for _, rule := range rules {
			for _, t := range fromTags {
				if rule.From == t {
					out = append(out, rule)
					break
				}
			}
		}
		return out
	}
	if test {
		if rules := pick(r.AllowTest); len(rules) > 0 {
			return rules
		}
	}
	return pick(r.Allow)
}
