package client

import (
	"context"
	"errors"
	"io"
	"runtime"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Records calls fn for every accounting record that req selects, in the
// order gpuqd streams them (by end time). An error from fn stops the stream
// and is returned as it is.
//
// The pages are received undecoded and decoded by several goroutines at
// once (a month can be a million records): fn still gets them in order.
func (c *Client) Records(ctx context.Context, req *gpuqv1.ListRecordsRequest, fn func(*gpuqv1.RunRecord) error, opts ...grpc.CallOption) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream and the receiver when fn stops early
	stream, err := c.acct.ListRecords(ctx, req, opts...)
	if err != nil {
		return c.err(err)
	}
	type page struct {
		resp *gpuqv1.ListRecordsResponse
		err  error
	}
	// Each page has a channel of its own, queued in the order received; at
	// most GOMAXPROCS are being decoded while fn reads the oldest.
	pages := make(chan chan page, runtime.GOMAXPROCS(0))
	go func() {
		defer close(pages)
		for {
			// An empty message keeps every field it does not know as it
			// is: the page, undecoded.
			raw := &emptypb.Empty{}
			err := stream.RecvMsg(raw)
			done := make(chan page, 1)
			select {
			case pages <- done:
			case <-ctx.Done():
				return
			}
			if err != nil {
				done <- page{err: err}
				return
			}
			go func() {
				resp := &gpuqv1.ListRecordsResponse{}
				err := proto.Unmarshal(raw.ProtoReflect().GetUnknown(), resp)
				done <- page{resp, err}
			}()
		}
	}()
	for done := range pages {
		p := <-done
		if errors.Is(p.err, io.EOF) {
			return nil
		}
		if p.err != nil {
			return c.err(p.err)
		}
		for _, r := range p.resp.GetRecords() {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return c.err(ctx.Err())
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
