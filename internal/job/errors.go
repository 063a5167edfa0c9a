package job

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors shared by the queue, the server and the client.
var (
	// ErrNotFound: the job (or node, team, ...) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalidState: the action is not allowed in the job's current state.
	ErrInvalidState = errors.New("invalid state for this action")
	// ErrUnavailable: the daemon cannot serve now (shutting down, store closed).
	ErrUnavailable = errors.New("unavailable")
	// ErrUnauthenticated: the caller did not prove who it is (no, an
	// expired, a revoked or a forged credential).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrPermissionDenied: the caller is known but may not do this.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrLimit: a configured limit (rate, pending jobs) refuses the request
	// for now.
	ErrLimit = errors.New("limit reached")
)

// FieldError is bad input in one named field. Field is a path such as
// "spec.gpus.type" or "teams[2].timezone", or "line 7" for a script line.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// InvalidError collects every problem found in one input.
type InvalidError struct {
	Fields []FieldError
}

func (e *InvalidError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Error()
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// Add records one problem.
func (e *InvalidError) Add(field, format string, args ...any) {
	e.Fields = append(e.Fields, FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
}

// Err returns e when it holds a problem, else nil.
func (e *InvalidError) Err() error {
	if e == nil || len(e.Fields) == 0 {
		return nil
	}
	return e
}
