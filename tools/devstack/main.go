// Command devstack runs the whole platform on loopback and shows it working:
//
//	./bazelw run //tools/devstack              # start, run the scenario, stop
//	./bazelw run //tools/devstack -- --keep    # and leave it running
//
// Every service starts with its embedded default (data under --dir), plus an
// HTTP origin over the transcode output and a caching edge in front of it. The
// scenario: make a short video with ffmpeg, upload it in parts (interrupted
// once, then resumed), publish it through the orchestrator (transcode, tags, CDN
// warm-up on the edge), then post comments in its danmaku room as a normal, a
// VIP and a robot user. It prints the time of each step, the workflow's stages
// and the comments' outcomes per tier, and fails on anything unexpected. The
// same run is //tools/devstack:devstack_test.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/monoreel/monoreel/libs/service"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

// run starts the platform, runs the scenario and prints the summary. check, if
// set, runs after the scenario passed, on the platform still running (tests
// call the services with their tools there).
func run(ctx context.Context, args []string, out io.Writer, check func(*stack, *report) error) error {
	flags := flag.NewFlagSet("devstack", flag.ContinueOnError)
	var binaries serviceFlags
	flags.Var(&binaries, "service", "NAME=BINARY of a service to start, in start order; repeated (./bazelw run //tools/devstack sets them from services/services.bzl)")
	ffmpegFlag := service.AddProgramFlag(flags, "ffmpeg", "ffmpeg")
	dir := flags.String("dir", "", "where the services keep their data and logs (default: a new directory under the system's temporary directory)")
	keep := flags.Bool("keep", false, "leave the platform running after the scenario, until interrupted")
	seconds := flags.Int("seconds", 4, "length of the video")
	comments := flags.Int("comments", 30, "comments each danmaku user posts")
	prometheus := flags.String("prometheus", "", "also run this Prometheus (a path, or a name looked up in PATH: prometheus, from the Debian package) on loopback, scraping every service, and check it sees their metrics")
	jaeger := flags.String("jaeger", "", "also run this Jaeger (./bazelw run //tools/devstack sets the one built from its Go module) on loopback, have every service trace to it, and check the publish trace there")
	replicas := flags.Int("replicas", 1, "instances of every service; above 1, they run behind discovery on a real etcd, with Redis between them (Debian's etcd-server and redis-server)")
	kills := flags.Bool("kill", true, "with -replicas above 1: kill one instance of every service (SIGKILL) at a random moment of the scenario")
	seed := flags.Uint64("seed", 0, "the random kills' seed, to repeat a run (0: a new one)")
	etcdFlag := service.AddProgramFlag(flags, "etcd", "etcd-server")
	redisFlag := service.AddProgramFlag(flags, "redis-server", "redis-server")
	var rules ruleFlags
	flags.Var(&rules, "prometheus_rules", "a rules file Prometheus loads; repeated (./bazelw run //tools/devstack sets tools/monitoring's)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if err := binaries.complete(); err != nil {
		return err
	}
	ffmpeg, err := ffmpegFlag.Path()
	if err != nil {
		return err
	}
	if *dir == "" {
		if *dir, err = os.MkdirTemp("", "monoreel-devstack-"); err != nil {
			return err
		}
	}

	fmt.Fprintf(out, "Starting the platform (data and logs in %s)\n", *dir)
	var f *fleet
	if *replicas > 1 {
		etcd, err := etcdFlag.Path()
		if err != nil {
			return err
		}
		redis, err := redisFlag.Path()
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(*dir, "logs"), 0o755); err != nil {
			return err
		}
		if f, err = startFleet(*dir, etcd, redis, *replicas); err != nil {
			return err
		}
		fmt.Fprintf(out, "  %-13s %s (discovery, config, leases); redis %s (danmaku relay, caches); %d instances of every service\n", "etcd", f.etcdAddr, f.redisAddr, *replicas)
	}
	st, err := startStack(*dir, binaries, ffmpeg, *jaeger, f, out)
	if err != nil {
		if f != nil {
			f.stop()
		}
		return err
	}
	defer st.stop()
	if *prometheus != "" {
		if err := st.startPrometheus(*prometheus, rules); err != nil {
			return err
		}
		fmt.Fprintf(out, "  %-13s scraping every service on %s\n", "prometheus", st.prom.URL)
	}
	fmt.Fprintln(out, "Scenario")
	sc := &scenario{st: st, ffmpeg: ffmpeg, seconds: *seconds, comments: *comments, log: out}
	if f != nil && *kills {
		if *seed == 0 {
			*seed = uint64(time.Now().UnixNano())
		}
		sc.chaos = newChaos(*seed, st.order, *replicas)
	}
	err = sc.run(ctx)
	if sc.chaos != nil {
		sc.r.kills = sc.chaos.summary()
	}
	sc.r.print(out, st)
	if err != nil {
		return fmt.Errorf("%w (service logs in %s)", err, filepath.Join(*dir, "logs"))
	}
	fmt.Fprintln(out, "\nThe scenario passed.")
	if check != nil {
		if err := check(st, &sc.r); err != nil {
			return err
		}
	}
	if !*keep {
		return nil
	}
	p := st.pki.Dir
	fmt.Fprintf(out, "\nThe platform keeps running (Ctrl-C stops it). gRPC on loopback over mutual TLS, with health and server reflection:\n")
	for _, b := range binaries {
		for _, svc := range st.live(b.name) {
			fmt.Fprintf(out, "  %-13s %s   (metrics, /healthz: http://%s)\n", b.name, svc.Addr, svc.AdminAddr)
		}
	}
	for _, url := range st.consoles {
		fmt.Fprintf(out, "  %-13s %s   (sign in as any name; vip and robot by those names, ops as the operator)\n", "console web", url)
	}
	if st.prom != nil {
		fmt.Fprintf(out, "  %-13s %s\n", "prometheus", st.prom.URL)
	}
	if st.jaeger != nil {
		fmt.Fprintf(out, "  %-13s %s   (the publish: %s)\n", "jaeger", st.jaeger.Query, st.jaeger.TraceURL(sc.r.traceID))
	}
	fmt.Fprintf(out, "  as an operator: grpcurl -cacert %s -H \"authorization: Bearer $(./bazelw run //tools/devcerts -- token -dir %s -user ops -admin)\" ADDR list\n", p.CAFile(), p)
	fmt.Fprintf(out, "  edge          %s/<key>   (e.g. %s/%s)\n", st.edgeURL, st.edgeURL, sc.r.workflow.GetWarmedKeys()[0])
	fmt.Fprintf(out, "  logs          %s\n", filepath.Join(*dir, "logs"))
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return nil
}
