package client

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// StatusError is a failed call as gpuqd reported it. Err is the domain error
// the status code stands for (job.ErrNotFound, job.ErrInvalidState,
// job.ErrUnavailable, context.Canceled, job.ErrUnauthenticated,
// job.ErrPermissionDenied, job.ErrLimit), or nil for a code without one
// (Internal, ...).
type StatusError struct {
	Code    codes.Code
	Message string
	Err     error
}

func (e *StatusError) Error() string {
	msg := e.Message
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Err == nil {
		// Say who failed: the message alone reads like a local problem.
		if msg == "" {
			msg = e.Code.String()
		}
		return "gpuqd: " + msg
	}
	return msg
}

func (e *StatusError) Unwrap() error { return e.Err }

// UnreachableError says that no connection to gpuqd could be made. It wraps
// job.ErrUnavailable and the cause (usually the dial error).
type UnreachableError struct {
	Target string
	Err    error
}

func (e *UnreachableError) Error() string {
	return "cannot reach gpuqd at " + e.Target + ": " + e.Err.Error()
}

func (e *UnreachableError) Unwrap() []error { return []error{job.ErrUnavailable, e.Err} }

// FromStatus turns an error returned by a gRPC call into a domain error,
// following the server's conventions:
//
//	InvalidArgument               *job.InvalidError, one FieldError per errdetails.BadRequest
//	                              field violation (or one with an empty Field and the message)
//	NotFound                      *StatusError wrapping job.ErrNotFound
//	FailedPrecondition            *StatusError wrapping job.ErrInvalidState
//	Unavailable, DeadlineExceeded *StatusError wrapping job.ErrUnavailable
//	Canceled                      *StatusError wrapping context.Canceled
//	Unauthenticated               *StatusError wrapping job.ErrUnauthenticated
//	PermissionDenied              *StatusError wrapping job.ErrPermissionDenied
//	ResourceExhausted             *StatusError wrapping job.ErrLimit
//	anything else                 *StatusError with a nil Err
//
// nil stays nil and an error without a status is returned as it is. The
// Client's methods add *UnreachableError for calls that found no connection.
func FromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	var sentinel error
	switch st.Code() {
	case codes.OK:
		return nil
	case codes.InvalidArgument:
		return invalid(st)
	case codes.NotFound:
		sentinel = job.ErrNotFound
	case codes.FailedPrecondition:
		sentinel = job.ErrInvalidState
	case codes.Unavailable, codes.DeadlineExceeded:
		sentinel = job.ErrUnavailable
	case codes.Canceled:
		sentinel = context.Canceled
	case codes.Unauthenticated:
		sentinel = job.ErrUnauthenticated
	case codes.PermissionDenied:
		sentinel = job.ErrPermissionDenied
	case codes.ResourceExhausted:
		sentinel = job.ErrLimit
	}
	return &StatusError{Code: st.Code(), Message: st.Message(), Err: sentinel}
}

func invalid(st *status.Status) *job.InvalidError {
	var e job.InvalidError
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				e.Fields = append(e.Fields, job.FieldError{Field: v.GetField(), Problem: v.GetDescription()})
			}
		}
	}
	if len(e.Fields) == 0 {
		e.Fields = []job.FieldError{{Problem: st.Message()}}
	}
	return &e
}

// OutcomeError says why an action (cancel, hold, release) was not done to one
// job. Err is job.ErrNotFound, job.ErrInvalidState, or ErrUnknownOutcome.
type OutcomeError struct {
	Job     job.Ref
	Err     error
	Message string // the server's explanation; may be empty
}

func (e *OutcomeError) Error() string {
	prefix := "job " + e.Job.String() + ": "
	msg := e.Message
	if msg == "" {
		msg = e.Err.Error()
	}
	if strings.HasPrefix(msg, prefix) {
		// The server names the job itself; do not say it twice.
		return msg
	}
	return prefix + msg
}

func (e *OutcomeError) Unwrap() error { return e.Err }

// ErrUnknownOutcome is an outcome whose result this client does not know.
var ErrUnknownOutcome = errors.New("unknown outcome")

// OutcomeErr returns nil when the action was done to o's job, else an
// *OutcomeError.
func OutcomeErr(o *gpuqv1.JobOutcome) error {
	var sentinel error
	switch o.GetResult() {
	case gpuqv1.JobOutcome_RESULT_DONE:
		return nil
	case gpuqv1.JobOutcome_RESULT_NOT_FOUND:
		sentinel = job.ErrNotFound
	case gpuqv1.JobOutcome_RESULT_INVALID_STATE:
		sentinel = job.ErrInvalidState
	default:
		sentinel = ErrUnknownOutcome
	}
	var r job.Ref
	if o.GetJob() != nil {
		r = job.FromProto(o.GetJob())
	}
	return &OutcomeError{Job: r, Err: sentinel, Message: o.GetMessage()}
}
