package platform

import (
	"slices"
	"strings"
	"testing"
)

func TestCallFlags(t *testing.T) {
	started := map[string]string{"idgen": "127.0.0.1:9000", "config": "127.0.0.1:9100"}
	addr := func(s string) (string, bool) { a, ok := started[s]; return a, ok }
	got, err := CallFlags("danmaku", addr)
	if want := []string{"-config_addr=127.0.0.1:9100", "-idgen_addr=127.0.0.1:9000"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("danmaku: %v, %v; want %v", got, err, want)
	}
	if got, err := CallFlags("idgen", addr); err != nil || len(got) != 0 {
		t.Errorf("idgen calls nothing: %v, %v", got, err)
	}
	if _, err := CallFlags("orchestrator", addr); err == nil || !strings.Contains(err.Error(), "orchestrator starts before transcode") {
		t.Errorf("orchestrator before its callees: %v; want the order named", err)
	}
}

// The calls have a start order: nothing calls itself, or a service that calls
// it back.
func TestCallsHaveAStartOrder(t *testing.T) {
	done := map[string]bool{}
	var visit func(name string, path []string)
	visit = func(name string, path []string) {
		if slices.Contains(path, name) {
			t.Fatalf("calls go round: %s", strings.Join(append(path, name), " -> "))
		}
		if done[name] {
			return
		}
		for _, callee := range Calls[name] {
			visit(callee, append(path, name))
		}
		done[name] = true
	}
	for name := range Calls {
		visit(name, nil)
	}
}
