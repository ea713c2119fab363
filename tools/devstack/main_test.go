package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/monoreel/monoreel/libs/testproc"
)

// TestScenario runs what `./bazelw run //tools/devstack` runs: every real
// service, the whole scenario, the summary.
func TestScenario(t *testing.T) {
	args := []string{"-dir=" + t.TempDir(), "-ffmpeg=" + testproc.Binary(t, "ffmpeg", "ffmpeg")}
	for _, name := range services {
		args = append(args, "-"+name+"="+testproc.Runfile(t, strings.ToUpper(name)+"_BINARY"))
	}
	var out bytes.Buffer
	err := run(context.Background(), args, &out)
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"The scenario passed.", "transcode  done", "cdnpush    done", "master playlist served from the edge cache: true", "vip"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q", want)
		}
	}
}
