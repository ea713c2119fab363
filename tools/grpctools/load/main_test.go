package main

import (
	"context"
	"strings"
	"testing"

	"github.com/monoreel/monoreel/libs/testproc"
)

// TestLoadIDGen: the load command starts the real idgen and loads NextID with
// ghz through server reflection; every call succeeds and the figures are
// reported.
func TestLoadIDGen(t *testing.T) {
	var out strings.Builder
	err := run(context.Background(), []string{"-ghz=" + testproc.Runfile(t, "GHZ"), "-service=" + testproc.Runfile(t, "IDGEN_BINARY"), "-n=300", "-c=4"}, &out)
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"monoreel.idgen.v1.IDGenService/NextID, 4 concurrent: 300 calls, ", "requests/s, p50 ", "(OK 300)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
