package server

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gpuq/gpuq/internal/job"
)

// ToStatus maps a domain error to a gRPC status error:
//
//	*job.InvalidError, *job.FieldError  InvalidArgument with BadRequest field violations
//	job.ErrNotFound                     NotFound
//	job.ErrInvalidState                 FailedPrecondition
//	job.ErrUnavailable                  Unavailable
//	job.ErrUnauthenticated              Unauthenticated
//	job.ErrPermissionDenied             PermissionDenied
//	job.ErrLimit                        ResourceExhausted
//	context.Canceled                    Canceled
//	context.DeadlineExceeded            DeadlineExceeded
//	anything else                       Internal
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var inv *job.InvalidError
	var fe *job.FieldError
	switch {
	case errors.As(err, &inv):
		return invalid(err.Error(), inv.Fields)
	case errors.As(err, &fe):
		return invalid(err.Error(), []job.FieldError{*fe})
	case errors.Is(err, job.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, job.ErrInvalidState):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, job.ErrUnavailable):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, job.ErrUnauthenticated):
		return status.Error(codes.Unauthenticated, err.Error())
	case errors.Is(err, job.ErrPermissionDenied):
		return status.Error(codes.PermissionDenied, err.Error())
	case errors.Is(err, job.ErrLimit):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

func invalid(msg string, fields []job.FieldError) error {
	br := &errdetails.BadRequest{}
	for _, f := range fields {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: f.Field, Description: f.Problem})
	}
	st, err := status.New(codes.InvalidArgument, msg).WithDetails(br)
	if err != nil {
		return status.Error(codes.InvalidArgument, msg)
	}
	return st.Err()
}

// UnaryErrors is the interceptor that maps every handler error through
// ToStatus and logs internal failures (log may be nil).
func UnaryErrors(log *slog.Logger) grpc.UnaryServerInterceptor {
	log = orDiscard(log)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(ctx, req)
		if err == nil {
			return resp, nil
		}
		st := ToStatus(err)
		if status.Code(st) == codes.Internal {
			log.Error("request failed", "method", info.FullMethod, "err", err)
		}
		return resp, st
	}
}

// StreamErrors is UnaryErrors for streams.
func StreamErrors(log *slog.Logger) grpc.StreamServerInterceptor {
	log = orDiscard(log)
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		err := h(srv, ss)
		if err == nil {
			return nil
		}
		st := ToStatus(err)
		if status.Code(st) == codes.Internal {
			log.Error("stream failed", "method", info.FullMethod, "err", err)
		}
		return st
	}
}

func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
