// Package gpuqv1 is gpuq's wire protocol, generated from the .proto files
// beside this file by `make proto`: QueueService for clients (gpuqctl and
// scripts) and NodeService for node daemons. Every file but this one is
// generated; CI fails when they differ from a fresh generation.
package gpuqv1
