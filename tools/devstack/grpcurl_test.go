package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/monoreel/monoreel/libs/auth"
	"github.com/monoreel/monoreel/libs/testproc"
	"github.com/monoreel/monoreel/tools/grpctools"
)

// grpcurlCall is a call of a service's own API, made with grpcurl after the
// scenario, and what its answer (or error) must contain.
type grpcurlCall struct {
	method, request, want string
}

// grpcurlCalls is, for every service, its API and one call of it on what the
// scenario left behind. A service missing here fails the test: add it.
func grpcurlCalls(st *stack, r *report) map[string]struct {
	api  string
	call grpcurlCall
} {
	video := r.workflow.GetVideoId().GetValue()
	type entry = struct {
		api  string
		call grpcurlCall
	}
	return map[string]entry{
		"config":    {"monoreel.config.v1.ConfigService", grpcurlCall{"List", `{"prefix":"state/orchestrator/workflows/"}`, fmt.Sprintf(`"state/orchestrator/workflows/%d"`, video)}},
		"idgen":     {"monoreel.idgen.v1.IDGenService", grpcurlCall{"NextID", `{}`, `"id":`}},
		"upload":    {"monoreel.upload.v1.UploadService", grpcurlCall{"ListParts", `{"uploadId":"00000000000000000000000000000000"}`, "Code: NotFound"}},
		"transcode": {"monoreel.transcode.v1.TranscodeService", grpcurlCall{"List", `{}`, `"JOB_STATE_DONE"`}},
		"aitag": {"monoreel.aitag.v1.AITagService", grpcurlCall{"Tag",
			fmt.Sprintf(`{"videoId":{"value":%d},"source":%q,"title":"Sunny beach at sunset"}`, video, filepath.Join(st.dir, "sample.mp4")), `"tags":`}},
		"cdnpush":      {"monoreel.cdnpush.v1.CDNPushService", grpcurlCall{"Status", fmt.Sprintf(`{"jobId":%q}`, r.workflow.GetWarmJobId()), `"JOB_STATE_DONE"`}},
		"orchestrator": {"monoreel.orchestrator.v1.OrchestratorService", grpcurlCall{"GetWorkflow", fmt.Sprintf(`{"videoId":{"value":%d}}`, video), `"WORKFLOW_STATE_DONE"`}},
		"console":      {"monoreel.console.v1.ConsoleService", grpcurlCall{"Status", `{}`, `"HEALTH_SERVING"`}},
		"danmaku": {"monoreel.danmaku.v1.DanmakuService", grpcurlCall{"Chat",
			`{"join":{"roomId":"grpcurl","userId":"cli","tier":"TIER_NORMAL"}} {"comment":{"clientId":"c1","text":"hello from grpcurl"}}`, `"OUTCOME_ACCEPTED"`}},
	}
}

// checkGrpcurl: with grpcurl and no .proto file, every service lists its
// services (its API, health, reflection), describes its API, answers a health
// check and one call of its API.
func checkGrpcurl(t *testing.T, grpcurl grpctools.Grpcurl) func(*stack, *report) error {
	return func(st *stack, r *report) error {
		// As an operator, from the harness's certificate: every service's API
		// is open to it.
		token, err := st.pki.Token("ops", auth.TierNormal, auth.RoleAdmin)
		if err != nil {
			return err
		}
		p := st.pki.Dir
		grpcurl.Conn = grpctools.Conn{CA: p.CAFile(), Cert: p.CertFile(testproc.Harness), Key: p.KeyFile(testproc.Harness), Token: string(token)}
		calls := grpcurlCalls(st, r)
		for _, name := range st.order {
			t.Run("grpcurl/"+name, func(t *testing.T) {
				c, ok := calls[name]
				if !ok {
					t.Fatalf("no grpcurl call for the service %s: add one to grpcurlCalls", name)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				addr := st.svc[name].Addr
				list, err := grpcurl.Run(ctx, nil, addr, "list")
				if err != nil {
					t.Fatal(err)
				}
				for _, want := range []string{c.api, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
					if !strings.Contains(list, want+"\n") {
						t.Errorf("grpcurl list: no %s in\n%s", want, list)
					}
				}
				if desc, err := grpcurl.Run(ctx, nil, addr, "describe", c.api); err != nil || !strings.Contains(desc, "rpc "+c.call.method+" (") {
					t.Errorf("grpcurl describe %s = %v:\n%s", c.api, err, desc)
				}
				if out, err := grpcurl.Run(ctx, []string{"-d", `{}`}, addr, "grpc.health.v1.Health/Check"); err != nil || !strings.Contains(out, `"SERVING"`) {
					t.Errorf("grpcurl health check = %v:\n%s", err, out)
				}
				if name == "console" {
					// Its web side: the page, for a browser.
					resp, err := http.Get(st.consoles[0])
					if err != nil || resp.StatusCode != http.StatusOK {
						t.Errorf("the console's page %s: %v, %v", st.consoles[0], resp, err)
					} else {
						resp.Body.Close()
					}
				}
				out, err := grpcurl.Run(ctx, []string{"-d", c.call.request}, addr, c.api+"/"+c.call.method)
				if got := out + fmt.Sprint(err); !strings.Contains(got, c.call.want) {
					t.Errorf("grpcurl %s/%s %s: want %s in\n%s", c.api, c.call.method, c.call.request, c.call.want, got)
				}
			})
		}
		return nil
	}
}
