package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/monoreel/monoreel/libs/testproc"
	"github.com/monoreel/monoreel/tools/grpctools"
)

// TestScenario runs what `./bazelw run //tools/devstack -- -prometheus=prometheus`
// runs: every real service, the whole scenario with a real Prometheus scraping
// them, the summary; then grpcurl calls every service (checkGrpcurl).
func TestScenario(t *testing.T) {
	args := []string{"-dir=" + t.TempDir(), "-ffmpeg=" + testproc.Binary(t, "ffmpeg", "ffmpeg"),
		"-prometheus=" + testproc.Binary(t, "prometheus", "prometheus"),
		"-prometheus_rules=" + testproc.Runfile(t, "PROMETHEUS_RULES"), "-jaeger=" + testproc.Runfile(t, "JAEGER")}
	grpcurl := grpctools.Grpcurl{Bin: testproc.Runfile(t, "GRPCURL")}
	// DEVSTACK_SERVICES: NAME=RLOCATIONPATH ..., from services/services.bzl.
	for _, service := range strings.Fields(os.Getenv("DEVSTACK_SERVICES")) {
		name, path, _ := strings.Cut(service, "=")
		args = append(args, "-service="+name+"="+testproc.Rlocation(t, path))
	}
	services := len(strings.Fields(os.Getenv("DEVSTACK_SERVICES")))
	var out bytes.Buffer
	err := run(context.Background(), args, &out, checkGrpcurl(t, grpcurl))
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"The scenario passed.", "transcode  done", "cdnpush    done", "master playlist served from the edge cache: true", "vip",
		"Prometheus scrapes every service", fmt.Sprintf("%d of %d targets up", services, services), "console web   http://"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q", want)
		}
	}
}

// TestFleetScenario runs what `./bazelw run //tools/devstack -- --replicas=2`
// runs (with Prometheus): two instances of every service behind discovery on
// a real etcd, with a real Redis between them, and the scenario passing while
// the harness kills one instance of every service (SIGKILL) at a random moment
// (the seed is in the summary: -seed repeats a run).
func TestFleetScenario(t *testing.T) {
	args := []string{"-dir=" + t.TempDir(), "-ffmpeg=" + testproc.Binary(t, "ffmpeg", "ffmpeg"), "-replicas=2",
		"-etcd=" + testproc.Binary(t, "etcd", "etcd-server"), "-redis-server=" + testproc.Binary(t, "redis-server", "redis-server"),
		"-prometheus=" + testproc.Binary(t, "prometheus", "prometheus"), "-prometheus_rules=" + testproc.Runfile(t, "PROMETHEUS_RULES")}
	for _, service := range strings.Fields(os.Getenv("DEVSTACK_SERVICES")) {
		name, path, _ := strings.Cut(service, "=")
		args = append(args, "-service="+name+"="+testproc.Rlocation(t, path))
	}
	services := len(strings.Fields(os.Getenv("DEVSTACK_SERVICES")))
	var out bytes.Buffer
	err := run(context.Background(), args, &out, nil)
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"The scenario passed.", fmt.Sprintf("kills: %d of %d planned", services, services),
		"Prometheus scrapes every service", fmt.Sprintf("%d of %d targets up", services, 2*services),
		"transcode  done", "cdnpush    done", "master playlist served from the edge cache: true"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q", want)
		}
	}
}

// TestOrderIsChecked: a service listed before one it calls is refused by name,
// before anything starts.
func TestOrderIsChecked(t *testing.T) {
	_, err := startStack(t.TempDir(), serviceFlags{{"orchestrator", "/nonexistent/orchestrator"}}, "ffmpeg", "", nil, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "orchestrator starts before config, which it calls") {
		t.Errorf("startStack = %v, want the order named", err)
	}
}
