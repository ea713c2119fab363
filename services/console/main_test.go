package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/monoreel/monoreel/libs/auth"
	"github.com/monoreel/monoreel/libs/testproc"
	commonv1 "github.com/monoreel/monoreel/proto/common/v1"
	configv1 "github.com/monoreel/monoreel/proto/config/v1"
	consolev1 "github.com/monoreel/monoreel/proto/console/v1"
	danmakuv1 "github.com/monoreel/monoreel/proto/danmaku/v1"
	uploadv1 "github.com/monoreel/monoreel/proto/upload/v1"
	"github.com/monoreel/monoreel/services/console/internal/signin"
)

// platform is the real console in front of the real config center, danmaku
// and upload, over mutual TLS with the test PKI; idgen's address is one
// where nothing listens.
type platform struct {
	console, config, danmaku, upload *testproc.Service
	web                              string // the console's base URL
	idgenAddr                        string
}

func start(t *testing.T) *platform {
	t.Helper()
	p := &platform{}
	p.config = testproc.StartService(t, testproc.Runfile(t, "CONFIG_BINARY"), "-data_file="+t.TempDir()+"/config.snapshot")
	p.danmaku = testproc.StartService(t, testproc.Runfile(t, "DANMAKU_BINARY"), "-config_addr="+p.config.Addr, "-config_snapshot="+t.TempDir()+"/lkg.snapshot")
	p.upload = testproc.StartService(t, testproc.Runfile(t, "UPLOAD_BINARY"), "-data_dir="+t.TempDir())
	webAddr, pkiDir := testproc.FreeAddr(t), testproc.TestPKI(t).Dir
	p.web, p.idgenAddr = "http://"+webAddr, testproc.FreeAddr(t)
	p.console = testproc.StartService(t, testproc.Runfile(t, "CONSOLE_BINARY"),
		"-web_listen="+webAddr, "-signin_key="+pkiDir.TokenKeyFile(), "-signin_tiers=uma=vip,bot=robot", "-signin_admins=ops",
		"-config_addr="+p.config.Addr, "-danmaku_addr="+p.danmaku.Addr, "-upload_addr="+p.upload.Addr, "-idgen_addr="+p.idgenAddr,
		"-transcode_addr=", "-aitag_addr=", "-cdnpush_addr=", "-orchestrator_addr=")
	return p
}

// signIn signs user in through the console's sign-in endpoint.
func (p *platform) signIn(t *testing.T, user string) signin.Response {
	t.Helper()
	resp, err := http.Post(p.web+"/api/signin", "application/json", strings.NewReader(fmt.Sprintf(`{"user":%q}`, user)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s signin.Response
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in of %s: %s, %v", user, resp.Status, err)
	}
	return s
}

// client is a Connect client of one method of the console, or a gRPC-Web one
// with connect.WithGRPCWeb().
func client[Req, Res any](p *platform, method string, opts ...connect.ClientOption) *connect.Client[Req, Res] {
	return connect.NewClient[Req, Res](http.DefaultClient, p.web+"/"+method, opts...)
}

// request is msg with the user's token, when there is one.
func request[T any](msg *T, token string) *connect.Request[T] {
	req := connect.NewRequest(msg)
	if token != "" {
		req.Header().Set("Authorization", "Bearer "+token)
	}
	return req
}

// errorInfo returns a Connect error's code and its ErrorInfo reason and domain.
func errorInfo(t *testing.T, err error) (connect.Code, string, string) {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatalf("%v: not a Connect error", err)
	}
	for _, d := range ce.Details() {
		v, derr := d.Value()
		if info, ok := v.(*commonv1.ErrorInfo); ok && derr == nil {
			return ce.Code(), info.GetReason(), info.GetDomain()
		}
	}
	return ce.Code(), "", ""
}

