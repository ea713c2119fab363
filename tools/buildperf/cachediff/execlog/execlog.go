// Package execlog reads a Bazel execution log, binary (--execution_log_binary_file)
// or compact (--execution_log_compact_file), into one shape: the spawns of a build,
// each with its command line, environment, platform, inputs and outputs. The two
// formats are told apart by the zstd magic number the compact one starts with.
package execlog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"

	"google.golang.org/protobuf/encoding/protodelim"

	pb "github.com/monoreel/monoreel/tools/buildperf/cachediff/execlogpb"
)

// Spawn is one action execution (a process Bazel ran, or a cache hit in its place).
type Spawn struct {
	Label    string // the target it belongs to
	Mnemonic string
	Args     []string
	Env      map[string]string
	Platform map[string]string
	// Inputs (tools included) and Outputs map exec-root-relative paths to
	// content digests ("" for an empty file). A tree artifact is listed file by
	// file.
	Inputs   map[string]string
	Outputs  map[string]string
	CacheHit bool
	// RemoteCacheable is false for actions Bazel never looks up in, nor uploads
	// to, a remote cache (no-remote-cache, no-cache, stamped...).
	RemoteCacheable bool
	// Runner is the strategy that ran the spawn ("remote", "linux-sandbox",
	// "remote cache hit"...) and Remotable whether remote execution was
	// allowed for it (tags such as no-remote-exec forbid it). Only the binary
	// log carries them here; they are empty in spawns read from a compact log.
	Runner    string
	Remotable bool
}

// ID names the spawn the same way in two builds of the same targets: its first
// output path (outputs are unique to one action).
func (s *Spawn) ID() string {
	if len(s.Outputs) == 0 {
		return s.Mnemonic + " " + s.Label
	}
	paths := make([]string, 0, len(s.Outputs))
	for p := range s.Outputs {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths[0]
}

// maxEntry bounds one entry of a log; Bazel's largest are far below it. It keeps
// a corrupt length prefix from allocating gigabytes.
const maxEntry = 64 << 20

var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// Read returns the spawns of the log in r, in log order.
func Read(r io.Reader) ([]*Spawn, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, err := br.Peek(len(zstdMagic))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if bytes.Equal(magic, zstdMagic) {
		return readCompact(br)
	}
	return readBinary(br)
}

// readBinary reads a stream of length-delimited SpawnExec messages.
func readBinary(r *bufio.Reader) ([]*Spawn, error) {
	var spawns []*Spawn
	opts := protodelim.UnmarshalOptions{MaxSize: maxEntry}
	for n := 1; ; n++ {
		var exec pb.SpawnExec
		err := opts.UnmarshalFrom(r, &exec)
		if errors.Is(err, io.EOF) {
			return spawns, nil
		}
		if err != nil {
			return spawns, fmt.Errorf("binary execution log, entry %d: %w", n, err)
		}
		s := &Spawn{
			Label:           exec.GetTargetLabel(),
			Mnemonic:        exec.GetMnemonic(),
			Args:            exec.GetCommandArgs(),
			Env:             envMap(exec.GetEnvironmentVariables()),
			Platform:        platformMap(exec.GetPlatform()),
			Inputs:          map[string]string{},
			Outputs:         map[string]string{},
			CacheHit:        exec.GetCacheHit(),
			RemoteCacheable: exec.GetRemoteCacheable(),
			Runner:          exec.GetRunner(),
			Remotable:       exec.GetRemotable(),
		}
		for _, in := range exec.GetInputs() {
			s.Inputs[in.GetPath()] = in.GetDigest().GetHash()
		}
		// Listed outputs name the action even when it failed to produce them.
		for _, out := range exec.GetListedOutputs() {
			s.Outputs[out] = ""
		}
		for _, out := range exec.GetActualOutputs() {
			s.Outputs[out.GetPath()] = out.GetDigest().GetHash()
		}
		spawns = append(spawns, s)
	}
}

func envMap(vars []*pb.EnvironmentVariable) map[string]string {
	m := make(map[string]string, len(vars))
	for _, v := range vars {
		m[v.GetName()] = v.GetValue()
	}
	return m
}

func platformMap(p *pb.Platform) map[string]string {
	m := map[string]string{}
	for _, prop := range p.GetProperties() {
		m[prop.GetName()] = prop.GetValue()
	}
	return m
}
