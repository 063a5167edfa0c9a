package client

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// ListBrief returns the jobs that match f in JOB_VIEW_BRIEF as the wire
// form of a ListJobsResponse, undecoded: a caller that only prints lines
// can read them without building a message per job (protowire).
func (c *Client) ListBrief(ctx context.Context, f *gpuqv1.JobFilter, opts ...grpc.CallOption) ([]byte, error) {
	req := &gpuqv1.ListJobsRequest{Filter: f, View: gpuqv1.JobView_JOB_VIEW_BRIEF}
	var resp []byte
	opts = append(opts, grpc.ForceCodecV2(rawCodec{}))
	if err := c.conn.Invoke(ctx, gpuqv1.QueueService_ListJobs_FullMethodName, req, &resp, opts...); err != nil {
		return nil, c.err(err)
	}
	return resp, nil
}

// rawCodec marshals requests as protobuf and hands responses over as
// their bytes.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("raw codec: cannot marshal %T", v)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, err
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("raw codec: cannot unmarshal into %T", v)
	}
	*p = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }
