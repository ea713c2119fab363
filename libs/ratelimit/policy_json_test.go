package ratelimit

import (
	"strings"
	"testing"
)

func TestPolicyJSONRoundTrip(t *testing.T) {
	for tier, p := range DefaultPolicies() {
		data, err := p.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParsePolicy(tier, data)
		if err != nil || back != p {
			t.Errorf("%s: %s -> %+v, %v", tier, data, back, err)
		}
	}
	if _, err := ParsePolicy(VIP, []byte(`{"rate":20,"give_up":"later"}`)); err == nil || !strings.Contains(err.Error(), `vip policy: give_up "later"`) {
		t.Errorf("bad give_up: %v", err)
	}
	if _, err := ParsePolicy(VIP, []byte(`{"rate":-1,"give_up":"1s"}`)); err == nil {
		t.Error("negative rate accepted")
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(`{"rate":5,"burst":1,"queue_depth":100,"give_up":"800ms"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(Normal, data)
		if err != nil {
			return
		}
		again, _ := p.MarshalJSON()
		if back, err := ParsePolicy(Normal, again); err != nil || back != p {
			t.Fatalf("%+v does not round-trip: %+v, %v", p, back, err)
		}
	})
}
