package breaker

import (
	"strings"
	"testing"
	"time"
)

func TestRuleJSONRoundTrip(t *testing.T) {
	for _, r := range []Rule{DefaultRule(800 * time.Millisecond),
		{Strategy: ErrorCount, Threshold: 5, Window: time.Minute, Buckets: 60, OpenFor: 30 * time.Second, Probes: 1}} {
		data, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseRule(data)
		if err != nil || back != r {
			t.Errorf("%s -> %+v, %v; want %+v", data, back, err, r)
		}
	}
}

func TestParseRuleNamesTheField(t *testing.T) {
	for in, want := range map[string]string{
		`{"strategy":"fast"}`: `strategy "fast"`,
		`{"strategy":"slow-ratio","threshold":0.5,"max_rt":"soon","window":"10s","buckets":10,"open_for":"5s","probes":1}`: `max_rt "soon"`,
		`{"strategy":"error-ratio","threshold":2,"window":"10s","buckets":10,"open_for":"5s","probes":1}`:                  `threshold 2`,
		`{"strategy":"error-count","colour":"red"}`:                                                                        `unknown field "colour"`,
	} {
		if _, err := ParseRule([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseRule(%s) = %v, want an error naming %s", in, err, want)
		}
	}
}

// FuzzParseRule: whatever parses is a valid rule that survives a round trip.
func FuzzParseRule(f *testing.F) {
	good, _ := DefaultRule(time.Second).MarshalJSON()
	f.Add(good)
	f.Add([]byte(`{"strategy":"error-count","threshold":3,"window":"1s","buckets":1,"open_for":"1s","probes":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRule(data)
		if err != nil {
			return
		}
		if err := r.validate(); err != nil {
			t.Fatalf("parsed an invalid rule %+v: %v", r, err)
		}
		again, _ := r.MarshalJSON()
		back, err := ParseRule(again)
		if err != nil || back != r {
			t.Fatalf("%+v does not round-trip: %+v, %v", r, back, err)
		}
	})
}