// TestBrowserCalls: what a browser does through the console, over Connect
// and gRPC-Web: sign in, follow a danmaku room (a server stream), post in it
// (unary) as the user the sign-in made, with the tier the console's
// configuration gives them, upload a part in one call; refusals come back with
// their ErrorInfo, whether the console or a service refused.
func TestBrowserCalls(t *testing.T) {
	p := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	uma := p.signIn(t, "uma")
	if uma.Tier != auth.TierVIP || uma.Admin || time.Until(uma.ExpiresAt) > 31*time.Minute {
		t.Errorf("uma's sign-in: %+v, want vip, not an operator, for 30 minutes", uma)
	}
	for name, opts := range map[string][]connect.ClientOption{"connect": nil, "grpc-web": {connect.WithGRPCWeb()}} {
		t.Run(name, func(t *testing.T) {
			room := "room-" + name
			subscribe := client[danmakuv1.SubscribeRequest, danmakuv1.SubscribeResponse](p, "monoreel.danmaku.v1.DanmakuService/Subscribe", opts...)
			stream, err := subscribe.CallServerStream(ctx, request(&danmakuv1.SubscribeRequest{RoomId: room}, uma.Token))
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			if !stream.Receive() || stream.Msg().GetJoined().GetUserId() != "uma" || stream.Msg().GetJoined().GetTier() != danmakuv1.Tier_TIER_VIP {
				t.Fatalf("Subscribe's first message: %v, %v; want joined as uma (vip)", stream.Msg(), stream.Err())
			}
			post := client[danmakuv1.PostRequest, danmakuv1.PostResponse](p, "monoreel.danmaku.v1.DanmakuService/Post", opts...)
			resp, err := post.CallUnary(ctx, request(&danmakuv1.PostRequest{RoomId: room, Comment: &danmakuv1.Comment{ClientId: "c1", Text: "hello from " + name}}, uma.Token))
			if err != nil || resp.Msg.GetAck().GetOutcome() != danmakuv1.Outcome_OUTCOME_ACCEPTED {
				t.Fatalf("Post: %v, %v", resp, err)
			}
			if !stream.Receive() {
				t.Fatalf("Subscribe after the post: %v", stream.Err())
			}
			if rc := stream.Msg().GetComment(); rc.GetText() != "hello from "+name || rc.GetUserId() != "uma" || rc.GetTier() != danmakuv1.Tier_TIER_VIP || rc.GetId() != resp.Msg.GetAck().GetCommentId() {
				t.Errorf("the room's comment: %v", rc)
			}

			// No token: the console refuses (forwarded, the call would be the
			// console's own), with the reason a service gives.
			_, err = post.CallUnary(ctx, request(&danmakuv1.PostRequest{RoomId: room, Comment: &danmakuv1.Comment{Text: "who?"}}, ""))
			if code, reason, domain := errorInfo(t, err); code != connect.CodeUnauthenticated || reason != "NO_CREDENTIALS" || domain != "monoreel.auth" {
				t.Errorf("Post without a token: %v (%s %s), want unauthenticated NO_CREDENTIALS", err, reason, domain)
			}
			// A token, but not an operator's: the config center refuses, and its
			// refusal comes back whole.
			list := client[configv1.ListRequest, configv1.ListResponse](p, "monoreel.config.v1.ConfigService/List", opts...)
			_, err = list.CallUnary(ctx, request(&configv1.ListRequest{Prefix: "danmaku/"}, uma.Token))
			if code, reason, domain := errorInfo(t, err); code != connect.CodePermissionDenied || reason != "NOT_ALLOWED" || domain != "monoreel.auth" {
				t.Errorf("List as uma: %v (%s %s), want permission denied NOT_ALLOWED", err, reason, domain)
			}
			// A token that is not one: the service says so.
			_, err = post.CallUnary(ctx, request(&danmakuv1.PostRequest{RoomId: room, Comment: &danmakuv1.Comment{Text: "x"}}, "not-a-token"))
			if code, reason, _ := errorInfo(t, err); code != connect.CodeUnauthenticated || reason != "TOKEN_INVALID" {
				t.Errorf("Post with a bad token: %v (%s), want TOKEN_INVALID", err, reason)
			}
		})
	}
	// The services saw uma through the console.
	if !strings.Contains(p.config.Log(), "via console") {
		t.Errorf("the config center's log names no call via the console:\n%s", p.config.Log())
	}

	// An upload, its part sent in one call: Init as a plain HTTP POST of
	// application/proto (the Connect protocol's unary call), the rest with
	// the Connect client.
	initBody, _ := proto.Marshal(&uploadv1.InitRequest{Name: "clip.mp4", TotalSize: 3000, PartSize: 3000, ContentType: "video/mp4"})
	httpReq, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.web+"/monoreel.upload.v1.UploadService/Init", bytes.NewReader(initBody))
	httpReq.Header.Set("Content-Type", "application/proto")
	httpReq.Header.Set("Connect-Protocol-Version", "1")
	httpReq.Header.Set("Authorization", "Bearer "+uma.Token)
	httpResp, err := http.DefaultClient.Do(httpReq)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(httpResp.Body)
	httpResp.Body.Close()
	var up uploadv1.InitResponse
	if httpResp.StatusCode != http.StatusOK || proto.Unmarshal(body, &up) != nil || up.GetUploadId() == "" {
		t.Fatalf("Init over plain HTTP: %s %q", httpResp.Status, body)
	}
	content := bytes.Repeat([]byte("monoreel"), 375)
	sum := md5.Sum(content)
	part := client[uploadv1.UploadPartRequest, uploadv1.UploadPartResponse](p, "monoreel.upload.v1.UploadService/UploadPart")
	partResp, err := part.CallUnary(ctx, request(&uploadv1.UploadPartRequest{UploadId: up.GetUploadId(), PartNumber: 1, Md5: sum[:], Content: content}, uma.Token))
	if err != nil || partResp.Msg.GetPart().GetSize() != 3000 {
		t.Fatalf("UploadPart: %v, %v", partResp, err)
	}
	listParts := client[uploadv1.ListPartsRequest, uploadv1.ListPartsResponse](p, "monoreel.upload.v1.UploadService/ListParts", connect.WithGRPCWeb())
	if parts, err := listParts.CallUnary(ctx, request(&uploadv1.ListPartsRequest{UploadId: up.GetUploadId()}, uma.Token)); err != nil || len(parts.Msg.GetParts()) != 1 {
		t.Errorf("ListParts: %v, %v", parts, err)
	}
	// Another user does not see uma's upload: the upload service's rule, through the console.
	eve := p.signIn(t, "eve")
	_, err = listParts.CallUnary(ctx, request(&uploadv1.ListPartsRequest{UploadId: up.GetUploadId()}, eve.Token))
	if code, reason, _ := errorInfo(t, err); code != connect.CodePermissionDenied || reason != "NOT_YOUR_UPLOAD" {
		t.Errorf("ListParts as eve: %v (%s), want NOT_YOUR_UPLOAD", err, reason)
	}
}

