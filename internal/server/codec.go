package server

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"

	"github.com/gpuq/gpuq/internal/wire"
)

// Codec is gRPC's proto codec that sends a page of records that
// ListRecords encoded itself as its bytes: gRPC's codec would copy them
// into a buffer of its own, cleared first. A server that uses it
// (grpc.ForceServerCodecV2) says so in AccountingOptions.PageCodec.
func Codec() encoding.CodecV2 {
	return pageCodec{encoding.GetCodecV2(grpcproto.Name)}
}

type pageCodec struct{ encoding.CodecV2 }

func (c pageCodec) Marshal(v any) (mem.BufferSlice, error) {
	if p, ok := v.(*encodedPage); ok {
		if p.b == nil {
			return nil, fmt.Errorf("marshal: %w", errPageSent)
		}
		b := p.b
		p.b = nil // the stream frees it once written
		return mem.BufferSlice{b}, nil
	}
	return c.CodecV2.Marshal(v)
}

// encodedPage is a ListRecordsResponse encoded by ListRecords, sent once
// with Codec. Its buffer goes back to pages once written.
type encodedPage struct{ b mem.Buffer }

var errPageSent = errors.New("a page of records sent twice")

// pages holds the buffers of the pages sent with Codec.
var pages = &wire.BufferPool{}
