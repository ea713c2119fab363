// Command reapiadapter serves a REAPI server (a remote cache or executor such as
// buildbox-casd) to Bazel 7 and 8, which refuse a server whose lowest API
// version is later than 2.0: it forwards every call to the server and widens
// the API versions the server advertises to include 2.0 (see package
// tools/reapiadapter/adapter for what and why). Bazel 9 needs no adapter.
//
//	buildbox-casd --bind=127.0.0.1:50040 ~/.cache/monoreel/casd &
//	./bazelw run //tools/reapiadapter -- -backend=127.0.0.1:50040 -listen=127.0.0.1:50041 &
//	./bazelw build --config=remote-cache-grpc --remote_cache=grpc://127.0.0.1:50041 //libs/snowflake/...
//
// It speaks plaintext gRPC on both sides, so it listens on loopback unless told
// otherwise (-listen): put it next to Bazel, or next to the server.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/monoreel/monoreel/tools/reapiadapter/adapter"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "reapiadapter:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	flags := flag.NewFlagSet("reapiadapter", flag.ContinueOnError)
	listen := flags.String("listen", "127.0.0.1:8981", "address Bazel connects to (--remote_cache=grpc://ADDRESS)")
	backend := flags.String("backend", "", "the REAPI server: host:port or unix:///path (plaintext gRPC)")
	actionDir := flags.String("action_dir", "", "move each executed action into this directory of its input root and run it there: for an executor that runs actions at the root of their sandbox (buildbox-run-bubblewrap; see the adapter package)")
	logCalls := flags.Bool("log_calls", false, "log every call: method, status code and time")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *backend == "" {
		return fmt.Errorf("no -backend")
	}
	conn, err := grpc.NewClient(*backend, grpc.WithTransportCredentials(insecure.NewCredentials()),
		// Messages are as large as the two ends agree (casd advertises no batch
		// limit; Bazel batches up to 4 MiB, casd reads ByteStream in 2 MiB
		// chunks): the adapter must not be the narrowest point, either way.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		return err
	}
	defer conn.Close()
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(64 << 20), grpc.MaxSendMsgSize(64 << 20)}
	if *logCalls {
		opts = append(opts, grpc.StreamInterceptor(logCall))
	}
	server := adapter.NewServer(conn, adapter.Options{ActionDir: *actionDir}, opts...)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		server.GracefulStop()
	}()
	slog.Info("reapiadapter: serving", "listen", lis.Addr().String(), "backend", *backend)
	return server.Serve(lis)
}

func logCall(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, ss)
	slog.Info("call", "method", info.FullMethod, "code", status.Code(err).String(), "took", time.Since(start), "error", err)
	return err
}
