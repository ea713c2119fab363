package main

import (
	"context"
	"strings"
	"testing"

	"github.com/monoreel/monoreel/libs/testproc"
)

// TestLoadIDGen: the load command starts the real idgen in plaintext and over
// mutual TLS and loads NextID with ghz through server reflection, as a service
// and as a user; every call succeeds and the figures are reported.
func TestLoadIDGen(t *testing.T) {
	var out strings.Builder
	err := run(context.Background(), []string{"-ghz=" + testproc.Runfile(t, "GHZ"), "-service=" + testproc.Runfile(t, "IDGEN_BINARY"), "-n=300", "-c=4"}, &out)
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for i, mode := range []string{"plaintext ", "mutual TLS (a service) ", "TLS + token (a user) "} {
		if i >= len(lines) || !strings.HasPrefix(lines[i], mode) {
			t.Errorf("line %d is not the %s one", i+1, mode)
		}
	}
	for _, want := range []string{"monoreel.idgen.v1.IDGenService/NextID, 4 concurrent: 300 calls, ", "requests/s, p50 ", "(OK 300)", "the plaintext time per call"} {
		if strings.Count(out.String(), want) != 3 {
			t.Errorf("output lacks %q on each line", want)
		}
	}
}
