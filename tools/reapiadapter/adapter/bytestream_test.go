package adapter

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"
)

// A ByteStream client (google.bytestream.ByteStream, which REAPI's CAS serves
// for blobs of any size) written against the wire format, so that the test
// needs no module for four messages: WriteRequest {1 resource_name, 2
// write_offset, 3 finish_write, 10 data}, WriteResponse {1 committed_size},
// ReadRequest {1 resource_name, 2 read_offset, 3 read_limit}, ReadResponse {10
// data}.

// byteStreamWrite uploads data to resource in chunks and returns the size the
// server committed.
func byteStreamWrite(ctx context.Context, conn grpc.ClientConnInterface, resource string, data []byte, chunk int) (int64, error) {
	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true}, "/google.bytestream.ByteStream/Write", grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return 0, err
	}
	for off := 0; off < len(data); off += chunk {
		end := min(off+chunk, len(data))
		var req []byte
		if off == 0 {
			req = protowire.AppendString(protowire.AppendTag(req, 1, protowire.BytesType), resource)
		}
		req = protowire.AppendVarint(protowire.AppendTag(req, 2, protowire.VarintType), uint64(off))
		if end == len(data) {
			req = protowire.AppendVarint(protowire.AppendTag(req, 3, protowire.VarintType), 1)
		}
		req = protowire.AppendBytes(protowire.AppendTag(req, 10, protowire.BytesType), data[off:end])
		if err := stream.SendMsg(&frame{data: req}); err != nil {
			if errors.Is(err, io.EOF) {
				break // the server ended the call: RecvMsg has its status
			}
			return 0, err
		}
	}
	if err := stream.CloseSend(); err != nil {
		return 0, err
	}
	resp := &frame{}
	if err := stream.RecvMsg(resp); err != nil {
		return 0, err
	}
	committed, err := varintField(resp.data, 1)
	return int64(committed), err
}

// byteStreamRead downloads resource and returns it and the number of messages
// it came in.
func byteStreamRead(ctx context.Context, conn grpc.ClientConnInterface, resource string) ([]byte, int, error) {
	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/google.bytestream.ByteStream/Read", grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return nil, 0, err
	}
	req := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), resource)
	if err := stream.SendMsg(&frame{data: req}); err != nil {
		return nil, 0, err
	}
	if err := stream.CloseSend(); err != nil {
		return nil, 0, err
	}
	var data []byte
	messages := 0
	for {
		resp := &frame{}
		err := stream.RecvMsg(resp)
		if errors.Is(err, io.EOF) {
			return data, messages, nil
		}
		if err != nil {
			return nil, messages, err
		}
		messages++
		b := resp.data
		for len(b) > 0 {
			num, typ, n := protowire.ConsumeTag(b)
			if n < 0 {
				return nil, messages, protowire.ParseError(n)
			}
			b = b[n:]
			if num == 10 && typ == protowire.BytesType {
				chunk, n := protowire.ConsumeBytes(b)
				if n < 0 {
					return nil, messages, protowire.ParseError(n)
				}
				data = append(data, chunk...)
				b = b[n:]
				continue
			}
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, messages, protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
}

// varintField returns the varint field num of a message (0 when absent).
func varintField(b []byte, num protowire.Number) (uint64, error) {
	var value uint64
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return 0, protowire.ParseError(l)
		}
		b = b[l:]
		if n == num && typ == protowire.VarintType {
			v, l := protowire.ConsumeVarint(b)
			if l < 0 {
				return 0, protowire.ParseError(l)
			}
			value, b = v, b[l:]
			continue
		}
		l = protowire.ConsumeFieldValue(n, typ, b)
		if l < 0 {
			return 0, fmt.Errorf("field %d: %w", n, protowire.ParseError(l))
		}
		b = b[l:]
	}
	return value, nil
}
