package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/monoreel/monoreel/libs/auth"
	"github.com/monoreel/monoreel/libs/testproc"
)

// TestScenario runs what `./bazelw run //tools/devstack` runs: every real
// service, the whole scenario, the summary.
func TestScenario(t *testing.T) {
	args := []string{"-dir=" + t.TempDir(), "-ffmpeg=" + testproc.Binary(t, "ffmpeg", "ffmpeg")}
	// DEVSTACK_SERVICES: NAME=RLOCATIONPATH ..., from services/services.bzl.
	for _, service := range strings.Fields(os.Getenv("DEVSTACK_SERVICES")) {
		name, path, _ := strings.Cut(service, "=")
		args = append(args, "-service="+name+"="+testproc.Rlocation(t, path))
	}
	var out bytes.Buffer
	err := runThen(context.Background(), args, &out, func(st *stack) error {
		checkReflection(t, st)
		return nil
	})
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

// TestOrderIsChecked: a service listed before one it calls is refused by name,
// before anything starts.
func TestOrderIsChecked(t *testing.T) {
	_, err := startStack(t.TempDir(), serviceFlags{{"orchestrator", "/nonexistent/orchestrator"}}, "ffmpeg", io.Discard)
	if err == nil || !strings.Contains(err.Error(), "orchestrator starts before config, which it calls") {
		t.Errorf("startStack = %v, want the order named", err)
	}
}

// checkReflection calls every running service with grpcurl, which knows no
// .proto: through server reflection it lists the service's APIs, describes
// them, checks health and calls the first method of each Monoreel API, as an
// operator over mutual TLS. A call may fail in the service's own way (a
// NotFound, an InvalidArgument for an empty request), but never for want of a
// method, a credential or a decoder.
func checkReflection(t *testing.T, st *stack) {
	grpcurl := testproc.Runfile(t, "GRPCURL")
	token, err := st.pki.Token("ops", auth.TierNormal, auth.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	p := st.pki.Dir
	base := []string{"-cacert", p.CAFile(), "-cert", p.CertFile(testproc.Harness), "-key", p.KeyFile(testproc.Harness),
		"-H", "authorization: Bearer " + string(token), "-max-time", "20"}
	call := func(args ...string) (string, error) {
		out, err := exec.Command(grpcurl, append(slices.Clone(base), args...)...).CombinedOutput()
		return string(out), err
	}
	for _, name := range st.order {
		addr := st.svc[name].Addr
		list, err := call(addr, "list")
		if err != nil {
			t.Errorf("%s: grpcurl list: %v\n%s", name, err, list)
			continue
		}
		api := "monoreel." + name + ".v1."
		var service string
		for _, line := range strings.Fields(list) {
			if strings.HasPrefix(line, api) {
				service = line
			}
		}
		if service == "" || !strings.Contains(list, "grpc.health.v1.Health") {
			t.Errorf("%s: grpcurl list shows no %s* and health:\n%s", name, api, list)
			continue
		}
		if out, err := call("-d", "{}", addr, "grpc.health.v1.Health/Check"); err != nil || !strings.Contains(out, "SERVING") {
			t.Errorf("%s: health through grpcurl: %v\n%s", name, err, out)
		}
		methods, err := call(addr, "list", service)
		if err != nil || len(strings.Fields(methods)) == 0 {
			t.Errorf("%s: grpcurl list %s: %v\n%s", name, service, err, methods)
			continue
		}
		if desc, err := call(addr, "describe", service); err != nil || !strings.Contains(desc, "rpc ") {
			t.Errorf("%s: grpcurl describe %s: %v\n%s", name, service, err, desc)
		}
		method := strings.Fields(methods)[0]
		out, err := call("-d", "{}", addr, method)
		for _, refused := range []string{"Unimplemented", "Unauthenticated", "PermissionDenied", "Unavailable", "Internal", "Failed to"} {
			if err != nil && strings.Contains(out, refused) {
				t.Errorf("%s: grpcurl %s: %v\n%s", name, method, err, out)
			}
		}
		t.Logf("grpcurl %s: %s", method, strings.Join(strings.Fields(out), " "))
	}
}