// TestStatus: an operator (by the console's configuration) sees every
// backend's health, version and address; a backend that does not answer is
// unreachable; a user who is no operator is refused. The same on the
// console's gRPC listener.
func TestStatus(t *testing.T) {
	p := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	status := client[consolev1.StatusRequest, consolev1.StatusResponse](p, "monoreel.console.v1.ConsoleService/Status", connect.WithProtoJSON())
	ops := p.signIn(t, "ops")
	if !ops.Admin {
		t.Fatalf("ops signed in as %+v: want an operator", ops)
	}
	resp, err := status.CallUnary(ctx, request(&consolev1.StatusRequest{}, ops.Token))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*consolev1.Backend{}
	for _, b := range resp.Msg.GetBackends() {
		got[b.GetName()] = b
	}
	for name, addr := range map[string]string{"config": p.config.Addr, "danmaku": p.danmaku.Addr, "upload": p.upload.Addr} {
		if b := got[name]; b.GetHealth() != consolev1.Health_HEALTH_SERVING || b.GetAddress() != addr || b.GetVersion() != "dev" || len(b.GetApis()) != 1 {
			t.Errorf("%s: %v, want serving at %s, version dev", name, b, addr)
		}
	}
	if b := got["idgen"]; b.GetHealth() != consolev1.Health_HEALTH_UNREACHABLE || b.GetAddress() != p.idgenAddr || b.GetError() == "" {
		t.Errorf("idgen (nothing listening): %v, want unreachable", b)
	}
	if len(got) != 4 || resp.Msg.GetVersion() != "dev" {
		t.Errorf("status: %v; want config, idgen, upload and danmaku (the others have no address), version dev", resp.Msg)
	}

	_, err = status.CallUnary(ctx, request(&consolev1.StatusRequest{}, p.signIn(t, "uma").Token))
	if code, reason, _ := errorInfo(t, err); code != connect.CodePermissionDenied || reason != "NOT_ALLOWED" {
		t.Errorf("Status as uma: %v (%s), want NOT_ALLOWED", err, reason)
	}
	_, err = status.CallUnary(ctx, request(&consolev1.StatusRequest{}, ""))
	if code, reason, _ := errorInfo(t, err); code != connect.CodeUnauthenticated || reason != "NO_CREDENTIALS" {
		t.Errorf("Status without a token: %v (%s), want NO_CREDENTIALS", err, reason)
	}
	// On the gRPC listener, for operators' tools (grpcurl).
	grpcResp, err := consolev1.NewConsoleServiceClient(p.console.AdminConn(t)).Status(ctx, &consolev1.StatusRequest{})
	if err != nil || len(grpcResp.GetBackends()) != 4 {
		t.Errorf("Status over gRPC: %v, %v", grpcResp, err)
	}
}

// TestPagesAndSignInChecks: the embedded page is served at the root; the
// sign-in refuses a person's own claims, and one address signing in too often.
func TestPagesAndSignInChecks(t *testing.T) {
	p := start(t)
	resp, err := http.Get(p.web + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "<title>Monoreel console</title>") {
		t.Errorf("GET /: %s\n%.200s", resp.Status, page)
	}
	resp, err = http.Post(p.web+"/api/signin", "application/json", strings.NewReader(`{"user":"eve","tier":"vip"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a sign-in claiming a tier: %s, want 400", resp.Status)
	}
	// One address signing in over and over is refused once past the burst (10,
	// then 1 a second): 30 tries would need 20 s to all get through.
	refused := false
	for range 30 {
		resp, err := http.Post(p.web+"/api/signin", "application/json", strings.NewReader(`{"user":"eve"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			if resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			refused = true
			break
		}
	}
	if !refused {
		t.Error("30 sign-ins in a row from one address were all let through")
	}
	if !strings.Contains(p.console.Log(), "console: "+p.web+"/") {
		t.Errorf("the console does not print its URL:\n%s", p.console.Log())
	}
}
