// Package client is the Go client of gpuqd's QueueService and
// AccountingService: it dials the daemon lazily (the first call connects),
// calls the RPCs and turns gRPC statuses back into gpuq's domain errors
// (FromStatus), so that callers test errors with errors.Is and errors.As and
// never look at codes or strings.
//
// The package is on the start-up path of every gpuqctl command, so it does no
// work at init time and imports nothing beyond grpc and the generated code.
//
// Package clienttest holds an in-memory QueueService and AccountingService
// for tests.
package client
