package client

import (
	"context"
	"errors"
	"io"
	"runtime"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/gpuq/gpuq/internal/wire"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Records calls fn for every accounting record that req selects, in the
// order gpuqd streams them (by end time). An error from fn stops the stream
// and is returned as it is.
func (c *Client) Records(ctx context.Context, req *gpuqv1.ListRecordsRequest, fn func(*gpuqv1.RunRecord) error, opts ...grpc.CallOption) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream when fn stops early
	stream, err := c.acct.ListRecords(ctx, req, opts...)
	if err != nil {
		return c.err(err)
	}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return c.err(err)
		}
		for _, r := range resp.GetRecords() {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
}

// RecordPages is Records a page at a time, for a listing of a million
// records: the pages are received as they are and given to fn by
// GOMAXPROCS goroutines at once, to decode (see RecordPage.Records) and
// use. fn is called concurrently for different pages, with the page's
// number in the stream (0, 1, ...); it must not keep the page. An error
// from fn stops the stream and is returned as it is.
func (c *Client) RecordPages(ctx context.Context, req *gpuqv1.ListRecordsRequest, fn func(n int, page RecordPage) error, opts ...grpc.CallOption) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream when fn stops early
	opts = append(opts[:len(opts):len(opts)], grpc.ForceCodecV2(pageCodec{encoding.GetCodecV2(grpcproto.Name), &wire.BufferPool{}}))
	stream, err := c.acct.ListRecords(ctx, req, opts...)
	if err != nil {
		return c.err(err)
	}
	type page struct {
		n   int
		raw mem.Buffer
	}
	workers := runtime.GOMAXPROCS(0)
	pages := make(chan page, workers)
	errs := make(chan error, workers)
	for range workers {
		go func() {
			for p := range pages {
				err := fn(p.n, RecordPage{p.raw.ReadOnlyData()})
				p.raw.Free()
				if err != nil {
					errs <- err
					cancel()
					for p := range pages {
						p.raw.Free()
					}
					return
				}
			}
			errs <- nil
		}()
	}
	recvErr := func() error {
		defer close(pages)
		for n := 0; ; n++ {
			raw := &rawPage{}
			if err := stream.RecvMsg(raw); errors.Is(err, io.EOF) {
				return nil
			} else if err != nil {
				return err
			}
			select {
			case pages <- page{n, raw.b}:
			case <-ctx.Done():
				raw.b.Free()
				return ctx.Err()
			}
		}
	}()
	var first error
	for range workers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return first // fn's
	}
	if recvErr != nil {
		return c.err(recvErr)
	}
	return nil
}

// A RecordPage is a ListRecordsResponse as it came.
type RecordPage struct{ b []byte }

// Size is the page's size in bytes.
func (p RecordPage) Size() int { return len(p.b) }

// Records calls fn with the encoding of each record of the page (a
// gpuq.v1.RunRecord), in order; fn must not keep it.
func (p RecordPage) Records(fn func(rec []byte) error) error {
	b := p.b
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errMalformedPage
		}
		b = b[n:]
		if num != 1 || typ != protowire.BytesType { // ListRecordsResponse.records
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return errMalformedPage
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return errMalformedPage
		}
		b = b[n:]
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}

var errMalformedPage = errors.New("malformed page of records")

// Ordered is whether gpuqd sent the page's records, and those of every
// page of its stream, in the order ListRecordsRequest.ordered asks for.
func (p RecordPage) Ordered() bool {
	v, _, _, _, ok := wire.VarintPair(p.b, 2, 2) // ListRecordsResponse.ordered
	return ok && v != 0
}

// rawPage is a ListRecordsResponse as received, decoded later; its buffer
// goes back to gRPC's pool when freed.
type rawPage struct{ b mem.Buffer }

// pageCodec is gRPC's proto codec that receives a rawPage as it is, so that
// Records can decode pages at once in goroutines of its own. A page is
// copied into one buffer of pool.
type pageCodec struct {
	encoding.CodecV2
	pool *wire.BufferPool
}

func (c pageCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if p, ok := v.(*rawPage); ok {
		p.b = data.MaterializeToBuffer(c.pool)
		return nil
	}
	return c.CodecV2.Unmarshal(data, v)
}

// CostReport returns the cost report req asks for. Bad input (an unknown
// zone or pool, a bill that is not whole cents) is a *job.InvalidError.
func (c *Client) CostReport(ctx context.Context, req *gpuqv1.CostReportRequest, opts ...grpc.CallOption) (*gpuqv1.CostReportResponse, error) {
	resp, err := c.acct.CostReport(ctx, req, opts...)
	if err != nil {
		return nil, c.err(err)
	}
	return resp, nil
}

// Budgets returns the teams' budgets for their current months. A team the
// config does not have is a *job.InvalidError.
func (c *Client) Budgets(ctx context.Context, req *gpuqv1.BudgetsRequest, opts ...grpc.CallOption) (*gpuqv1.BudgetsResponse, error) {
	resp, err := c.acct.Budgets(ctx, req, opts...)
	if err != nil {
		return nil, c.err(err)
	}
	return resp, nil
}

// BudgetAlerts lists the budget alerts gpuqd raised. A month that is not
// YYYY-MM is a *job.InvalidError.
func (c *Client) BudgetAlerts(ctx context.Context, req *gpuqv1.ListBudgetAlertsRequest, opts ...grpc.CallOption) (*gpuqv1.ListBudgetAlertsResponse, error) {
	resp, err := c.acct.ListBudgetAlerts(ctx, req, opts...)
	if err != nil {
		return nil, c.err(err)
	}
	return resp, nil
}

// SetBudget sets or clears a team's monthly budget. An unknown team or an
// amount that is not whole cents is a *job.InvalidError; a gpuqd that
// keeps no budgets answers with an error wrapping job.ErrInvalidState.
func (c *Client) SetBudget(ctx context.Context, req *gpuqv1.SetBudgetRequest, opts ...grpc.CallOption) (*gpuqv1.SetBudgetResponse, error) {
	resp, err := c.acct.SetBudget(ctx, req, opts...)
	if err != nil {
		return nil, c.err(err)
	}
	return resp, nil
}

// Utilization returns the utilization report req asks for. A bad period
// or zone is a *job.InvalidError.
func (c *Client) Utilization(ctx context.Context, req *gpuqv1.UtilizationRequest, opts ...grpc.CallOption) (*gpuqv1.UtilizationResponse, error) {
	resp, err := c.acct.UtilizationReport(ctx, req, opts...)
	if err != nil {
		return nil, c.err(err)
	}
	return resp, nil
}
