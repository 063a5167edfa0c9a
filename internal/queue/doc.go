// Package queue is gpuqd's job queue: the in-memory index of every job, kept
// in step with the durable store, and the operations users ask for (submit,
// list, cancel, hold, release).
//
// Writers are serialised and write the store first: a change is visible in
// memory, and acknowledged, only once it is durably committed. Submissions
// that arrive together are committed together in one synced transaction
// (group commit), which is what makes thousands of durable submits a second
// possible on one disk. Readers never wait for a disk write: job records in
// memory are immutable and replaced on change (copy on write).
//
// The scheduling loop (Run) builds a sched.Snapshot, calls sched.Decide and
// applies the plan after re-checking it against the current state.
package queue
