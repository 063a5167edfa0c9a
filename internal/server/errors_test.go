package server

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gpuq/gpuq/internal/client"
	"github.com/gpuq/gpuq/internal/job"
)

func TestToStatus(t *testing.T) {
	inv := &job.InvalidError{}
	inv.Add("spec.team", "unknown team %q", "paris")
	inv.Add("spec.gpus.count", "too many")
	tests := []struct {
		name   string
		err    error
		code   codes.Code
		fields []string
	}{
		{"invalid, every field", fmt.Errorf("submit: %w", inv), codes.InvalidArgument, []string{"spec.team", "spec.gpus.count"}},
		{"one field", &job.FieldError{Field: "request_id", Problem: "too long"}, codes.InvalidArgument, []string{"request_id"}},
		{"not found", fmt.Errorf("job 9: %w", job.ErrNotFound), codes.NotFound, nil},
		{"wrong state", fmt.Errorf("job 9: %w", job.ErrInvalidState), codes.FailedPrecondition, nil},
		{"unavailable", job.ErrUnavailable, codes.Unavailable, nil},
		{"unauthenticated", fmt.Errorf("%w: no token", job.ErrUnauthenticated), codes.Unauthenticated, nil},
		{"permission denied", fmt.Errorf("%w: not yours", job.ErrPermissionDenied), codes.PermissionDenied, nil},
		{"limit", fmt.Errorf("%w: too many pending jobs", job.ErrLimit), codes.ResourceExhausted, nil},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded, nil},
		{"anything else", errors.New("disk on fire"), codes.Internal, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := status.Convert(ToStatus(tt.err))
			if st.Code() != tt.code {
				t.Fatalf("code = %v, want %v", st.Code(), tt.code)
			}
			var fields []string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, v := range br.FieldViolations {
						fields = append(fields, v.Field)
					}
				}
			}
			if diff := cmp.Diff(tt.fields, fields); diff != "" {
				t.Errorf("field violations (-want +got):\n%s", diff)
			}
			// The client turns the status back into the domain error.
			back := client.FromStatus(ToStatus(tt.err))
			switch tt.code {
			case codes.InvalidArgument:
				var got *job.InvalidError
				if !errors.As(back, &got) || len(got.Fields) != len(tt.fields) {
					t.Errorf("client error = %v, want *job.InvalidError with %d fields", back, len(tt.fields))
				}
			case codes.NotFound:
				if !errors.Is(back, job.ErrNotFound) {
					t.Errorf("client error = %v, want ErrNotFound", back)
				}
			case codes.FailedPrecondition:
				if !errors.Is(back, job.ErrInvalidState) {
					t.Errorf("client error = %v, want ErrInvalidState", back)
				}
			}
		})
	}
}
