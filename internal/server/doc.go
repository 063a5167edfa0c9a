// Package server serves gpuq's gRPC protocol (gpuq.v1) over the queue.
//
// Handlers return domain errors; one interceptor, through ToStatus, turns
// them into gRPC status codes, so the mapping lives in exactly one place.
// internal/client maps the codes back.
package server
