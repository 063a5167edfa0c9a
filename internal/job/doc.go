// Package job owns the vocabulary every part of gpuq shares about jobs: state
// names as Slurm spells them, job references such as 42 and 42_3 and the
// 44_[1-5] ranges users type, and the domain errors that the server maps to
// gRPC codes and the client maps back; and the brief view of a job that
// listings send when asked for it.
package job
