package client

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

func withDetails(t *testing.T, st *status.Status, details ...protoadapt.MessageV1) error {
	t.Helper()
	st, err := st.WithDetails(details...)
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

func TestFromStatus(t *testing.T) {
	errPlain := errors.New("plain")
	tests := []struct {
		name    string
		err     error
		is      []error           // errors.Is must hold for each
		invalid *job.InvalidError // errors.As result, when InvalidArgument
		msg     string
	}{
		{name: "nil", err: nil},
		{name: "no status", err: errPlain, is: []error{errPlain}, msg: "plain"},
		{
			name: "invalid with details",
			err: withDetails(t, status.New(codes.InvalidArgument, "invalid input: spec.gpus.count: too many; line 7: bad"),
				&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
					{Field: "spec.gpus.count", Description: "16 GPUs; the largest node has 8"},
					{Field: "line 7", Description: "unknown option --gpu"},
				}}),
			invalid: &job.InvalidError{Fields: []job.FieldError{
				{Field: "spec.gpus.count", Problem: "16 GPUs; the largest node has 8"},
				{Field: "line 7", Problem: "unknown option --gpu"},
			}},
		},
		{
			name: "invalid with other details first",
			err: withDetails(t, status.New(codes.InvalidArgument, "bad"),
				&errdetails.ErrorInfo{Reason: "X"},
				&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "spec.team", Description: "unknown team"}}}),
			invalid: &job.InvalidError{Fields: []job.FieldError{{Field: "spec.team", Problem: "unknown team"}}},
		},
		{
			name:    "invalid without details",
			err:     status.Error(codes.InvalidArgument, "request id too long"),
			invalid: &job.InvalidError{Fields: []job.FieldError{{Problem: "request id too long"}}},
		},
		{name: "not found", err: status.Error(codes.NotFound, "job 999: not found"), is: []error{job.ErrNotFound}, msg: "job 999: not found"},
		{name: "not found wrapped", err: fmt.Errorf("get: %w", status.Error(codes.NotFound, "job 9: not found")), is: []error{job.ErrNotFound}},
		{name: "failed precondition", err: status.Error(codes.FailedPrecondition, "job 42: job already ended"), is: []error{job.ErrInvalidState}, msg: "job 42: job already ended"},
		{name: "unavailable", err: status.Error(codes.Unavailable, "shutting down"), is: []error{job.ErrUnavailable}, msg: "shutting down"},
		{name: "deadline", err: status.Error(codes.DeadlineExceeded, "context deadline exceeded"), is: []error{job.ErrUnavailable}},
		{name: "canceled", err: status.Error(codes.Canceled, "context canceled"), is: []error{context.Canceled}},
		{name: "unauthenticated", err: status.Error(codes.Unauthenticated, "unauthenticated: invalid token: expired"), is: []error{job.ErrUnauthenticated}, msg: "unauthenticated: invalid token: expired"},
		{name: "permission denied", err: status.Error(codes.PermissionDenied, "permission denied: user bob may not act on job 7"), is: []error{job.ErrPermissionDenied}},
		{name: "resource exhausted", err: status.Error(codes.ResourceExhausted, "limit reached: user alice ..."), is: []error{job.ErrLimit}},
		{name: "internal", err: status.Error(codes.Internal, "store: disk full"), msg: "gpuqd: store: disk full"},
		{name: "internal without message", err: status.Error(codes.Internal, ""), msg: "gpuqd: Internal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FromStatus(tt.err)
			if tt.err == nil {
				if got != nil {
					t.Fatalf("FromStatus(nil) = %v", got)
				}
				return
			}
			for _, want := range tt.is {
				if !errors.Is(got, want) {
					t.Errorf("errors.Is(%v, %v) = false", got, want)
				}
			}
			var inv *job.InvalidError
			if errors.As(got, &inv) != (tt.invalid != nil) {
				t.Fatalf("errors.As(%v, *job.InvalidError) = %v, want %v", got, inv != nil, tt.invalid != nil)
			}
			if tt.invalid != nil {
				if diff := cmp.Diff(tt.invalid, inv); diff != "" {
					t.Errorf("InvalidError (-want +got):\n%s", diff)
				}
			}
			for _, s := range []error{job.ErrNotFound, job.ErrInvalidState, job.ErrUnavailable} {
				if errors.Is(got, s) && !containsErr(tt.is, s) {
					t.Errorf("errors.Is(%v, %v) = true, want false", got, s)
				}
			}
			if tt.msg != "" && got.Error() != tt.msg {
				t.Errorf("message = %q, want %q", got.Error(), tt.msg)
			}
		})
	}
}

func containsErr(errs []error, e error) bool {
	for _, x := range errs {
		if x == e {
			return true
		}
	}
	return false
}

func TestOutcomeErr(t *testing.T) {
	ref := job.Ref{ID: 44, Task: 2, HasTask: true}
	tests := []struct {
		name string
		o    *gpuqv1.JobOutcome
		is   error
		msg  string
	}{
		{name: "done", o: &gpuqv1.JobOutcome{Job: ref.Proto(), Result: gpuqv1.JobOutcome_RESULT_DONE}},
		{name: "not found", o: &gpuqv1.JobOutcome{Job: (job.Ref{ID: 999}).Proto(), Result: gpuqv1.JobOutcome_RESULT_NOT_FOUND},
			is: job.ErrNotFound, msg: "job 999: not found"},
		{name: "server names the job", o: &gpuqv1.JobOutcome{Job: (job.Ref{ID: 999}).Proto(), Result: gpuqv1.JobOutcome_RESULT_NOT_FOUND, Message: "job 999: not found"},
			is: job.ErrNotFound, msg: "job 999: not found"},
		{name: "invalid state", o: &gpuqv1.JobOutcome{Job: ref.Proto(), Result: gpuqv1.JobOutcome_RESULT_INVALID_STATE, Message: "job already ended (COMPLETED)"},
			is: job.ErrInvalidState, msg: "job 44_2: job already ended (COMPLETED)"},
		{name: "unknown", o: &gpuqv1.JobOutcome{Job: ref.Proto()}, is: ErrUnknownOutcome, msg: "job 44_2: unknown outcome"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := OutcomeErr(tt.o)
			if tt.is == nil {
				if err != nil {
					t.Fatalf("OutcomeErr = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
			if err.Error() != tt.msg {
				t.Errorf("message = %q, want %q", err.Error(), tt.msg)
			}
		})
	}
}
