package execlog

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/encoding/protodelim"

	pb "github.com/monoreel/monoreel/tools/buildperf/cachediff/execlogpb"
)

// readCompact reads the compact format: zstd-compressed, length-delimited
// entries, where spawns refer to files and input sets defined by earlier entries.
func readCompact(r io.Reader) ([]*Spawn, error) {
	dec, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxEntry*4))
	if err != nil {
		return nil, fmt.Errorf("compact execution log: %w", err)
	}
	defer dec.Close()
	br := bufio.NewReaderSize(dec, 1<<16)
	l := &compactLog{files: map[uint32][]file{}, sets: map[uint32]*pb.Entry_InputSet{}}
	opts := protodelim.UnmarshalOptions{MaxSize: maxEntry}
	var spawns []*Spawn
	for n := 1; ; n++ {
		var e pb.Entry
		err := opts.UnmarshalFrom(br, &e)
		if errors.Is(err, io.EOF) {
			return spawns, nil
		}
		if err == nil {
			var s *Spawn
			s, err = l.add(&e)
			if s != nil {
				spawns = append(spawns, s)
			}
		}
		if err != nil {
			return spawns, fmt.Errorf("compact execution log, entry %d: %w", n, err)
		}
	}
}

// file is one path with its digest.
type file struct{ path, digest string }

// compactLog holds what entries define for later ones to refer to.
type compactLog struct {
	files map[uint32][]file // a file, a directory's files, a symlink, a runfiles tree
	sets  map[uint32]*pb.Entry_InputSet
}

// add records one entry, returning it as a Spawn if it is one.
func (l *compactLog) add(e *pb.Entry) (*Spawn, error) {
	id := e.GetId()
	define := func(files []file) {
		if id != 0 {
			l.files[id] = files
		}
	}
	switch p := e.GetPayload().(type) {
	case *pb.Entry_File:
		define([]file{{p.File.GetPath(), p.File.GetDigest().GetHash()}})
	case *pb.Entry_Directory_:
		files := make([]file, 0, len(p.Directory.GetFiles()))
		for _, f := range p.Directory.GetFiles() {
			files = append(files, file{path.Join(p.Directory.GetPath(), f.GetPath()), f.GetDigest().GetHash()})
		}
		define(files)
	case *pb.Entry_UnresolvedSymlink_:
		define([]file{{p.UnresolvedSymlink.GetPath(), "symlink to " + p.UnresolvedSymlink.GetTargetPath()}})
	case *pb.Entry_InputSet_:
		if id != 0 {
			l.sets[id] = p.InputSet
		}
	case *pb.Entry_RunfilesTree_:
		contents := map[string]string{}
		if err := l.expand(p.RunfilesTree.GetInputSetId(), contents); err != nil {
			return nil, err
		}
		define([]file{{p.RunfilesTree.GetPath(), digestOf(contents)}})
	case *pb.Entry_Spawn:
		return l.spawn(p.Spawn)
	}
	return nil, nil
}

func (l *compactLog) spawn(c *pb.Entry_CompactSpawn) (*Spawn, error) {
	s := &Spawn{
		Label:           c.GetTargetLabel(),
		Mnemonic:        c.GetMnemonic(),
		Args:            c.GetArgs(),
		Env:             envMap(c.GetEnvVars()),
		Platform:        platformMap(c.GetPlatform()),
		Inputs:          map[string]string{},
		Outputs:         map[string]string{},
		CacheHit:        c.GetCacheHit(),
		RemoteCacheable: c.GetRemoteCacheable(),
	}
	if err := l.expand(c.GetInputSetId(), s.Inputs); err != nil {
		return nil, err
	}
	if err := l.expand(c.GetToolSetId(), s.Inputs); err != nil {
		return nil, err
	}
	for _, out := range c.GetOutputs() {
		switch o := out.GetType().(type) {
		case *pb.Entry_Output_InvalidOutputPath:
			s.Outputs[o.InvalidOutputPath] = ""
		case *pb.Entry_Output_OutputId:
			files, ok := l.files[o.OutputId]
			if !ok {
				return nil, undefined(o.OutputId)
			}
			for _, f := range files {
				s.Outputs[f.path] = f.digest
			}
		}
	}
	return s, nil
}

// expand adds the files of input set id (0: the empty set) to into.
func (l *compactLog) expand(id uint32, into map[string]string) error {
	if id == 0 {
		return nil
	}
	seen := map[uint32]bool{}
	stack := []uint32{id}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[id] {
			continue
		}
		seen[id] = true
		set, ok := l.sets[id]
		if !ok {
			return undefined(id)
		}
		stack = append(stack, set.GetTransitiveSetIds()...)
		for _, ids := range [][]uint32{set.GetInputIds(), set.GetFileIds(), set.GetDirectoryIds(), set.GetUnresolvedSymlinkIds()} {
			for _, fid := range ids {
				files, ok := l.files[fid]
				if !ok {
					return undefined(fid)
				}
				for _, f := range files {
					into[f.path] = f.digest
				}
			}
		}
	}
	return nil
}

func undefined(id uint32) error {
	return fmt.Errorf("refers to id %d, which no earlier entry defines", id)
}

// digestOf summarises a set of files as one digest.
func digestOf(files map[string]string) string {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	h := sha256.New()
	for _, p := range paths {
		fmt.Fprintf(h, "%s\x00%s\n", p, files[p])
	}
	return hex.EncodeToString(h.Sum(nil))
}
