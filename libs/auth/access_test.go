package auth_test

import (
	"os"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/monoreel/monoreel/libs/auth"
	aitagv1 "github.com/monoreel/monoreel/proto/aitag/v1"
	cdnpushv1 "github.com/monoreel/monoreel/proto/cdnpush/v1"
	configv1 "github.com/monoreel/monoreel/proto/config/v1"
	consolev1 "github.com/monoreel/monoreel/proto/console/v1"
	danmakuv1 "github.com/monoreel/monoreel/proto/danmaku/v1"
	idgenv1 "github.com/monoreel/monoreel/proto/idgen/v1"
	orchestratorv1 "github.com/monoreel/monoreel/proto/orchestrator/v1"
	transcodev1 "github.com/monoreel/monoreel/proto/transcode/v1"
	uploadv1 "github.com/monoreel/monoreel/proto/upload/v1"
)

// apis are every Monoreel API's descriptor (TestEveryAPIIsChecked keeps the
// list complete).
var apis = []protoreflect.FileDescriptor{
	aitagv1.File_proto_aitag_v1_aitag_proto, cdnpushv1.File_proto_cdnpush_v1_cdnpush_proto,
	configv1.File_proto_config_v1_config_proto, consolev1.File_proto_console_v1_console_proto,
	danmakuv1.File_proto_danmaku_v1_danmaku_proto,
	idgenv1.File_proto_idgen_v1_idgen_proto, orchestratorv1.File_proto_orchestrator_v1_orchestrator_proto,
	transcodev1.File_proto_transcode_v1_transcode_proto, uploadv1.File_proto_upload_v1_upload_proto,
}

// TestEveryMethodStatesAccess: a method without an access option is refused to
// everybody; this finds it before a caller does.
func TestEveryMethodStatesAccess(t *testing.T) {
	for _, f := range apis {
		for i := range f.Services().Len() {
			sd := f.Services().Get(i)
			for j := range sd.Methods().Len() {
				full := "/" + string(sd.FullName()) + "/" + string(sd.Methods().Get(j).Name())
				a := auth.MethodAccess(full)
				if a == nil || !(a.GetServices() || a.GetUsers() || a.GetAdmins()) {
					t.Errorf("%s states no access: add option (monoreel.common.v1.access) to it", full)
				}
			}
		}
	}
}

// TestEveryAPIIsChecked: every API of proto/apis.bzl (API_DOMAINS, set by the
// BUILD rule) is in apis.
func TestEveryAPIIsChecked(t *testing.T) {
	listed := map[string]bool{}
	for _, f := range apis {
		listed[f.Path()] = true
	}
	domains := strings.Split(os.Getenv("API_DOMAINS"), ",")
	if len(domains) < 2 {
		t.Fatalf("API_DOMAINS = %q: the test's BUILD rule sets it from proto/apis.bzl", os.Getenv("API_DOMAINS"))
	}
	for _, d := range domains {
		if path := "proto/" + d + "/v1/" + d + ".proto"; !listed[path] {
			t.Errorf("%s is in proto/apis.bzl but not in apis", path)
		}
	}
}
