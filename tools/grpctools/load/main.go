// Command load measures a service's throughput and latency with ghz, through
// server reflection (no .proto file): requests a second, p50 and p99.
//
//	./bazelw run //tools/grpctools/load                     # starts idgen on loopback, loads NextID
//	./bazelw run //tools/grpctools/load -- -addr=HOST:PORT  # a running service instead
//
// It is how the cost of a cross-cutting change (TLS, auth, tracing) on every call
// is measured: run it before and after.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/monoreel/monoreel/libs/testproc"
	"github.com/monoreel/monoreel/tools/grpctools"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	flags := flag.NewFlagSet("load", flag.ContinueOnError)
	ghz := flags.String("ghz", "", "the ghz binary (./bazelw run sets it)")
	service := flags.String("service", "", "a service binary to start on loopback and load (./bazelw run sets idgen's); ignored with -addr")
	addr := flags.String("addr", "", "load this running service instead (host:port)")
	l := grpctools.Load{}
	flags.StringVar(&l.Method, "call", "monoreel.idgen.v1.IDGenService/NextID", "the method: package.Service/Method")
	flags.StringVar(&l.Data, "data", "{}", "the request, in JSON")
	flags.IntVar(&l.Requests, "n", 20000, "calls in all")
	flags.IntVar(&l.Concurrency, "c", 20, "calls in flight at a time")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *ghz == "" || (*addr == "" && *service == "") {
		return fmt.Errorf("want -ghz, and -addr or -service (./bazelw run //tools/grpctools/load sets -ghz and -service)")
	}
	target := *addr
	if target == "" {
		dir, err := os.MkdirTemp("", "monoreel-load-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		svc, err := testproc.LaunchService(*service, filepath.Join(dir, "service.log"))
		if err != nil {
			return err
		}
		defer svc.Stop()
		target = svc.Addr
		fmt.Fprintf(out, "started %s on %s\n", filepath.Base(*service), target)
	}
	// A short warm-up, so that connection set-up and the first allocations are
	// not in the figures.
	warm := l
	warm.Requests = min(l.Requests, 1000)
	if _, err := grpctools.RunGhz(ctx, *ghz, target, warm); err != nil {
		return err
	}
	report, err := grpctools.RunGhz(ctx, *ghz, target, l)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s, %d concurrent: %s\n", l.Method, l.Concurrency, report)
	return nil
}
