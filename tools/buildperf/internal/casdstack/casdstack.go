// Package casdstack runs a real REAPI server on loopback for the build proofs
// (tools/buildperf/remoteexec, bench, and internal/grpccache, which puts nginx in
// front): buildbox-casd (Debian testing's
// buildbox), optionally with its local Execution service, and
// tools/reapiadapter in front of it, which Bazel < 9 needs to accept casd. Bazel
// talks to the adapter (AdapterAddr); CasdAddr is casd itself.
package casdstack

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/monoreel/monoreel/libs/testproc"
	"github.com/monoreel/monoreel/tools/reapiadapter/adapter"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// ActionDir is where the adapter moves the actions it executes (the directory
// Bazel runs them in locally is _main too: execroot/_main).
const ActionDir = "_main"

// Stack is casd and the adapter in front of it, both plaintext gRPC on loopback.
type Stack struct {
	CasdAddr, AdapterAddr string
	// Storage is casd's storage directory, Log its log.
	Storage, Log string
	casd         *testproc.Process
	casdBinary   string
	casdArgs     []string
	adapter      *grpc.Server
	backend      *grpc.ClientConn
}

// Options says what casd serves besides a cache.
type Options struct {
	// ExecJobs > 0 turns on casd's Execution service with
	// buildbox-run-bubblewrap, running up to ExecJobs actions at once
	// (testproc.CasdExecutorArgs says what an action sees).
	ExecJobs int
	// MaxMessage > 0 raises gRPC's message size limit between the adapter, its
	// callers and casd (a cache's batch calls carry large blobs).
	MaxMessage int
}

// Start runs casd, its storage and log under dir (created if need be), and the
// adapter in front of it.
func Start(dir string, opts Options) (*Stack, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	binary, err := exec.LookPath("buildbox-casd")
	if err != nil {
		return nil, fmt.Errorf("buildbox-casd not found: install the Debian package buildbox from testing (./bazelw does): %w", err)
	}
	var extra []string
	if opts.ExecJobs > 0 {
		runner, err := exec.LookPath("buildbox-run-bubblewrap")
		if err != nil {
			return nil, fmt.Errorf("buildbox-run-bubblewrap not found: install the Debian package buildbox from testing (./bazelw does): %w", err)
		}
		extra = testproc.CasdExecutorArgs(runner, opts.ExecJobs)
	}
	s := &Stack{Storage: filepath.Join(dir, "casd"), Log: filepath.Join(dir, "casd.log"), casdBinary: binary, casdArgs: extra}
	if s.CasdAddr, err = testproc.PickAddr(); err != nil {
		return nil, err
	}
	if err := s.StartCasd(); err != nil {
		s.Stop()
		return nil, err
	}
	dialOpts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	var serverOpts []grpc.ServerOption
	if opts.MaxMessage > 0 {
		dialOpts = append(dialOpts, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(opts.MaxMessage), grpc.MaxCallSendMsgSize(opts.MaxMessage)))
		serverOpts = append(serverOpts, grpc.MaxRecvMsgSize(opts.MaxMessage), grpc.MaxSendMsgSize(opts.MaxMessage))
	}
	if s.backend, err = grpc.NewClient(s.CasdAddr, dialOpts...); err != nil {
		s.Stop()
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.Stop()
		return nil, err
	}
	s.AdapterAddr = lis.Addr().String()
	var o adapter.Options
	if opts.ExecJobs > 0 {
		// buildbox-run-bubblewrap runs an action at the root of its sandbox,
		// where rules_go's -trimpath=$PWD strips nothing.
		o.ActionDir = ActionDir
	}
	s.adapter = adapter.NewServer(s.backend, o, serverOpts...)
	go s.adapter.Serve(lis)
	return s, nil
}

// StartCasd (re)starts casd on its address, with the storage it had: the
// adapter reconnects to it.
func (s *Stack) StartCasd() (err error) {
	if s.casd, err = testproc.LaunchCasd(s.casdBinary, s.CasdAddr, s.Storage, s.Log, s.casdArgs...); err != nil {
		return err
	}
	if s.backend != nil {
		// After casd was away, the adapter's connection waits out gRPC's
		// reconnect backoff, which grows to two minutes: reconnect now.
		s.backend.ResetConnectBackoff()
	}
	return nil
}

// StopCasd kills casd, leaving the adapter: the store dies behind it.
func (s *Stack) StopCasd() {
	if s.casd != nil {
		s.casd.Stop()
	}
}

// Stop ends the adapter and casd.
func (s *Stack) Stop() {
	if s.adapter != nil {
		s.adapter.Stop()
	}
	if s.backend != nil {
		s.backend.Close()
	}
	s.StopCasd()
}
