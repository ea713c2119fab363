package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"

	"github.com/monoreel/monoreel/libs/auth"
	"github.com/monoreel/monoreel/libs/testproc"
	commonv1 "github.com/monoreel/monoreel/proto/common/v1"
	danmakuv1 "github.com/monoreel/monoreel/proto/danmaku/v1"
	orchestratorv1 "github.com/monoreel/monoreel/proto/orchestrator/v1"
	uploadclient "github.com/monoreel/monoreel/services/upload/client"
)

// uploader is the user who uploads and publishes the video.
const uploader = "uma"

// report is what the scenario measured and saw.
type report struct {
	steps    []step
	videoID  int64
	parts    int // parts of the upload
	before   int // sent before the interruption
	resumed  int // sent by the resumed upload
	workflow *orchestratorv1.Workflow
	edgeKeys int
	edgeHit  bool
	tiers    []tierCounts
	prom     promReport
	traceID  string // of the publish: devstack's root span
	trace    traceReport
	shadow   shadowReport
	kills    string // what the harness killed, with -replicas above 1
}

type step struct {
	name string
	took time.Duration
}

type tierCounts struct {
	tier                                      danmakuv1.Tier
	sent, accepted, queued, dropped, rejected int
}

// scenario is the end-to-end run: a video is made, uploaded (interrupted and
// resumed), published and warmed on the edge, then a danmaku room gets comments
// from a normal, a VIP and a robot user.
type scenario struct {
	st       *stack
	ffmpeg   string
	seconds  int // of video
	comments int // per danmaku user
	log      io.Writer
	chaos    *chaos // kills instances during the run (with -replicas above 1)
	r        report
}

// The steps kills may land in (fleet.go).
const (
	stepUpload  = "upload it in parts, interrupted and resumed"
	stepPublish = "publish: transcode, tag, warm the edge"
	stepDanmaku = "danmaku room: normal, VIP and robot users"
)

