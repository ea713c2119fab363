// Package console holds the web console's sources (src/, built by the
// TypeScript rules); this Go test keeps its client-side checks honest: every
// case of web/console/testdata/validation.json, which src/logic.test.ts runs through the
// TypeScript checks, goes through the Go parsers the services use, and both
// must agree on what is valid.
package webtest

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/monoreel/monoreel/libs/breaker"
	"github.com/monoreel/monoreel/libs/ratelimit"
	"github.com/monoreel/monoreel/libs/testproc"
)

type validationCase struct {
	Kind   string   `json:"kind"`   // "policy" (danmaku/ratelimit/<tier>) or "rule" (orchestrator/breaker/<name>)
	Value  string   `json:"value"`  // the config center's value
	Fields []string `json:"fields"` // the fields the console names as wrong ("" for the value as a whole); none: valid
}

func TestClientChecksAgreeWithGo(t *testing.T) {
	data, err := os.ReadFile(testproc.Rlocation(t, os.Getenv("VALIDATION_CASES")))
	if err != nil {
		t.Fatal(err)
	}
	var cases []validationCase
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		var err error
		switch c.Kind {
		case "policy":
			_, err = ratelimit.ParsePolicy("vip", []byte(c.Value))
		case "rule":
			_, err = breaker.ParseRule([]byte(c.Value))
		default:
			t.Fatalf("case %q: kind %q", c.Value, c.Kind)
		}
		if valid := len(c.Fields) == 0; valid != (err == nil) {
			t.Errorf("%s %s: Go says %v, the console's checks say valid=%v", c.Kind, c.Value, err, valid)
		}
	}
}