func (sc *scenario) timed(name string, fn func() error) error {
	fmt.Fprintf(sc.log, "- %s\n", name)
	if sc.chaos != nil {
		sc.chaos.stepStarted(sc.st, name, sc.log)
	}
	start := time.Now()
	err := fn()
	sc.r.steps = append(sc.r.steps, step{name, time.Since(start)})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func (sc *scenario) run(ctx context.Context) error {
	video := filepath.Join(sc.st.dir, "sample.mp4")
	type namedStep struct {
		name string
		fn   func() error
	}
	steps := []namedStep{
		{"make a video with ffmpeg", func() error { return testproc.WriteSampleVideo(sc.ffmpeg, video, sc.seconds) }},
		{stepUpload, func() error { return sc.upload(ctx, video) }},
		{stepPublish, func() error { return sc.publish(ctx) }},
		{"check the edge serves every output", sc.checkEdge},
		{stepDanmaku, func() error { return sc.danmaku(ctx) }},
	}
	if sc.chaos != nil {
		// The checks after it look at what the platform kept: every kill is done.
		steps = append(steps, namedStep{"every planned kill is done", func() error { sc.chaos.wait(); return nil }})
	}
	steps = append(steps, namedStep{"publish it again as shadow traffic: production untouched", func() error { return sc.checkShadow(ctx, video) }})
	if sc.st.prom != nil {
		steps = append(steps, namedStep{"Prometheus scrapes every service", func() error { return sc.checkPrometheus(ctx) }})
	}
	// A killed instance takes the spans it had not exported yet with it: the
	// publish is one whole trace only when nothing was killed.
	if sc.st.jaeger != nil && sc.chaos == nil {
		steps = append(steps, namedStep{"Jaeger has the publish as one trace", func() error { return sc.checkTrace(ctx) }})
	}
	for _, s := range steps {
		if err := sc.timed(s.name, s.fn); err != nil {
			return err
		}
	}
	return nil
}

// upload sends the video in small parts, cancels after two parts, and resumes.
func (sc *scenario) upload(ctx context.Context, video string) error {
	info, err := os.Stat(video)
	if err != nil {
		return err
	}
	const partSize = 32 << 10
	sc.r.parts = int((info.Size() + partSize - 1) / partSize)
	if sc.r.parts < 3 {
		return fmt.Errorf("the video has %d parts: too few to interrupt", sc.r.parts)
	}
	conn, err := sc.st.userConn("upload", uploader, auth.TierNormal)
	if err != nil {
		return err
	}
	client := uploadclient.New(conn)
	first, interrupt := context.WithCancel(ctx)
	defer interrupt()
	_, err = client.Upload(first, video, uploadclient.Options{PartSize: partSize, Parallel: 1, OnPart: func(int32, bool) {
		if sc.r.before++; sc.r.before == 2 {
			interrupt()
		}
	}})
	var interrupted *uploadclient.InterruptedError
	if !errors.As(err, &interrupted) {
		return fmt.Errorf("the interrupted upload returned %v: want an InterruptedError", err)
	}
	fmt.Fprintf(sc.log, "  interrupted after %d of %d parts: %v\n", sc.r.before, sc.r.parts, err)
	res, err := sc.uploadAll(ctx, client, video, uploadclient.Options{PartSize: partSize, Parallel: 4, ResumeID: interrupted.UploadID,
		OnPart: func(int32, bool) { sc.r.resumed++ }})
	if err != nil {
		return err
	}
	sc.r.videoID = res.VideoID
	fmt.Fprintf(sc.log, "  resumed upload %s: sent the %d missing parts; video %d\n", res.UploadID, sc.r.resumed, res.VideoID)
	if sc.r.resumed+sc.r.before < sc.r.parts {
		return fmt.Errorf("%d parts before and %d after the interruption: want %d", sc.r.before, sc.r.resumed, sc.r.parts)
	}
	return nil
}

// uploadAll uploads video and, when an instance dies under it (Unavailable),
// resumes it on another until it completes.
func (sc *scenario) uploadAll(ctx context.Context, client *uploadclient.Client, video string, opts uploadclient.Options) (uploadclient.Result, error) {
	for attempt := 1; ; attempt++ {
		res, err := client.Upload(ctx, video, opts)
		if err == nil || !unavailable(err) || attempt == 20 {
			return res, err
		}
		if interrupted, ok := errors.AsType[*uploadclient.InterruptedError](err); ok {
			opts.ResumeID = interrupted.UploadID
			fmt.Fprintf(sc.log, "  upload %s cut off (%v): resuming it\n", interrupted.UploadID, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// publish asks the orchestrator to publish the uploaded video (coloured, as a
// request from eu-west-1 would be) and waits for the workflow to end.
func (sc *scenario) publish(ctx context.Context) error {
	conn, err := sc.st.userConn("orchestrator", uploader, auth.TierNormal)
	if err != nil {
		return err
	}
	client := orchestratorv1.NewOrchestratorServiceClient(conn)
	id := &commonv1.VideoId{Value: sc.r.videoID}
	// The publish is one trace, from this span (its root) through every stage;
	// the polling below is not part of it.
	traced, span := otel.Tracer("github.com/monoreel/monoreel/tools/devstack").Start(ctx, "publish",
		trace.WithAttributes(attribute.Int64("video.id", sc.r.videoID)))
	defer span.End()
	sc.r.traceID = span.SpanContext().TraceID().String()
	colored := metadata.AppendToOutgoingContext(traced, "x-region", "eu-west-1")
	if err := retryUnavailable(ctx, func() error {
		_, err := client.Publish(colored, &orchestratorv1.PublishRequest{VideoId: id,
			Title: "Sunny beach at sunset", Description: "waves, music and a colour test pattern"})
		return err
	}); err != nil {
		return err
	}
	w, err := waitWorkflow(ctx, client, id)
	if err != nil {
		return err
	}
	sc.r.workflow = w
	return nil
}

// checkEdge checks the edge holds every warmed key and serves the master
// playlist from its cache.
func (sc *scenario) checkEdge() error {
	cached := sc.st.edge.Keys()
	for _, k := range sc.r.workflow.GetWarmedKeys() {
		if !slices.Contains(cached, k) {
			return fmt.Errorf("%s was warmed but the edge does not hold it", k)
		}
	}
	sc.r.edgeKeys = len(cached)
	master := sc.r.workflow.GetWarmedKeys()[0]
	for _, k := range sc.r.workflow.GetWarmedKeys() {
		if strings.HasSuffix(k, "/master.m3u8") {
			master = k
		}
	}
	resp, err := http.Get(sc.st.edgeURL + "/" + master)
	if err != nil {
		return err
	}
	resp.Body.Close()
	sc.r.edgeHit = resp.StatusCode == http.StatusOK && resp.Header.Get("X-Cache") == "HIT"
	if !sc.r.edgeHit {
		return fmt.Errorf("GET %s from the edge: %s, X-Cache %q: want 200 from the cache", master, resp.Status, resp.Header.Get("X-Cache"))
	}
	return nil
}

// danmaku has a normal, a VIP and a robot user each post comments at the same
// pace in the video's room, and counts the outcomes: accepted at once, queued (then
// accepted or dropped), dropped, rejected.
func (sc *scenario) danmaku(ctx context.Context) error {
	room := fmt.Sprintf("video-%d", sc.r.videoID)
	results := make(chan tierCounts)
	errs := make(chan error, 3)
	tiers := []danmakuv1.Tier{danmakuv1.Tier_TIER_NORMAL, danmakuv1.Tier_TIER_VIP, danmakuv1.Tier_TIER_ROBOT}
	for _, tier := range tiers {
		go func() {
			c, err := sc.chat(ctx, room, tier)
			if err != nil {
				errs <- fmt.Errorf("%v user: %w", tier, err)
				return
			}
			results <- c
		}()
	}
	for range tiers {
		select {
		case c := <-results:
			sc.r.tiers = append(sc.r.tiers, c)
		case err := <-errs:
			return err
		}
	}
	slices.SortFunc(sc.r.tiers, func(a, b tierCounts) int { return int(a.tier - b.tier) })
	normal, vip, robot := sc.r.tiers[0], sc.r.tiers[1], sc.r.tiers[2]
	if !(vip.accepted > normal.accepted && normal.accepted > robot.accepted && robot.dropped+robot.rejected > 0) {
		return fmt.Errorf("accepted: VIP %d, normal %d, robot %d of %d each: want VIP > normal > robot, and some of the robot's dropped",
			vip.accepted, normal.accepted, robot.accepted, sc.comments)
	}
	return nil
}

// chat posts the scenario's comments as a user whose token gives them tier.
// When the instance the stream is on dies, it reconnects (to a live one) and
// posts again the comments that have no outcome yet.
func (sc *scenario) chat(ctx context.Context, room string, tier danmakuv1.Tier) (tierCounts, error) {
	c := tierCounts{tier: tier, sent: sc.comments}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	tierName := strings.ToLower(strings.TrimPrefix(tier.String(), "TIER_")) // auth.TierNormal, TierVIP, TierRobot
	user := tierName + "-1"
	conn, err := sc.st.userConn("danmaku", user, tierName)
	if err != nil {
		return c, err
	}
	ch := &chatter{sc: sc, room: room, tier: tier, outcomes: map[string]danmakuv1.Outcome{}, queued: map[string]bool{}}
	for attempt := 1; len(ch.outcomes) < sc.comments; attempt++ {
		err := ch.post(ctx, danmakuv1.NewDanmakuServiceClient(conn), user)
		if err == nil {
			break
		}
		if !unavailable(err) || attempt == 10 {
			return c, fmt.Errorf("after %d of %d outcomes: %w", len(ch.outcomes), sc.comments, err)
		}
		fmt.Fprintf(sc.log, "  %s's stream cut off after %d of %d outcomes (%v): posting the rest again on another instance\n", user, len(ch.outcomes), sc.comments, err)
		time.Sleep(100 * time.Millisecond)
	}
	c.queued = len(ch.queued)
	for _, o := range ch.outcomes {
		switch o {
		case danmakuv1.Outcome_OUTCOME_ACCEPTED:
			c.accepted++
		case danmakuv1.Outcome_OUTCOME_DROPPED:
			c.dropped++
		case danmakuv1.Outcome_OUTCOME_REJECTED:
			c.rejected++
		}
	}
	return c, nil
}

// chatter is one user's comments in a room, over as many streams as it takes.
type chatter struct {
	sc       *scenario
	room     string
	tier     danmakuv1.Tier
	outcomes map[string]danmakuv1.Outcome // final, by client id
	queued   map[string]bool              // comments that waited for a token
}

// post joins the room on a new stream and posts, at 10 a second (more than a
// robot or a normal user may post, less than a VIP), every comment that has no
// outcome yet, then waits for their outcomes.
func (ch *chatter) post(ctx context.Context, client danmakuv1.DanmakuServiceClient, user string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.Chat(ctx)
	if err != nil {
		return err
	}
	if err := stream.Send(&danmakuv1.ChatRequest{Message: &danmakuv1.ChatRequest_Join{Join: &danmakuv1.Join{RoomId: ch.room}}}); err != nil {
		return ch.drain(stream)
	}
	joined, err := stream.Recv()
	if err != nil {
		return err
	}
	if got := joined.GetJoined().GetTier(); got != ch.tier {
		return fmt.Errorf("%s joined with tier %v, want their token's %v", user, got, ch.tier)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	posted := 0
	for i := range ch.sc.comments {
		id := fmt.Sprint(i)
		if _, settled := ch.outcomes[id]; settled {
			continue
		}
		<-tick.C
		text := fmt.Sprintf("comment %d from %s", i, user)
		if err := stream.Send(&danmakuv1.ChatRequest{Message: &danmakuv1.ChatRequest_Comment{Comment: &danmakuv1.Comment{ClientId: id, Text: text}}}); err != nil {
			return ch.drain(stream)
		}
		posted++
	}
	for settled := 0; settled < posted; {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if ch.record(resp.GetAck()) {
			settled++
		}
	}
	return stream.CloseSend()
}

// record notes an outcome; it reports whether it settled a comment.
func (ch *chatter) record(ack *danmakuv1.CommentAck) bool {
	id := ack.GetClientId()
	switch o := ack.GetOutcome(); o {
	case danmakuv1.Outcome_OUTCOME_QUEUED:
		ch.queued[id] = true
	case danmakuv1.Outcome_OUTCOME_ACCEPTED, danmakuv1.Outcome_OUTCOME_DROPPED, danmakuv1.Outcome_OUTCOME_REJECTED:
		if _, settled := ch.outcomes[id]; !settled {
			ch.outcomes[id] = o
			return true
		}
	}
	return false
}

// drain records the outcomes a broken stream still holds and returns why it
// broke (a failed Send only says io.EOF).
func (ch *chatter) drain(stream danmakuv1.DanmakuService_ChatClient) error {
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		ch.record(resp.GetAck())
	}
}

// print writes the summary.
func (r *report) print(w io.Writer, st *stack) {
	fmt.Fprintf(w, "\nSummary\n")
	for _, name := range st.order {
		fmt.Fprintf(w, "  start %-38s %8v\n", name, st.started[name].Round(time.Millisecond))
	}
	for _, s := range r.steps {
		fmt.Fprintf(w, "  %-44s %8v\n", s.name, s.took.Round(time.Millisecond))
	}
	if r.shadow.dryRun {
		fmt.Fprintf(w, "  shadow publish: video %d, %d outputs under the shadow output root, cdnpush a dry run, production's files, edge and workflow untouched\n", r.shadow.videoID, r.shadow.outputs)
	}
	if r.traceID != "" {
		fmt.Fprintf(w, "  publish trace: %s%s\n", r.traceID, r.trace.summary(st, r.traceID))
	}
	if r.kills != "" {
		fmt.Fprintf(w, "  kills: %s\n", r.kills)
	}
	fmt.Fprintf(w, "  security: mutual TLS on every hop (CA %s); users by signed tokens: %s uploads and publishes\n", st.pki.Dir.CAFile(), uploader)
	fmt.Fprintf(w, "  upload: %d parts, %d before the interruption, %d after resuming; video %d\n", r.parts, r.before, r.resumed, r.videoID)
	if wf := r.workflow; wf != nil {
		fmt.Fprintf(w, "  workflow stages:\n")
		for _, s := range wf.GetStages() {
			fmt.Fprintf(w, "    %-10s %-6s %8v  retries %d\n", s.GetName(), strings.ToLower(strings.TrimPrefix(s.GetState().String(), "STAGE_STATE_")),
				s.GetTook().AsDuration().Round(time.Millisecond), s.GetRetries())
		}
		var tags []string
		for _, t := range wf.GetTags() {
			tags = append(tags, fmt.Sprintf("%s (%.2f)", t.GetName(), t.GetScore()))
		}
		fmt.Fprintf(w, "  tags: %s\n", strings.Join(tags, ", "))
		fmt.Fprintf(w, "  CDN: %d keys warmed, %d on the edge, master playlist served from the edge cache: %v\n", len(wf.GetWarmedKeys()), r.edgeKeys, r.edgeHit)
	}
	if len(r.tiers) > 0 {
		fmt.Fprintf(w, "  danmaku (%d comments each):  accepted  queued  dropped  rejected\n", r.tiers[0].sent)
		for _, c := range r.tiers {
			fmt.Fprintf(w, "    %-27s %8d  %6d  %7d  %8d\n", strings.ToLower(strings.TrimPrefix(c.tier.String(), "TIER_")), c.accepted, c.queued, c.dropped, c.rejected)
		}
	}
	r.prom.print(w)
}
